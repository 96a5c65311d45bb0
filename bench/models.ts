/**
 * `make bench-models`: items/s through the Models port vs a bare onnxruntime session on the same input, at batch
 * sizes 1 and 32, per installed model; writes bench/results/models.json with port_vs_bare_b1 / port_vs_bare_b32
 * (the lowest ratio over models; the target is >= 0.9 for both).
 *
 * Port and bare run interleaved in rounds (port, bare, port, bare, ...) and each side's median round is compared, so
 * load from other processes on the shared machine hits both sides alike.
 *   - text-embedding: the port tokenises, pads, runs and pools; the bare side only runs the session on tensors
 *     prepared beforehand from the same tokenizer (the ratio therefore includes the port's whole overhead).
 *   - ocr: the port's ocr() vs @gutenye/ocr-node's pipeline created directly on its own sessions with the same weights.
 * Text→image Recall@10 on flickr8k needs an image–text model; it is reported only when one is installed.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { Tokenizer } from '@huggingface/tokenizers';
import GutenOcr from '@gutenye/ocr-node';
import sharp from 'sharp';
import { OnnxModels } from '#engine/models/onnx-models.ts';
import { loadManifest, modelsDir, type ModelEntry } from '#engine/models/manifest.ts';
import { SHARED_DATASETS, writeResults } from './lib/results.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const THREADS = Number(process.env.QUARRY_MODEL_THREADS ?? 0);
const sessionOptions: ort.InferenceSession.SessionOptions = {
  executionProviders: ['cpu'],
  graphOptimizationLevel: 'all',
  ...(THREADS > 0 ? { intraOpNumThreads: THREADS } : {}),
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Runs port and bare alternately; returns items/s of each side's median round. */
async function compare(items: number, port: () => Promise<unknown>, bare: () => Promise<unknown>) {
  await port();
  await bare();
  const p: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    let t = performance.now();
    await port();
    p.push(performance.now() - t);
    t = performance.now();
    await bare();
    b.push(performance.now() - t);
  }
  const portRate = items / (median(p) / 1000);
  const bareRate = items / (median(b) / 1000);
  return { port_items_per_s: round(portRate), bare_items_per_s: round(bareRate), ratio: round(portRate / bareRate, 3) };
}

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

function captions(n: number): string[] {
  const file = path.join(SHARED_DATASETS, 'flickr8k_first1k', 'queries.jsonl');
  if (existsSync(file)) {
    return readFileSync(file, 'utf8').trim().split('\n').slice(0, n).map((l) => (JSON.parse(l) as { text: string }).text);
  }
  console.log(`[bench] ${file} is absent: using built-in sentences`);
  return Array.from({ length: n }, (_, i) => `sentence number ${i} about a dog running through the grass near a lake`);
}

async function benchTextEmbedding(models: OnnxModels, e: ModelEntry) {
  const dir = path.join(modelsDir(), e.dir);
  const tok = new Tokenizer(JSON.parse(readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')), JSON.parse(readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')));
  const session = await ort.InferenceSession.create(path.join(dir, 'model.onnx'), sessionOptions);
  const feeds = (texts: string[]) => {
    const enc: number[][] = texts.map((t) => (tok.encode(t).ids as number[]).slice(0, e.max_tokens ?? 512));
    const len = Math.max(...enc.map((x) => x.length));
    const ids = new BigInt64Array(texts.length * len);
    const mask = new BigInt64Array(texts.length * len);
    enc.forEach((x, i) => x.forEach((id, j) => {
      ids[i * len + j] = BigInt(id);
      mask[i * len + j] = 1n;
    }));
    const shape = [texts.length, len];
    return { input_ids: new ort.Tensor('int64', ids, shape), attention_mask: new ort.Tensor('int64', mask, shape), token_type_ids: new ort.Tensor('int64', new BigInt64Array(texts.length * len), shape) };
  };
  const texts = captions(32);
  const out: Record<string, unknown> = {};
  for (const b of [1, 32]) {
    const batch = texts.slice(0, b);
    const f = feeds(batch);
    out[`b${b}`] = await compare(b, () => models.embedText(e.name, batch), () => session.run(f));
  }
  await session.release();
  return out;
}

async function benchOcr(models: OnnxModels, e: ModelEntry) {
  const dir = path.join(modelsDir(), e.dir);
  const bare = await GutenOcr.create({
    models: {
      detectionPath: path.join(dir, 'ch_PP-OCRv4_det_infer.onnx'),
      recognitionPath: path.join(dir, 'ch_PP-OCRv4_rec_infer.onnx'),
      dictionaryPath: path.join(dir, 'ppocr_keys_v1.txt'),
    },
    ...(THREADS > 0 ? { onnxOptions: { intraOpNumThreads: THREADS } } : {}),
  });
  const svg = (text: string) => `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="100"><rect width="100%" height="100%" fill="white"/><text x="16" y="64" font-family="DejaVu Sans" font-size="40" fill="black">${text}</text></svg>`;
  const images = await Promise.all(Array.from({ length: 32 }, (_, i) => sharp(Buffer.from(svg(`Invoice line ${i + 1}: 42 units`))).png().toBuffer()));
  const out: Record<string, unknown> = {};
  for (const b of [1, 32]) {
    const batch = images.slice(0, b);
    out[`b${b}`] = await compare(
      b,
      async () => { for (const img of batch) await models.ocr(e.name, img); },
      async () => { for (const img of batch) await bare.detect(img); },
    );
  }
  return out;
}

async function main() {
  const models = new OnnxModels(THREADS > 0 ? { threads: THREADS } : {});
  const manifest = loadManifest();
  const perModel: Record<string, Record<string, unknown>> = {};
  const skipped: Record<string, string> = {};
  for (const e of Object.values(manifest.models)) {
    console.log(`[bench] ${e.name} (${e.kind})`);
    if (e.kind === 'text-embedding') perModel[e.name] = await benchTextEmbedding(models, e);
    else if (e.kind === 'ocr') perModel[e.name] = await benchOcr(models, e);
    else skipped[e.name] = `no bench for kind ${e.kind} yet`;
    console.log(JSON.stringify(perModel[e.name]));
  }
  const ratios = (b: string) => Object.values(perModel).map((m) => (m[b] as { ratio: number }).ratio);
  const metrics: Record<string, number> = {
    port_vs_bare_b1: Math.min(...ratios('b1')),
    port_vs_bare_b32: Math.min(...ratios('b32')),
  };
  const imageText = Object.values(manifest.models).find((e) => e.kind === 'image-text-embedding');
  await models.close();
  writeResults('models', metrics, {
    per_model: perModel,
    rounds: ROUNDS,
    threads: THREADS || 'onnxruntime default',
    ...(Object.keys(skipped).length ? { skipped } : {}),
    ...(imageText ? {} : { text_to_image_recall_at_10: 'not measured: no image-text-embedding model is installed (see README, Models)' }),
  });
}

await main();
