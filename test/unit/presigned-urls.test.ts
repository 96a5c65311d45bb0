/** presignDocuments: which fields are presigned, what is left as stored, one signature per distinct URL. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseS3Url, presignDocuments, type Presigner } from '#engine/retriever/presigned-urls.ts';

test('top-level *_url fields are replaced, document_blobs gain presigned_url, foreign and non-s3 URLs stay', async () => {
  const calls: string[] = [];
  const presign: Presigner = async (url, ns) => {
    calls.push(url);
    assert.equal(ns, 'team');
    return url.startsWith('s3://mine/') ? `https://signed.example/${url.slice(5)}?sig=1` : undefined;
  };
  const docs = [
    {
      document_id: 'd1',
      thumbnail_url: 's3://mine/a.jpg',
      source_url: 'https://example.com/page',
      note: 's3://mine/not-a-url-field',
      document_blobs: [{ field: 'image', role: 'source', url: 's3://mine/a.jpg' }, { field: 'x', url: 's3://theirs/b.jpg' }, 'junk'],
    },
    { document_id: 'd2', thumbnail_url: 's3://theirs/b.jpg' },
  ];
  const out = await presignDocuments(docs, presign, 'team');
  assert.equal(out[0]!.thumbnail_url, 'https://signed.example/mine/a.jpg?sig=1');
  assert.equal(out[0]!.source_url, 'https://example.com/page');
  assert.equal(out[0]!.note, 's3://mine/not-a-url-field', 'only *_url fields');
  assert.deepEqual(out[0]!.document_blobs, [
    { field: 'image', role: 'source', url: 's3://mine/a.jpg', presigned_url: 'https://signed.example/mine/a.jpg?sig=1' },
    { field: 'x', url: 's3://theirs/b.jpg' },
    'junk',
  ]);
  assert.equal(out[1]!.thumbnail_url, 's3://theirs/b.jpg');
  assert.deepEqual(calls.sort(), ['s3://mine/a.jpg', 's3://theirs/b.jpg'], 'one call per distinct URL');
  assert.equal(docs[0]!.thumbnail_url, 's3://mine/a.jpg', 'the input documents are not modified');
});

test('parseS3Url', () => {
  assert.deepEqual(parseS3Url('s3://b/k/with/parts.jpg'), { bucket: 'b', key: 'k/with/parts.jpg' });
  assert.equal(parseS3Url('s3://b/'), undefined);
  assert.equal(parseS3Url('https://b/k'), undefined);
});

test('a media fragment (#t=start,end) stays on the presigned URL and is not signed as part of the key', async () => {
  const calls: string[] = [];
  const presign: Presigner = async (url) => {
    calls.push(url);
    return `https://signed.example/${url.slice(5)}?sig=1`;
  };
  const out = await presignDocuments([{ document_id: 'd', media_url: 's3://mine/talk.m4a#t=36,46', thumbnail_url: 's3://mine/t.jpg' }], presign, 'team');
  assert.equal(out[0]!.media_url, 'https://signed.example/mine/talk.m4a?sig=1#t=36,46');
  assert.deepEqual(calls.sort(), ['s3://mine/t.jpg', 's3://mine/talk.m4a']);
});
