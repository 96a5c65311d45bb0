import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { newBatch, recordOutcome, refreshBatch, tierProgress, type Batch } from '#engine/ingestion/batch-model.ts';
import { planTiers, type CollectionPlan } from '#engine/ingestion/collections.ts';
import { extractionQueueName, objectBucketName, stateBucketName, vectorCollectionName } from '#core/naming.ts';

const col = (name: string, source: CollectionPlan['source'], enabled = true): CollectionPlan => ({
  name, source, enabled, extractor: { id: 'text_extractor@v1', params: {} },
});

describe('planTiers', () => {
  test('orders bucket-fed collections before the collections they feed', () => {
    const tiers = planTiers('docs', [
      col('summaries', { type: 'collection', collections: ['chunks'] }),
      col('chunks', { type: 'bucket', buckets: ['docs'] }),
      col('images', { type: 'bucket', buckets: ['docs', 'other'] }),
      col('elsewhere', { type: 'bucket', buckets: ['other'] }),
      col('off', { type: 'bucket', buckets: ['docs'] }, false),
    ]);
    assert.deepEqual(tiers, [['chunks', 'images'], ['summaries']]);
  });
});

function submitted(objects: string[], tiers: string[][]): Batch {
  const b = newBatch('btch_1', 'docs', objects);
  b.dag_tiers = tiers;
  b.tier_tasks = tiers.map((ids, n) => ({
    tier_num: n, task_id: `t${n}`, status: 'PENDING', collection_ids: ids, source_type: n ? 'collection' : 'bucket', outcomes: {}, total_jobs: ids.length * objects.length,
  }));
  b.status = 'PENDING';
  return refreshBatch(b);
}

describe('batch state machine', () => {
  test('progress is exact and a redelivered job never counts twice', () => {
    let b = submitted(['o1', 'o2'], [['c']]);
    b = recordOutcome(b, 0, 'c/o1', { ok: true, documents: 3 });
    assert.equal(b.status, 'IN_PROGRESS');
    b = recordOutcome(b, 0, 'c/o1', { ok: true, documents: 3 });
    assert.deepEqual(tierProgress(b.tier_tasks[0]!), { total: 2, processed: 1, succeeded: 1, failed: 0, documents_written: 3, percent: 50 });
    b = recordOutcome(b, 0, 'c/o2', { ok: true, documents: 1 });
    assert.equal(b.status, 'COMPLETED');
  });

  test('a failed object gives COMPLETED_WITH_ERRORS with an error summary; all failed gives FAILED', () => {
    let b = submitted(['o1', 'o2'], [['c']]);
    b = recordOutcome(b, 0, 'c/o1', { ok: false, documents: 0, reason: 'corrupt_image', error: 'x' });
    b = recordOutcome(b, 0, 'c/o2', { ok: true, documents: 1 });
    assert.equal(b.status, 'COMPLETED_WITH_ERRORS');
    assert.deepEqual(b.error_summary, { corrupt_image: 1 });
    let f = submitted(['o1'], [['c']]);
    f = recordOutcome(f, 0, 'c/o1', { ok: false, documents: 0, reason: 'pdf_encrypted' });
    assert.equal(f.status, 'FAILED');
  });

  test('a retry that succeeds replaces an earlier failure', () => {
    let b = submitted(['o1', 'o2'], [['c']]);
    b = recordOutcome(b, 0, 'c/o1', { ok: false, documents: 0, reason: 'timeout' });
    b.status = 'IN_PROGRESS';
    b = recordOutcome(b, 0, 'c/o1', { ok: true, documents: 2 });
    assert.equal(tierProgress(b.tier_tasks[0]!).failed, 0);
  });

  test('tier 1 stays open until tier 0 completes; the batch completes after the last tier', () => {
    let b = submitted(['o1'], [['a'], ['b']]);
    b = recordOutcome(b, 0, 'a/o1', { ok: true, documents: 1 });
    assert.equal(b.tier_tasks[0]!.status, 'COMPLETED');
    assert.equal(b.status, 'IN_PROGRESS');
    assert.equal(b.current_tier, 1);
    b = recordOutcome(b, 1, 'b/o1', { ok: true, documents: 1 });
    assert.equal(b.status, 'COMPLETED');
  });

  test('canceled batches ignore late outcomes', () => {
    const b = submitted(['o1'], [['c']]);
    b.status = 'CANCELED';
    assert.equal(recordOutcome(b, 0, 'c/o1', { ok: true, documents: 1 }).status, 'CANCELED');
  });
});

describe('external resource names', () => {
  test('are deterministic, valid for their stores, and distinct per namespace', () => {
    const a = { k8sNamespace: 'team-a', name: 'catalog' };
    const b = { k8sNamespace: 'team-b', name: 'catalog' };
    assert.equal(vectorCollectionName(a), vectorCollectionName({ ...a }));
    assert.notEqual(vectorCollectionName(a), vectorCollectionName(b));
    assert.match(extractionQueueName(a), /^[A-Z0-9_]+$/);
    assert.match(stateBucketName(a), /^[-a-z0-9]+$/);
    const s3 = objectBucketName('a'.repeat(80), 'Products.Images');
    assert.ok(s3.length <= 63 && /^[a-z0-9][a-z0-9-]*[a-z0-9]$/.test(s3), s3);
  });
});
