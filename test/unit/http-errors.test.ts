/**
 * The documented error envelope, and FastAPI's `detail` beside it on 422s: one entry per validation error, `loc`
 * split into segments under "body" or "query", array indices as numbers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { installErrorHandling } from '#engine/app/http-errors.ts';
import { unprocessable } from '#engine/management/common.ts';
import { booleanFlag } from '#engine/http/request-params.ts';
import { QuarryError } from '#core/lib/errors.ts';

test('422 detail lists every validation error with its location; other errors keep the envelope only', async () => {
  const app = Fastify();
  installErrorHandling(app);
  app.post('/many', async () => {
    throw unprocessable([
      { field: 'bucket_name', message: 'required field is missing: add it' },
      { field: 'bucket_schema.properties.body.type', message: 'one of text, image' },
      { field: 'stages[2].config.limit', message: 'an integer ≥ 1' },
    ]);
  });
  app.get('/flag', async (req) => ({ v: booleanFlag(req, 'return_vectors') }));
  app.get('/missing', async () => {
    throw new QuarryError('NotFoundError', 'bucket x not found');
  });

  const many = await app.inject({ method: 'POST', url: '/many', payload: {} });
  assert.equal(many.statusCode, 422);
  const body = many.json();
  assert.equal(body.success, false);
  assert.equal(body.error.type, 'ValidationError');
  assert.equal(body.error.details.validation_errors.length, 3);
  assert.deepEqual(body.detail, [
    { loc: ['body', 'bucket_name'], msg: 'required field is missing: add it', type: 'value_error' },
    { loc: ['body', 'bucket_schema', 'properties', 'body', 'type'], msg: 'one of text, image', type: 'value_error' },
    { loc: ['body', 'stages', 2, 'config', 'limit'], msg: 'an integer ≥ 1', type: 'value_error' },
  ]);

  const flag = await app.inject({ method: 'GET', url: '/flag?return_vectors=maybe' });
  assert.equal(flag.statusCode, 422);
  assert.deepEqual(flag.json().detail, [{ loc: ['query', 'return_vectors'], msg: 'query parameter return_vectors must be true or false', type: 'value_error' }]);

  const missing = await app.inject({ method: 'GET', url: '/missing' });
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.json().detail, undefined);
  assert.equal(missing.json().error.type, 'NotFoundError');
  await app.close();
});
