import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chunkText } from '#engine/extractors/chunking.ts';
import { featureUri, parseFeatureUri, sameFeature } from '#engine/extractors/feature-uri.ts';
import { getExtractor, listExtractors } from '#engine/extractors/registry.ts';

describe('chunkText', () => {
  test('none keeps the whole (trimmed) text as one chunk', () => {
    assert.deepEqual(chunkText('  hello world \n'), [{ index: 0, text: 'hello world', start: 2, end: 13 }]);
  });

  test('words with overlap: consecutive chunks share chunk_overlap words and cover every word', () => {
    const text = 'one two three four five six seven';
    const chunks = chunkText(text, { splitBy: 'words', chunkSize: 3, chunkOverlap: 1 });
    assert.deepEqual(chunks.map((c) => c.text), ['one two three', 'three four five', 'five six seven']);
    for (const c of chunks) assert.equal(text.slice(c.start, c.end), c.text);
  });

  test('sentences use ICU sentence boundaries', () => {
    const chunks = chunkText('Smith went home at 5.30 pm. It rained! Did it stop? Yes.', { splitBy: 'sentences', chunkSize: 2 });
    assert.deepEqual(chunks.map((c) => c.text), ['Smith went home at 5.30 pm. It rained!', 'Did it stop? Yes.']);
  });

  test('paragraphs split on blank lines and drop empty ones', () => {
    const chunks = chunkText('first para\nstill first\n\n\n  second \n\nthird', { splitBy: 'paragraphs', chunkSize: 1 });
    assert.deepEqual(chunks.map((c) => c.text), ['first para\nstill first', 'second', 'third']);
  });

  test('characters chunk by length', () => {
    assert.deepEqual(chunkText('abcdefg', { splitBy: 'characters', chunkSize: 3 }).map((c) => c.text), ['abc', 'def', 'g']);
  });

  test('empty text gives no chunks; bad sizes name the parameter', () => {
    assert.deepEqual(chunkText('   \n '), []);
    assert.throws(() => chunkText('x', { splitBy: 'words', chunkSize: 0 }), /chunk_size/);
    assert.throws(() => chunkText('x', { splitBy: 'words', chunkSize: 2, chunkOverlap: 2 }), /chunk_overlap/);
  });
});

describe('feature URIs', () => {
  test('parse both schemes and compare by feature', () => {
    assert.deepEqual(parseFeatureUri('quarry://text_extractor@v1/all_minilm_l6_v2'), {
      scheme: 'quarry', extractor: 'text_extractor', version: 'v1', output: 'all_minilm_l6_v2',
    });
    assert.ok(sameFeature('mixpeek://text_extractor@v1/m', featureUri('text_extractor', 'v1', 'm')));
    assert.ok(!sameFeature('quarry://text_extractor@v1/a', 'quarry://text_extractor@v1/b'));
  });

  test('reject malformed URIs with the expected form in the message', () => {
    for (const bad of ['http://x@v1/y', 'quarry://Text@v1/y', 'quarry://text_extractor/y', 'text_extractor@v1']) {
      assert.throws(() => parseFeatureUri(bad), /expected quarry:\/\/<extractor>@<version>\/<output>/);
    }
  });
});

describe('extractor registry', () => {
  test('built-ins expose parameter schemas, outputs and vector indexes before any document exists', () => {
    const ids = listExtractors().map((e) => e.id).sort();
    assert.deepEqual(ids, ['audio_extractor@v1', 'document_extractor@v1', 'image_extractor@v1', 'passthrough_extractor@v1', 'text_extractor@v1', 'video_extractor@v1']);
    const text = getExtractor('text_extractor', 'v1')!;
    const [vec] = text.vectors({});
    assert.equal(vec!.name, 'text_extractor_v1_embedding');
    assert.match(vec!.featureUri, /^quarry:\/\/text_extractor@v1\//);
    assert.ok(vec!.dimensions > 0);
    assert.deepEqual(text.lexicalFields, ['text']);
    assert.equal(getExtractor('passthrough_extractor@v1')!.vectors({}).length, 0);
    assert.equal(getExtractor('nope', 'v1'), undefined);
  });

  test('video_extractor: a keyframe vector only with an image–text model, named after it; the model is checked like the image extractor\'s', async () => {
    const video = getExtractor('video_extractor@v1')!;
    assert.deepEqual(video.vectors({}).map((v) => v.name), ['video_extractor_v1_text_embedding']);
    const [, keyframe] = video.vectors({ model: 'team-clip', dimensions: 3 });
    assert.deepEqual([keyframe!.name, keyframe!.featureUri, keyframe!.dimensions, keyframe!.purpose], ['video_extractor_v1_keyframe_embedding_team_clip', 'quarry://video_extractor@v1/team-clip', 3, 'image']);
    const { customModelsOf } = await import('#operator/controllers/collection/custom-models.ts');
    const c = { metadata: { name: 'c', namespace: 'ns' }, spec: { namespaceRef: 'n', source: { bucketRefs: ['b'] }, featureExtractor: { name: 'video_extractor', version: 'v1', params: { model: 'team-clip', dimensions: 3 } } } };
    assert.deepEqual(customModelsOf(c as never), [{ name: 'team-clip', dimensions: 3, type: 'image-text' }]);
    const props = (video.parameterSchema as { properties: Record<string, { default?: unknown }> }).properties;
    assert.equal(props.model!.default, undefined, 'no default model: keyframes are embedded only when asked');
    assert.deepEqual(Object.keys(props).filter((k) => ['split_method', 'scene_detection_threshold', 'max_segment_duration', 'job_length_seconds'].includes(k)).length, 4);
  });
});
