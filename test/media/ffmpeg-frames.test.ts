/**
 * The ffmpeg adapter's keyframes are taken at the times it reports: offset + k·every (issue 19). A video made here
 * shows, in each 10-s segment, the segment's colour between a second of grey at either end; each frame asked for at
 * a segment's middle must show that colour. (An input seek with the fps filter took frames near the segments'
 * boundaries, in the grey.)
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { FfmpegDecoder } from '#engine/media/ffmpeg.ts';
import { tempDir } from './speech.ts';

const COLOURS: [string, [number, number, number]][] = [
  ['red', [255, 0, 0]],
  ['lime', [0, 255, 0]],
  ['blue', [0, 0, 255]],
  ['yellow', [255, 255, 0]],
  ['black', [0, 0, 0]],
  ['white', [255, 255, 255]],
];

test('frames every 10 s from 5 s: each shows the colour of its 10-s segment, at the time reported', async () => {
  const dir = tempDir();
  const out = path.join(dir, 'colours.mp4');
  // Per 10-s segment: 1 s of grey, 8 s of its colour, 1 s of grey, at 5 fps (the encoder's default keyframe
  // interval: one every 50 s); concatenated.
  const grey = ['-f', 'lavfi', '-t', '1', '-i', 'color=c=gray:s=64x36:r=5'];
  const inputs = COLOURS.flatMap(([c]) => [...grey, '-f', 'lavfi', '-t', '8', '-i', `color=c=${c}:s=64x36:r=5`, ...grey]);
  const concat = `${inputs.filter((a) => a === '-i').map((_, i) => `[${i}:v]`).join('')}concat=n=${COLOURS.length * 3}:v=1:a=0[v]`;
  execFileSync('ffmpeg', ['-y', '-loglevel', 'error', ...inputs, '-filter_complex', concat, '-map', '[v]', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', out]);
  const frames = [];
  for await (const f of new FfmpegDecoder().frames(out, { everySeconds: 10, offsetSeconds: 5, width: 64, height: 36 })) frames.push(f);
  assert.deepEqual(frames.map((f) => f.time), [5, 15, 25, 35, 45, 55]);
  frames.forEach((f, i) => {
    const centre = (18 * 64 + 32) * 3;
    const rgb = [f.rgb[centre]!, f.rgb[centre + 1]!, f.rgb[centre + 2]!];
    const [name, want] = COLOURS[i]!;
    assert.ok(rgb.every((v, c) => Math.abs(v - want[c]!) < 40), `frame ${i} at ${f.time} s should be ${name}: got rgb(${rgb.join(', ')})`);
  });
});
