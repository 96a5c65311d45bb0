/** display_config's field_config, results_layout and publish in Mixpeek-format manifests: converted, validated, exported back. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { convertMixpeekManifest, toMixpeekManifest } from '#engine/manifest/mixpeek.ts';
import { validateResource } from '#core/resources/validate.ts';

const manifest = {
  version: '1.0',
  metadata: { name: 'pub' },
  namespaces: [{ name: 'pubns', feature_extractors: [{ feature_extractor_name: 'text_extractor', version: 'v1' }] }],
  retrievers: [
    {
      name: 'products',
      namespace: 'pubns',
      input_schema: { query_text: { type: 'text' } },
      stages: [{ stage_name: 'lim', stage_id: 'limit', parameters: { limit: 5 } }],
      display_config: {
        title: 'Product Search',
        inputs: [{ field_name: 'query_text', label: 'Query', field_schema: { type: 'text', required: true }, suggestions: ['shoes'] }],
        exposed_fields: ['title', 'thumbnail_url', 'price'],
        layout: { results_layout: 'grid', columns: 3 },
        field_config: {
          thumbnail_url: { format: 'image', format_options: { width: 400, height: 300, aspect_ratio: '16/9' } },
          price: { format: 'number', format_options: { label: 'Price', decimals: 2, prefix: '$' } },
        },
      },
      publish: { public_name: 'product-search', rate_limit_config: { requests_per_minute: 30 } },
    },
  ],
};

test('the documented display_config example converts to a valid Retriever and exports back unchanged', () => {
  const out = convertMixpeekManifest(manifest);
  assert.deepEqual(out.errors, []);
  const ret = out.resources.find((r) => r.kind === 'Retriever')!;
  const spec = ret.spec as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.equal(spec.displayConfig.layout.resultsLayout, 'grid');
  assert.deepEqual(spec.displayConfig.fieldConfig.price, { format: 'number', formatOptions: { label: 'Price', decimals: 2, prefix: '$' } });
  assert.deepEqual(spec.displayConfig.inputs[0].suggestions, ['shoes']);
  assert.deepEqual(spec.publish, { slug: 'product-search', rateLimitPerMinute: 30 });
  const v = validateResource(ret);
  assert.ok(v.valid, JSON.stringify(v.errors));
  const back = convertMixpeekManifest(toMixpeekManifest(out.resources, { name: 'pub' })).resources.find((r) => r.kind === 'Retriever')!.spec as Record<string, unknown>;
  assert.deepEqual(back.displayConfig, spec.displayConfig);
  assert.deepEqual(back.publish, spec.publish);
});

test('validation names the display_config field at fault', () => {
  const bad = structuredClone(manifest);
  (bad.retrievers[0]!.display_config.field_config as Record<string, unknown>).price = { format: 'currency' };
  const ret = convertMixpeekManifest(bad).resources.find((r) => r.kind === 'Retriever')!;
  const v = validateResource(ret);
  assert.equal(v.valid, false);
  assert.ok(v.errors.some((e) => e.field.startsWith('spec.displayConfig.fieldConfig.price.format')), JSON.stringify(v.errors));
  const unexposed = structuredClone(manifest);
  unexposed.retrievers[0]!.display_config.exposed_fields = ['title'];
  const v2 = validateResource(convertMixpeekManifest(unexposed).resources.find((r) => r.kind === 'Retriever')!);
  assert.ok(v2.errors.some((e) => e.field === 'spec.displayConfig.fieldConfig'), JSON.stringify(v2.errors));
});
