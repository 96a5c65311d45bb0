/**
 * Extractor run functions on real files (text, PDFs from the shared datasets, images made with sharp), with a
 * deterministic stand-in for the Models port: this checks extraction logic only. The same paths run on the
 * real models in the ingestion end-to-end suite.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import type { Models } from '#core/ports/models.ts';
import { runExtractor } from '#engine/ingestion/extractors.ts';
import { documentId } from '#engine/ingestion/document-id.ts';
import { passthroughFields } from '#engine/ingestion/field-passthrough.ts';
import { ExtractionError, type ExtractionContext, type StoredBlob, type StoredObject } from '#engine/ingestion/types.ts';
import { datasetPath } from '../harness/datasets.ts';

const calls: { ocr: number } = { ocr: 0 };
const stubModels: Models = {
  list: () => [],
  info: (name) => ({ name, kind: 'text-embedding', dimensions: 4 }),
  embedText: async (_m, texts) => texts.map((t) => Float32Array.from([t.length, 1, 0, 0])),
  embedImage: async (_m, images) => images.map((b) => Float32Array.from([b.length, 0, 1, 0])),
  rerank: async (_m, _q, p) => p.map(() => 0),
  ocr: async () => {
    calls.ocr++;
    return [{ text: 'ocr line', score: 0.99, box: [[0, 0], [1, 0], [1, 1], [0, 1]] }];
  },
  close: async () => {},
};

function context(files: Record<string, Buffer>): ExtractionContext & { artifacts: string[] } {
  const artifacts: string[] = [];
  return {
    models: stubModels,
    readBlob: async (b: StoredBlob) => files[b.key] ?? Buffer.alloc(0),
    writeArtifact: async (name) => {
      artifacts.push(name);
      return `s3://thumbs/${name}`;
    },
    artifacts,
  };
}

function object(blobs: Partial<StoredBlob>[], metadata: Record<string, unknown> = {}): StoredObject {
  return {
    object_id: 'obj_1',
    bucket: 'b',
    metadata,
    blobs: blobs.map((b, i) => ({
      blob_id: `blob_${i}`, property: 'content', type: 'text', key: `k${i}`, content_type: 'text/plain', size_bytes: 1, checksum: 'sha256:x', ...b,
    })),
  };
}

async function rejects(p: Promise<unknown>, reason: string, message: RegExp) {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof ExtractionError, `expected ExtractionError, got ${String(err)}`);
    assert.equal(err.reason, reason);
    assert.match(err.message, message);
    return true;
  });
}

describe('text_extractor@v1', () => {
  test('chunks by words with overlap, embeds every chunk and fills the lexical field', async () => {
    const ctx = context({ k0: Buffer.from('alpha beta gamma delta epsilon') });
    const docs = await runExtractor('text_extractor@v1', { object: object([{}]), params: { split_by: 'words', chunk_size: 2, chunk_overlap: 0 } }, ctx);
    assert.deepEqual(docs.map((d) => d.fields.text), ['alpha beta', 'gamma delta', 'epsilon']);
    assert.deepEqual(docs.map((d) => d.position), ['chunk:0', 'chunk:1', 'chunk:2']);
    assert.equal(docs[0]!.fields.total_chunks, 3);
    assert.deepEqual(docs[1]!.text, { text: 'gamma delta' });
    assert.equal(docs[1]!.vectors.text_extractor_v1_embedding![0], 'gamma delta'.length);
  });

  test('input_mappings can point at a metadata field', async () => {
    const docs = await runExtractor('text_extractor@v1', { object: object([], { body: 'from metadata' }), params: {}, inputMappings: { text: 'metadata.body' } }, context({}));
    assert.equal(docs[0]!.fields.text, 'from metadata');
  });

  test('a 0-byte text blob fails alone with a clear reason', async () => {
    await rejects(runExtractor('text_extractor@v1', { object: object([{}]), params: {} }, context({ k0: Buffer.alloc(0) })), 'empty_input', /empty \(0 bytes\)/);
  });
});

describe('image_extractor@v1', () => {
  test('embeds a real image and writes a thumbnail', async () => {
    const png = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#336699' } }).png().toBuffer();
    const ctx = context({ k0: png });
    const docs = await runExtractor('image_extractor@v1', { object: object([{ type: 'image', content_type: 'image/png' }]), params: {} }, ctx);
    assert.equal(docs.length, 1);
    assert.ok(docs[0]!.vectors.image_extractor_v1_embedding);
    assert.equal(docs[0]!.fields.thumbnail_url, 's3://thumbs/blob_0.jpg');
  });

  test('a corrupt image fails with corrupt_image', async () => {
    const png = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#000' } }).png().toBuffer();
    const truncated = png.subarray(0, Math.floor(png.length / 2));
    await rejects(
      runExtractor('image_extractor@v1', { object: object([{ type: 'image', content_type: 'image/png' }]), params: {} }, context({ k0: truncated })),
      'corrupt_image',
      /cannot be decoded/,
    );
  });
});

describe('document_extractor@v1', () => {
  test('reads the text layer per page with page numbers', async (t) => {
    const file = datasetPath(t, 'pdf_papers', 'pdfs', 'graph_of_word_and_tw_idf.pdf');
    if (!file) return;
    const docs = await runExtractor('document_extractor@v1', { object: object([{ type: 'pdf', content_type: 'application/pdf' }]), params: {} }, context({ k0: readFileSync(file) }));
    assert.ok(docs.length >= 4);
    const p4 = docs.find((d) => d.fields.page_number === 4)!;
    assert.equal(p4.fields.text_source, 'text_layer');
    assert.match(p4.fields.text as string, /We designed our novel scoring function/);
    assert.equal(p4.position, 'page:4');
  });

  test('OCRs a scanned page that has no text layer', async (t) => {
    const file = datasetPath(t, 'pdf_papers', 'pdfs', '1985-Flajolet-Probabilistic-counting.pdf');
    if (!file) return;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-pdf-'));
    const onePage = path.join(dir, 'p1.pdf');
    execFileSync('qpdf', [file, '--pages', '.', '1', '--', onePage]);
    const before = calls.ocr;
    const docs = await runExtractor('document_extractor@v1', { object: object([{ type: 'pdf', content_type: 'application/pdf' }]), params: {} }, context({ k0: readFileSync(onePage) }));
    assert.equal(calls.ocr - before, 1);
    assert.deepEqual(docs.map((d) => [d.fields.page_number, d.fields.text_source, d.fields.text]), [[1, 'ocr', 'ocr line']]);
  });

  test('an encrypted PDF and a non-PDF fail with their own reasons', async (t) => {
    const file = datasetPath(t, 'pdf_papers', 'pdfs', 'graph_of_word_and_tw_idf.pdf');
    if (!file) return;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'quarry-pdf-'));
    const enc = path.join(dir, 'enc.pdf');
    execFileSync('qpdf', ['--encrypt', 'secret-user', 'secret-owner', '256', '--', file, enc]);
    const obj = object([{ type: 'pdf', content_type: 'application/pdf' }]);
    await rejects(runExtractor('document_extractor@v1', { object: obj, params: {} }, context({ k0: readFileSync(enc) })), 'pdf_encrypted', /encrypted/);
    await rejects(runExtractor('document_extractor@v1', { object: obj, params: {} }, context({ k0: Buffer.from('not a pdf at all') })), 'pdf_invalid', /not a readable PDF/);
    await rejects(runExtractor('document_extractor@v1', { object: obj, params: {} }, context({ k0: Buffer.alloc(0) })), 'pdf_empty', /0 bytes/);
  });
});

describe('ids and passthrough', () => {
  test('document ids are deterministic and differ by position', () => {
    assert.equal(documentId('c', 'o', 'text_extractor@v1', 'chunk:0'), documentId('c', 'o', 'text_extractor@v1', 'chunk:0'));
    assert.notEqual(documentId('c', 'o', 'text_extractor@v1', 'chunk:0'), documentId('c', 'o', 'text_extractor@v1', 'chunk:1'));
    assert.match(documentId('c', 'o', 'x', 'y'), /^doc_[0-9a-f]{24}$/);
  });

  test('field passthrough copies, renames, defaults and enforces required fields', async () => {
    const obj = object([], { author: 'Ada', tags: ['x'] });
    assert.deepEqual(passthroughFields(obj, [{ source_path: 'metadata.author' }, { source_path: 'metadata.tags', target_path: 'labels' }, { source_path: 'metadata.year', default: 1843 }]), {
      author: 'Ada', labels: ['x'], year: 1843,
    });
    assert.throws(() => passthroughFields(obj, [{ source_path: 'metadata.missing', required: true }]), /required passthrough field 'metadata.missing'/);
    assert.deepEqual(passthroughFields(obj, [], true), { metadata: { author: 'Ada', tags: ['x'] } });
  });

  test('passthrough_extractor keeps the source metadata', async () => {
    const docs = await runExtractor('passthrough_extractor@v1', { object: object([{}], { a: 1 }), params: {} }, context({}));
    assert.deepEqual(docs[0]!.fields.metadata, { a: 1 });
    assert.deepEqual(docs[0]!.vectors, {});
  });
});
