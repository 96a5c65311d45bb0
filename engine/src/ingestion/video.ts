/**
 * video_extractor@v1: time segments of `segment_length_seconds`; per segment a keyframe from its middle (ffmpeg,
 * scaled and padded to 1280×720), written as a JPEG thumbnail, read by OCR (PP-OCRv4), and the Whisper
 * transcript of the segment's audio (none when the file has no audio track). One document per segment with text
 * (spoken or on screen): start_time, end_time, keyframe_time, transcript, ocr_text, text (both, embedded and
 * BM25-indexed), thumbnail_url and media_url (`#t=start,end`) back to the source. Ids are `segment:<n>`: a
 * redelivered job rewrites the same documents.
 */
import sharp from 'sharp';
import { DEFAULT_MODELS } from '../extractors/default-models.ts';
import { getExtractor } from '../extractors/registry.ts';
import { defaultMediaDecoder } from '../media/default-ports.ts';
import { MediaError } from '../ports/media.ts';
import { mediaBlob, transcribeSegments, withTempFile, type SpeechSegment } from './audio.ts';
import { ExtractionError, type ExtractedDocument, type ExtractionContext, type StoredObject } from './types.ts';

const FRAME_W = 1280, FRAME_H = 720;

interface FrameResult {
  time: number;
  ocr: string;
  thumbnail?: string;
}

export async function videoExtractor(run: { object: StoredObject; params: Record<string, unknown>; inputMappings?: Record<string, string> }, ctx: ExtractionContext): Promise<ExtractedDocument[]> {
  const def = getExtractor('video_extractor@v1')!;
  const [vec] = def.vectors(run.params);
  const blob = mediaBlob(run.object, ['video'], run.inputMappings?.video);
  const bytes = await ctx.readBlob(blob);
  if (bytes.length === 0) throw new ExtractionError('empty_input', `video blob '${blob.property}' is empty (0 bytes)`);
  const seg = (run.params.segment_length_seconds as number | undefined) ?? 10;
  const thumbs = run.params.enable_thumbnails !== false;
  const ocr = run.params.ocr !== false;
  const media = ctx.media ?? defaultMediaDecoder();
  const { speech, frames } = await withTempFile(bytes, blob, async (file) => {
    const frames: FrameResult[] = [];
    try {
      for await (const f of media.frames(file, { everySeconds: seg, offsetSeconds: seg / 2, width: FRAME_W, height: FRAME_H })) {
        await ctx.heartbeat?.();
        const img = sharp(f.rgb, { raw: { width: f.width, height: f.height, channels: 3 } });
        const text = ocr ? (await ctx.models.ocr(DEFAULT_MODELS.ocr.name, await img.clone().png().toBuffer())).map((l) => l.text).join('\n').trim() : '';
        const thumbnail = thumbs ? await ctx.writeArtifact(`${blob.blob_id}-s${f.index}.jpg`, await img.clone().resize(320, 180, { fit: 'inside' }).jpeg({ quality: 80 }).toBuffer(), 'image/jpeg') : undefined;
        frames.push({ time: Math.round(f.time * 1000) / 1000, ocr: text, ...(thumbnail ? { thumbnail } : {}) });
      }
    } catch (err) {
      if (err instanceof MediaError) throw new ExtractionError(err.reason, err.message);
      throw err;
    }
    let speech: SpeechSegment[] = [];
    try {
      speech = await transcribeSegments(file, ctx, seg, 0);
    } catch (err) {
      if (!(err instanceof ExtractionError && err.reason === 'no_audio')) throw err;
    }
    return { speech, frames };
  });
  // Segments are the keyframes' (the decoded video's length); audio-only tails past the last frame are dropped.
  const total = frames.length || speech.length;
  const source = ctx.blobUrl?.(blob);
  const segments = Array.from({ length: total }, (_, i) => {
    const s = speech[i];
    const f = frames[i];
    const start = i * seg;
    const end = s?.end_time ?? start + seg;
    const transcript = s?.transcript ?? '';
    const ocrText = f?.ocr ?? '';
    return { i, start, end, transcript, ocrText, frame: f, text: [transcript, ocrText].filter(Boolean).join('\n') };
  }).filter((s) => s.text);
  const vectors = segments.length ? await ctx.models.embedText(vec!.model, segments.map((s) => s.text)) : [];
  return segments.map((s, n) => ({
    position: `segment:${s.i}`,
    fields: {
      start_time: s.start,
      end_time: s.end,
      transcript: s.transcript,
      ocr_text: s.ocrText,
      text: s.text,
      segment_index: s.i,
      total_segments: total,
      ...(s.frame ? { keyframe_time: s.frame.time } : {}),
      ...(s.frame?.thumbnail ? { thumbnail_url: s.frame.thumbnail } : {}),
      ...(source ? { media_url: `${source}#t=${s.start},${s.end}` } : {}),
    },
    vectors: { [vec!.name]: vectors[n]! },
    text: { text: s.text },
  }));
}
