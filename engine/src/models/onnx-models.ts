/**
 * The Models port on onnxruntime-node. Sessions are created once per model and reused; `session.run` executes on
 * onnxruntime's own thread pool, off the event loop (intra-op threads: QUARRY_MODEL_THREADS, default all cores).
 * Tokenisation uses @huggingface/tokenizers with the model's own tokenizer.json.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { Tokenizer } from '@huggingface/tokenizers';
import GutenOcr from '@gutenye/ocr-node';
import sharp from 'sharp';
import { QuarryError } from '../lib/errors.ts';
import type { ModelInfo, Models, OcrLine } from '../ports/models.ts';
import { loadManifest, modelsDir, type ModelEntry } from './manifest.ts';

export interface OnnxModelsOptions {
  dir?: string;
  threads?: number;
  /** Largest batch handed to one session.run; larger inputs are split. */
  maxBatch?: number;
}

interface Encoded {
  ids: number[];
  types: number[];
}

export class OnnxModels implements Models {
  private readonly dir: string;
  private readonly entries: Map<string, ModelEntry>;
  private readonly sessions = new Map<string, Promise<ort.InferenceSession>>();
  private readonly tokenizers = new Map<string, { tok: Tokenizer; cls: number; sep: number }>();
  private readonly ocrEngines = new Map<string, Promise<{ detect(image: Buffer): Promise<{ text: string; mean: number; box: number[][] }[]> }>>();
  private readonly threads: number;
  private readonly maxBatch: number;

  constructor(opts: OnnxModelsOptions = {}) {
    this.dir = opts.dir ?? modelsDir();
    this.entries = new Map(Object.entries(loadManifest(this.dir).models));
    this.threads = opts.threads ?? Number(process.env.QUARRY_MODEL_THREADS ?? 0);
    this.maxBatch = opts.maxBatch ?? 32;
  }

  list(): ModelInfo[] {
    return [...this.entries.values()].map((e) => this.toInfo(e));
  }

  info(model: string): ModelInfo {
    return this.toInfo(this.entry(model));
  }

  private toInfo(e: ModelEntry): ModelInfo {
    return {
      name: e.name,
      kind: e.kind,
      ...(e.dimensions !== undefined ? { dimensions: e.dimensions } : {}),
      ...(e.max_tokens !== undefined ? { maxTokens: e.max_tokens } : {}),
      ...(e.distance ? { distance: e.distance } : {}),
    };
  }

  private entry(model: string, kind?: ModelInfo['kind']): ModelEntry {
    const e = this.entries.get(model);
    if (!e) {
      throw new QuarryError('NotFoundError', `model '${model}' is not installed; installed: ${[...this.entries.keys()].join(', ') || 'none'} (run 'make models')`, { model });
    }
    if (kind && e.kind !== kind) throw new QuarryError('BadRequestError', `model '${model}' is a ${e.kind} model, not ${kind}`, { model });
    return e;
  }

  private session(e: ModelEntry, file = 'model.onnx'): Promise<ort.InferenceSession> {
    const key = `${e.name}/${file}`;
    let s = this.sessions.get(key);
    if (!s) {
      s = ort.InferenceSession.create(path.join(this.dir, e.dir, file), {
        executionProviders: ['cpu'],
        graphOptimizationLevel: 'all',
        ...(this.threads > 0 ? { intraOpNumThreads: this.threads } : {}),
      });
      this.sessions.set(key, s);
      s.catch(() => this.sessions.delete(key));
    }
    return s;
  }

  private tokenizer(e: ModelEntry) {
    let t = this.tokenizers.get(e.name);
    if (!t) {
      const json = JSON.parse(readFileSync(path.join(this.dir, e.dir, 'tokenizer.json'), 'utf8'));
      const config = JSON.parse(readFileSync(path.join(this.dir, e.dir, 'tokenizer_config.json'), 'utf8'));
      const tok = new Tokenizer(json, config);
      const probe = tok.encode('');
      t = { tok, cls: probe.ids[0]!, sep: probe.ids[probe.ids.length - 1]! };
      this.tokenizers.set(e.name, t);
    }
    return t;
  }

  /** [CLS] a [SEP] (b [SEP]), truncated to max tokens (b is shortened first, as in longest-first for a short query). */
  private encode(e: ModelEntry, a: string, b?: string): Encoded {
    const { tok, cls, sep } = this.tokenizer(e);
    const max = e.max_tokens ?? 512;
    const body = (s: string) => tok.encode(s, { add_special_tokens: false }).ids;
    let first = body(a);
    if (b === undefined) {
      first = first.slice(0, max - 2);
      return { ids: [cls, ...first, sep], types: new Array(first.length + 2).fill(0) };
    }
    first = first.slice(0, Math.max(1, Math.floor((max - 3) / 2)));
    const second = body(b).slice(0, max - 3 - first.length);
    return { ids: [cls, ...first, sep, ...second, sep], types: [...new Array(first.length + 2).fill(0), ...new Array(second.length + 1).fill(1)] };
  }

  /** Runs a BERT-style encoder on padded batches; returns the named output and the masks. */
  private async runEncoder(e: ModelEntry, batch: Encoded[], output: string) {
    const session = await this.session(e);
    const len = Math.max(...batch.map((x) => x.ids.length));
    const n = batch.length;
    const ids = new BigInt64Array(n * len);
    const mask = new BigInt64Array(n * len);
    const types = new BigInt64Array(n * len);
    batch.forEach((x, i) => {
      for (let j = 0; j < x.ids.length; j++) {
        ids[i * len + j] = BigInt(x.ids[j]!);
        mask[i * len + j] = 1n;
        types[i * len + j] = BigInt(x.types[j]!);
      }
    });
    const feeds = {
      input_ids: new ort.Tensor('int64', ids, [n, len]),
      attention_mask: new ort.Tensor('int64', mask, [n, len]),
      token_type_ids: new ort.Tensor('int64', types, [n, len]),
    };
    const out = await session.run(feeds, [output]);
    return { data: out[output]!.data as Float32Array, len, mask };
  }

  async embedText(model: string, texts: string[]): Promise<Float32Array[]> {
    const e = this.entry(model, 'text-embedding');
    if (!Array.isArray(texts) || texts.some((t) => typeof t !== 'string')) throw new QuarryError('BadRequestError', `embedText(${model}) takes an array of strings`);
    const dims = e.dimensions!;
    const result: Float32Array[] = [];
    for (let start = 0; start < texts.length; start += this.maxBatch) {
      const batch = texts.slice(start, start + this.maxBatch).map((t) => this.encode(e, t));
      const { data, len, mask } = await this.runEncoder(e, batch, 'last_hidden_state');
      for (let i = 0; i < batch.length; i++) {
        const v = new Float32Array(dims);
        if (e.pooling === 'cls') v.set(data.subarray(i * len * dims, i * len * dims + dims));
        else {
          let count = 0;
          for (let j = 0; j < len; j++) {
            if (mask[i * len + j] === 0n) continue;
            count++;
            const off = (i * len + j) * dims;
            for (let d = 0; d < dims; d++) v[d]! += data[off + d]!;
          }
          for (let d = 0; d < dims; d++) v[d]! /= count;
        }
        if (e.normalize !== false) normalize(v);
        result.push(v);
      }
    }
    return result;
  }

  async rerank(model: string, query: string, passages: string[]): Promise<number[]> {
    const e = this.entry(model, 'reranker');
    const scores: number[] = [];
    for (let start = 0; start < passages.length; start += this.maxBatch) {
      const batch = passages.slice(start, start + this.maxBatch).map((p) => this.encode(e, query, p));
      const { data } = await this.runEncoder(e, batch, 'logits');
      for (let i = 0; i < batch.length; i++) scores.push(data[i]!);
    }
    return scores;
  }

  async embedImage(model: string, _images: Buffer[]): Promise<Float32Array[]> {
    this.entry(model, 'image-text-embedding');
    throw new QuarryError('NotEnabledError', `image embedding with '${model}' is not available in this build`);
  }

  /**
   * PaddleOCR (DB detection → line crops → CTC recognition). The pre/post-processing (box unclipping, perspective
   * crops, CTC decoding) comes from @gutenye/ocr-node, run on our onnxruntime-node with the manifest's weights.
   */
  async ocr(model: string, image: Buffer): Promise<OcrLine[]> {
    const e = this.entry(model, 'ocr');
    if (!Buffer.isBuffer(image) || image.length === 0) throw new QuarryError('BadRequestError', `ocr(${model}) takes a non-empty image buffer`);
    const meta = await sharp(image).metadata().catch(() => undefined);
    if (!meta?.width || !meta.height) throw new QuarryError('BadRequestError', `ocr(${model}): the input is not a decodable image`);
    if (meta.width * meta.height > 40_000_000) throw new QuarryError('BadRequestError', `ocr(${model}): image of ${meta.width}x${meta.height} exceeds 40 megapixels`);
    let engine = this.ocrEngines.get(e.name);
    if (!engine) {
      const dir = path.join(this.dir, e.dir);
      engine = GutenOcr.create({
        models: {
          detectionPath: path.join(dir, 'ch_PP-OCRv4_det_infer.onnx'),
          recognitionPath: path.join(dir, 'ch_PP-OCRv4_rec_infer.onnx'),
          dictionaryPath: path.join(dir, 'ppocr_keys_v1.txt'),
        },
        ...(this.threads > 0 ? { onnxOptions: { intraOpNumThreads: this.threads } } : {}),
      }) as Promise<{ detect(image: Buffer): Promise<{ text: string; mean: number; box: number[][] }[]> }>;
      this.ocrEngines.set(e.name, engine);
    }
    const lines = await (await engine).detect(image);
    return lines
      .filter((l) => l.text.trim())
      .map((l) => ({ text: l.text, score: l.mean, box: l.box.map((p) => [p[0]!, p[1]!] as [number, number]) }));
  }

  async close(): Promise<void> {
    for (const s of this.sessions.values()) await (await s).release();
    this.sessions.clear();
  }
}

function normalize(v: Float32Array) {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n) || 1;
  for (let i = 0; i < v.length; i++) v[i]! /= n;
}
