/**
 * `quarry upload` of 500 files against a local engine: progress is reported (plain lines, stderr is not a TTY),
 * an interrupted run (SIGINT, then SIGKILL with the last journal entries lost) resumes on re-run, and the bucket
 * ends with exactly 500 objects, one per file, no duplicates; re-runs with and without the journal add nothing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { listObjects, runCli, startEngine, type Engine } from './helpers.ts';

const N = 500;
let engine: Engine;
let filesDir: string;

before(async () => {
  engine = await startEngine({ example: 'hybrid-text-search', namespace: 'research' });
  filesDir = path.join(engine.scratch, 'abstracts');
  for (const sub of ['a', 'b']) mkdirSync(path.join(filesDir, sub), { recursive: true });
  for (let i = 0; i < N; i++) {
    // Two folders: upload walks directories recursively.
    const file = path.join(filesDir, i % 2 ? 'a' : 'b', `abstract-${String(i).padStart(3, '0')}.txt`);
    writeFileSync(file, `Abstract ${i}: a study of claim number ${i} and its evidence (${(i * 7919) % 1000}).\n`);
  }
});

after(async () => {
  await engine?.stop();
});

const progressLines = (stderr: string) => stderr.split('\n').filter((l) => /^progress: \d+\/500 files/.test(l));
const doneCount = (line: string) => Number(/^progress: (\d+)\//.exec(line)![1]);

/** Runs the upload and sends `signal` once progress has passed `after` files. */
function uploadUntil(afterFiles: number, signal: NodeJS.Signals) {
  let sent = false;
  return runCli(['upload', 'abstracts', filesDir, '--property', 'abstract', '-m', 'doc_id={stem}', '-m', 'title={stem}', '--concurrency', '4'], engine.env(), {
    onStderr: (chunk, child) => {
      if (sent) return;
      const last = progressLines(chunk).at(-1);
      if (last && doneCount(last) >= afterFiles) {
        sent = true;
        child.kill(signal);
      }
    },
  });
}

function journalFile(): string {
  const dir = path.join(engine.scratch, 'cache', 'quarry', 'uploads');
  const files = readdirSync(dir).filter((f) => f.endsWith('.jsonl'));
  assert.equal(files.length, 1, `one journal for this server, namespace and bucket: ${files.join(', ')}`);
  return path.join(dir, files[0]!);
}

test('upload of 500 files: progress, SIGINT, SIGKILL with lost journal writes, re-run: exactly 500 objects, no duplicates', async () => {
  // 1. Ctrl-C part-way: the files in flight finish, the command says how to resume and exits 130.
  const first = await uploadUntil(100, 'SIGINT');
  assert.equal(first.code, 130, first.stderr);
  assert.match(first.stderr, /re-run the same command to resume/);
  const firstProgress = progressLines(first.stderr);
  assert.ok(firstProgress.length >= 4, `progress lines while uploading:\n${first.stderr}`);
  const afterFirst = (await listObjects(engine, 'research', 'abstracts')).length;
  assert.ok(afterFirst >= 100, `at least the 100 files reported done exist: ${afterFirst}`);
  const journaled = readFileSync(journalFile(), 'utf8').trim().split('\n').length;
  assert.equal(journaled, afterFirst, 'every object created before the interrupt is in the journal (SIGINT lets in-flight files finish)');

  // 2. SIGKILL part-way (no chance to clean up), then lose the journal's last 25 entries as if their writes never
  //    reached the disk: those files exist on the server but the journal does not know them.
  const second = await uploadUntil(afterFirst + 100, 'SIGKILL');
  assert.equal(second.signal, 'SIGKILL');
  const lines = readFileSync(journalFile(), 'utf8').trim().split('\n');
  assert.ok(lines.length > afterFirst, 'the killed run made progress');
  writeFileSync(journalFile(), lines.slice(0, -25).join('\n') + '\n');
  const journalKept = lines.length - 25;

  // 3. Re-run to the end: journal entries are skipped, the lost ones are found by the server's duplicate check.
  const third = await runCli(['upload', 'abstracts', filesDir, '--property', 'abstract', '-m', 'doc_id={stem}', '-m', 'title={stem}', '-o', 'json'], engine.env());
  assert.equal(third.code, 0, third.stderr);
  const summary = JSON.parse(third.stdout) as { files: number; uploaded: number; duplicates: number; skipped: number; failed: number; object_ids: string[] };
  assert.equal(summary.files, N);
  assert.equal(summary.failed, 0);
  assert.equal(summary.skipped, journalKept, 'every journaled file is skipped without re-uploading');
  assert.ok(summary.duplicates >= 25, `the 25 files with lost journal entries come back as duplicates: ${summary.duplicates}`);
  assert.equal(summary.skipped + summary.duplicates + summary.uploaded, N);
  assert.equal(new Set(summary.object_ids).size, N);
  const finalProgress = progressLines(third.stderr);
  assert.equal(doneCount(finalProgress.at(-1)!), N, 'the last progress line reports 500/500');

  // The bucket: exactly 500 objects, one per file, each file's content once.
  const objects = await listObjects(engine, 'research', 'abstracts');
  assert.equal(objects.length, N);
  const names = new Set(objects.map((o) => (o.metadata as { filename: string }).filename));
  assert.equal(names.size, N, 'one object per file name');
  const checksums = new Set(objects.map((o) => (o.blobs as { checksum: string }[])[0]!.checksum));
  assert.equal(checksums.size, N, 'no content stored twice');
  assert.deepEqual(new Set(objects.map((o) => o.object_id)), new Set(summary.object_ids), 'the summary names exactly the bucket’s objects');
  const docIds = objects.map((o) => (o.metadata as { doc_id: string }).doc_id);
  assert.ok(docIds.every((d) => /^abstract-\d{3}$/.test(d)), 'per-file metadata placeholder {stem} filled in');

  // 4. Another re-run does nothing new.
  const again = await runCli(['upload', 'abstracts', filesDir, '--property', 'abstract', '-m', 'doc_id={stem}', '-m', 'title={stem}', '-o', 'json', '--no-progress'], engine.env());
  assert.equal(again.code, 0, again.stderr);
  const s4 = JSON.parse(again.stdout) as { skipped: number; uploaded: number };
  assert.equal(s4.skipped, N);
  assert.equal(s4.uploaded, 0);
  assert.equal(again.stderr, '', 'no progress output with --no-progress');
  assert.equal((await listObjects(engine, 'research', 'abstracts')).length, N);

  // 5. Without the journal at all (--no-resume) every file is sent again and the server finds each one.
  const fresh = await runCli(['upload', 'abstracts', filesDir, '--property', 'abstract', '-m', 'doc_id={stem}', '-m', 'title={stem}', '-o', 'json', '--no-progress', '--no-resume', '--concurrency', '8'], engine.env());
  assert.equal(fresh.code, 0, fresh.stderr);
  const s5 = JSON.parse(fresh.stdout) as { skipped: number; uploaded: number; duplicates: number; object_ids: string[] };
  assert.deepEqual([s5.skipped, s5.uploaded, s5.duplicates], [0, 0, N]);
  assert.deepEqual(new Set(s5.object_ids), new Set(summary.object_ids));
  assert.equal((await listObjects(engine, 'research', 'abstracts')).length, N);
});
