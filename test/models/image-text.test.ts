/**
 * The image-text path of the Models port (embedImage, and embedText through the text tower), on the committed
 * synthetic fixture test/fixtures/models/tiny_clip (hack/models/make_tiny_clip.py). Its vision graph returns the
 * per-channel mean of the preprocessed pixels and its text graph the masked sum of table rows [1, id, id % 3], so
 * these tests check the preprocessing (resize of the shortest edge, centre crop, rescale, normalise), batching,
 * padding and truncation exactly. They make no claim about a real model's quality.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { OnnxModels } from '#engine/models/onnx-models.ts';
import { QuarryError } from '#core/lib/errors.ts';

const DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'models');
const MODEL = 'tiny_clip';
const cfg = JSON.parse(readFileSync(path.join(DIR, MODEL, 'preprocessor_config.json'), 'utf8')) as { image_mean: number[]; image_std: number[] };
const models = new OnnxModels({ dir: DIR, maxBatch: 2 });
after(() => models.close());

const unit = (v: number[]) => {
  const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  return v.map((x) => x / n);
};
const cos = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, x, i) => s + x * b[i]!, 0);
/** The expected embedding of pixels whose channel means (0..255) are `rgb`, computed here from the config alone. */
const expected = (rgb: number[]) => unit(rgb.map((c, i) => (c / 255 - cfg.image_mean[i]!) / cfg.image_std[i]!));
/** float32 ReduceMean over 50,176 pixels accumulates about 1e-5 of rounding, hence 1e-4 where pixels are averaged. */
const closeTo = (got: Float32Array, want: number[], tol: number) => {
  assert.equal(got.length, want.length);
  for (const [i, w] of want.entries()) assert.ok(Math.abs(got[i]! - w) < tol, `component ${i}: ${got[i]} vs ${w}`);
};

const solid = (width: number, height: number, rgb: [number, number, number]) =>
  sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).png().toBuffer();

/** A width×height image whose first quarter (columns if landscape, rows if portrait) is red and the rest blue. */
async function quarterRed(width: number, height: number): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const red = width >= height ? x < width / 4 : y < height / 4;
      raw[(y * width + x) * 3 + (red ? 0 : 2)] = 255;
    }
  }
  return sharp(raw, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

describe(`image-text embedding plumbing (${MODEL} fixture)`, () => {
  test('a solid colour image embeds to its rescaled, normalised channel values', async () => {
    const [v] = await models.embedImage(MODEL, [await solid(300, 200, [200, 100, 50])]);
    closeTo(v!, expected([200, 100, 50]), 1e-4);
  });

  test('the shortest edge is resized and the centre cropped (not squashed), landscape and portrait', async () => {
    const blue = expected([0, 0, 255]);
    const squashed = expected([255 / 4, 0, (255 * 3) / 4]);
    for (const [w, h] of [[896, 448], [448, 896], [600, 300]] as const) {
      const [v] = await models.embedImage(MODEL, [await quarterRed(w, h)]);
      assert.ok(cos(v!, blue) > 0.999, `${w}x${h}: cos to pure blue ${cos(v!, blue)}`);
      assert.ok(cos(v!, blue) > cos(v!, squashed) + 0.01, `${w}x${h}: closer to a squashed image than to the centre crop`);
    }
  });

  test('greyscale and RGBA inputs become three channels; alpha is dropped', async () => {
    const grey = await sharp(Buffer.alloc(256 * 256, 128), { raw: { width: 256, height: 256, channels: 1 } }).toColourspace('b-w').png().toBuffer();
    assert.equal((await sharp(grey).metadata()).channels, 1);
    const rgba = await sharp({ create: { width: 256, height: 240, channels: 4, background: { r: 10, g: 220, b: 30, alpha: 0.5 } } }).png().toBuffer();
    const [g, c] = await models.embedImage(MODEL, [grey, rgba]);
    closeTo(g!, expected([128, 128, 128]), 1e-4);
    closeTo(c!, expected([10, 220, 30]), 1e-4);
  });

  test('batches larger than maxBatch are split and agree with single calls; JPEG decodes', async () => {
    const images = [await solid(240, 240, [255, 0, 0]), await solid(230, 500, [0, 255, 0]), await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 0, g: 0, b: 255 } } }).jpeg({ quality: 100 }).toBuffer()];
    const batch = await models.embedImage(MODEL, images);
    assert.equal(batch.length, 3);
    for (const [i, img] of images.entries()) {
      const [single] = await models.embedImage(MODEL, [img]);
      closeTo(batch[i]!, Array.from(single!), 1e-6);
    }
    assert.ok(cos(batch[2]!, expected([0, 0, 255])) > 0.9999);
  });

  test('clear errors: undecodable bytes, a non-buffer, an unknown model', async () => {
    const bad = (err: unknown, type: string) => err instanceof QuarryError && err.type === type;
    await assert.rejects(models.embedImage(MODEL, [Buffer.from('not an image at all')]), (err) => bad(err, 'BadRequestError'));
    await assert.rejects(models.embedImage(MODEL, ['a string' as unknown as Buffer]), (err) => bad(err, 'BadRequestError'));
    await assert.rejects(models.embedImage('no_such_model', []), (err) => bad(err, 'NotFoundError'));
    await assert.rejects(models.rerank(MODEL, 'q', ['p']), (err) => bad(err, 'BadRequestError'));
  });

  test('the text tower: bos + tokens + eos, padding masked out, batch equals single', async () => {
    const row = (id: number) => [1, id, id % 3];
    const sum = (ids: number[]) => ids.map(row).reduce((a, r) => a.map((x, i) => x + r[i]!), [0, 0, 0]);
    // vocabulary: 1 <|startoftext|>, 2 <|endoftext|>, 3 a, 4 photo, 5 of, 6 dog, 7 car
    const [dog, car] = await models.embedText(MODEL, ['A photo of a dog', 'car']);
    closeTo(dog!, unit(sum([1, 3, 4, 5, 3, 6, 2])), 1e-6);
    closeTo(car!, unit(sum([1, 7, 2])), 1e-6);
    const [carAlone] = await models.embedText(MODEL, ['car']);
    closeTo(carAlone!, Array.from(car!), 1e-6);
  });

  test('long text is truncated to max_tokens (77) keeping bos and eos', async () => {
    const [v] = await models.embedText(MODEL, [Array.from({ length: 100 }, () => 'dog').join(' ')]);
    // bos [1,1,1] + 75 × dog [1,6,0] + eos [1,2,2]
    closeTo(v!, unit([77, 453, 3]), 1e-6);
  });
});
