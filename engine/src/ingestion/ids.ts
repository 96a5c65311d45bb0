/** Resource ids of the ingestion API: a type prefix and 80 random bits, e.g. `obj_3f…`, `upl_…`, `blob_…`. */
import { randomBytes } from 'node:crypto';

export const newId = (prefix: string): string => `${prefix}_${randomBytes(10).toString('hex')}`;
