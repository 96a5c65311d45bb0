/** Opaque scroll cursors: base64url of the last id returned (pages are ordered by id, so they are stable). */
import { badRequest } from '../lib/errors.ts';

export function encodeCursor(lastId: string): string {
  return Buffer.from(JSON.stringify({ after: lastId }), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { after?: unknown };
    if (typeof v.after === 'string') return v.after;
  } catch {
    /* fall through */
  }
  throw badRequest('invalid scroll cursor: pass back the nextCursor of the previous page unchanged', { field: 'cursor' });
}
