/**
 * Development aid: starts a local-mode engine on a scratch directory and prints its URL and API key as JSON on one
 * line, for running the SDK scripts by hand (`node --import tsx test/sdk/serve-local.ts`). The test starts its own.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../harness/test-env.ts';
import { startLocal } from '#engine/app/local-runtime.ts';

const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-sdk-'));
mkdirSync(path.join(scratch, 'manifests'));
const rt = await startLocal({ dataDir: path.join(scratch, 'data'), manifestsDir: path.join(scratch, 'manifests'), host: '127.0.0.1', port: Number(process.env.PORT) || (await freePort()), seed: false, resyncMs: 1000, manifestDebounceMs: 100 });
console.log(JSON.stringify({ url: rt.url, api_key: rt.apiKey }));
