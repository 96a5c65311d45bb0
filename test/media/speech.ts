/** Test media made here with Debian tools (espeak-ng, ffmpeg), never downloaded; and word error rate. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FfmpegDecoder } from '#engine/media/ffmpeg.ts';

export function tempDir(prefix = 'quarry-media-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

/** espeak-ng speaks `text` into a WAV file (22.05 kHz mono). */
export function speak(text: string, file: string): string {
  execFileSync('espeak-ng', ['-s', '150', '-w', file, text]);
  return file;
}

/** ffmpeg: `parts` placed at their start times (seconds) over silence of `duration` seconds, as 16-bit mono WAV or an mp3/m4a by extension. */
export function composeAudio(parts: { file: string; at: number }[], duration: number, out: string): string {
  const inputs = ['-f', 'lavfi', '-t', String(duration), '-i', 'anullsrc=r=16000:cl=mono', ...parts.flatMap((p) => ['-i', p.file])];
  const delays = parts.map((p, i) => `[${i + 1}:a]aresample=16000,adelay=${Math.round(p.at * 1000)}:all=1[d${i}]`);
  const mix = `[0:a]${parts.map((_, i) => `[d${i}]`).join('')}amix=inputs=${parts.length + 1}:duration=first:normalize=0[out]`;
  execFileSync('ffmpeg', ['-y', '-hide_banner', '-loglevel', 'error', ...inputs, '-filter_complex', [...delays, mix].join(';'), '-map', '[out]', '-ac', '1', out]);
  return out;
}

function words(s: string): string[] {
  return s.toLowerCase().replace(/[^a-z0-9' ]+/g, ' ').split(/\s+/).filter(Boolean);
}

/** Word error rate: word-level edit distance ÷ reference length. */
export function wer(reference: string, hypothesis: string): number {
  const r = words(reference), h = words(hypothesis);
  let prev = Array.from({ length: h.length + 1 }, (_, j) => j);
  for (let i = 1; i <= r.length; i++) {
    const cur = [i];
    for (let j = 1; j <= h.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (r[i - 1] === h[j - 1] ? 0 : 1));
    prev = cur;
  }
  return r.length ? prev[h.length]! / r.length : 0;
}

/** The whole audio track of `file` as 16 kHz mono PCM in one array. */
export async function decodeAll(decoder: FfmpegDecoder, file: string): Promise<Float32Array> {
  const parts: Float32Array[] = [];
  for await (const c of decoder.audio(file, { sampleRate: 16000 })) parts.push(c);
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
