/** Snapshot + journal persistence shared by local mode's resource store and job queue (engine/src/lib/journaled-file.ts). */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { JournaledFile } from '#core/lib/journaled-file.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'quarry-journaled-'));
after(() => rmSync(dir, { recursive: true, force: true }));
type Snap = { items: number[] };
const open = (name: string) => new JournaledFile<Snap, number>(path.join(dir, name), 64);

test('changes since the snapshot are replayed in order; compaction starts a new generation', () => {
  const f = open('a.json');
  assert.deepEqual(f.load(), { snapshot: undefined, changes: [] });
  f.append(1);
  f.append(2);
  assert.deepEqual(open('a.json').load(), { snapshot: undefined, changes: [1, 2] });
  f.compact({ items: [1, 2] });
  f.append(3);
  assert.deepEqual(open('a.json').load(), { snapshot: { items: [1, 2] }, changes: [3] });
});

test('a crash between writing the snapshot and emptying the journal applies no change twice', () => {
  const f = open('b.json');
  f.load();
  f.append(1);
  f.append(2);
  // The new snapshot (generation 1) is in place, the journal of generation 0 was not emptied: the process died.
  writeFileSync(path.join(dir, 'b.json'), JSON.stringify({ items: [1, 2], gen: 1 }));
  const g = open('b.json');
  assert.deepEqual(g.load(), { snapshot: { items: [1, 2] }, changes: [] });
  g.append(3);
  assert.deepEqual(open('b.json').load().changes, [3]);
});

test('a last line cut short is dropped and cut off, so what is appended after the restart is read back', () => {
  const f = open('c.json');
  f.load();
  f.append(1);
  appendFileSync(path.join(dir, 'c.json.journal'), '{"g":0,"c":');
  const g = open('c.json');
  assert.deepEqual(g.load().changes, [1]);
  g.append(2);
  assert.deepEqual(open('c.json').load().changes, [1, 2]);
  assert.equal(readFileSync(path.join(dir, 'c.json.journal'), 'utf8').split('\n').filter(Boolean).length, 2);
});

test('journal lines and snapshots written before generations count as generation 0', () => {
  writeFileSync(path.join(dir, 'd.json'), JSON.stringify({ items: [7] }));
  writeFileSync(path.join(dir, 'd.json.journal'), '8\n9\n');
  assert.deepEqual(open('d.json').load(), { snapshot: { items: [7] }, changes: [8, 9] });
});

test('append says when the journal has outgrown the snapshot and the minimum', () => {
  const f = open('e.json');
  f.load();
  let due = false;
  for (let i = 0; i < 10 && !due; i++) due = f.append(i);
  assert.ok(due, 'due after 64 bytes of journal');
  f.compact({ items: Array.from({ length: 50 }, (_, i) => i) });
  assert.equal(f.append(1), false, 'a journal smaller than the snapshot is not due');
});
