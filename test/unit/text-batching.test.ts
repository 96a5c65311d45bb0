/** Which waiting texts one encoder run takes (engine/src/models/text-batching.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { takeBatch, type Waiting } from '#engine/models/text-batching.ts';

const limits = { maxBatch: 32, tokenBudget: 4096, maxWaitMs: 250 };
const text = (name: string, len: number, at = 0) => ({ name, len, at });
const names = (ws: (Waiting & { name: string })[]) => ws.map((w) => w.name);

test('a search query is not padded into a run of long documents', () => {
  const waiting = [...Array.from({ length: 20 }, (_, i) => text(`doc${i}`, 256)), text('query', 12), text('query2', 18)];
  assert.deepEqual(names(takeBatch(waiting, limits, 100)), ['query', 'query2']);
  assert.equal(waiting.length, 20, 'the documents wait for the next run');
});

test('documents of similar length fill a run up to the token budget, in arrival order', () => {
  const waiting = Array.from({ length: 40 }, (_, i) => text(`doc${i}`, 200 + (i % 3) * 20));
  const run = takeBatch(waiting, limits, 100);
  assert.equal(run.length, Math.floor(4096 / 240));
  assert.ok(run.length * Math.max(...run.map((w) => w.len)) <= 4096);
  assert.deepEqual(names(run), names(run).slice().sort((a, b) => Number(a.slice(3)) - Number(b.slice(3))));
  assert.equal(waiting.length, 40 - run.length);
});

test('a text waiting past maxWaitMs goes first, so queries never starve documents', () => {
  const waiting = [text('old doc', 256, 0), text('query', 12, 290), text('doc', 250, 295)];
  assert.deepEqual(names(takeBatch(waiting, limits, 300)), ['old doc', 'query', 'doc']);
  assert.equal(waiting.length, 0);
});

test('a text longer than the budget still runs, alone', () => {
  const waiting = [text('huge', 5000), text('huge2', 5000)];
  assert.deepEqual(names(takeBatch(waiting, limits, 0)), ['huge']);
  assert.deepEqual(names(takeBatch(waiting, limits, 0)), ['huge2']);
  assert.deepEqual(takeBatch(waiting, limits, 0), []);
});

test('never more than maxBatch texts in a run', () => {
  const waiting = Array.from({ length: 100 }, (_, i) => text(`q${i}`, 10));
  assert.equal(takeBatch(waiting, { ...limits, maxBatch: 32 }, 0).length, 32);
  assert.equal(waiting.length, 68);
});
