/**
 * Writes bench/results/<name>.json as {"metrics": {...}, "machine": {...}, "at": ISO time}.
 * Benches report ratios measured side by side in one run, so results compare across noisy shared machines.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const RESULTS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'results');
/** ../shared/datasets beside the checkout, or QUARRY_DATASETS (as the tests read it: a git worktree lives elsewhere). */
export const SHARED_DATASETS = process.env.QUARRY_DATASETS ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'datasets');

export function machine(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${os.platform()}-${os.arch()}`,
  };
}

export function writeResults(name: string, metrics: Record<string, number>, extra: Record<string, unknown> = {}): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${name}.json`);
  const body = { metrics, machine: machine(), at: new Date().toISOString(), ...extra };
  writeFileSync(file, JSON.stringify(body, null, 2) + '\n');
  console.log(`[bench] wrote ${file}`);
  console.log(JSON.stringify(metrics, null, 2));
  return file;
}

/** `x` rounded to `d` decimals (benches report 3 unless told). */
export const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

/** Percentile (0..100) of a list of numbers, nearest-rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** The records of a JSON Lines file (the shared datasets' corpora and queries). */
export const readJsonl = <T>(file: string): T[] => readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as T);
