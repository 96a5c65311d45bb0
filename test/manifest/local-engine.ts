/**
 * A local-mode engine (startLocal: LocalResourceStore on a scratch data directory, the operator's reconcilers, API-key
 * auth) for the manifest security tests, with keys scoped to namespaces and a small HTTP client.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../harness/test-env.ts';
import { startLocal, type LocalOptions, type LocalRuntime } from '#engine/app/local-runtime.ts';
import { FileApiKeyStore, createApiKey } from '#engine/auth/index.ts';
import type { Permission } from '#engine/auth/permissions.ts';
import type { ModelInfo, Models } from '#core/ports/models.ts';
import { eventually } from '../harness/eventually.ts';
export { eventually };

/**
 * The manifest routes never run a model: the engine gets a model set that has none (so these tests do not need
 * `make models`); anything that would embed fails loudly instead of passing.
 */
class NoModels implements Models {
  list(): ModelInfo[] {
    return [];
  }
  info(model: string): ModelInfo {
    throw new Error(`no models in the manifest security tests (asked for ${model})`);
  }
  private none(): never {
    throw new Error('no models in the manifest security tests');
  }
  embedText = async () => this.none();
  embedImage = async () => this.none();
  rerank = async () => this.none();
  ocr = async () => this.none();
  async close(): Promise<void> {}
}

export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface Reply {
  status: number;
  body: Json;
  text: string;
}

export interface LocalEngine {
  rt: LocalRuntime;
  url: string;
  dataDir: string;
  /** The local admin key. */
  admin: string;
  /** A new key scoped to `namespaces` with `permissions` (default read+write). */
  keyFor(namespaces: string[], permissions?: Permission[]): Promise<string>;
  /** A request: JSON for objects, the raw text for strings (content-type given or application/yaml). */
  call(method: string, url: string, opts?: { key?: string | null; body?: unknown; contentType?: string; headers?: Record<string, string> }): Promise<Reply>;
  stop(): Promise<void>;
}

export async function startLocalEngine(opts: Partial<LocalOptions> = {}): Promise<LocalEngine> {
  const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-sec-manifest-'));
  const manifestsDir = path.join(scratch, 'manifests');
  mkdirSync(manifestsDir, { recursive: true });
  const dataDir = path.join(scratch, 'data');
  const rt = await startLocal({ dataDir, manifestsDir, host: '127.0.0.1', port: await freePort(), seed: false, manifestDebounceMs: 100, models: new NoModels(), ...opts });
  const keys = new FileApiKeyStore(dataDir);
  const call: LocalEngine['call'] = async (method, url, o = {}) => {
    const key = o.key === undefined ? rt.apiKey : o.key;
    const headers: Record<string, string> = { ...(key ? { authorization: `Bearer ${key}` } : {}) };
    let body: string | Buffer | undefined;
    if (typeof o.body === 'string' || Buffer.isBuffer(o.body)) {
      body = o.body;
      headers['content-type'] = o.contentType ?? 'application/yaml';
    } else if (o.body !== undefined) {
      body = JSON.stringify(o.body);
      headers['content-type'] = o.contentType ?? 'application/json';
    }
    const res = await fetch(`${rt.url}${url}`, { method, headers: { ...headers, ...o.headers }, ...(body !== undefined ? { body } : {}) });
    const text = await res.text();
    let parsed: Json = {};
    try {
      parsed = text ? (JSON.parse(text) as Json) : {};
    } catch {
      parsed = { raw: text };
    }
    return { status: res.status, body: parsed, text };
  };
  return {
    rt,
    url: rt.url,
    dataDir,
    admin: rt.apiKey!,
    keyFor: async (namespaces, permissions = ['read', 'write']) => (await createApiKey(keys, { name: `k-${namespaces.join('-')}-${permissions.join('')}`, namespaces, permissions })).key,
    call,
    async stop() {
      await rt.stop();
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}

/** Two Quarry namespaces (object names = display names) as one manifest. */
export function namespacesYaml(...names: string[]): string {
  return names
    .map(
      (n) => `apiVersion: quarry.dev/v1alpha1
kind: QuarryNamespace
metadata:
  name: ${n}
spec:
  description: tenant ${n}
  featureExtractors:
    - name: text_extractor
      version: v1
`,
    )
    .join('---\n');
}

