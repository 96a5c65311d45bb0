/** The ObjectStore contract on S3, against the test env's MinIO. */
import assert from 'node:assert/strict';
import { S3ObjectStore } from '#engine/objects/s3.ts';
import { testEnv } from '../harness/env.ts';
import { objectStoreContract } from './object-store.contract.ts';

const { s3 } = testEnv();

objectStoreContract('s3 (MinIO)', {
  open: async () =>
    new S3ObjectStore({ endpoint: s3.endpoint, region: s3.region, accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey, forcePathStyle: true, partSize: 5 * 1024 * 1024 }),
  checkLargeUpload(info) {
    // A multipart object's ETag is "<md5 of part md5s>-<part count>": 12 MiB in 5 MiB parts = 3 parts.
    assert.match(info.etag ?? '', /-3"?$/);
  },
});
