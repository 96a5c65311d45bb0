/**
 * MediaDecoder on Debian's ffmpeg, run as a subprocess under limits: CPU seconds and address space (`ulimit -t`,
 * `ulimit -v` in a /bin/sh wrapper), and a stall timeout (no output while the reader waits). stderr is kept (its
 * tail) to explain failures. Output is raw f32le mono PCM on stdout, read with backpressure: ffmpeg waits while
 * the consumer (a transcriber) is busy, so a 30-minute file never sits in memory.
 */
import { spawn } from 'node:child_process';
import { MediaError, type AudioDecodeOptions, type FrameOptions, type MediaDecoder, type MediaSpan, type SceneOptions, type VideoFrame } from '../ports/media.ts';

export interface FfmpegLimits {
  /** CPU seconds ffmpeg may use for one file (default 600). */
  cpuSeconds?: number;
  /** Address-space limit in MiB (default 2048). */
  memoryMiB?: number;
  /** Kill ffmpeg when it produces nothing for this long while its output is awaited (default 60 s). */
  stallMs?: number;
  /** The ffmpeg binary (default `ffmpeg` on PATH). */
  binary?: string;
}

function classify(stderr: string, code: number | null, signal: NodeJS.Signals | null, track: 'audio' | 'video'): MediaError {
  const tail = stderr.trim().split('\n').slice(-3).join(' | ').replace(/\/tmp\/quarry-media-[\w.-]+/g, '<file>').slice(0, 500);
  if (/does not contain any stream|matches no streams|Output file .* does not contain/i.test(stderr)) {
    return track === 'audio'
      ? new MediaError('no_audio', 'the file has no audio track; upload media with an audio stream')
      : new MediaError('no_video', 'the file has no video track; use the audio extractor for audio-only media');
  }
  if (/Invalid data found when processing input|could not find codec parameters|moov atom not found|Unknown format|Invalid argument/i.test(stderr)) {
    return new MediaError('unsupported_media', `the file is not decodable audio or video (${tail}); upload a common container (wav, mp3, m4a, mp4, mkv, webm, ogg)`);
  }
  if (signal === 'SIGXCPU' || signal === 'SIGKILL') return new MediaError('decode_timeout', `decoding exceeded its time or memory limit (${signal}); split the file or raise the limits`);
  return new MediaError('corrupt_media', `decoding failed (exit ${code ?? signal}): ${tail || 'no message'}; the file may be truncated or corrupt`);
}

/** Input options that decode only a span: `-ss` before `-i` seeks (frame- and sample-accurate, times restart at 0). */
function spanArgs(span: MediaSpan): string[] {
  const out: string[] = [];
  if (span.startSeconds) out.push('-ss', String(span.startSeconds));
  if (span.durationSeconds !== undefined) out.push('-t', String(span.durationSeconds));
  return out;
}

/** A select expression true for the first frame at or after each time (times relative to the decoded span). */
function selectTimes(times: number[]): string {
  return times.map((t) => `gte(t,${t})*not(gte(prev_t,${t}))`).join('+');
}

export class FfmpegDecoder implements MediaDecoder {
  private readonly limits: Required<FfmpegLimits>;
  constructor(limits: FfmpegLimits = {}) {
    this.limits = { cpuSeconds: 600, memoryMiB: 2048, stallMs: 60_000, binary: 'ffmpeg', ...limits };
  }

  async *audio(file: string, opts: AudioDecodeOptions): AsyncIterable<Float32Array> {
    let rest: Buffer = Buffer.alloc(0);
    const args = ['-map', '0:a:0', '-vn', '-ac', '1', '-ar', String(opts.sampleRate), '-f', 'f32le'];
    for await (const chunk of this.stream([...spanArgs(opts), '-i', file, ...args], 'audio')) {
      const buf = rest.length ? Buffer.concat([rest, chunk]) : chunk;
      const whole = buf.length - (buf.length % 4);
      rest = Buffer.from(buf.subarray(whole));
      if (whole) {
        const copy = new Float32Array(whole / 4);
        Buffer.from(copy.buffer).set(buf.subarray(0, whole));
        yield copy;
      }
    }
  }

  async *frames(file: string, opts: FrameOptions): AsyncIterable<VideoFrame> {
    const { width: w, height: h } = opts;
    const start = opts.startSeconds ?? 0;
    // Frames chosen by `select` on their own times. (An input seek with the fps filter took frames near the
    // segments' boundaries, not their middles.) After a span's seek, `t` counts from the span's start.
    let pick: string;
    let timeOf: (index: number) => number;
    if (opts.times) {
      const times = opts.times;
      if (!times.length) return;
      pick = `select='${selectTimes(times.map((t) => Math.max(0, t - start)))}'`;
      timeOf = (i) => times[i]!;
    } else {
      // The first frame at or after offset + k·every, for each k.
      const every = opts.everySeconds ?? 10;
      const off = (opts.offsetSeconds ?? 0) - start;
      pick = `select='gte(t,${off})*not(eq(floor((t-${off})/${every}),floor((prev_t-${off})/${every})))'`;
      timeOf = (i) => start + off + i * every;
    }
    const vf = `${pick},scale=${w}:${h}:force_original_aspect_ratio=decrease,pad=${w}:${h}:(ow-iw)/2:(oh-ih)/2,format=rgb24`;
    const size = w * h * 3;
    let buf: Buffer = Buffer.alloc(0);
    let index = 0;
    const args = [...spanArgs(opts), '-i', file, '-map', '0:v:0', '-an', '-vf', vf, '-fps_mode', 'vfr', '-f', 'rawvideo', '-pix_fmt', 'rgb24'];
    for await (const chunk of this.stream(args, 'video')) {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (buf.length >= size) {
        yield { index, time: timeOf(index), width: w, height: h, rgb: Buffer.from(buf.subarray(0, size)) };
        index++;
        buf = buf.subarray(size);
      }
    }
  }

  async duration(file: string, track: 'audio' | 'video'): Promise<number> {
    // Packets are copied (not decoded) to framecrc, one line per packet: the end is the largest pts + duration.
    const args = ['-i', file, '-map', track === 'audio' ? '0:a:0' : '0:v:0', '-c', 'copy', '-f', 'framecrc'];
    let end = -1;
    let tb = 0;
    for await (const line of this.lines(args, track)) {
      const base = /^#tb 0: (\d+)\/(\d+)/.exec(line);
      if (base) tb = Number(base[1]) / Number(base[2]);
      const f = line.startsWith('#') ? undefined : line.split(',').map((x) => Number(x.trim()));
      if (f && f.length >= 4 && Number.isFinite(f[2]! + f[3]!)) end = Math.max(end, (f[2]! + f[3]!) * tb);
    }
    if (end < 0 || !tb) throw new MediaError(track === 'audio' ? 'no_audio' : 'no_video', `the file has no readable ${track} packets; upload media with a ${track} stream`);
    return Math.round(end * 1e6) / 1e6;
  }

  async sceneChanges(file: string, opts: SceneOptions): Promise<number[]> {
    // Scores on a small copy of each frame (the score is a mean absolute difference: size barely changes it);
    // the selected frames' metadata is printed to stdout.
    const vf = `scale=160:-2,select='gt(scene,${opts.threshold})',metadata=print:file=pipe\\\\:1`;
    const times: number[] = [];
    for await (const line of this.lines([...spanArgs(opts), '-i', file, '-map', '0:v:0', '-an', '-vf', vf, '-f', 'null'], 'video')) {
      const m = /pts_time:([\d.]+)/.exec(line);
      if (m) times.push(Math.round(((opts.startSeconds ?? 0) + Number(m[1])) * 1000) / 1000);
    }
    return times;
  }

  /** ffmpeg's stdout, line by line. */
  private async *lines(args: string[], track: 'audio' | 'video'): AsyncIterable<string> {
    let rest = '';
    for await (const chunk of this.stream(args, track)) {
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop() ?? '';
      yield* lines;
    }
    if (rest) yield rest;
  }

  /** Runs ffmpeg under the limits and streams its stdout; throws MediaError when it fails. */
  private async *stream(inputAndOutput: string[], track: 'audio' | 'video'): AsyncIterable<Buffer> {
    const args = ['-nostdin', '-hide_banner', '-loglevel', 'error', '-xerror', ...inputAndOutput, 'pipe:1'];
    const { cpuSeconds, memoryMiB, stallMs, binary } = this.limits;
    const child = spawn('/bin/sh', ['-c', `ulimit -t ${cpuSeconds}; ulimit -v ${memoryMiB * 1024}; exec "$0" "$@"`, binary, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-8000);
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.on('error', (err) => reject(new MediaError('decoder_missing', `cannot run ${binary}: ${err.message}; install ffmpeg (hack/ci/apt-packages.sh)`)));
      child.on('close', (code, signal) => resolve({ code, signal }));
    });
    exited.catch(() => undefined);
    let stalled = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        stalled = true;
        child.kill('SIGKILL');
      }, stallMs);
    };
    try {
      arm();
      for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
        clearTimeout(timer);
        yield chunk;
        arm();
      }
      const { code, signal } = await exited;
      if (stalled) throw new MediaError('decode_timeout', `ffmpeg produced no output for ${stallMs} ms; the file may be damaged`);
      if (code !== 0) throw classify(stderr, code, signal, track);
    } finally {
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }
}
