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

function colourVideo(): string {
  const out = path.join(tempDir(), 'colours.mp4');
  // Per 10-s segment: 1 s of grey, 8 s of its colour, 1 s of grey, at 5 fps (the encoder's default keyframe
  // interval: one every 50 s); concatenated.
  const grey = ['-f', 'lavfi', '-t', '1', '-i', 'color=c=gray:s=64x36:r=5'];
  const inputs = COLOURS.flatMap(([c]) => [...grey, '-f', 'lavfi', '-t', '8', '-i', `color=c=${c}:s=64x36:r=5`, ...grey]);
  const concat = `${inputs.filter((a) => a === '-i').map((_, i) => `[${i}:v]`).join('')}concat=n=${COLOURS.length * 3}:v=1:a=0[v]`;
  execFileSync('ffmpeg', ['-y', '-loglevel', 'error', ...inputs, '-filter_complex', concat, '-map', '[v]', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', out]);
  return out;
}

const centreRgb = (f: { rgb: Buffer }) => {
  const centre = (18 * 64 + 32) * 3;
  return [f.rgb[centre]!, f.rgb[centre + 1]!, f.rgb[centre + 2]!];
};

test('frames every 10 s from 5 s: each shows the colour of its 10-s segment, at the time reported', async () => {
  const out = colourVideo();
  const frames = [];
  for await (const f of new FfmpegDecoder().frames(out, { everySeconds: 10, offsetSeconds: 5, width: 64, height: 36 })) frames.push(f);
  assert.deepEqual(frames.map((f) => f.time), [5, 15, 25, 35, 45, 55]);
  frames.forEach((f, i) => {
    const rgb = centreRgb(f);
    const [name, want] = COLOURS[i]!;
    assert.ok(rgb.every((v, c) => Math.abs(v - want[c]!) < 40), `frame ${i} at ${f.time} s should be ${name}: got rgb(${rgb.join(', ')})`);
  });
});

test('a span of the video (a range job): frames at given times and every 10 s within it; the measured duration', async () => {
  const out = colourVideo();
  const decoder = new FfmpegDecoder();
  assert.equal(await decoder.duration(out, 'video'), 60);
  await assert.rejects(decoder.duration(out, 'audio'), /no audio track/);
  const at = [];
  for await (const f of decoder.frames(out, { times: [22, 47.5], startSeconds: 20, durationSeconds: 30, width: 64, height: 36 })) at.push(f);
  assert.deepEqual(at.map((f) => f.time), [22, 47.5]);
  const every = [];
  for await (const f of decoder.frames(out, { everySeconds: 10, offsetSeconds: 25, startSeconds: 20, durationSeconds: 20, width: 64, height: 36 })) every.push(f);
  assert.deepEqual(every.map((f) => f.time), [25, 35]);
  for (const [f, i] of [[at[0]!, 2], [at[1]!, 4], [every[0]!, 2], [every[1]!, 3]] as const) {
    const [name, want] = COLOURS[i]!;
    assert.ok(centreRgb(f).every((v, c) => Math.abs(v - want[c]!) < 40), `frame at ${f.time} s should be ${name}: got rgb(${centreRgb(f).join(', ')})`);
  }
});
