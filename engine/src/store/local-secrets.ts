/**
 * Local mode's secrets store: Secrets as files, laid out like a Kubernetes Secret mounted as a volume —
 * `<dir>/<secret name>/<key>` holds the value of one key (e.g. `.quarry/secrets/openai/apiKey`). It serves the one
 * Kubernetes namespace of local mode; names and keys are checked against Kubernetes' rules before any path is built
 * (no `..`, no `/`), and a value is read when asked for, so an edited file takes effect without a restart.
 * A Secret's labels are the `key=value` lines of the file `.labels` in its folder (not a key: keys never start with
 * a dot), e.g. `quarry.dev/namespace=research` hands the Secret to QuarryNamespace research (lib/secret-refs.ts).
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { SecretReader } from '../lib/secret-refs.ts';

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
    const data: Record<string, string> = {};
    for (const k of keys) data[k] = await readFile(path.join(folder, k), 'utf8');
    return { data, labels: parseLabels(await readFile(path.join(folder, LABELS_FILE), 'utf8').catch(() => '')) };
  };
}

const LABELS_FILE = '.labels';

/** `key=value` lines (blank lines and `#` comments skipped; spaces around either side trimmed). */
function parseLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const eq = line.indexOf('=');
    if (!line || line.startsWith('#') || eq <= 0) continue;
    out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}
