/**
 * The model thread (engine/src/models/session-host.ts) on the real all-MiniLM-L6-v2 weights: onnxruntime-node's
 * session.run blocks the thread that calls it, so sessions run on their own thread and the event loop stays free
 * while a batch is embedded. Compared side by side with the sessions on the calling thread
 * (QUARRY_MODEL_THREAD=false): the same vectors, and the event loop turning over many times more often during the
 * same work. Errors from the thread arrive as errors; an idle thread does not keep the process alive.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OnnxModels } from '#engine/models/onnx-models.ts';
import { sessionHost } from '#engine/models/session-host.ts';
import { modelsDir } from '#engine/models/manifest.ts';
import { ROOT } from '#test/harness/test-env.ts';

const MODEL = 'all_minilm_l6_v2';
const TEXTS = Array.from({ length: 48 }, (_, i) => `document ${i}: ${'the quick brown fox jumps over the lazy dog '.repeat(24)}`);

/** Embeds TEXTS once warm; counts the event loop's turns (a 1 ms timer) while it runs. */
async function embedCountingTurns(models: OnnxModels): Promise<{ vectors: Float32Array[]; turns: number }> {
  await models.embedText(MODEL, ['warm up']);
  let turns = 0;
  const timer = setInterval(() => turns++, 1);
  try {
    const vectors = await models.embedText(MODEL, TEXTS);
    return { vectors, turns };
  } finally {
    clearInterval(timer);
  }
}

test('sessions on the model thread: the same vectors as on the calling thread, and the event loop keeps turning meanwhile', async () => {
  const threaded = new OnnxModels({ host: sessionHost({ QUARRY_MODEL_THREAD: 'true' }) });
  const inline = new OnnxModels({ host: sessionHost({ QUARRY_MODEL_THREAD: 'false' }) });
  try {
    const a = await embedCountingTurns(threaded);
    const b = await embedCountingTurns(inline);
    assert.equal(a.vectors.length, TEXTS.length);
    for (const [i, v] of a.vectors.entries()) {
      const diff = Math.max(...v.map((x, d) => Math.abs(x - b.vectors[i]![d]!)));
      assert.ok(diff < 1e-5, `text ${i}: the threads disagree by ${diff}`);
    }
    // On the calling thread the loop turns only between runs; on the model thread all the while.
    assert.ok(a.turns >= 5 * Math.max(1, b.turns), `event-loop turns during the batch: ${a.turns} on the model thread, ${b.turns} on the calling thread`);
  } finally {
    await threaded.close();
    await inline.close();
  }
});

test('a model file the thread cannot load is an error naming it, and the host goes on working', async () => {
  const host = sessionHost({});
  try {
    const bad = path.join(mkdtempSync(path.join(tmpdir(), 'quarry-model-thread-')), 'broken.onnx');
    writeFileSync(bad, 'not an onnx graph');
    await assert.rejects(host.create(bad, {}), (err: Error) => /broken\.onnx|protobuf|parse|load/i.test(err.message));
    const good = await host.create(path.join(modelsDir(), MODEL, 'model.onnx'), {});
    assert.ok(good.inputNames.includes('input_ids'), `inputs: ${good.inputNames.join(', ')}`);
    await good.release();
  } finally {
    await host.close();
  }
});

test('process-wide flags a Worker refuses (--trace-gc, --max-old-space-size) stay with the process; the model thread still runs', () => {
  const script = `import { OnnxModels } from '#engine/models/onnx-models.ts';
const m = new OnnxModels();
const [v] = await m.embedText('${MODEL}', ['hello']);
console.log('dims', v.length);`;
  const r = spawnSync(process.execPath, ['--trace-gc', '--max-old-space-size=1024', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr.slice(-500));
  assert.match(r.stdout, /dims 384/);
  assert.match(r.stdout, /Scavenge|Mark-Compact/, 'the process kept its --trace-gc');
});

test('an idle model thread does not keep the process alive (no close() needed to exit)', () => {
  const script = `import { OnnxModels } from '#engine/models/onnx-models.ts';
const m = new OnnxModels();
const [v] = await m.embedText('${MODEL}', ['hello']);
console.log('dims', v.length);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.signal, null, `the process had to be killed: ${r.stderr.slice(-500)}`);
  assert.equal(r.status, 0, r.stderr.slice(-500));
  assert.match(r.stdout, /dims 384/);
});
