/**
 * Speech-to-text end to end on real parts: espeak-ng speech composed by ffmpeg, decoded by the ffmpeg adapter,
 * cut into windows and transcribed by the ONNX Whisper that `make models` converted. Also: files that are not
 * media, or have no audio, fail with a clear MediaError.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { FfmpegDecoder } from '#engine/media/ffmpeg.ts';
import { pcmWindows } from '#engine/media/windows.ts';
import { WhisperSpeechToText } from '#engine/models/whisper.ts';
import { MediaError } from '#core/ports/media.ts';
import { composeAudio, decodeAll, speak, tempDir, wer } from './speech.ts';

const dir = tempDir();
const stt = new WhisperSpeechToText({ threads: 1 });
const decoder = new FfmpegDecoder();
after(() => stt.close());

const SENTENCES = [
  { at: 1, text: 'The library opens at nine in the morning.' },
  { at: 13, text: 'Please bring your own water bottle to the meeting.' },
];

test('espeak-ng sentences in an mp3 are transcribed window by window, each in the window that holds it', async () => {
  const parts = SENTENCES.map((s, i) => ({ file: speak(s.text, path.join(dir, `s${i}.wav`)), at: s.at }));
  const mp3 = composeAudio(parts, 24, path.join(dir, 'talk.mp3'));
  const windows = [];
  for await (const w of pcmWindows(decoder.audio(mp3, { sampleRate: 16000 }), 12 * 16000, 0)) windows.push(w);
  assert.equal(windows.length, 2, 'a 24-s file in 12-s windows is two windows (length from the decoded samples)');
  for (const [i, s] of SENTENCES.entries()) {
    const t = await stt.transcribe(windows[i]!.samples);
    const e = wer(s.text, t.text);
    // espeak-ng's formant voice is far from Whisper's training speech; base gets most words (see bench/media.ts).
    assert.ok(e <= 0.4, `window ${i}: WER ${e.toFixed(2)} for '${t.text}' (reference '${s.text}')`);
    assert.ok(t.noSpeechProb < 0.5, `window ${i} holds speech (no-speech ${t.noSpeechProb.toFixed(2)})`);
  }
});

test('silence is recognised as no speech', async () => {
  const t = await stt.transcribe(new Float32Array(16000 * 5));
  assert.ok(t.noSpeechProb > 0.5 || t.text === '', `silence: no-speech ${t.noSpeechProb.toFixed(2)}, text '${t.text}'`);
});

test('a file that is not media fails with unsupported_media, one without audio with no_audio', async () => {
  const junk = path.join(dir, 'junk.mp4');
  writeFileSync(junk, Buffer.from('this is not a video at all, just text bytes '.repeat(50)));
  await assert.rejects(decodeAll(decoder, junk), (e: unknown) => e instanceof MediaError && e.reason === 'unsupported_media' && /not decodable/.test(e.message));
  const silentVideo = path.join(dir, 'novoice.mp4');
  execFileSync('ffmpeg', ['-y', '-loglevel', 'error', '-f', 'lavfi', '-i', 'color=c=blue:s=64x64:d=1', '-pix_fmt', 'yuv420p', silentVideo]);
  await assert.rejects(decodeAll(decoder, silentVideo), (e: unknown) => e instanceof MediaError && e.reason === 'no_audio');
});

test('a truncated mp3 decodes what is there or fails alone with a clear error, never hangs', async () => {
  const full = composeAudio([{ file: speak('one two three', path.join(dir, 'c.wav')), at: 0 }], 3, path.join(dir, 'cut.mp3'));
  const bytes = execFileSync('head', ['-c', '9000', full]);
  const cut = path.join(dir, 'cut-trunc.mp3');
  writeFileSync(cut, bytes);
  try {
    const pcm = await decodeAll(decoder, cut);
    assert.ok(pcm.length < 3 * 16000, 'a truncated file yields fewer samples than the whole');
  } catch (e) {
    assert.ok(e instanceof MediaError, `fails with a MediaError, not ${String(e)}`);
  }
});

test('windows overlap as asked and cover the stream', async () => {
  async function* chunks() {
    for (let i = 0; i < 10; i++) yield Float32Array.from({ length: 7 }, (_, j) => i * 7 + j);
  }
  const ws = [];
  for await (const w of pcmWindows(chunks(), 20, 5)) ws.push(w);
  assert.deepEqual(ws.map((w) => [w.start, w.samples.length]), [[0, 20], [15, 20], [30, 20], [45, 20], [60, 10]]);
  assert.equal(ws[1]!.samples[0], 15);
  assert.equal(ws[4]!.samples[9], 69);
});
