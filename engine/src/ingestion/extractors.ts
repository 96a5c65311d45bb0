/**
 * The built-in extractors' run functions, keyed by the registry id (engine/src/extractors/registry.ts holds
 * their schemas). Each turns one stored object into documents; a bad input throws ExtractionError with a reason.
 */
import sharp from 'sharp';
import { chunkText, type SplitBy } from '../extractors/chunking.ts';
import { DEFAULT_MODELS } from '../extractors/default-models.ts';
import { getExtractor } from '../extractors/registry.ts';
import { audioExtractor } from './audio.ts';
import { sourceValue } from './field-passthrough.ts';
import { videoExtractor } from './video.ts';
import { openPdf, PdfError } from './pdf.ts';
import { ExtractionError, type BlobType, type ExtractedDocument, type ExtractionContext, type ExtractorRun, type StoredBlob, type StoredObject } from './types.ts';

export type { ExtractorRun } from './types.ts';

type RunFn = (run: ExtractorRun, ctx: ExtractionContext) => Promise<ExtractedDocument[]>;

const EMBED_BATCH = 32;

/** The blob an extractor input reads: the mapped property, or the first blob of an accepted type. */
function selectBlob(object: StoredObject, accepted: BlobType[], mapping?: string): StoredBlob | undefined {
  if (mapping) {
    const prop = mapping.replace(/^blobs\./, '');
    return object.blobs.find((b) => b.property === prop);
  }
  return object.blobs.find((b) => accepted.includes(b.type) || accepted.some((t) => b.content_type.startsWith(`${t}/`)));
}

function noInput(object: StoredObject, what: string, mapping?: string): ExtractionError {
  return new ExtractionError(
    'missing_input',
    mapping
      ? `object ${object.object_id} has no ${what} at input mapping '${mapping}'`
      : `object ${object.object_id} has no ${what} blob; add one or set input_mappings`,
  );
}

async function embedTexts(ctx: ExtractionContext, model: string, texts: string[]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (let i = 0; i < texts.length; i += EMBED_BATCH) out.push(...(await ctx.models.embedText(model, texts.slice(i, i + EMBED_BATCH))));
  return out;
}

async function truncatedTexts(ctx: ExtractionContext, model: string, texts: string[]): Promise<boolean[]> {
  const out: boolean[] = [];
  if (!ctx.models.truncated) return out;
  for (let i = 0; i < texts.length; i += EMBED_BATCH) out.push(...(await ctx.models.truncated(model, texts.slice(i, i + EMBED_BATCH))));
  return out;
}

async function readText(run: ExtractorRun, ctx: ExtractionContext): Promise<string> {
  const mapping = run.inputMappings?.text;
  if (mapping && !mapping.startsWith('blobs.') && !run.object.blobs.some((b) => b.property === mapping)) {
    const value = sourceValue(run.object, mapping);
    if (typeof value !== 'string') throw noInput(run.object, 'text', mapping);
    return value;
  }
  const blob = selectBlob(run.object, ['text', 'string'], mapping);
  if (!blob) throw noInput(run.object, 'text', mapping);
  const bytes = await ctx.readBlob(blob);
  if (bytes.length === 0) throw new ExtractionError('empty_input', `blob '${blob.property}' of object ${run.object.object_id} is empty (0 bytes)`);
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  if (text.includes('\u0000')) throw new ExtractionError('not_text', `blob '${blob.property}' is binary, not text`);
  return text;
}

const textExtractor: RunFn = async (run, ctx) => {
  const def = getExtractor('text_extractor@v1')!;
  const [vec] = def.vectors(run.params);
  const model = vec!.model;
  const text = await readText(run, ctx);
  const chunks = chunkText(text, {
    splitBy: (run.params.split_by as SplitBy | undefined) ?? 'none',
    chunkSize: (run.params.chunk_size as number | undefined) ?? 1000,
    chunkOverlap: (run.params.chunk_overlap as number | undefined) ?? 0,
  });
  const vectors = await embedTexts(ctx, model, chunks.map((c) => c.text));
  // A chunk longer than the model's token window is embedded by its beginning only: the document says so
  // (truncated: true), and chunking (split_by) is the fix.
  const cut = await truncatedTexts(ctx, model, chunks.map((c) => c.text));
  return chunks.map((c, i) => ({
    position: `chunk:${c.index}`,
    fields: { text: c.text, chunk_index: c.index, total_chunks: chunks.length, ...(cut[i] ? { truncated: true } : {}) },
    vectors: { [vec!.name]: vectors[i]! },
    text: { text: c.text },
  }));
};

async function decodeImage(bytes: Buffer, property: string): Promise<void> {
  if (bytes.length === 0) throw new ExtractionError('empty_input', `image blob '${property}' is empty (0 bytes)`);
  try {
    // Full decode, not just the header: truncated or corrupt images fail here rather than inside the model.
    await sharp(bytes, { failOn: 'error' }).raw().toBuffer();
  } catch (err) {
    throw new ExtractionError('corrupt_image', `image blob '${property}' cannot be decoded: ${(err as Error).message}`);
  }
}

async function thumbnail(ctx: ExtractionContext, name: string, image: Buffer): Promise<string> {
  const thumb = await sharp(image).resize(256, 256, { fit: 'inside', withoutEnlargement: true }).jpeg({ quality: 80 }).toBuffer();
  return ctx.writeArtifact(name, thumb, 'image/jpeg');
}

async function withPdf<T>(bytes: Buffer, property: string, fn: (pdf: Awaited<ReturnType<typeof openPdf>>) => Promise<T>): Promise<T> {
  let pdf;
  try {
    pdf = await openPdf(bytes);
  } catch (err) {
    if (err instanceof PdfError) throw new ExtractionError(`pdf_${err.reason}`, `PDF blob '${property}': ${err.message}`);
    throw err;
  }
  try {
    return await fn(pdf);
  } finally {
    await pdf.close();
  }
}

const imageExtractor: RunFn = async (run, ctx) => {
  const def = getExtractor('image_extractor@v1')!;
  const [vec] = def.vectors(run.params);
  const blob = selectBlob(run.object, ['image', 'pdf'], run.inputMappings?.image);
  if (!blob) throw noInput(run.object, 'image or PDF', run.inputMappings?.image);
  const bytes = await ctx.readBlob(blob);
  const thumbs = run.params.enable_thumbnails !== false;
  const started = Date.now();
  if (blob.type === 'pdf' || blob.content_type === 'application/pdf') {
    return withPdf(bytes, blob.property, async (pdf) => {
      const docs: ExtractedDocument[] = [];
      for (let p = 1; p <= pdf.pageCount; p++) {
        const png = await pdf.renderPage(p, 72);
        const [v] = await ctx.models.embedImage(vec!.model, [png]);
        docs.push({
          position: `page:${p}`,
          fields: {
            page_number: p,
            total_pages: pdf.pageCount,
            processing_time_ms: Date.now() - started,
            ...(thumbs ? { thumbnail_url: await thumbnail(ctx, `${blob.blob_id}-p${p}.jpg`, png) } : {}),
          },
          vectors: { [vec!.name]: v! },
        });
      }
      return docs;
    });
  }
  await decodeImage(bytes, blob.property);
  const [v] = await ctx.models.embedImage(vec!.model, [bytes]);
  return [
    {
      position: 'image:0',
      fields: {
        processing_time_ms: Date.now() - started,
        ...(thumbs ? { thumbnail_url: await thumbnail(ctx, `${blob.blob_id}.jpg`, bytes) } : {}),
      },
      vectors: { [vec!.name]: v! },
    },
  ];
};

const documentExtractor: RunFn = async (run, ctx) => {
  const def = getExtractor('document_extractor@v1')!;
  const [vec] = def.vectors(run.params);
  const blob = selectBlob(run.object, ['pdf'], run.inputMappings?.pdf);
  if (!blob) throw noInput(run.object, 'PDF', run.inputMappings?.pdf);
  const bytes = await ctx.readBlob(blob);
  const ocrMode = (run.params.ocr as string | undefined) ?? 'auto';
  const minText = (run.params.min_text_length as number | undefined) ?? 20;
  const dpi = (run.params.render_dpi as number | undefined) ?? 150;
  return withPdf(bytes, blob.property, async (pdf) => {
    const pages: { page: number; text: string; source: 'text_layer' | 'ocr' }[] = [];
    for (let p = 1; p <= pdf.pageCount; p++) {
      let text = ocrMode === 'always' ? '' : await pdf.pageText(p);
      let source: 'text_layer' | 'ocr' = 'text_layer';
      if (ocrMode !== 'never' && text.length < minText) {
        const lines = await ctx.models.ocr(DEFAULT_MODELS.ocr.name, await pdf.renderPage(p, dpi));
        text = lines.map((l) => l.text).join('\n').trim();
        source = 'ocr';
      }
      if (text) pages.push({ page: p, text, source });
    }
    const vectors = await embedTexts(ctx, vec!.model, pages.map((p) => p.text));
    return pages.map((p, i) => ({
      position: `page:${p.page}`,
      fields: { text: p.text, page_number: p.page, total_pages: pdf.pageCount, text_source: p.source },
      vectors: { [vec!.name]: vectors[i]! },
      text: { text: p.text },
    }));
  });
};

const passthroughExtractor: RunFn = async (run) => {
  const blob = run.object.blobs[0];
  return [
    {
      position: 'object',
      fields: {
        ...(blob ? { content_url: blob.key, content_type: blob.content_type, size_bytes: blob.size_bytes } : {}),
        ...(run.params.preserve_metadata === false ? {} : { metadata: run.object.metadata }),
      },
      vectors: {},
    },
  ];
};

const RUNNERS: Record<string, RunFn> = {
  'text_extractor@v1': textExtractor,
  'image_extractor@v1': imageExtractor,
  'document_extractor@v1': documentExtractor,
  'audio_extractor@v1': audioExtractor,
  'video_extractor@v1': videoExtractor,
  'passthrough_extractor@v1': passthroughExtractor,
};

export async function runExtractor(extractorId: string, run: ExtractorRun, ctx: ExtractionContext): Promise<ExtractedDocument[]> {
  const fn = RUNNERS[extractorId];
  if (!fn) throw new ExtractionError('unknown_extractor', `no extractor '${extractorId}'; known: ${Object.keys(RUNNERS).join(', ')}`);
  return fn(run, ctx);
}
