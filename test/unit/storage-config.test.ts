/** Object store and job queue configuration from the environment and credentials files; the factories. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { createObjectStore, objectStoreConfigFromEnv, readS3CredentialsFile } from '#engine/objects/config.ts';
import { createJobQueue, jobQueueConfigFromEnv } from '#engine/queue/config.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'quarry-cfg-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('object store config', () => {
  it('selects S3 with env credentials when S3_ENDPOINT is set', () => {
    const cfg = objectStoreConfigFromEnv({ S3_ENDPOINT: 'http://127.0.0.1:9000', S3_ACCESS_KEY: 'ak', S3_SECRET_KEY: 'sk', S3_FORCE_PATH_STYLE: 'true' });
    assert.deepEqual(cfg, { kind: 's3', endpoint: 'http://127.0.0.1:9000', region: 'us-east-1', forcePathStyle: true, accessKeyId: 'ak', secretAccessKey: 'sk' });
    const store = createObjectStore(cfg);
    assert.equal(store.kind, 's3');
    void store.close();
  });

  it('reads credentials from per-key files (mounted Secret) and from a credentials file (JSON or NAME=value)', () => {
    writeFileSync(path.join(dir, 'ak'), 'file-ak\n');
    writeFileSync(path.join(dir, 'sk'), 'file-sk\n');
    const a = objectStoreConfigFromEnv({ S3_ENDPOINT: 'http://x', S3_ACCESS_KEY_FILE: path.join(dir, 'ak'), S3_SECRET_KEY_FILE: path.join(dir, 'sk') });
    assert.equal(a.kind === 's3' && a.accessKeyId, 'file-ak');
    assert.equal(a.kind === 's3' && a.secretAccessKey, 'file-sk');
    writeFileSync(path.join(dir, 'creds.json'), JSON.stringify({ accessKey: 'j-ak', secretKey: 'j-sk' }));
    assert.deepEqual(readS3CredentialsFile(path.join(dir, 'creds.json')), { accessKeyId: 'j-ak', secretAccessKey: 'j-sk' });
    writeFileSync(path.join(dir, 'creds.env'), '# minio\nexport S3_ACCESS_KEY="e-ak"\nS3_SECRET_KEY=e-sk\n');
    const b = objectStoreConfigFromEnv({ S3_ENDPOINT: 'http://x', S3_CREDENTIALS_FILE: path.join(dir, 'creds.env') });
    assert.equal(b.kind === 's3' && b.accessKeyId, 'e-ak');
    assert.equal(b.kind === 's3' && b.secretAccessKey, 'e-sk');
    writeFileSync(path.join(dir, 'empty.env'), 'NOTHING=here\n');
    assert.throws(() => readS3CredentialsFile(path.join(dir, 'empty.env')), /no access key/);
  });

  it('falls back to local disk with presign settings', () => {
    writeFileSync(path.join(dir, 'presign'), 's3cret\n');
    const cfg = objectStoreConfigFromEnv({ QUARRY_OBJECTS_BASE_URL: 'http://localhost:8080/v1/objects', QUARRY_PRESIGN_SECRET_FILE: path.join(dir, 'presign') }, dir);
    assert.deepEqual(cfg, { kind: 'local', root: `${dir}/objects`, baseUrl: 'http://localhost:8080/v1/objects', presignSecret: 's3cret' });
    assert.equal(createObjectStore(cfg).kind, 'local');
  });
});

describe('job queue config', () => {
  it('selects NATS from NATS_URL with its auth settings, otherwise the in-process queue', async () => {
    assert.deepEqual(jobQueueConfigFromEnv({ NATS_URL: 'nats://a:4222, nats://b:4222', NATS_CREDS: '/run/nats.creds', NATS_REPLICAS: '3' }), {
      kind: 'nats',
      servers: ['nats://a:4222', 'nats://b:4222'],
      credsFile: '/run/nats.creds',
      replicas: 3,
    });
    const cfg = jobQueueConfigFromEnv({}, dir);
    assert.deepEqual(cfg, { kind: 'memory', dataDir: dir });
    const q = await createJobQueue(cfg);
    assert.equal(q.kind, 'memory');
    await q.close();
  });
});
