/**
 * video_extractor@v1: segments of `segment_length_seconds` (split_method time) or one per scene (split_method scene:
 * ffmpeg's scene-change scores above `scene_detection_threshold`, scenes longer than `max_segment_duration` cut in
 * equal parts). Per segment a keyframe from its middle (ffmpeg, scaled and padded to 1280×720), written as a JPEG
 * thumbnail, read by OCR (PP-OCRv4) and, with an image–text `model`, embedded; and the Whisper transcript of the
 * segment's audio (none when the file has no audio track). One document per segment with text (spoken or on
 * screen) or a keyframe embedding: start_time, end_time, keyframe_time, transcript, ocr_text, text (both, embedded
 * and BM25-indexed), thumbnail_url and media_url (`#t=start,end`) back to the source. Ids are `segment:<n>` (n the
 * segment's index in the whole file): a redelivered job rewrites the same documents. Video longer than
 * `job_length_seconds` is split (ctx.split) into ranges of whole segments, each extracted by its own job.
 */
import sharp from 'sharp';
import { DEFAULT_MODELS } from '../extractors/default-models.ts';
import { getExtractor } from '../extractors/registry.ts';
import { defaultMediaDecoder } from '../media/default-ports.ts';
import { fixedRanges, keyframeCount, sceneSpans, spanRanges, type MediaRange } from '../media/plan.ts';
import type { FrameOptions, MediaDecoder } from '../ports/media.ts';
import { decoding, mediaBlob, mediaLog, rangeSpan, segmentsIn, transcribeSegments, transcribeSpans, withMediaFile, type SpeechSegment } from './audio.ts';
import { ExtractionError, type ExtractedDocument, type ExtractionContext, type ExtractorRun, type StoredBlob } from './types.ts';

const FRAME_W = 1280, FRAME_H = 720;

interface VideoParams {
  split: 'time' | 'scene';
  seg: number;
  threshold: number;
  maxSeg: number;
  jobSeconds: number;
  thumbs: boolean;
  ocr: boolean;
  /** The image–text model keyframes are embedded with, if any. */
  imageModel?: string;
}

interface FrameResult {
  index: number;
  time: number;
  ocr: string;
  thumbnail?: string;
  embedding?: Float32Array;
}

function videoParams(params: Record<string, unknown>, imageModel: string | undefined): VideoParams {
  return {
    split: params.split_method === 'scene' ? 'scene' : 'time',
    seg: (params.segment_length_seconds as number | undefined) ?? 10,
    threshold: (params.scene_detection_threshold as number | undefined) ?? 0.3,
    maxSeg: (params.max_segment_duration as number | undefined) ?? 30,
    jobSeconds: (params.job_length_seconds as number | undefined) ?? 300,
    thumbs: params.enable_thumbnails !== false,
    ocr: params.ocr !== false,
    ...(imageModel ? { imageModel } : {}),
  };
}

/**
 * The ranges of a whole video: time segments need splitting only when a job may hand them on; scene segments are
 * always planned here (from the whole file's scene changes), so their indices are the file's.
 */
async function planVideo(file: string, media: MediaDecoder, p: VideoParams, canSplit: boolean): Promise<MediaRange[]> {
  if (p.split === 'time') {
    if (!canSplit || p.jobSeconds <= 0) return [];
    const seconds = await media.duration(file, 'video');
    return fixedRanges(Math.max(1, keyframeCount(seconds, p.seg)), Math.floor(p.jobSeconds / p.seg), p.seg, 0);
  }
  const seconds = await media.duration(file, 'video');
  const changes = await media.sceneChanges(file, { threshold: p.threshold });
  return spanRanges(sceneSpans(changes, seconds, p.maxSeg), canSplit ? p.jobSeconds : 0);
}

/** Keyframes of the segments (of a range): OCR, thumbnail and embedding of each. */
async function keyframes(file: string, blob: StoredBlob, ctx: ExtractionContext, media: MediaDecoder, p: VideoParams, range: MediaRange | undefined): Promise<FrameResult[]> {
  const first = range?.first ?? 0;
  const opts: FrameOptions = range?.spans
    ? { times: range.spans.map(([a, b]) => Math.round(((a + b) / 2) * 1000) / 1000), width: FRAME_W, height: FRAME_H, ...rangeSpan(range) }
    : { everySeconds: p.seg, offsetSeconds: (range?.start ?? 0) + p.seg / 2, width: FRAME_W, height: FRAME_H, ...rangeSpan(range) };
  const limit = range?.spans ? range.spans.length : segmentsIn(range, p.seg, 0);
  const frames: FrameResult[] = [];
  await decoding(async () => {
    for await (const f of media.frames(file, opts)) {
      if (f.index >= limit) break;
      await ctx.heartbeat?.();
      const index = first + f.index;
      const img = sharp(f.rgb, { raw: { width: f.width, height: f.height, channels: 3 } });
      const png = p.ocr || p.imageModel ? await img.clone().png().toBuffer() : undefined;
      const text = p.ocr ? (await ctx.models.ocr(DEFAULT_MODELS.ocr.name, png!)).map((l) => l.text).join('\n').trim() : '';
      const thumbnail = p.thumbs ? await ctx.writeArtifact(`${blob.blob_id}-s${index}.jpg`, await img.clone().resize(320, 180, { fit: 'inside' }).jpeg({ quality: 80 }).toBuffer(), 'image/jpeg') : undefined;
      const embedding = p.imageModel ? (await ctx.models.embedImage(p.imageModel, [png!]))[0] : undefined;
      frames.push({ index, time: Math.round(f.time * 1000) / 1000, ocr: text, ...(thumbnail ? { thumbnail } : {}), ...(embedding ? { embedding } : {}) });
      mediaLog.debug({ segment_index: index, range: range?.index }, 'media keyframe read');
    }
  });
  return frames;
}

/** The transcripts of the segments (of a range); none for a video without an audio track. */
async function speechOf(file: string, ctx: ExtractionContext, p: VideoParams, range: MediaRange | undefined): Promise<SpeechSegment[]> {
  try {
    return range?.spans ? await transcribeSpans(file, ctx, range.spans, range.first) : await transcribeSegments(file, ctx, p.seg, 0, range);
  } catch (err) {
    if (err instanceof ExtractionError && err.reason === 'no_audio') return [];
    throw err;
  }
}

export async function videoExtractor(run: ExtractorRun, ctx: ExtractionContext): Promise<ExtractedDocument[]> {
  const [textVec, imageVec] = getExtractor('video_extractor@v1')!.vectors(run.params);
  const blob = mediaBlob(run.object, ['video'], run.inputMappings?.video);
  const p = videoParams(run.params, imageVec?.model);
  const media = ctx.media ?? defaultMediaDecoder();
  const extracted = await withMediaFile(ctx, blob, async (file) => {
    let range = run.range;
    if (!range) {
      const ranges = await decoding(() => planVideo(file, media, p, !!ctx.split), ctx);
      if (ranges.length > 1) {
        await ctx.split!(ranges);
        return undefined;
      }
      range = ranges[0];
    }
    return { range, frames: await keyframes(file, blob, ctx, media, p, range), speech: await speechOf(file, ctx, p, range) };
  });
  if (!extracted) return [];
  const { range, frames, speech } = extracted;
  // Segments are the keyframes' (the decoded video's length); audio-only tails past the last frame are dropped.
  const count = range?.spans ? range.spans.length : frames.length || speech.length;
  const first = range?.first ?? 0;
  // A range job knows the file's segments from when it was split (at least those it saw); a whole file counts its own.
  const total = range && range.count > 1 ? Math.max(range.total, first + count) : count;
  const source = ctx.blobUrl?.(blob);
  const segments = Array.from({ length: count }, (_, i) => {
    const index = first + i;
    const s = speech.find((x) => x.index === index);
    const f = frames.find((x) => x.index === index);
    const span = range?.spans?.[i];
    const start = span ? span[0] : index * p.seg;
    const end = span ? span[1] : (s?.end_time ?? start + p.seg);
    const transcript = s?.transcript ?? '';
    const ocrText = f?.ocr ?? '';
    return { index, start, end, transcript, ocrText, frame: f, text: [transcript, ocrText].filter(Boolean).join('\n') };
  }).filter((s) => s.text || s.frame?.embedding);
  const withText = segments.filter((s) => s.text);
  const vectors = withText.length ? await ctx.models.embedText(textVec!.model, withText.map((s) => s.text)) : [];
  return segments.map((s) => ({
    position: `segment:${s.index}`,
    fields: {
      start_time: s.start,
      end_time: s.end,
      transcript: s.transcript,
      ocr_text: s.ocrText,
      text: s.text,
      segment_index: s.index,
      total_segments: total,
      ...(s.frame ? { keyframe_time: s.frame.time } : {}),
      ...(s.frame?.thumbnail ? { thumbnail_url: s.frame.thumbnail } : {}),
      ...(source ? { media_url: `${source}#t=${s.start},${s.end}` } : {}),
    },
    vectors: {
      ...(s.text ? { [textVec!.name]: vectors[withText.indexOf(s)]! } : {}),
      ...(imageVec && s.frame?.embedding ? { [imageVec.name]: s.frame.embedding } : {}),
    },
    ...(s.text ? { text: { text: s.text } } : {}),
  }));
}
