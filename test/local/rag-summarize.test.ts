/**
 * The README's RAG pipeline (search → limit → summarize) end to end in local mode over HTTP: the sample is seeded,
 * the summarize stage runs on the local GGUF model, and the response reports the summary with its sources and the
 * tokens used (stage statistics, budget, and the streamed stage_complete event).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT, freePort } from '../harness/test-env.ts';
import { startLocal, type LocalRuntime } from '#engine/app/local-runtime.ts';

const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-rag-'));
let rt: LocalRuntime | undefined;

/** The curl body the README shows for the RAG pipeline. */
function readmeBody(): Record<string, unknown> {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const m = /A RAG pipeline[\s\S]*?-d '(\{[\s\S]*?\})'\n```/.exec(readme);
  assert.ok(m, 'README has the RAG pipeline example');
  return JSON.parse(m[1]!) as Record<string, unknown>;
}

before(async () => {
  // The 60 s default bounds one call in production; a loaded 2-core test machine can take longer to answer.
  process.env.QUARRY_LLM_TIMEOUT_MS ??= '300000';
  cpSync(path.join(ROOT, 'examples'), path.join(scratch, 'examples'), { recursive: true, filter: (src) => !src.includes(`${path.sep}gitops`) });
  rt = await startLocal({ dataDir: path.join(scratch, 'data'), manifestsDir: path.join(scratch, 'examples'), host: '127.0.0.1', port: await freePort(), manifestDebounceMs: 100 });
  assert.ok(rt.seed, 'the sample was seeded');
});
after(async () => {
  await rt?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

const post = (body: unknown) =>
  fetch(`${rt!.url}/v1/retrievers/execute`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-namespace': 'quickstart', authorization: `Bearer ${rt!.apiKey}` },
    body: JSON.stringify(body),
  });

test('the README RAG retriever answers with one summary of the top 3 notes, tokens counted', async () => {
  const res = await post(readmeBody());
  const body = (await res.json()) as { documents: Record<string, unknown>[]; stage_statistics: { stages: Record<string, { input_count: number; llm_calls?: number; tokens_used?: number }> }; budget: { tokens_used: number } };
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(body.documents.length, 1);
  const d = body.documents[0]!;
  assert.equal(typeof d.summary, 'string');
  assert.ok((d.summary as string).length > 0);
  assert.equal((d.source_document_ids as string[]).length, 3);
  const st = body.stage_statistics.stages.answer!;
  assert.equal(st.input_count, 3);
  assert.equal(st.llm_calls, 1);
  assert.ok(st.tokens_used! > 0);
  assert.equal(body.budget.tokens_used, st.tokens_used);
});

test('streamed, the summarize stage_complete event carries budget_used.tokens_used', async () => {
  const body = readmeBody();
  (body.inputs as Record<string, unknown>).query = 'espresso grind size';
  const res = await post({ ...body, stream: true });
  assert.equal(res.status, 200);
  const events = (await res.text()).split('\n\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6)) as Record<string, unknown>);
  const done = events.find((e) => e.event_type === 'stage_complete' && e.stage_name === 'answer') as { budget_used: { tokens_used: number } } | undefined;
  assert.ok(done, JSON.stringify(events.map((e) => e.event_type)));
  assert.ok(done.budget_used.tokens_used > 0);
  assert.ok(events.some((e) => e.event_type === 'execution_complete'));
});

test('a summarize prompt without {{DOCUMENTS}} is a 400 naming the stage and parameter', async () => {
  const body = readmeBody();
  const stages = body.stages as { config: { parameters: Record<string, unknown> } }[];
  stages[2]!.config.parameters.prompt = 'Answer the question.';
  const res = await post(body);
  const err = (await res.json()) as { error: { details: { parameter: string; stage: string } } };
  assert.equal(res.status, 400);
  assert.equal(err.error.details.parameter, 'prompt');
  assert.equal(err.error.details.stage, 'answer');
});
