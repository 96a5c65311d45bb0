/**
 * The documented list pattern on plain items: `search` as a `*` wildcard pattern or a substring, and paging
 * parameters taken from the body when the query has none.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { listResponse } from '#engine/management/list.ts';
import type { KindInfo } from '#engine/management/common.ts';

const INFO: KindInfo = { kind: 'Bucket', word: 'bucket', plural: 'buckets', idPrefix: 'bkt_', nameField: 'bucket_name', idField: 'bucket_id' };
const items = ['catalog', 'cat-photos', 'bobcat', 'dogs', 'Category.v2'].map((n, i) => ({ bucket_id: `bkt_${i}`, bucket_name: n, description: i === 3 ? 'not a cat' : null, created_at: `2026-01-0${i + 1}` }));
const names = (r: Record<string, unknown>) => (r.results as { bucket_name: string }[]).map((x) => x.bucket_name).sort();

test('search: * is a wildcard over the whole value; without it a substring; case-insensitive unless asked', () => {
  assert.deepEqual(names(listResponse(items, INFO, { search: 'cat*' }, {})), ['Category.v2', 'cat-photos', 'catalog']);
  assert.deepEqual(names(listResponse(items, INFO, { search: 'cat*', case_sensitive: true }, {})), ['cat-photos', 'catalog']);
  assert.deepEqual(names(listResponse(items, INFO, { search: '*cat' }, {})), ['bobcat', 'dogs'], 'description "not a cat" ends with cat');
  assert.deepEqual(names(listResponse(items, INFO, { search: 'cat' }, {})), ['Category.v2', 'bobcat', 'cat-photos', 'catalog', 'dogs']);
  assert.deepEqual(names(listResponse(items, INFO, { search: 'category.*' }, {})), ['Category.v2'], 'other regex characters are literal');
  assert.deepEqual(names(listResponse(items, INFO, { search: 'c.t*' }, {})), []);
});

test('paging parameters come from the query, else the body; bad values name the field', () => {
  const body = listResponse(items, INFO, { limit: 2, offset: 1, sort: 'bucket_name' }, {});
  assert.deepEqual((body.results as { bucket_name: string }[]).map((x) => x.bucket_name), ['bobcat', 'cat-photos']);
  assert.equal((body.pagination as { page_size: number }).page_size, 2);
  const query = listResponse(items, INFO, { limit: 2 }, { limit: '3' });
  assert.equal((query.results as unknown[]).length, 3, 'the query wins');
  assert.equal(listResponse(items, INFO, { include_total: true }, {}).total_count, 5);
  assert.throws(() => listResponse(items, INFO, { limit: 0 }, {}), /limit: must be an integer from 1 to 1000/);
});
