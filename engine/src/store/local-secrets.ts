/**
 * Local mode's secrets store: Secrets as files, laid out like a Kubernetes Secret mounted as a volume —
 * `<dir>/<secret name>/<key>` holds the value of one key (e.g. `.quarry/secrets/openai/apiKey`). It serves the one
 * Kubernetes namespace of local mode; names and keys are checked against Kubernetes' rules before any path is built
 * (no `..`, no `/`), and a value is read when asked for, so an edited file takes effect without a restart.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { SecretReader } from '../llm/namespace-llm.ts';

const SECRET_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const SECRET_KEY = /^[-_a-zA-Z0-9][-._a-zA-Z0-9]*$/;

export function localSecretReader(dir: string, k8sNamespace: string): SecretReader {
  return async (namespace, name) => {
    if (namespace !== k8sNamespace || !SECRET_NAME.test(name) || name.includes('..')) return undefined;
    const folder = path.join(dir, name);
    let keys: string[];
    try {
      keys = (await readdir(folder, { withFileTypes: true })).filter((e) => e.isFile() && SECRET_KEY.test(e.name)).map((e) => e.name);
    } catch {
      return undefined;
    }
    const out: Record<string, string> = {};
    for (const k of keys) out[k] = await readFile(path.join(folder, k), 'utf8');
    return out;
  };
}
