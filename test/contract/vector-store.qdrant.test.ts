/**
 * The Qdrant VectorStore against the shared contract, on a real Qdrant server named by QDRANT_URL
 * (optionally QDRANT_API_KEY). Without QDRANT_URL there is no Qdrant to test against: this file then runs one
 * test asserting exactly that and printing how to run the suite, so the gap is visible rather than skipped.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { QdrantVectorStore } from '#engine/vector/qdrant/qdrant-store.ts';
import { vectorStoreContract } from './vector-store.contract.ts';

const url = process.env.QDRANT_URL;

if (url) {
  const collectionPrefix = `quarry_test_${randomBytes(3).toString('hex')}_`;
  const open = async () => new QdrantVectorStore({ url, collectionPrefix, ...(process.env.QDRANT_API_KEY ? { apiKey: process.env.QDRANT_API_KEY } : {}) });
  vectorStoreContract(`qdrant (${url})`, {
    open,
    teardown: async () => {
      const store = await open();
      for (const c of await store.listCollections()) await store.dropCollection(c);
    },
  });
} else {
  test('Qdrant contract suite: QDRANT_URL is not set, so it did not run', (t) => {
    assert.equal(process.env.QDRANT_URL, undefined);
    const how =
      'The Qdrant VectorStore contract runs only against a real Qdrant server. Start one (for example ' +
      '`docker run -p 127.0.0.1:6333:6333 qdrant/qdrant`) and run: ' +
      'QDRANT_URL=http://127.0.0.1:6333 node --import tsx --test test/contract/vector-store.qdrant.test.ts ' +
      '(or QDRANT_URL=http://127.0.0.1:6333 make test). Set QDRANT_API_KEY too if the server requires one.';
    t.diagnostic(how);
    console.log(how);
  });
}
