/**
 * Datetimes in filters and payloads: ISO-8601 strings. One without an offset ("2026-02-01T09:00:00") is read as
 * UTC in every store, as Qdrant reads it; JavaScript's Date.parse would read it in the process's local time zone
 * (issue 24: with TZ=America/New_York the exact and embedded stores disagreed with Qdrant).
 */
export const ISO_DATETIME = /^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?)?$/;
const HAS_TIME_WITHOUT_OFFSET = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/;

/** Milliseconds since the epoch, or NaN when `s` is not an ISO-8601 datetime. */
export function parseDatetime(s: string): number {
  if (!ISO_DATETIME.test(s)) return NaN;
  return Date.parse(HAS_TIME_WITHOUT_OFFSET.test(s) ? `${s.replace(' ', 'T')}Z` : s);
}
