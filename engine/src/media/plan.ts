/**
 * How long media is cut into segments and segments into jobs (pure; no decoding here). A job's share of a file is
 * a MediaRange of whole segments: segments keep their index in the whole file, so their documents have the same ids
 * whichever job (or redelivery) writes them, and a worker lost mid-file costs one range, not the file.
 */

export interface MediaRange {
  /** Position of the range among the object's ranges, and how many there are. */
  index: number;
  count: number;
  /** Seconds of media the range decodes: from `start`, to `end` (absent for the last range: to the end of the media). */
  start: number;
  end?: number;
  /** Index in the whole file of the range's first segment. */
  first: number;
  /** Segments in the whole file, as measured when the file was split (the documents' total_segments). */
  total: number;
  /** Explicit [start, end] seconds of the range's segments (scene segmentation); absent: fixed-length segments. */
  spans?: [number, number][];
}

/**
 * How many windows `pcmWindows` (windows.ts) makes of `samples` samples: full windows at every hop, plus a shorter
 * last one when samples remain past the last full window's end (or the whole stream when shorter than a window).
 */
export function windowCount(samples: number, size: number, overlap: number): number {
  if (samples <= 0) return 0;
  if (samples < size) return 1;
  const hop = size - overlap;
  const full = Math.floor((samples - size) / hop) + 1;
  return full + (samples > (full - 1) * hop + size ? 1 : 0);
}

/** Keyframes at the middle of each fixed segment (the video extractor's) in media whose last frame is at `seconds`. */
export function keyframeCount(seconds: number, segment: number): number {
  return seconds >= segment / 2 ? Math.floor((seconds - segment / 2) / segment) + 1 : 0;
}

/**
 * Ranges of `perRange` fixed segments of `hop` seconds each (a segment is `hop + overlap` long: its neighbour's first
 * `overlap` seconds are its last), over `total` segments. One range (no split) when they all fit in one.
 */
export function fixedRanges(total: number, perRange: number, hop: number, overlap: number): MediaRange[] {
  const per = Math.max(1, perRange);
  const count = Math.max(1, Math.ceil(total / per));
  return Array.from({ length: count }, (_, index) => {
    const first = index * per;
    const r: MediaRange = { index, count, start: round(first * hop), first, total };
    if (index < count - 1) r.end = round((first + per) * hop + overlap);
    return r;
  });
}

/**
 * Scene segments from the times of scene changes: [0, c1), [c1, c2), … [cn, duration]. A change less than
 * `minSeconds` after the previous boundary is ignored (flashes, fades scored twice); a scene longer than `maxSeconds`
 * is cut into equal parts no longer than that (Whisper reads at most 30 s at once).
 */
export function sceneSpans(changes: number[], duration: number, maxSeconds: number, minSeconds = 1): [number, number][] {
  const bounds = [0];
  for (const c of [...changes].sort((a, b) => a - b)) if (c - bounds[bounds.length - 1]! >= minSeconds && duration - c >= minSeconds / 2) bounds.push(c);
  bounds.push(Math.max(duration, bounds[bounds.length - 1]! + minSeconds / 2));
  const spans: [number, number][] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const [a, b] = [bounds[i]!, bounds[i + 1]!];
    const parts = Math.ceil((b - a) / maxSeconds - 1e-9);
    for (let p = 0; p < parts; p++) spans.push([round(a + ((b - a) * p) / parts), round(a + ((b - a) * (p + 1)) / parts)]);
  }
  return spans;
}

/** Ranges of consecutive spans, each at least `jobSeconds` long (the last takes what is left); one range when jobSeconds is 0. */
export function spanRanges(spans: [number, number][], jobSeconds: number): MediaRange[] {
  const groups: [number, number][][] = [];
  let cur: [number, number][] = [];
  for (const s of spans) {
    cur.push(s);
    if (jobSeconds > 0 && s[1] - cur[0]![0] >= jobSeconds) {
      groups.push(cur);
      cur = [];
    }
  }
  if (cur.length) groups.push(cur);
  if (!groups.length) groups.push([]);
  let first = 0;
  return groups.map((g, index) => {
    const r: MediaRange = { index, count: groups.length, start: g[0]?.[0] ?? 0, first, total: spans.length, spans: g };
    if (index < groups.length - 1) r.end = g[g.length - 1]![1];
    first += g.length;
    return r;
  });
}

const round = (t: number) => Math.round(t * 1000) / 1000;
