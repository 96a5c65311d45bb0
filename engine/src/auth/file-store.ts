/**
 * Local mode's key store: one JSON file under the data directory, mode 0600, replaced atomically (write a
 * temporary file, rename) so a crash never leaves half a file. Re-read when the file changes (inode, size, mtime:
 * every write renames a new file into place), so a key revoked
 * by another process (the CLI) stops working without a restart.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isApiKeyRecord, type ApiKeyRecord, type ApiKeyStore } from './keys.ts';

export const API_KEYS_FILE = 'api-keys.json';

interface FileShape {
  version: 1;
  keys: ApiKeyRecord[];
}

export class FileApiKeyStore implements ApiKeyStore {
  readonly file: string;
  private cache: { stamp: string; keys: ApiKeyRecord[] } | undefined;

  /** `dataDir`: the local data directory; the keys live in `<dataDir>/api-keys.json`. */
  constructor(dataDir: string) {
    this.file = path.join(dataDir, API_KEYS_FILE);
  }

  async insert(record: ApiKeyRecord): Promise<void> {
    const keys = this.read();
    if (keys.some((k) => k.id === record.id)) throw new Error(`API key ${record.id} exists`);
    this.write([...keys, record]);
  }

  async update(record: ApiKeyRecord): Promise<void> {
    const keys = this.read();
    const i = keys.findIndex((k) => k.id === record.id);
    if (i < 0) throw new Error(`API key ${record.id} not found`);
    keys[i] = record;
    this.write(keys);
  }

  async get(id: string): Promise<ApiKeyRecord | undefined> {
    return this.read().find((k) => k.id === id);
  }

  async list(): Promise<ApiKeyRecord[]> {
    return this.read();
  }

  private read(): ApiKeyRecord[] {
    if (!existsSync(this.file)) return [];
    const stamp = stampOf(this.file);
    if (this.cache && this.cache.stamp === stamp) return [...this.cache.keys];
    let parsed: Partial<FileShape>;
    try {
      parsed = JSON.parse(readFileSync(this.file, 'utf8')) as Partial<FileShape>;
    } catch (err) {
      throw new Error(`${this.file} is not valid JSON (${(err as Error).message}): fix or remove it`, { cause: err });
    }
    const keys = (parsed.keys ?? []).filter(isApiKeyRecord);
    this.cache = { stamp, keys };
    return [...keys];
  }

  private write(keys: ApiKeyRecord[]): void {
    mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ version: 1, keys } satisfies FileShape, null, 2), { mode: 0o600 });
    chmodSync(tmp, 0o600); // the mode of writeFileSync is filtered by the umask; make it exact
    renameSync(tmp, this.file);
    this.cache = { stamp: stampOf(this.file), keys };
  }
}

function stampOf(file: string): string {
  const st = statSync(file);
  return `${st.ino}:${st.size}:${st.mtimeMs}`;
}
