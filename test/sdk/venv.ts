/**
 * The official Python SDK, pinned, in a virtualenv under .cache/sdk-venv: created with `python3 -m venv` and filled
 * with `pip install mixpeek==<pin>` the first time, reused while it holds that version (a fresh CI machine installs
 * it; a developer's machine keeps it). Python and pip are the ordinary clients; the package comes from PyPI.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../harness/test-env.ts';

export const SDK_VERSION = '1.3.783';
export const VENV = path.join(ROOT, '.cache', 'sdk-venv');
export const PYTHON = path.join(VENV, 'bin', 'python');

function installedVersion(): string | undefined {
  if (!existsSync(PYTHON)) return undefined;
  try {
    return execFileSync(PYTHON, ['-c', 'import importlib.metadata as m; print(m.version("mixpeek"))'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

/**
 * Ensures the virtualenv holds mixpeek at SDK_VERSION; returns its python. Throws with pip's output on failure.
 * Test files run in parallel processes and two of them call this on a fresh machine: the virtualenv is built
 * under a private name and renamed into place only when complete, so no process ever runs a half-made one
 * (`python -m venv` writes bin/python before ensurepip installs pip: the second process once found python and no
 * pip). A virtualenv left without the pinned version (an interrupted build) is replaced.
 */
export function ensureSdk(): string {
  if (installedVersion() === SDK_VERSION) return PYTHON;
  mkdirSync(path.dirname(VENV), { recursive: true });
  const building = `${VENV}.building-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  try {
    execFileSync('python3', ['-m', 'venv', building], { stdio: 'pipe' });
    const python = path.join(building, 'bin', 'python');
    execFileSync(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', `mixpeek==${SDK_VERSION}`], { stdio: 'pipe', timeout: 600_000 });
    // Another process may have finished first: its virtualenv is as good as this one.
    if (installedVersion() !== SDK_VERSION) {
      rmSync(VENV, { recursive: true, force: true });
      renameSync(building, VENV);
    }
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
  const v = installedVersion();
  if (v !== SDK_VERSION) throw new Error(`mixpeek ${SDK_VERSION} did not install into ${VENV} (found ${v ?? 'nothing'})`);
  return PYTHON;
}
