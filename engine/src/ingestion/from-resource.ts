/** Maps a Collection custom resource to what the ingestion path needs (one place for the CR → plan translation). */
import type { Collection } from '../resources/generated/types.ts';
import type { FilterNode } from '../ports/filter.ts';
import type { CollectionPlan } from './collections.ts';

export function collectionPlan(c: Collection): CollectionPlan {
  const { source, featureExtractor: fe } = c.spec;
  return {
    name: c.metadata.name!,
    source: source.collectionRefs?.length ? { type: 'collection', collections: source.collectionRefs } : { type: 'bucket', buckets: source.bucketRefs ?? [] },
    ...(source.filters ? { sourceFilters: source.filters as FilterNode } : {}),
    extractor: {
      id: `${fe.name}@${fe.version ?? 'v1'}`,
      // Index-affecting `params` and per-run `parameters` are one parameter set to the extractor.
      params: { ...(fe.params ?? {}), ...(fe.parameters ?? {}) },
      ...(fe.inputMappings ? { inputMappings: fe.inputMappings } : {}),
      ...(fe.fieldPassthrough
        ? {
            fieldPassthrough: fe.fieldPassthrough.map((f) => ({
              source_path: f.sourcePath,
              ...(f.targetPath ? { target_path: f.targetPath } : {}),
              ...(f.default !== undefined ? { default: f.default } : {}),
              ...(f.required !== undefined ? { required: f.required } : {}),
            })),
          }
        : {}),
      ...(fe.includeAllSourceFields !== undefined ? { includeAllSourceFields: fe.includeAllSourceFields } : {}),
    },
    enabled: c.spec.enabled !== false,
  };
}
