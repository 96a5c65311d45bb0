/**
 * audio_extractor@v1: decode (ffmpeg, any container with an audio track, video included) → 16 kHz mono → fixed
 * windows with overlap → Whisper transcript → one document per segment with speech: start_time, end_time (seconds,
 * from the decoded samples, never from container metadata), transcript, its text embedding, and media_url (the
 * source blob with a `#t=start,end` media fragment). Decoding streams: memory is one window, whatever the length.
 * Segment documents have deterministic ids (`segment:<n>`), so a job redelivered after a worker died rewrites the
 * same documents: every segment exactly once. Media longer than `job_length_seconds` is split (ctx.split) into
 * ranges of whole segments, each extracted by its own job: a worker lost mid-file costs one range.
 */
import { unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { getExtractor } from '../extractors/registry.ts';
import { defaultMediaDecoder, defaultSpeechToText } from '../media/default-ports.ts';
import { fixedRanges, windowCount, type MediaRange } from '../media/plan.ts';
import { pcmWindows } from '../media/windows.ts';
import { logger } from '../lib/log.ts';
import { MediaError } from '../ports/media.ts';
import { newId } from './ids.ts';
import { ExtractionError, type ExtractedDocument, type ExtractionContext, type ExtractorRun, type StoredBlob, type StoredObject } from './types.ts';

export const mediaLog = logger('media');

export interface SpeechSegment {
  index: number;
  start_time: number;
  end_time: number;
  transcript: string;
  no_speech_prob: number;
}

/** Below this RMS a window is silence and is not transcribed (Whisper invents words on silence). */
const SILENCE_RMS = 1e-3;
/** Whisper's usual threshold: above it the window's text is dropped as a hallucination. */
const NO_SPEECH = 0.6;

function rms(x: Float32Array): number {
  let s = 0;
  for (const v of x) s += v * v;
  return Math.sqrt(s / Math.max(1, x.length));
}

const round = (t: number) => Math.round(t * 1000) / 1000;

/**
 * Puts a media blob in a temporary file for ffmpeg (which seeks and probes files better than pipes), removed after:
 * streamed from the object store when the context can (memory stays small whatever the file's size), else written
 * from its bytes. An empty blob fails the object.
 */
export async function withMediaFile<T>(ctx: ExtractionContext, blob: StoredBlob, fn: (file: string) => Promise<T>): Promise<T> {
  const file = path.join(tmpdir(), `quarry-media-${newId('m')}${path.extname(blob.filename ?? '') || ''}`);
  try {
    const size = ctx.saveBlob ? await ctx.saveBlob(blob, file) : await ctx.readBlob(blob).then(async (bytes) => (await writeFile(file, bytes), bytes.length));
    if (size === 0) throw new ExtractionError('empty_input', `media blob '${blob.property}' is empty (0 bytes)`);
    return await fn(file);
  } finally {
    await unlink(file).catch(() => undefined);
  }
}

/**
 * Runs a decoder call: its MediaErrors become the object's extraction failure, and a call that yields nothing for a
 * while (measuring a long file, scoring its scenes) keeps the job's lease with a heartbeat every 15 s.
 */
export async function decoding<T>(fn: () => Promise<T>, ctx?: ExtractionContext): Promise<T> {
  const beat = ctx?.heartbeat ? setInterval(() => void ctx.heartbeat!().catch(() => undefined), 15_000) : undefined;
  try {
    return await fn();
  } catch (err) {
    if (err instanceof MediaError) throw new ExtractionError(err.reason, err.message);
    throw err;
  } finally {
    clearInterval(beat);
  }
}

/** The decoder's span for a range (absent: the whole file). */
export function rangeSpan(range?: MediaRange): { startSeconds?: number; durationSeconds?: number } {
  if (!range) return {};
  return { startSeconds: range.start, ...(range.end !== undefined ? { durationSeconds: round(range.end - range.start) } : {}) };
}

/** Segments a range holds: all that come for the last range (to the end of the media), else up to the next range's first. */
export function segmentsIn(range: MediaRange | undefined, hop: number, overlap: number): number {
  return range?.end === undefined ? Infinity : Math.max(1, Math.round((range.end - range.start - overlap) / hop));
}

/**
 * Transcribes a media file (or the range of it a job covers) in windows of `segmentSeconds` with `overlapSeconds`
 * shared by neighbours; segment indices and times are the whole file's.
 */
export async function transcribeSegments(file: string, ctx: ExtractionContext, segmentSeconds: number, overlapSeconds: number, range?: MediaRange): Promise<SpeechSegment[]> {
  const speech = ctx.speech ?? defaultSpeechToText();
  const media = ctx.media ?? defaultMediaDecoder();
  const sr = speech.sampleRate;
  const out: SpeechSegment[] = [];
  const first = range?.first ?? 0;
  const offset = range?.start ?? 0;
  const limit = segmentsIn(range, segmentSeconds - overlapSeconds, overlapSeconds);
  await decoding(async () => {
    for await (const w of pcmWindows(media.audio(file, { sampleRate: sr, ...rangeSpan(range) }), Math.round(segmentSeconds * sr), Math.round(overlapSeconds * sr))) {
      // A few samples past a range's end make a sliver of a window that is the next range's first.
      if (w.index >= limit) break;
      await ctx.heartbeat?.();
      let transcript = '';
      let noSpeech = 1;
      if (rms(w.samples) >= SILENCE_RMS) {
        const t = await speech.transcribe(w.samples);
        noSpeech = t.noSpeechProb;
        if (noSpeech < NO_SPEECH) transcript = t.text;
      }
      out.push({ index: first + w.index, start_time: round(offset + w.start / sr), end_time: round(offset + (w.start + w.samples.length) / sr), transcript, no_speech_prob: round(noSpeech) });
      mediaLog.debug({ segment_index: first + w.index, range: range?.index }, 'media segment transcribed');
    }
  });
  return out;
}

/** Transcribes consecutive [start, end] spans (seconds, each at most one Whisper window) of a media file; indices from `first`. */
export async function transcribeSpans(file: string, ctx: ExtractionContext, spans: [number, number][], first: number): Promise<SpeechSegment[]> {
  if (!spans.length) return [];
  const speech = ctx.speech ?? defaultSpeechToText();
  const media = ctx.media ?? defaultMediaDecoder();
  const sr = speech.sampleRate;
  const from = spans[0]![0];
  const out: SpeechSegment[] = [];
  let parts: Float32Array[] = [];
  let pos = 0; // samples decoded, from `from`
  let i = 0;
  const endOf = (k: number) => Math.round((spans[k]![1] - from) * sr);
  const flush = async () => {
    const samples = new Float32Array(parts.reduce((n, x) => n + x.length, 0));
    parts.reduce((o, x) => (samples.set(x, o), o + x.length), 0);
    parts = [];
    await ctx.heartbeat?.();
    let transcript = '';
    let noSpeech = 1;
    if (samples.length && rms(samples) >= SILENCE_RMS) {
      const t = await speech.transcribe(samples.subarray(0, speech.windowSeconds * sr));
      noSpeech = t.noSpeechProb;
      if (noSpeech < NO_SPEECH) transcript = t.text;
    }
    const [start, end] = spans[i]!;
    out.push({ index: first + i, start_time: start, end_time: end, transcript, no_speech_prob: round(noSpeech) });
    mediaLog.debug({ segment_index: first + i }, 'media segment transcribed');
    i++;
  };
  await decoding(async () => {
    const span = { startSeconds: from, durationSeconds: round(spans[spans.length - 1]![1] - from) };
    for await (const chunk of media.audio(file, { sampleRate: sr, ...span })) {
      let off = 0;
      while (off < chunk.length && i < spans.length) {
        const take = Math.min(endOf(i) - pos, chunk.length - off);
        parts.push(chunk.slice(off, off + take));
        pos += take;
        off += take;
        if (pos >= endOf(i)) await flush();
      }
    }
    if (i < spans.length && parts.length) await flush(); // the audio ended inside the last span
  });
  return out;
}

export function mediaBlob(object: StoredObject, accepted: string[], mapping?: string): StoredBlob {
  const prop = mapping?.replace(/^blobs\./, '');
  const blob = prop
    ? object.blobs.find((b) => b.property === prop)
    : object.blobs.find((b) => accepted.includes(b.type) || accepted.some((t) => b.content_type.startsWith(`${t}/`)));
  if (!blob) {
    throw new ExtractionError('missing_input', prop ? `object ${object.object_id} has no blob at input mapping '${mapping}'` : `object ${object.object_id} has no ${accepted.join(' or ')} blob; add one or set input_mappings`);
  }
  return blob;
}

export async function audioExtractor(run: ExtractorRun, ctx: ExtractionContext): Promise<ExtractedDocument[]> {
  const def = getExtractor('audio_extractor@v1')!;
  const [vec] = def.vectors(run.params);
  const blob = mediaBlob(run.object, ['audio', 'video'], run.inputMappings?.audio);
  const seg = (run.params.segment_length_seconds as number | undefined) ?? 15;
  const overlap = (run.params.segment_overlap_seconds as number | undefined) ?? 1;
  const jobSeconds = (run.params.job_length_seconds as number | undefined) ?? 300;
  if (overlap >= seg) throw new ExtractionError('invalid_parameters', `segment_overlap_seconds (${overlap}) must be below segment_length_seconds (${seg})`);
  const segments = await withMediaFile(ctx, blob, async (file) => {
    if (!run.range && ctx.split && jobSeconds > 0) {
      const sr = (ctx.speech ?? defaultSpeechToText()).sampleRate;
      const seconds = await decoding(() => (ctx.media ?? defaultMediaDecoder()).duration(file, 'audio'), ctx);
      const total = windowCount(Math.round(seconds * sr), Math.round(seg * sr), Math.round(overlap * sr));
      const ranges = fixedRanges(total, Math.floor(jobSeconds / (seg - overlap)), seg - overlap, overlap);
      if (ranges.length > 1) {
        await ctx.split(ranges);
        return undefined;
      }
    }
    return transcribeSegments(file, ctx, seg, overlap, run.range);
  });
  if (!segments) return [];
  // A range job knows the file's segments from when it was split (at least those it saw); a whole file counts its own.
  const total = run.range ? Math.max(run.range.total, run.range.first + segments.length) : segments.length;
  const spoken = segments.filter((s) => s.transcript);
  const vectors = spoken.length ? await ctx.models.embedText(vec!.model, spoken.map((s) => s.transcript)) : [];
  const source = ctx.blobUrl?.(blob);
  return spoken.map((s, i) => ({
    position: `segment:${s.index}`,
    fields: {
      start_time: s.start_time,
      end_time: s.end_time,
      transcript: s.transcript,
      text: s.transcript,
      segment_index: s.index,
      total_segments: total,
      no_speech_prob: s.no_speech_prob,
      ...(source ? { media_url: `${source}#t=${s.start_time},${s.end_time}` } : {}),
    },
    vectors: { [vec!.name]: vectors[i]! },
    text: { text: s.transcript },
  }));
}
