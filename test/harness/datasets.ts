/**
 * The labelled evaluation data lives outside the repo in ../shared/datasets. Tests that need it call
 * `datasetPath(...)`: when the folder is absent they skip with a message, except under CI=true, where its
 * absence is a failure.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { ROOT } from './test-env.ts';

export const DATASETS = process.env.QUARRY_DATASETS ?? path.resolve(ROOT, '..', 'shared', 'datasets');

/** Absolute path inside the datasets folder, or undefined (test skipped with a reason) when it is absent. */
export function datasetPath(t: TestContext, ...parts: string[]): string | undefined {
  const p = path.join(DATASETS, ...parts);
  if (existsSync(p)) return p;
  if (process.env.CI === 'true') throw new Error(`dataset ${p} is missing; CI requires ../shared/datasets`);
  t.skip(`dataset ${p} is absent (../shared/datasets not present here)`);
  return undefined;
}
