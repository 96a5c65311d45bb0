/**
 * `make bench-media`: speech-to-text quality and cost on media made here (espeak-ng, ffmpeg), written to
 * bench/results/media.json:
 *   - wer_espeak: word error rate of the installed Whisper (ONNX) over SENTENCES, each spoken by espeak-ng and
 *     decoded by the ffmpeg adapter (edits summed over all sentences ÷ reference words);
 *   - realtime_factor: transcription time ÷ audio duration over those sentences (below 1 is faster than real time);
 *   - long audio (BENCH_LONG_MINUTES, default 30) through the audio extractor's decode → segment → transcribe path
 *     (15-s segments, 1-s overlap): its realtime factor, the process's peak RSS, and the RSS growth over the run
 *     measured from the RSS with the models loaded (bounded memory: it must not grow with the length).
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { transcribeSegments } from '#engine/ingestion/audio.ts';
import { FfmpegDecoder } from '#engine/media/ffmpeg.ts';
import { WhisperSpeechToText } from '#engine/models/whisper.ts';
import { composeAudio, decodeAll, speak, tempDir, wer } from '#test/media/speech.ts';
import { writeResults } from './lib/results.ts';

const SENTENCES = [
  'The quick brown fox jumps over the lazy dog.',
  'Please call Stella and ask her to bring these things with her from the store.',
  'The library opens at nine in the morning.',
  'Our train leaves from platform seven at half past four.',
  'Quarterly revenue grew by four percent this year.',
  'The red balloon floated over the old stone bridge.',
  'Remember to water the plants before you leave on holiday.',
  'A warm cup of tea helps on a cold winter evening.',
  'The meeting has been moved to Thursday afternoon.',
  'She sells sea shells by the sea shore.',
];
const LONG_MINUTES = Number(process.env.BENCH_LONG_MINUTES ?? 30);
const dir = tempDir('quarry-bench-media-');
const stt = new WhisperSpeechToText({ threads: Number(process.env.QUARRY_MODEL_THREADS ?? 0) || 0 });
const decoder = new FfmpegDecoder();

let edits = 0, words = 0, audioSec = 0, busyMs = 0;
const per: { reference: string; hypothesis: string; wer: number }[] = [];
await stt.transcribe(new Float32Array(16000)); // load the sessions outside the timings
for (const [i, s] of SENTENCES.entries()) {
  const pcm = await decodeAll(decoder, speak(s, path.join(dir, `s${i}.wav`)));
  const t0 = performance.now();
  const t = await stt.transcribe(pcm);
  busyMs += performance.now() - t0;
  audioSec += pcm.length / 16000;
  const n = s.split(/\s+/).length;
  const e = wer(s, t.text);
  edits += e * n;
  words += n;
  per.push({ reference: s, hypothesis: t.text, wer: Math.round(e * 1000) / 1000 });
}

// The long file: a minute of speech (the sentences spread over 60 s), looped to LONG_MINUTES, as mp3.
const minute = composeAudio(SENTENCES.map((s, i) => ({ file: path.join(dir, `s${i}.wav`), at: i * 6 })), 60, path.join(dir, 'minute.wav'));
const long = path.join(dir, 'long.mp3');
execFileSync('ffmpeg', ['-y', '-loglevel', 'error', '-stream_loop', String(LONG_MINUTES - 1), '-i', minute, '-c:a', 'libmp3lame', '-b:a', '64k', long]);
const rssBefore = process.memoryUsage().rss;
let peakSampled = rssBefore;
const sampler = setInterval(() => (peakSampled = Math.max(peakSampled, process.memoryUsage().rss)), 200);
const t0 = performance.now();
const segments = await transcribeSegments(long, { models: undefined as never, readBlob: async () => Buffer.alloc(0), writeArtifact: async () => '', speech: stt, media: decoder }, 15, 1);
const longMs = performance.now() - t0;
clearInterval(sampler);
const longSec = segments.at(-1)!.end_time;
const mib = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;

writeResults(
  'media',
  {
    wer_espeak: Math.round((edits / words) * 1000) / 1000,
    realtime_factor: Math.round((busyMs / 1000 / audioSec) * 1000) / 1000,
    long_audio_minutes: Math.round((longSec / 60) * 10) / 10,
    long_audio_segments: segments.length,
    long_audio_realtime_factor: Math.round((longMs / 1000 / longSec) * 1000) / 1000,
    long_audio_peak_rss_mib: mib(process.resourceUsage().maxRSS * 1024),
    long_audio_rss_growth_mib: mib(peakSampled - rssBefore),
  },
  { model: 'whisper_base (ONNX, fp32, greedy)', sentences: per },
);
await stt.close();
