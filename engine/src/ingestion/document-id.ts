/**
 * Deterministic document ids: the same object, extractor and position always give the same id, so a redelivered
 * job overwrites its documents instead of duplicating them.
 */
import { createHash } from 'node:crypto';

export function documentId(collection: string, objectId: string, extractorId: string, position: string): string {
  const h = createHash('sha256').update(`${collection}\u0000${objectId}\u0000${extractorId}\u0000${position}`).digest('hex');
  return `doc_${h.slice(0, 24)}`;
}
