/**
 * audio_extractor@v1: decode (ffmpeg, any container with an audio track, video included) → 16 kHz mono → fixed
 * windows with overlap → Whisper transcript → one document per segment with speech: start_time, end_time (seconds,
 * from the decoded samples, never from container metadata), transcript, its text embedding, and media_url (the
 * source blob with a `#t=start,end` media fragment). Decoding streams: memory is one window, whatever the length.
 * Segment documents have deterministic ids (`segment:<n>`), so a job redelivered after a worker died rewrites the
 * same documents: every segment exactly once.
 */
import { unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { getExtractor } from '../extractors/registry.ts';
import { defaultMediaDecoder, defaultSpeechToText } from '../media/default-ports.ts';
import { pcmWindows } from '../media/windows.ts';
import { MediaError } from '../ports/media.ts';
import { newId } from './ids.ts';
import { ExtractionError, type ExtractedDocument, type ExtractionContext, type StoredBlob, type StoredObject } from './types.ts';

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

/** Writes a blob to a temporary file for ffmpeg (which seeks and probes files better than pipes), removed after. */
export async function withTempFile<T>(bytes: Buffer, blob: StoredBlob, fn: (file: string) => Promise<T>): Promise<T> {
  const file = path.join(tmpdir(), `quarry-media-${newId('m')}${path.extname(blob.filename ?? '') || ''}`);
  await writeFile(file, bytes);
  try {
    return await fn(file);
  } finally {
    await unlink(file).catch(() => undefined);
  }
}

/** Transcribes a media file in windows of `segmentSeconds` with `overlapSeconds` shared by neighbours. */
export async function transcribeSegments(file: string, ctx: ExtractionContext, segmentSeconds: number, overlapSeconds: number): Promise<SpeechSegment[]> {
  const speech = ctx.speech ?? defaultSpeechToText();
  const media = ctx.media ?? defaultMediaDecoder();
  const sr = speech.sampleRate;
  const out: SpeechSegment[] = [];
  try {
    for await (const w of pcmWindows(media.audio(file, { sampleRate: sr }), Math.round(segmentSeconds * sr), Math.round(overlapSeconds * sr))) {
      await ctx.heartbeat?.();
      let transcript = '';
      let noSpeech = 1;
      if (rms(w.samples) >= SILENCE_RMS) {
        const t = await speech.transcribe(w.samples);
        noSpeech = t.noSpeechProb;
        if (noSpeech < NO_SPEECH) transcript = t.text;
      }
      out.push({ index: w.index, start_time: round(w.start / sr), end_time: round((w.start + w.samples.length) / sr), transcript, no_speech_prob: round(noSpeech) });
    }
  } catch (err) {
    if (err instanceof MediaError) throw new ExtractionError(err.reason, err.message);
    throw err;
  }
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

export async function audioExtractor(run: { object: StoredObject; params: Record<string, unknown>; inputMappings?: Record<string, string> }, ctx: ExtractionContext): Promise<ExtractedDocument[]> {
  const def = getExtractor('audio_extractor@v1')!;
  const [vec] = def.vectors(run.params);
  const blob = mediaBlob(run.object, ['audio', 'video'], run.inputMappings?.audio);
  const bytes = await ctx.readBlob(blob);
  if (bytes.length === 0) throw new ExtractionError('empty_input', `media blob '${blob.property}' is empty (0 bytes)`);
  const seg = (run.params.segment_length_seconds as number | undefined) ?? 15;
  const overlap = (run.params.segment_overlap_seconds as number | undefined) ?? 1;
  if (overlap >= seg) throw new ExtractionError('invalid_parameters', `segment_overlap_seconds (${overlap}) must be below segment_length_seconds (${seg})`);
  const segments = await withTempFile(bytes, blob, (file) => transcribeSegments(file, ctx, seg, overlap));
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
      total_segments: segments.length,
      no_speech_prob: s.no_speech_prob,
      ...(source ? { media_url: `${source}#t=${s.start_time},${s.end_time}` } : {}),
    },
    vectors: { [vec!.name]: vectors[i]! },
    text: { text: s.transcript },
  }));
}
