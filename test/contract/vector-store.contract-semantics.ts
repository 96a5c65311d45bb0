// VectorStore contract, part two: the semantics every store shares (issue 24: nested paths, bool groups, null/exists, typed indexes, UTC datetimes) and scroll paging.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FilterNode } from '#core/ports/filter.ts';
import { N, DOCS, P, cosine, ids, sorted, isBadRequest } from './vector-store.fixture.ts';
import type { ContractContext } from './vector-store.contract.ts';

/** Registers the shared-semantics and scroll describes of the contract; `ctx.store` is the store under test at the time a test runs. */
export function sharedSemanticsContract(ctx: ContractContext): void {
  const { fresh, fixture } = ctx;
  describe('semantics every store shares (issue 24)', () => {
    it('paths through arrays of objects with an index on the path: eq, in, exists, facets and groups', async () => {
      const c = fresh();
      await ctx.store.ensureCollection({ name: c, vectors: [{ name: 'v', size: 2, distance: 'cosine' }], payloadIndexes: [{ field: 'items.sku', type: 'keyword' }] });
      const items = [[{ sku: 'a' }, { sku: 'b' }], [{ sku: 'b' }], [{ sku: 'c' }, { sku: 'a' }], [], [{ other: 1 }]];
      await ctx.store.upsert(c, items.map((it, i) => ({ id: `p${i}`, vectors: { v: [1, i] }, payload: { items: it } })));
      assert.equal(await ctx.store.count(c, { field: 'items.sku', value: 'a' }), 2, 'eq');
      assert.equal(await ctx.store.count(c, { field: 'items.sku', operator: 'in', value: ['b', 'c'] }), 3, 'in');
      assert.equal(await ctx.store.count(c, { field: 'items.sku', operator: 'exists', value: true }), 3, 'exists');
      assert.equal(await ctx.store.count(c, { field: 'items.sku', operator: 'ne', value: 'a' }), 3, 'ne');
      const facets = await ctx.store.facet(c, 'items.sku');
      assert.deepEqual(Object.fromEntries(facets.map((h) => [h.value, h.count])), { a: 2, b: 2, c: 1 });
      const groups = await ctx.store.searchGroups(c, { search: { using: 'v', vector: [1, 0], limit: 10 }, groupBy: 'items.sku', groupSize: 5, limit: 5 });
      assert.deepEqual(Object.fromEntries(groups.map((g) => [String(g.key), sorted(ids(g.hits))])), { a: ['p0', 'p2'], b: ['p0', 'p1'], c: ['p2'] });
    });

    it('group-by on a bool field gives the true and false groups', async () => {
      const q = DOCS[3]!.image;
      const groups = await ctx.store.searchGroups(fixture, { search: { using: 'image', vector: q, limit: 10 }, groupBy: 'published', groupSize: 2, limit: 5 });
      const ranked = [...DOCS].sort((a, b) => cosine(b.image, q) - cosine(a.image, q));
      const order: boolean[] = [];
      for (const d of ranked) if (!order.includes(P(d).published)) order.push(P(d).published);
      assert.deepEqual(groups.map((g) => g.key), order);
      for (const g of groups) assert.deepEqual(ids(g.hits), ids(ranked.filter((d) => P(d).published === g.key).slice(0, 2)));
    });

    it('exists and is_null on [null], [] and null: exists needs a non-null value, is_null only a plain null', async () => {
      const c = fresh();
      await ctx.store.ensureCollection({ name: c, vectors: [{ name: 'v', size: 2, distance: 'cosine' }] });
      const values: unknown[] = [[null], [], null, [1], 1];
      await ctx.store.upsert(c, values.map((r, i) => ({ id: `p${i}`, vectors: { v: [1, i] }, payload: { r } })));
      await ctx.store.upsert(c, [{ id: 'missing', vectors: { v: [0, 1] }, payload: {} }]);
      const got = async (f: FilterNode) => sorted(ids((await ctx.store.scroll(c, { filter: f, limit: 20 })).points));
      assert.deepEqual(await got({ field: 'r', operator: 'exists', value: true }), ['p3', 'p4']);
      assert.deepEqual(await got({ field: 'r', operator: 'exists', value: false }), ['missing', 'p0', 'p1', 'p2']);
      assert.deepEqual(await got({ field: 'r', operator: 'is_null', value: true }), ['p2']);
    });

    it('a value whose type does not match its declared index is refused at write, naming the field', async () => {
      const c = fresh();
      await ctx.store.ensureCollection({
        name: c,
        vectors: [{ name: 'v', size: 2, distance: 'cosine' }],
        payloadIndexes: [{ field: 'n', type: 'integer' }, { field: 'k', type: 'keyword' }, { field: 't', type: 'datetime' }, { field: 'b', type: 'bool' }],
      });
      const bad: Record<string, unknown>[] = [{ n: 2.5 }, { n: '3' }, { k: 5 }, { k: ['x', 7] }, { t: 'yesterday' }, { b: 'true' }];
      for (const payload of bad) {
        const field = Object.keys(payload)[0]!;
        await assert.rejects(ctx.store.upsert(c, [{ id: 'bad', vectors: { v: [1, 0] }, payload }]), isBadRequest(new RegExp(`'${field}' is indexed as`)));
      }
      await ctx.store.upsert(c, [{ id: 'ok', vectors: { v: [1, 0] }, payload: { n: 3, k: ['x', 'y'], t: '2026-01-01T00:00:00Z', b: null } }]);
      assert.equal(await ctx.store.count(c), 1, 'only the well-typed point was written');
      assert.equal(await ctx.store.count(c, { field: 'n', operator: 'gte', value: 3 }), 1);
    });

    it('a datetime without an offset is UTC, in filters and in payloads, whatever the process time zone', async () => {
      const c = fresh();
      const tz = process.env.TZ;
      process.env.TZ = 'America/New_York'; // Node applies a changed TZ at once; local time would be UTC-5 here
      try {
        await ctx.store.ensureCollection({ name: c, vectors: [{ name: 'v', size: 2, distance: 'cosine' }], payloadIndexes: [{ field: 'at', type: 'datetime' }] });
        // Hours 00..09 UTC on one day, half written without an offset.
        await ctx.store.upsert(c, Array.from({ length: 10 }, (_, h) => ({ id: `h${h}`, vectors: { v: [1, h] }, payload: { at: `2026-03-01T0${h}:00:00${h % 2 ? 'Z' : ''}`, plain: `2026-03-01T0${h}:00:00${h % 2 ? '' : '+00:00'}` } })));
        for (const field of ['at', 'plain']) {
          assert.equal(await ctx.store.count(c, { field, operator: 'lt', value: '2026-03-01T05:00:00' }), 5, `${field} < 05:00 (no offset)`);
          assert.equal(await ctx.store.count(c, { field, operator: 'gte', value: '2026-03-01T05:00:00Z' }), 5, `${field} >= 05:00Z`);
        }
      } finally {
        if (tz === undefined) delete process.env.TZ;
        else process.env.TZ = tz;
      }
    });
  });

  describe('scroll', () => {
    it('pages through every point exactly once', async () => {
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await ctx.store.scroll(fixture, { limit: 50, ...(cursor ? { cursor } : {}), withPayload: false });
        assert.ok(page.points.length <= 50);
        seen.push(...ids(page.points));
        cursor = page.nextCursor;
        pages++;
      } while (cursor);
      assert.equal(pages, Math.ceil(N / 50));
      assert.equal(new Set(seen).size, N);
      assert.deepEqual(sorted(seen), sorted(DOCS.map((d) => d.id)));
    });

    it('is stable under concurrent upserts: every original point exactly once', async () => {
      const c = fresh();
      await ctx.store.ensureCollection({ name: c, vectors: [{ name: 'v', size: 2, distance: 'cosine' }] });
      const original = Array.from({ length: 120 }, (_, i) => `p${String(i).padStart(3, '0')}`);
      await ctx.store.upsert(c, original.map((id, i) => ({ id, vectors: { v: [1, i] }, payload: { round: 0 } })));
      const seen: string[] = [];
      let cursor: string | undefined;
      let round = 0;
      do {
        const [page] = await Promise.all([
          ctx.store.scroll(c, { limit: 17, ...(cursor ? { cursor } : {}) }),
          ctx.store.upsert(c, [
            { id: `p${String(round * 11).padStart(3, '0')}x`, vectors: { v: [0, 1] }, payload: { round: ++round } },
            { id: original[(round * 37) % 120]!, vectors: { v: [1, 1] }, payload: { round } },
          ]),
        ]);
        seen.push(...ids(page.points));
        cursor = page.nextCursor;
      } while (cursor && round < 100);
      assert.ok(!cursor, 'scroll finished');
      assert.equal(new Set(seen).size, seen.length, 'no point twice');
      for (const id of original) assert.ok(seen.includes(id), `${id} seen`);
    });

    it('rejects a forged cursor', async () => {
      await assert.rejects(ctx.store.scroll(fixture, { limit: 5, cursor: '!!not-a-cursor!!' }), isBadRequest(/cursor/));
    });
  });
}
