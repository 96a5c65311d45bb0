/**
 * Tenancy suite (issue 14, acceptance): every route of the API, enumerated from the running engine's registered
 * Fastify routes, is attacked with the read-only (RK) and read-write (WK) keys of namespace A against namespace V
 * (tenancy-cases.ts lists the attacks per route; a route without cases fails the suite). Every attack must be
 * refused as its case says (403/404, any 4xx, or no 5xx), no response may contain V's secret marker, and V's
 * resources, objects, documents, uploads, batches, tasks, history, manifest export and blobs must be unchanged
 * after each route's attacks. Local mode: engine/src/main.ts as a process, over HTTP.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { attackOrder, casesFor, type Case, type Expect } from './tenancy-cases.ts';
import { allDocs, sendsToken } from './tenancy-attacks.ts';
import { differences, snapshotV } from './snapshot.ts';
import { startWorld, type Json, type Reply, type World } from './world.ts';

let w: World;
let baseline: Json;

before(async () => {
  w = await startWorld('tenancy');
  baseline = await snapshotV(w);
});

after(async () => {
  await w?.stop();
});

const ok = (e: Expect, status: number) =>
  e === 'deny' ? status === 403 || status === 404 : e === 'refuse' ? status >= 400 && status < 500 && status !== 401 : status < 500;

async function run(c: Case): Promise<string[]> {
  const problems: string[] = [];
  const label = `${c.method} ${c.url.slice(0, 160)} [${c.what}]`;
  let r: Reply;
  try {
    r = await w.api(c.key, c.method, c.url, {
      ...(c.ns !== undefined ? { ns: c.ns } : {}),
      ...(c.body !== undefined ? { body: c.body } : {}),
      ...(c.raw !== undefined ? { raw: c.raw, contentType: c.contentType ?? 'text/plain' } : {}),
    });
  } catch (err) {
    return [`${label}: request failed: ${err instanceof Error ? err.message : String(err)}`];
  }
  if (!ok(c.expect, r.status)) problems.push(`${label}: expected ${c.expect}, got ${r.status}: ${r.text.slice(0, 300)}`);
  if (r.text.includes(w.secret)) problems.push(`${label}: the response shows V's data (${r.status}): ${r.text.slice(0, 300)}`);
  for (const f of c.forbidden ?? []) if (r.text.includes(f)) problems.push(`${label}: the response names '${f}' (${r.status}): ${r.text.slice(0, 300)}`);
  if (r.status < 300 && c.then) for (const next of c.then(w, r)) problems.push(...(await run(next)));
  return problems;
}

test('every registered route has tenancy cases', () => {
  assert.ok(w.engine.routes.length > 50, `routes recorded from the engine: ${w.engine.routes.length}`);
  const missing = w.engine.routes.map((r) => `${r.method} ${r.url}`).filter((r) => !casesFor(r));
  assert.deepEqual(missing, [], 'routes without a case in test/security/tenancy-cases.ts: add their attacks there');
});

test('V keeps working for its own key (the attacks are not refused for an unrelated reason)', async () => {
  const r = await w.api(w.vk, 'POST', `/v1/collections/${w.v.collection}/documents/list`, { ns: w.v.ns, body: {} });
  assert.equal(r.status, 200, r.text);
  assert.ok(r.text.includes(w.secret));
  const own = await w.api(w.rk, 'POST', `/v1/buckets/${w.a.bucket}/objects/list`, { ns: w.a.ns, body: {} });
  assert.equal(own.status, 200, own.text);
  assert.equal(own.body.results.length, 1, 'RK reads A');
  // V's own run resolves its {{SECRET.token}} (so A's 400 is the tenant boundary, not a missing secret), and shows none of it.
  const body = (stages: unknown[]) => ({ collection_identifiers: [w.v.collection], stages });
  const send = await w.api(w.vk, 'POST', '/v1/retrievers/execute', { ns: w.v.ns, body: body([allDocs, sendsToken]) });
  assert.equal(send.status, 200, send.text);
  assert.ok(!send.text.includes(`${w.secret}-token`), 'the secret value is not in the response');
  const unknown = await w.api(w.vk, 'POST', '/v1/retrievers/execute', { ns: w.v.ns, body: body([allDocs, { ...sendsToken, parameters: { ...sendsToken.parameters, headers: { 'x-api-key': '{{SECRET.nope}}' } } }]) });
  assert.equal(unknown.status, 400, unknown.text);
  // Those two runs are V's own history: the attacks are compared against V as it is now.
  baseline = await snapshotV(w);
});

test('every route, with keys of A, against V', async (t) => {
  const routes = attackOrder([...new Set(w.engine.routes.map((r) => `${r.method} ${r.url}`))]);
  for (const route of routes) {
    const gen = casesFor(route);
    if (!gen) continue; // reported by the first test
    await t.test(route, async () => {
      const problems: string[] = [];
      for (const c of gen(w)) problems.push(...(await run(c)));
      assert.ok(w.engine.alive(), `the engine exited:\n${w.engine.output().slice(-3000)}`);
      const now = await snapshotV(w);
      const changed = differences(baseline, now);
      // Later routes compare against what V has now, so one break is reported once.
      baseline = now;
      if (changed.length) problems.push(`V changed:\n  ${changed.join('\n  ')}`);
      assert.deepEqual(problems, [], `${route}: ${problems.length} problem(s)`);
    });
  }
});
