/**
 * Python difflib.SequenceMatcher(None, a, b).ratio() — 2·M / (|a| + |b|), M the characters in the matching blocks
 * found by recursively taking the longest common substring (Ratcliff/Obershelp). Hand-written because the
 * reference's cross_compare fuzzy threshold (0.75) is defined on this exact measure, and no maintained npm package
 * reproduces it (they compute Levenshtein or Dice similarity). No autojunk: inputs are capped at 1000 characters.
 */
export function sequenceRatio(a: string, b: string): number {
  const x = a.slice(0, 1000);
  const y = b.slice(0, 1000);
  const total = x.length + y.length;
  if (total === 0) return 1;
  return (2 * matched(x, 0, x.length, y, 0, y.length)) / total;
}

function matched(a: string, alo: number, ahi: number, b: string, blo: number, bhi: number): number {
  if (alo >= ahi || blo >= bhi) return 0;
  // Longest common substring of a[alo:ahi] and b[blo:bhi], earliest in a, then earliest in b (difflib's tie-break).
  let bestI = alo;
  let bestJ = blo;
  let best = 0;
  let prev = new Uint16Array(bhi - blo + 1);
  for (let i = alo; i < ahi; i++) {
    const cur = new Uint16Array(bhi - blo + 1);
    for (let j = blo; j < bhi; j++) {
      if (a[i] === b[j]) {
        const k = prev[j - blo]! + 1;
        cur[j - blo + 1] = k;
        if (k > best) {
          best = k;
          bestI = i - k + 1;
          bestJ = j - k + 1;
        }
      }
    }
    prev = cur;
  }
  if (best === 0) return 0;
  return best + matched(a, alo, bestI, b, blo, bestJ) + matched(a, bestI + best, ahi, b, bestJ + best, bhi);
}
