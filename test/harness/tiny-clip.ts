/**
 * The synthetic CLIP of test/fixtures/models/tiny_clip (hack/models/make_tiny_clip.py), run directly on bare
 * onnxruntime sessions, without the Models port: the embeddings a test expects are computed independently of the code
 * under test. The vision tower outputs the per-channel mean of the normalised pixels, so a solid colour's embedding
 * is computed from its colour alone; the text tower sums table rows of the (whitespace, lower-cased) token ids.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { ROOT } from './test-env.ts';

export const TINY_CLIP_DIR = path.join(ROOT, 'test', 'fixtures', 'models', 'tiny_clip');
const pre = JSON.parse(readFileSync(path.join(TINY_CLIP_DIR, 'preprocessor_config.json'), 'utf8')) as { image_mean: number[]; image_std: number[] };
const vocab = (JSON.parse(readFileSync(path.join(TINY_CLIP_DIR, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> } }).model.vocab;

export type Rgb = [number, number, number];

const l2 = (v: number[]): number[] => {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};
export const cosine = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

export class BareTinyClip {
  private vision?: ort.InferenceSession;
  private text?: ort.InferenceSession;

  async open(): Promise<this> {
    this.vision = await ort.InferenceSession.create(path.join(TINY_CLIP_DIR, 'vision_model.onnx'));
    this.text = await ort.InferenceSession.create(path.join(TINY_CLIP_DIR, 'text_model.onnx'));
    return this;
  }

  /** The embedding of a solid-colour image (any size: resizing and cropping keep it solid). */
  async solid(rgb: Rgb): Promise<number[]> {
    const side = 224 * 224;
    const data = new Float32Array(3 * side);
    for (let c = 0; c < 3; c++) data.fill((rgb[c]! / 255 - pre.image_mean[c]!) / pre.image_std[c]!, c * side, (c + 1) * side);
    const out = await this.vision!.run({ pixel_values: new ort.Tensor('float32', data, [1, 3, 224, 224]) });
    return l2([...(out.image_embeds!.data as Float32Array)]);
  }

  async embedText(text: string): Promise<number[]> {
    const ids = [vocab['<|startoftext|>']!, ...text.toLowerCase().split(/\s+/).filter(Boolean).map((w) => vocab[w] ?? vocab['<unk>']!), vocab['<|endoftext|>']!];
    const big = (xs: number[]) => new ort.Tensor('int64', BigInt64Array.from(xs.map(BigInt)), [1, xs.length]);
    const out = await this.text!.run({ input_ids: big(ids), attention_mask: big(ids.map(() => 1)) });
    return l2([...(out.text_embeds!.data as Float32Array)]);
  }

  /** The solid colour whose embedding points along `v` (as far as 8-bit colour allows). */
  colourFor(v: number[]): Rgb {
    let k = Infinity;
    for (let c = 0; c < 3; c++) {
      const room = v[c]! >= 0 ? (1 - pre.image_mean[c]!) / pre.image_std[c]! : pre.image_mean[c]! / pre.image_std[c]!;
      if (v[c] !== 0) k = Math.min(k, room / Math.abs(v[c]!));
    }
    return [0, 1, 2].map((c) => Math.round((pre.image_mean[c]! + pre.image_std[c]! * k * 0.98 * v[c]!) * 255)) as Rgb;
  }

  async close(): Promise<void> {
    await this.vision?.release();
    await this.text?.release();
  }
}

export function solidPng(rgb: Rgb, side = 48): Promise<Buffer> {
  return sharp({ create: { width: side, height: side, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).png().toBuffer();
}
