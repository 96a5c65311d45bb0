/**
 * Fixed windows with overlap over a stream of PCM chunks: window k covers samples [k·hop, k·hop + size), with
 * hop = size − overlap; the last window is shorter when the stream ends. Only one window is held in memory.
 */
export interface PcmWindow {
  index: number;
  /** First sample of the window in the stream. */
  start: number;
  samples: Float32Array;
}

export async function* pcmWindows(chunks: AsyncIterable<Float32Array>, size: number, overlap: number): AsyncIterable<PcmWindow> {
  if (!(size > 0) || !(overlap >= 0) || overlap >= size) throw new RangeError(`window size ${size} and overlap ${overlap}: overlap must be below size`);
  const hop = size - overlap;
  let buf = new Float32Array(size);
  let fill = 0;
  let index = 0;
  let emittedTo = 0; // samples of the stream already covered by an emitted window's end
  for await (const chunk of chunks) {
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(size - fill, chunk.length - off);
      buf.set(chunk.subarray(off, off + n), fill);
      fill += n;
      off += n;
      if (fill === size) {
        yield { index, start: index * hop, samples: buf.slice() };
        emittedTo = index * hop + size;
        index++;
        const next = new Float32Array(size);
        next.set(buf.subarray(hop));
        buf = next;
        fill = overlap;
      }
    }
  }
  // A tail: samples past the last window's end (or the whole stream when shorter than one window).
  if (index * hop + fill > emittedTo && fill > 0 && (index === 0 || fill > overlap)) {
    yield { index, start: index * hop, samples: buf.slice(0, fill) };
  }
}
