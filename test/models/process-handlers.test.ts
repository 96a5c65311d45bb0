/**
 * No third-party module can take the process down (issue 14 item 5). opencv.js, loaded by the OCR library,
 * installs process-wide handlers that turn any stray promise rejection into an exit (code 7, with opencv's source on
 * stderr); a LanceDB error that escaped a request then killed local mode. engine/src/models/process-handlers.ts
 * removes them when the models module loads. Each case runs in its own Node process, as the engine does.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { ROOT } from '../harness/test-env.ts';

const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-process-handlers-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function run(script: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'error', QUARRY_MODELS_DIR: path.join(ROOT, 'test/fixtures/models') },
    encoding: 'utf8',
    timeout: 90_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the hazard: opencv.js, as the OCR library loads it, exits the process on a stray rejection (code 7)', () => {
  const r = run(`
    await import('@gutenye/ocr-node');
    console.log('listeners', process.listeners('uncaughtException').length, process.listeners('unhandledRejection').length);
    void Promise.reject(new Error('stray rejection'));
    setTimeout(() => console.log('alive'), 300);
  `);
  assert.match(r.stdout, /listeners 1 1/, 'opencv.js installed its handlers');
  assert.equal(r.status, 7, `exit ${r.status}`);
  assert.doesNotMatch(r.stdout, /alive/);
});

test('local mode with the OCR library loaded: a stray rejection is logged, the process keeps serving requests', () => {
  const manifests = path.join(scratch, 'manifests');
  mkdirSync(manifests, { recursive: true });
  const r = run(`
    const { startLocal } = await import(${JSON.stringify(path.join(ROOT, 'engine/src/app/local-runtime.ts'))});
    const rt = await startLocal({ dataDir: ${JSON.stringify(path.join(scratch, 'data'))}, manifestsDir: ${JSON.stringify(manifests)}, host: '127.0.0.1', port: 0, auth: false, seed: false });
    const foreign = process.listeners('uncaughtException').length + process.listeners('unhandledRejection').length;
    // A rejection nobody handles, raised while a request is being served (as the LanceDB error was).
    rt.app.server.once('request', () => void Promise.reject(new Error('stray rejection in a request')));
    const first = await fetch(rt.url + '/v1/health');
    await new Promise((r) => setTimeout(r, 300));
    const second = await fetch(rt.url + '/v1/health');
    console.log(JSON.stringify({ foreign, first: first.status, second: second.status }));
    await rt.stop();
  `);
  const last = r.stdout.trim().split('\n').at(-1) ?? '';
  assert.equal(r.status, 0, `exit ${r.status}; stderr: ${r.stderr.slice(0, 2000)}`);
  const got = JSON.parse(last) as { foreign: number; first: number; second: number };
  assert.equal(got.foreign, 1, 'only the project\'s own unhandledRejection listener remains (opencv.js\'s two were removed)');
  assert.equal(got.first, 200);
  assert.equal(got.second, 200, 'still serving after the rejection');
  assert.match(r.stdout + r.stderr, /unhandled promise rejection/, 'the rejection was logged');
  assert.doesNotMatch(r.stderr, /ExitStatus/, 'no opencv.js source dump');
});
