/** MCP tool names and input schemas derived from retrievers (engine/src/mcp/schema.ts): valid, stable, distinct. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inputJsonSchema, TOOL_NAME, toolName } from '#engine/mcp/schema.ts';

test('plain names are kept: <namespace>__<retriever>', () => {
  assert.equal(toolName('research', 'abstract-hybrid-search'), 'research__abstract-hybrid-search');
  assert.equal(toolName('my_ns', 'v1.search'), 'my_ns__v1.search');
});

test('names MCP does not allow are sanitised with a hash: valid, stable and distinct', () => {
  const odd = ['Données clients', 'a b', 'a/b', 'a__b', '_x', 'x'.repeat(300), 'été'];
  const names = new Set<string>();
  for (const ns of odd) {
    for (const r of ['search', 'deep search!', 'a__b']) {
      const n = toolName(ns, r);
      assert.match(n, TOOL_NAME, n);
      assert.equal(toolName(ns, r), n, 'stable');
      names.add(n);
    }
  }
  assert.equal(names.size, odd.length * 3, 'distinct per (namespace, retriever)');
  // The separator cannot be forged by a part that contains it.
  assert.notEqual(toolName('a__b', 'c'), toolName('a', 'b__c'));
  assert.notEqual(toolName('a b', 'c'), toolName('a-b', 'c'));
});

test('input_schema → JSON Schema: types mapped, descriptions, enums and defaults kept, required listed', () => {
  const s = inputJsonSchema({
    q: { type: 'text', required: true, description: 'the query' },
    n: { type: 'integer', default: 5 },
    price: { type: 'float' },
    when: { type: 'datetime' },
    kind: { type: 'string', enum: ['a', 'b'] },
    tags: { type: 'array', items: { type: 'string' } },
    photo: { type: 'image', required: true },
    flag: { type: 'boolean' },
  });
  assert.deepEqual(s, {
    type: 'object',
    properties: {
      q: { type: 'string', description: 'the query' },
      n: { type: 'integer', default: 5 },
      price: { type: 'number' },
      when: { type: 'string', format: 'date-time' },
      kind: { type: 'string', enum: ['a', 'b'] },
      tags: { type: 'array', items: { type: 'string' } },
      photo: { type: 'string', description: 'the image: a URL (https://, s3://) or base64 data' },
      flag: { type: 'boolean' },
    },
    required: ['q', 'photo'],
  });
  assert.deepEqual(inputJsonSchema({ properties: { q: { type: 'text', required: true } } }), { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] });
  assert.deepEqual(inputJsonSchema(undefined), { type: 'object', properties: {} });
});
