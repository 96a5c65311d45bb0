// The core-imports codemod on synthetic sources: what it rewrites (climbing, room-crossing, every specifier form), what it leaves, and that a second run changes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { importMappings, rewriteText } from '#hack/codemods/core-imports.ts';

const maps = importMappings();

test('climbing and room-crossing specifiers become room names, in every specifier form', () => {
  const src = [
    "import type { Resource } from '../../../../engine/src/ports/resource-store.ts';",
    "import { getExtractor } from '../../../../engine/src/extractors/registry.ts';",
    "export { logger } from '../../../../engine/src/lib/log.ts';",
    "const m = await import('../../../../engine/src/naming.ts');",
    "type W = typeof import('../../../../engine/src/ports/job-queue.ts');",
    "mock.module('../../../../engine/src/vector/create.ts', {});",
    "import { plan } from '../plan.ts';",
    "import { x } from './x.ts';",
    "import fastify from 'fastify';",
    '',
  ].join('\n');
  const { text, edits } = rewriteText('operator/src/controllers/bucket/reconcile.ts', src, maps);
  assert.equal(edits.length, 6, edits.join('\n'));
  assert.equal(text, [
    "import type { Resource } from '#core/ports/resource-store.ts';",
    "import { getExtractor } from '#engine/extractors/registry.ts';",
    "export { logger } from '#core/lib/log.ts';",
    "const m = await import('#core/naming.ts');",
    "type W = typeof import('#core/ports/job-queue.ts');",
    "mock.module('#engine/vector/create.ts', {});",
    "import { plan } from '../plan.ts';",
    "import { x } from './x.ts';",
    "import fastify from 'fastify';",
    '',
  ].join('\n'));
  assert.deepEqual(rewriteText('operator/src/controllers/bucket/reconcile.ts', text, maps).edits, [], 'idempotent');
});

test('a two-folder climb across rooms is named; one inside the room is left alone', () => {
  const { text } = rewriteText('test/unit/x.test.ts', "import { a } from '../../engine/src/objects/local.ts';\nimport { b } from '../harness/env.ts';\n", maps);
  assert.equal(text, "import { a } from '#engine/objects/local.ts';\nimport { b } from '../harness/env.ts';\n");
});

test('a shared-core file named through its room is renamed to #core', () => {
  const { text } = rewriteText('bench/x.ts', "import { keyOf } from '#engine/ports/resource-store.ts';\nimport { q } from '#engine/queue/memory.ts';\n", maps);
  assert.equal(text, "import { keyOf } from '#core/ports/resource-store.ts';\nimport { q } from '#engine/queue/memory.ts';\n");
});

test('an import of a file issue #22 moved follows it (a branch written before the move)', () => {
  const src = [
    "import { bucketLocation } from './plan.ts';",
    "import { storageRefused } from '../../../operator/src/controllers/bucket/claims.ts';",
    "import { namespaceView } from '../app/namespace-view.ts';",
    "import { startProbeServer } from '#operator/runtime/http-server.ts';",
    '',
  ];
  assert.equal(rewriteText('operator/src/controllers/bucket/reconcile.ts', src[0]!, maps).text, "import { bucketLocation } from '#engine/objects/bucket-plan.ts';");
  assert.equal(rewriteText('engine/src/objects/crash-recovery.ts', src[1]!, maps).text, "import { storageRefused } from './storage-claims.ts';");
  assert.equal(rewriteText('engine/src/app/engine-runtime.ts', src[2]!, maps).text, "import { namespaceView } from '../ingestion/namespace-view.ts';");
  assert.equal(rewriteText('operator/src/runtime/operator.ts', src[3]!, maps).text, "import { startProbeServer } from '#core/lib/probe-server.ts';");
});
