/** Image preprocessing for image–text models, as the model's preprocessor_config.json (CLIPImageProcessor) prescribes. */
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { QuarryError } from '../lib/errors.ts';

export interface ImageConfig {
  /** Shortest edge after resizing. */
  size: number;
  cropH: number;
  cropW: number;
  rescale: number;
  mean: number[];
  std: number[];
  kernel: 'nearest' | 'linear' | 'cubic';
}

interface RawPreprocessorConfig {
  size?: number | { shortest_edge?: number; height?: number; width?: number };
  crop_size?: number | { height: number; width: number };
  do_center_crop?: boolean;
  do_rescale?: boolean;
  rescale_factor?: number;
  do_normalize?: boolean;
  image_mean?: number[];
  image_std?: number[];
  /** PIL resample: 0 nearest, 2 bilinear, 3 bicubic. */
  resample?: number;
}

export const MAX_IMAGE_PIXELS = 40_000_000;

/** One image → float32 CHW of cropH×cropW, as CLIPImageProcessor does it (resize shortest edge, centre crop, rescale, normalise). */
export async function preprocessImage(model: string, image: Buffer, cfg: ImageConfig): Promise<Float32Array> {
  const meta = await sharp(image).metadata().catch(() => undefined);
  if (!meta?.width || !meta.height) throw new QuarryError('BadRequestError', `embedImage(${model}): an input is not a decodable image`);
  if (meta.width * meta.height > MAX_IMAGE_PIXELS) throw new QuarryError('BadRequestError', `embedImage(${model}): image of ${meta.width}x${meta.height} exceeds ${MAX_IMAGE_PIXELS / 1e6} megapixels`);
  const { width: w, height: h } = meta;
  const [rw, rh] = w <= h ? [cfg.size, Math.floor((cfg.size * h) / w)] : [Math.floor((cfg.size * w) / h), cfg.size];
  if (rw * rh > MAX_IMAGE_PIXELS) throw new QuarryError('BadRequestError', `embedImage(${model}): image of ${w}x${h} has an extreme aspect ratio (${rw}x${rh} after resizing)`);
  if (cfg.cropW > rw || cfg.cropH > rh) throw new QuarryError('BadRequestError', `embedImage(${model}): the crop ${cfg.cropW}x${cfg.cropH} is larger than the resized image ${rw}x${rh}`);
  const cw = cfg.cropW;
  const ch = cfg.cropH;
  // Decode to 8-bit RGB first (alpha dropped, not composited, as PIL's convert('RGB') does), then resize and crop: resizing
  // with the alpha channel present would premultiply it and shift the colours of translucent pixels.
  const rgb = await sharp(image).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  const { data, info } = await sharp(rgb.data, { raw: { width: rgb.info.width, height: rgb.info.height, channels: rgb.info.channels } })
    .resize(rw, rh, { fit: 'fill', kernel: cfg.kernel === 'linear' ? 'linear' : cfg.kernel === 'nearest' ? 'nearest' : 'cubic' })
    .extract({ left: Math.floor((rw - cw) / 2), top: Math.floor((rh - ch) / 2), width: cw, height: ch })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const plane = cw * ch;
  const out = new Float32Array(3 * plane);
  const channels = info.channels;
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      const v = data[p * channels + (channels >= 3 ? c : 0)]!;
      out[c * plane + p] = (v * cfg.rescale - cfg.mean[c]!) / cfg.std[c]!;
    }
  }
  return out;
}

/** A model's preprocessor_config.json, with CLIP's defaults for what it leaves out. */
export function readImageConfig(file: string): ImageConfig {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as RawPreprocessorConfig;
  const edge = (v: RawPreprocessorConfig['size']) => (typeof v === 'number' ? v : (v?.shortest_edge ?? v?.height ?? 224));
  const crop = typeof raw.crop_size === 'number' ? { height: raw.crop_size, width: raw.crop_size } : (raw.crop_size ?? { height: edge(raw.size), width: edge(raw.size) });
  return {
    size: edge(raw.size),
    cropH: raw.do_center_crop === false ? edge(raw.size) : crop.height,
    cropW: raw.do_center_crop === false ? edge(raw.size) : crop.width,
    rescale: raw.do_rescale === false ? 1 : (raw.rescale_factor ?? 1 / 255),
    mean: raw.do_normalize === false ? [0, 0, 0] : (raw.image_mean ?? [0.48145466, 0.4578275, 0.40821073]),
    std: raw.do_normalize === false ? [1, 1, 1] : (raw.image_std ?? [0.26862954, 0.26130258, 0.27577711]),
    kernel: raw.resample === 2 ? 'linear' : raw.resample === 0 ? 'nearest' : 'cubic',
  };
}
