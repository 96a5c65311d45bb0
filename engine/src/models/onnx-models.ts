/**
 * The Models port on onnxruntime-node. Sessions are created once per model and reused; they run on the model thread
 * (session-host.ts), off the event loop, with onnxruntime's intra-op threads (QUARRY_MODEL_THREADS, default all
 * cores). Tokenisation uses @huggingface/tokenizers with the model's own tokenizer.json.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { Tokenizer } from '@huggingface/tokenizers';
// Must stay before the OCR import: it records the process's error listeners before opencv.js adds its own.
import { dropForeignProcessHandlers } from './process-handlers.ts';
import GutenOcr from '@gutenye/ocr-node';
import sharp from 'sharp';
import { QuarryError } from '../lib/errors.ts';
import type { ModelInfo, Models, OcrLine } from '../ports/models.ts';
import { loadManifest, modelsDir, type ModelEntry } from './manifest.ts';
import { preprocessImage, readImageConfig, type ImageConfig } from './image-preprocess.ts';
import { takeBatch } from './text-batching.ts';
import { sessionHost, type RunnableSession, type SessionHost } from './session-host.ts';

dropForeignProcessHandlers(); // opencv.js (under @gutenye/ocr-node) turns any stray rejection into a process exit

export interface OnnxModelsOptions {
  dir?: string;
  threads?: number;
  /** Largest batch handed to one session.run; larger inputs are split. */
  maxBatch?: number;
  /** Where the sessions run (default: the model thread, unless QUARRY_MODEL_THREAD=false). */
  host?: SessionHost;
}

interface Encoded {
  ids: number[];
  types: number[];
}

interface TextQueue {
  items: { enc: Encoded; len: number; at: number; resolve(v: Float32Array): void; reject(err: unknown): void }[];
  draining: boolean;
}

/** Padded tokens per encoder run (texts x longest): 16 texts of 256 tokens; see text-batching.ts. */
const TOKEN_BUDGET = 4096;
/** A text waiting longer than this goes into the next run whatever its length. */
const MAX_WAIT_MS = 250;

export class OnnxModels implements Models {
  private readonly textQueues = new Map<string, TextQueue>();
  private readonly dir: string;
  private readonly entries: Map<string, ModelEntry>;
  private readonly sessions = new Map<string, Promise<RunnableSession>>();
  private readonly host: SessionHost;
  private readonly tokenizers = new Map<string, { tok: Tokenizer; cls: number; sep: number }>();
  private readonly ocrEngines = new Map<string, Promise<{ detect(image: Buffer): Promise<{ text: string; mean: number; box: number[][] }[]> }>>();
  private readonly imageConfigs = new Map<string, ImageConfig>();
  private readonly threads: number;
  private readonly maxBatch: number;

  constructor(opts: OnnxModelsOptions = {}) {
    this.dir = opts.dir ?? modelsDir();
    this.entries = new Map(Object.entries(loadManifest(this.dir).models));
    this.threads = opts.threads ?? Number(process.env.QUARRY_MODEL_THREADS ?? 0);
    this.maxBatch = opts.maxBatch ?? 32;
    this.host = opts.host ?? sessionHost();
  }

  /** A file of a model: its directory is relative to the models directory, or absolute (custom models in the cache). */
  private fileOf(e: ModelEntry, file: string): string {
    return path.resolve(this.dir, e.dir, file);
  }

  /**
   * Adds (or replaces) a model at runtime: a custom model delivered from a Model resource (models/custom/). A
   * replaced model's sessions and caches are dropped, so the next call loads the new files.
   */
  async register(entry: ModelEntry): Promise<void> {
    if (this.entries.has(entry.name)) await this.unregister(entry.name);
    this.entries.set(entry.name, entry);
  }

  /** Removes a model added by register; its sessions are released. */
  async unregister(name: string): Promise<void> {
    this.entries.delete(name);
    this.tokenizers.delete(name);
    this.imageConfigs.delete(name);
    this.ocrEngines.delete(name);
    this.textQueues.delete(name);
    for (const [key, s] of [...this.sessions]) {
      if (!key.startsWith(`${name}/`) || this.sessions.get(key) !== s) continue;
      this.sessions.delete(key);
      await s.then((x) => x.release()).catch(() => {});
    }
  }

  /**
   * Loads every graph, the tokenizer and the preprocessing of a model and runs one input through it, so a model
   * that cannot run fails here (naming the file) rather than on a user's first request; an embedding model whose
   * output size differs from its declared dimensions fails too.
   */
  async probe(name: string): Promise<void> {
    const e = this.entry(name);
    const step = async (file: string, what: () => Promise<unknown> | unknown) => {
      try {
        await what();
      } catch (err) {
        throw Object.assign(new Error(`${(err as Error).message}`), { file });
      }
    };
    if (e.kind === 'ocr') return;
    if (e.kind === 'image-text-embedding') {
      const vision = e.vision_model ?? 'vision_model.onnx';
      const text = e.text_model ?? 'text_model.onnx';
      await step(vision, () => this.session(e, vision));
      await step(text, () => this.session(e, text));
      await step('tokenizer.json', () => this.tokenizer(e));
      await step('preprocessor_config.json', () => this.imageConfig(e));
      const png = await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 128, g: 64, b: 32 } } }).png().toBuffer();
      const size = this.imageConfig(e).size;
      const probeImage = size > 32 ? await sharp(png).resize(size, size).png().toBuffer() : png;
      await step(vision, async () => checkDims(e, (await this.embedImage(name, [probeImage]))[0]!));
      await step(text, async () => checkDims(e, (await this.embedText(name, ['a photo']))[0]!));
      return;
    }
    await step('model.onnx', () => this.session(e));
    await step('tokenizer.json', () => this.tokenizer(e));
    if (e.kind === 'reranker') await step('model.onnx', () => this.rerank(name, 'query', ['passage']));
    else await step('model.onnx', async () => checkDims(e, (await this.embedText(name, ['probe']))[0]!));
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

  private session(e: ModelEntry, file = 'model.onnx'): Promise<RunnableSession> {
    const key = `${e.name}/${file}`;
    let s = this.sessions.get(key);
    if (!s) {
      s = this.host.create(this.fileOf(e, file), {
        executionProviders: ['cpu'],
        graphOptimizationLevel: 'all',
        // onnxruntime's pool threads spin between runs by default; beside an event loop that has work of its own
        // (the sessions run on the model thread) the spinning takes the cores it needs: measured, max request rate
        // 42.4 -> 32.8 req/s on 2 cores with spinning, see bench/soak.ts findings.
        extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
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
      const json = JSON.parse(readFileSync(this.fileOf(e, 'tokenizer.json'), 'utf8'));
      const config = JSON.parse(readFileSync(this.fileOf(e, 'tokenizer_config.json'), 'utf8'));
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
    const e = this.textModel(model, texts, 'embedText');
    if (e.kind === 'image-text-embedding') return this.embedTowerText(e, texts);
    return Promise.all(texts.map((t) => this.enqueueText(e, t)));
  }

  async truncated(model: string, texts: string[]): Promise<boolean[]> {
    const e = this.textModel(model, texts, 'truncated');
    // encode() keeps max_tokens - 2 tokens of the text between its two special tokens, for both kinds.
    const { tok } = this.tokenizer(e);
    return texts.map((t) => tok.encode(t, { add_special_tokens: false }).ids.length > (e.max_tokens ?? 512) - 2);
  }

  /** The entry of a model that reads text, after checking the texts (an array of strings within the limits). */
  private textModel(model: string, texts: string[], call: string): ModelEntry {
    const e = this.entry(model);
    if (e.kind !== 'text-embedding' && e.kind !== 'image-text-embedding') throw new QuarryError('BadRequestError', `model '${model}' is a ${e.kind} model, not a text or image-text embedding model`, { model });
    if (!Array.isArray(texts) || texts.some((t) => typeof t !== 'string')) throw new QuarryError('BadRequestError', `${call}(${model}) takes an array of strings`);
    checkSize(model, 'texts', texts);
    return e;
  }

  /**
   * Dynamic batching: concurrent embedText calls for one model (e.g. many workers' jobs at once) are coalesced into
   * batches of up to maxBatch for a single session.run, one run at a time per model, so onnxruntime's intra-op
   * threads are not oversubscribed by parallel runs and small calls still get batch throughput. Runs group texts
   * of similar length, shortest first, within a token budget (takeBatch): a query is not padded to a document's
   * length nor kept waiting behind a long run.
   */
  private enqueueText(e: ModelEntry, text: string): Promise<Float32Array> {
    let q = this.textQueues.get(e.name);
    if (!q) {
      q = { items: [], draining: false };
      this.textQueues.set(e.name, q);
    }
    const queue = q;
    const enc = this.encode(e, text);
    return new Promise((resolve, reject) => {
      queue.items.push({ enc, len: enc.ids.length, at: Date.now(), resolve, reject });
      if (!queue.draining) {
        queue.draining = true;
        setImmediate(() => void this.drainText(e, queue));
      }
    });
  }

  private async drainText(e: ModelEntry, q: TextQueue): Promise<void> {
    try {
      while (q.items.length) {
        const batch = takeBatch(q.items, { maxBatch: this.maxBatch, tokenBudget: TOKEN_BUDGET, maxWaitMs: MAX_WAIT_MS }, Date.now());
        try {
          const vectors = await this.embedBatch(e, batch.map((b) => b.enc));
          batch.forEach((b, i) => b.resolve(vectors[i]!));
        } catch (err) {
          for (const b of batch) b.reject(err);
        }
      }
    } finally {
      q.draining = false;
    }
  }

  private async embedBatch(e: ModelEntry, batch: Encoded[]): Promise<Float32Array[]> {
    const dims = e.dimensions!;
    const result: Float32Array[] = [];
    const { data, len, mask } = await this.runEncoder(e, batch, 'last_hidden_state');
    if (data.length !== batch.length * len * dims) throw new QuarryError('InternalServerError', `model '${e.name}' returned ${data.length / (batch.length * len)} values per token, its manifest says ${dims}`);
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
    return result;
  }

  async rerank(model: string, query: string, passages: string[]): Promise<number[]> {
    const e = this.entry(model, 'reranker');
    if (typeof query !== 'string') throw new QuarryError('BadRequestError', `rerank(${model}): query must be a string`);
    if (!Array.isArray(passages) || passages.some((p) => typeof p !== 'string')) throw new QuarryError('BadRequestError', `rerank(${model}) takes passages as an array of strings`);
    checkSize(model, 'passages', passages);
    const scores: number[] = [];
    for (let start = 0; start < passages.length; start += this.maxBatch) {
      const batch = passages.slice(start, start + this.maxBatch).map((p) => this.encode(e, query, p));
      const { data } = await this.runEncoder(e, batch, 'logits');
      for (let i = 0; i < batch.length; i++) scores.push(data[i]!);
    }
    return scores;
  }

  /**
   * Image tower of an image-text model: each image is decoded, resized so its shortest edge is `size`, centre-cropped,
   * rescaled to [0, 1] and normalised with the mean/std of the model's preprocessor_config.json (CLIPImageProcessor
   * semantics), laid out as float32 NCHW, run in batches, and L2-normalised.
   */
  async embedImage(model: string, images: Buffer[]): Promise<Float32Array[]> {
    const e = this.entry(model, 'image-text-embedding');
    if (!Array.isArray(images) || images.some((b) => !Buffer.isBuffer(b) || b.length === 0)) throw new QuarryError('BadRequestError', `embedImage(${model}) takes an array of non-empty image buffers`);
    const cfg = this.imageConfig(e);
    const session = await this.session(e, e.vision_model ?? 'vision_model.onnx');
    const output = e.image_output ?? 'image_embeds';
    const plane = cfg.cropH * cfg.cropW;
    const result: Float32Array[] = [];
    for (let start = 0; start < images.length; start += this.maxBatch) {
      const batch = images.slice(start, start + this.maxBatch);
      const pixels = new Float32Array(batch.length * 3 * plane);
      for (const [i, img] of batch.entries()) pixels.set(await preprocessImage(model, img, cfg), i * 3 * plane);
      const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', pixels, [batch.length, 3, cfg.cropH, cfg.cropW]) }, [output]);
      result.push(...this.rows(e, out[output]!.data as Float32Array, batch.length));
    }
    return result;
  }

  /** Text tower of an image-text model: bos + tokens + eos (truncated to max_tokens), padded, with attention_mask when the graph takes one. */
  private async embedTowerText(e: ModelEntry, texts: string[]): Promise<Float32Array[]> {
    const session = await this.session(e, e.text_model ?? 'text_model.onnx');
    const output = e.text_output ?? 'text_embeds';
    const { tok, sep } = this.tokenizer(e);
    const config = JSON.parse(readFileSync(this.fileOf(e, 'tokenizer_config.json'), 'utf8')) as { pad_token?: string | { content: string } };
    const padName = typeof config.pad_token === 'string' ? config.pad_token : config.pad_token?.content;
    const pad = (padName !== undefined ? tok.token_to_id(padName) : undefined) ?? sep;
    const meta = session.inputMetadata.find((m) => m.name === 'input_ids');
    const int32 = meta?.isTensor === true && meta.type === 'int32';
    const fixedLen = meta?.isTensor === true && typeof meta.shape[1] === 'number' ? meta.shape[1] : undefined;
    const result: Float32Array[] = [];
    for (let start = 0; start < texts.length; start += this.maxBatch) {
      const batch = texts.slice(start, start + this.maxBatch).map((t) => this.encode(e, t).ids);
      const n = batch.length;
      const len = fixedLen ?? Math.max(...batch.map((ids) => ids.length));
      const ids = new Array<number>(n * len).fill(pad);
      const mask = new Array<number>(n * len).fill(0);
      batch.forEach((row, i) => row.forEach((id, j) => { ids[i * len + j] = id; mask[i * len + j] = 1; }));
      const tensor = (v: number[]) => (int32 ? new ort.Tensor('int32', Int32Array.from(v), [n, len]) : new ort.Tensor('int64', BigInt64Array.from(v, BigInt), [n, len]));
      const feeds: Record<string, ort.Tensor> = { input_ids: tensor(ids) };
      if (session.inputNames.includes('attention_mask')) feeds.attention_mask = tensor(mask);
      const out = await session.run(feeds, [output]);
      result.push(...this.rows(e, out[output]!.data as Float32Array, n));
    }
    return result;
  }

  private rows(e: ModelEntry, data: Float32Array, n: number): Float32Array[] {
    const dims = e.dimensions ?? data.length / n;
    if (data.length !== n * dims) throw new QuarryError('InternalServerError', `model '${e.name}' returned ${data.length / n} values per item, its manifest says ${dims}`);
    return Array.from({ length: n }, (_, i) => {
      const v = data.slice(i * dims, (i + 1) * dims);
      if (e.normalize !== false) normalize(v);
      return v;
    });
  }

  private imageConfig(e: ModelEntry): ImageConfig {
    let c = this.imageConfigs.get(e.name);
    if (!c) {
      c = readImageConfig(this.fileOf(e, 'preprocessor_config.json'));
      this.imageConfigs.set(e.name, c);
    }
    return c;
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
      const dir = this.fileOf(e, '.');
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
    for (const s of this.sessions.values()) await (await s.catch(() => undefined))?.release();
    this.sessions.clear();
    await this.host.close();
  }
}

/** Per call: at most MAX_ITEMS inputs of at most MAX_CHARS characters each (longer token runs are truncated). */
export const MAX_ITEMS = 4096;
export const MAX_CHARS = 1_000_000;

function checkSize(model: string, field: string, items: string[]) {
  if (items.length > MAX_ITEMS) {
    throw new QuarryError('BadRequestError', `${field}: ${items.length} items exceed the limit of ${MAX_ITEMS} per call to '${model}'; split the input into smaller batches`, { field, limit: MAX_ITEMS });
  }
  const big = items.findIndex((t) => t.length > MAX_CHARS);
  if (big >= 0) {
    throw new QuarryError('BadRequestError', `${field}[${big}]: ${items[big]!.length} characters exceed the limit of ${MAX_CHARS}; chunk the text first`, { field: `${field}[${big}]`, limit: MAX_CHARS });
  }
}

function checkDims(e: ModelEntry, v: Float32Array) {
  if (e.dimensions !== undefined && v.length !== e.dimensions) throw new Error(`the model returns ${v.length}-dimensional vectors, its declaration says ${e.dimensions} (spec.runtime.dimensions)`);
}

function normalize(v: Float32Array) {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n) || 1;
  for (let i = 0; i < v.length; i++) v[i]! /= n;
}
