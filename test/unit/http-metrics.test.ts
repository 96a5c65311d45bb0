/**
 * installHttpMetrics (pure logic, fastify inject, stand-in routes with the engine's route templates): requests are
 * counted by route template, never the raw URL; execute responses feed retriever executions, stage durations and
 * cache lookups; a 404's retriever id stays out of the labels; ingestion writes are counted by operation.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { installHttpMetrics } from '#engine/http/metrics.ts';

test('HTTP, retriever and ingestion metrics by route template', async () => {
  const registry = new Registry();
  const app = Fastify();
  installHttpMetrics(app, registry);
  let cacheHit = false;
  app.post('/v1/retrievers/:id/execute', async (req, reply) => {
    if ((req.params as { id: string }).id.startsWith('missing')) return reply.code(404).send({ error: 'not found' });
    return { documents: [], cache_hit: cacheHit, stage_statistics: { stages: { search: { duration_ms: 12, cache_hit: false }, rerank: { duration_ms: 30, cache_hit: true } } } };
  });
  app.post('/v1/buckets/:bucket/objects', async (_req, reply) => reply.code(201).send({ object_id: 'o1' }));

  for (const id of ['ret_a1', 'ret_a1']) await app.inject({ method: 'POST', url: `/v1/retrievers/${id}/execute`, payload: {} });
  cacheHit = true;
  await app.inject({ method: 'POST', url: '/v1/retrievers/ret_a1/execute', payload: {} });
  for (let i = 0; i < 3; i++) await app.inject({ method: 'POST', url: `/v1/retrievers/missing-${i}/execute`, payload: {} });
  await app.inject({ method: 'POST', url: '/v1/buckets/b-7/objects', payload: {} });
  await app.inject({ method: 'GET', url: '/nope/123' });

  const text = await registry.metrics();
  assert.match(text, /^http_requests_total\{method="POST",route="\/v1\/retrievers\/:id\/execute",status_code="200"\} 3$/m);
  assert.match(text, /^http_requests_total\{method="POST",route="\/v1\/retrievers\/:id\/execute",status_code="404"\} 3$/m);
  assert.match(text, /^http_requests_total\{method="GET",route="unmatched",status_code="404"\} 1$/m);
  assert.doesNotMatch(text, /ret_a1\/execute|missing-|b-7|nope/, 'raw URLs in labels');
  assert.match(text, /^quarry_retriever_executions_total\{retriever="ret_a1",status="completed"\} 3$/m);
  assert.match(text, /^quarry_retriever_executions_total\{retriever="unknown",status="failed"\} 3$/m);
  assert.match(text, /^quarry_retriever_cache_requests_total\{cache="execution",result="miss"\} 2$/m);
  assert.match(text, /^quarry_retriever_cache_requests_total\{cache="execution",result="hit"\} 1$/m);
  assert.match(text, /^quarry_retriever_cache_requests_total\{cache="stage",result="hit"\} 2$/m);
  // Only stages that ran are timed: search twice (12 ms), the cached rerank never.
  assert.match(text, /^quarry_retriever_stage_duration_seconds_count\{retriever="ret_a1",stage="search"\} 2$/m);
  assert.doesNotMatch(text, /stage="rerank"/);
  assert.match(text, /^quarry_ingestion_requests_total\{operation="object_create",status_code="201"\} 1$/m);
  assert.match(text, /^http_request_duration_seconds_count\{method="POST",route="\/v1\/buckets\/:bucket\/objects",status_code="201"\} 1$/m);
  await app.close();
});
