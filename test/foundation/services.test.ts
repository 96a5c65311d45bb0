/**
 * A first real round trip on every backing service: kube-apiserver (client-node), NATS JetStream, MinIO (S3),
 * and the version-stamped helm and kubectl. These fail — never skip — when the test env is not up.
 */
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { connect } from '@nats-io/transport-node';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createTestNamespace, helm, kubeConfig, kubectl, testEnv } from '../harness/env.ts';

const K8S_VERSION = '1.36.3';

describe('kube-apiserver (real, built from Go modules)', () => {
  test('creates and reads a ConfigMap through @kubernetes/client-node', async () => {
    const ns = await createTestNamespace('foundation');
    after(() => ns.cleanup());
    const api = kubeConfig().makeApiClient(k8s.CoreV1Api);
    await api.createNamespacedConfigMap({
      namespace: ns.name,
      body: { metadata: { name: 'hello' }, data: { greeting: 'quarry' } },
    });
    const cm = await api.readNamespacedConfigMap({ name: 'hello', namespace: ns.name });
    assert.equal(cm.data?.greeting, 'quarry');
    assert.ok(cm.metadata?.uid, 'apiserver assigns a uid');
  });

  test('reports the stamped version and lists the default namespaces', async () => {
    const version = await kubeConfig().makeApiClient(k8s.VersionApi).getCode();
    assert.equal(version.gitVersion, `v${K8S_VERSION}`);
    const ns = await kubectl(['get', 'ns', '-o', 'name']);
    assert.equal(ns.code, 0, ns.stderr);
    for (const n of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) assert.match(ns.stdout, new RegExp(`namespace/${n}\\b`));
  });
});

describe('NATS JetStream (real nats-server)', () => {
  test('publishes to a stream and consumes with explicit ack', async () => {
    const nc = await connect({ servers: testEnv().natsUrl });
    const jsm = await jetstreamManager(nc);
    const stream = `FOUNDATION_${randomBytes(3).toString('hex')}`;
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
    // node:test runs `after` hooks in registration order: one hook keeps delete-before-close.
    after(async () => {
      await jsm.streams.delete(stream);
      await nc.close();
    });
    const js = jetstream(nc);
    const ack = await js.publish(`${stream}.jobs`, new TextEncoder().encode('job-1'));
    assert.equal(ack.stream, stream);
    await jsm.consumers.add(stream, { durable_name: 'workers', ack_policy: AckPolicy.Explicit });
    const consumer = await js.consumers.get(stream, 'workers');
    const msg = await consumer.next({ expires: 5000 });
    assert.ok(msg, 'a message is delivered');
    assert.equal(msg.string(), 'job-1');
    assert.ok(await msg.ackAck(), 'the server confirms the ack');
    const info = await jsm.consumers.info(stream, 'workers');
    assert.equal(info.num_ack_pending, 0);
  });
});

describe('MinIO (real S3 API)', () => {
  test('puts and gets an object in a bucket with @aws-sdk/client-s3', async () => {
    const { s3 } = testEnv();
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey },
    });
    after(() => client.destroy());
    const Bucket = `foundation-${randomBytes(3).toString('hex')}`;
    await client.send(new CreateBucketCommand({ Bucket }));
    await client.send(new PutObjectCommand({ Bucket, Key: 'a/b.txt', Body: 'hello quarry', ContentType: 'text/plain' }));
    const got = await client.send(new GetObjectCommand({ Bucket, Key: 'a/b.txt' }));
    assert.equal(await got.Body?.transformToString(), 'hello quarry');
    assert.equal(got.ContentType, 'text/plain');
    await client.send(new DeleteObjectCommand({ Bucket, Key: 'a/b.txt' }));
    await client.send(new DeleteBucketCommand({ Bucket }));
  });
});

describe('helm and kubectl (built from Go modules, version-stamped)', () => {
  test('helm version reports the stamped version', async () => {
    const res = await helm(['version', '--template', '{{.Version}}']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^v3\.\d+\.\d+$/);
    assert.notEqual(res.stdout, 'v3.22', 'an unstamped build reports only major.minor');
  });

  test('kubectl client matches the apiserver version', async () => {
    const res = await kubectl(['version', '--client', '-o', 'json']);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(JSON.parse(res.stdout).clientVersion.gitVersion, `v${K8S_VERSION}`);
  });
});
