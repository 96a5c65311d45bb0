/**
 * SpeechToText on Whisper converted to ONNX by `make models` (hack/models/whisper_onnx.py): mel.onnx (front end),
 * encoder.onnx (cross-attention keys/values of every decoder layer) and decoder.onnx (one step with a KV cache),
 * run by onnxruntime-node. Greedy decoding in English with <|notimestamps|>, the model's suppress lists, as
 * CTranslate2 decodes it (the installer checks both give the same tokens).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { QuarryError } from '../lib/errors.ts';
import type { SpeechToText, Transcript } from '../ports/speech.ts';
import { loadManifest, modelsDir } from './manifest.ts';

const SOT = 50258, EN = 50259, TRANSCRIBE = 50359, NO_TIMESTAMPS = 50363, NO_SPEECH = 50362, EOT = 50257, TIMESTAMP_BEGIN = 50364;
const MAX_TOKENS = 224;

/** GPT-2 byte-level BPE: the printable character each byte is written as in the vocabulary. */
function byteDecoder(): Map<string, number> {
  const bytes: number[] = [];
  for (let b = 33; b <= 126; b++) bytes.push(b);
  for (let b = 161; b <= 172; b++) bytes.push(b);
  for (let b = 174; b <= 255; b++) bytes.push(b);
  const chars = bytes.map((b) => String.fromCodePoint(b));
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bytes.includes(b)) {
      bytes.push(b);
      chars.push(String.fromCodePoint(256 + n++));
    }
  }
  return new Map(chars.map((c, i) => [c, bytes[i]!]));
}

export class WhisperSpeechToText implements SpeechToText {
  readonly sampleRate = 16000;
  readonly windowSeconds = 30;
  private sessions?: Promise<{ mel: ort.InferenceSession; encoder: ort.InferenceSession; decoder: ort.InferenceSession }>;
  private readonly vocab: string[];
  private readonly suppress: number[];
  private readonly suppressBegin: number[];
  private readonly bytes = byteDecoder();
  private readonly dir: string;
  private readonly threads: number;

  constructor(opts: { model?: string; dir?: string; threads?: number } = {}) {
    const root = opts.dir ?? modelsDir();
    const name = opts.model ?? 'whisper_base';
    const entry = loadManifest(root).models[name];
    if (!entry || entry.kind !== 'speech-to-text') {
      throw new QuarryError('NotEnabledError', `speech-to-text model '${name}' is not installed; run make models`, { model: name });
    }
    this.dir = path.join(root, entry.dir);
    this.threads = opts.threads ?? 0;
    this.vocab = readFileSync(path.join(this.dir, 'vocabulary.txt'), 'utf8').split('\n');
    const gen = JSON.parse(readFileSync(path.join(this.dir, 'generation.json'), 'utf8')) as { suppress_ids: number[]; suppress_ids_begin: number[] };
    this.suppress = [...gen.suppress_ids, NO_TIMESTAMPS, NO_SPEECH];
    this.suppressBegin = gen.suppress_ids_begin;
  }

  private load() {
    const open = (f: string) => ort.InferenceSession.create(path.join(this.dir, f), { ...(this.threads > 0 ? { intraOpNumThreads: this.threads } : {}) });
    this.sessions ??= Promise.all([open('mel.onnx'), open('encoder.onnx'), open('decoder.onnx')]).then(([mel, encoder, decoder]) => ({ mel, encoder, decoder }));
    return this.sessions;
  }

  async transcribe(pcm: Float32Array): Promise<Transcript> {
    const max = this.sampleRate * this.windowSeconds;
    if (pcm.length > max) throw new QuarryError('BadRequestError', `audio window of ${pcm.length} samples is longer than ${this.windowSeconds} s`);
    const s = await this.load();
    const audio = pcm.length ? pcm : new Float32Array(1);
    const { mel } = await s.mel.run({ audio: new ort.Tensor('float32', audio, [audio.length]) });
    const cross = await s.encoder.run({ mel: mel! });
    const layers = Object.keys(cross).length / 2;
    const [, heads, , dh] = cross.cross_k_0!.dims as number[];
    let past: Record<string, ort.Tensor> = {};
    for (let i = 0; i < layers; i++) for (const c of 'kv') past[`past_${c}_${i}`] = new ort.Tensor('float32', new Float32Array(0), [1, heads!, 0, dh!]);
    const step = async (tokens: number[]) => {
      const out = await s.decoder.run({ tokens: new ort.Tensor('int64', BigInt64Array.from(tokens, BigInt), [1, tokens.length]), ...past, ...cross });
      past = {};
      for (let i = 0; i < layers; i++) for (const c of 'kv') past[`past_${c}_${i}`] = out[`present_${c}_${i}`]!;
      return out.logits!.data as Float32Array;
    };
    // The first position's distribution gives the no-speech probability; the rest of the prompt follows from the cache.
    const first = await step([SOT]);
    const noSpeechProb = softmaxAt(first, NO_SPEECH);
    let logits = await step([EN, TRANSCRIBE, NO_TIMESTAMPS]);
    const out: number[] = [];
    for (let n = 0; n < MAX_TOKENS; n++) {
      const l = Float32Array.from(logits);
      for (const t of this.suppress) l[t] = -Infinity;
      if (n === 0) for (const t of this.suppressBegin) l[t] = -Infinity;
      let best = 0;
      for (let t = 1; t < TIMESTAMP_BEGIN; t++) if (l[t]! > l[best]!) best = t;
      if (best === EOT) break;
      out.push(best);
      if (repeating(out)) break;
      logits = await step([best]);
    }
    return { text: this.decode(out), noSpeechProb, tokens: out.length };
  }

  decode(tokens: number[]): string {
    const bytes: number[] = [];
    for (const t of tokens) for (const ch of this.vocab[t] ?? '') bytes.push(this.bytes.get(ch) ?? 63);
    return new TextDecoder().decode(Uint8Array.from(bytes)).trim();
  }

  async close(): Promise<void> {
    if (!this.sessions) return;
    const s = await this.sessions;
    await Promise.all([s.mel.release(), s.encoder.release(), s.decoder.release()]);
    this.sessions = undefined;
  }
}

function softmaxAt(logits: Float32Array, index: number): number {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  return Math.exp(logits[index]! - max) / sum;
}

/** A greedy decoder stuck in a loop: the last 8 tokens repeat the 8 before them, three times over. */
function repeating(t: number[]): boolean {
  const n = 8;
  if (t.length < n * 3) return false;
  for (let i = 1; i <= n; i++) if (t[t.length - i] !== t[t.length - i - n] || t[t.length - i] !== t[t.length - i - 2 * n]) return false;
  return true;
}
