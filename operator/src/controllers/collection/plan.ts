/**
 * Collection → what it publishes before any document exists (pure, no I/O): the output schema (passthrough fields
 * typed from the source Bucket's schema or the upstream Collections' output schema, plus the extractor's output
 * fields) and the vector indexes (feature URIs) from the extractor registry; and the checks against its
 * QuarryNamespace the validator cannot make alone (index-affecting params must match the namespace's entry).
 */
import { isDeepStrictEqual } from 'node:util';
import { getExtractor } from '#engine/extractors/registry.ts';
import type { Resource } from '#core/ports/resource-store.ts';
import type { CollectionSpec as GeneratedCollectionSpec, CollectionStatus } from '#core/resources/generated/types.ts';
import type { QuarryNamespace } from '../quarry-namespace/plan.ts';
import type { Bucket } from '#engine/objects/bucket-plan.ts';

export type CollectionSpec = { [K in keyof GeneratedCollectionSpec]: GeneratedCollectionSpec[K] };
export type Collection = Resource<CollectionSpec, CollectionStatus & Record<string, unknown>> & { spec: CollectionSpec };

export type OutputSchema = NonNullable<CollectionStatus['outputSchema']>;
export type VectorIndexes = NonNullable<CollectionStatus['vectorIndexes']>;

export const extractorId = (c: Collection): string => `${c.spec.featureExtractor.name}@${c.spec.featureExtractor.version ?? 'v1'}`;

/** `name@version` of every extractor the namespace enables. */
export function namespaceExtractors(ns: QuarryNamespace): string[] {
  return (ns.spec?.featureExtractors ?? []).map((f) => `${f.name}@${f.version ?? 'v1'}`);
}

/** Index-affecting params that differ from the namespace's entry of the extractor (the vectors would not match). */
export function paramsMismatch(c: Collection, ns: QuarryNamespace): string | undefined {
  const fe = c.spec.featureExtractor;
  if (!fe.params) return undefined;
  const entry = (ns.spec?.featureExtractors ?? []).find((f) => f.name === fe.name && (f.version ?? 'v1') === (fe.version ?? 'v1'));
  if (!entry || isDeepStrictEqual(entry.params ?? {}, fe.params)) return undefined;
  return `spec.featureExtractor.params ${JSON.stringify(fe.params)} differ from QuarryNamespace ${ns.metadata.name}'s ${fe.name} params ${JSON.stringify(entry.params ?? {})}: the namespace's vectors are built with its params; make them equal or remove params`;
}

const lastSegment = (p: string) => p.split('.').at(-1) ?? p;

/** Passthrough fields (typed from the sources where known) + the extractor's output fields. */
export function outputSchema(c: Collection, sources: { buckets: readonly Bucket[]; collections: readonly Collection[] }): OutputSchema {
  const fe = c.spec.featureExtractor;
  const out: OutputSchema = {};
  const sourceType = (path: string): string | undefined => {
    const root = path.split('.')[0]!;
    for (const b of sources.buckets) {
      const t = b.spec?.schema?.properties?.[root]?.type;
      if (t) return path === root ? t : undefined;
    }
    for (const u of sources.collections) {
      const t = u.status?.outputSchema?.[path]?.type;
      if (t) return t;
    }
    return undefined;
  };
  const names = [...(c.spec.source.bucketRefs ?? []), ...(c.spec.source.collectionRefs ?? [])].join(', ');
  for (const f of fe.fieldPassthrough ?? []) {
    const type = sourceType(f.sourcePath);
    out[f.targetPath ?? lastSegment(f.sourcePath)] = {
      ...(type ? { type } : {}),
      description: `Copied from ${f.sourcePath} of ${names}${f.required ? ' (required)' : ''}.`,
    };
  }
  const def = getExtractor(fe.name, fe.version ?? 'v1');
  if (def) {
    for (const [name, field] of Object.entries(def.outputFields({ ...(fe.params ?? {}), ...(fe.parameters ?? {}) }))) {
      out[name] = { type: field.type, description: field.description };
    }
  }
  return out;
}

export function vectorIndexes(c: Collection): VectorIndexes {
  const fe = c.spec.featureExtractor;
  const def = getExtractor(fe.name, fe.version ?? 'v1');
  if (!def) return [];
  return def.vectors(fe.params ?? {}).map((v) => ({
    name: v.name,
    featureUri: v.featureUri,
    dimensions: v.dimensions,
    distance: v.distance,
    type: 'dense',
    purpose: v.purpose,
  }));
}

/** The models the collection's extractor runs (the models of its vector outputs), by their manifest names. */
export function requiredModels(c: Collection): string[] {
  const fe = c.spec.featureExtractor;
  const def = getExtractor(fe.name, fe.version ?? 'v1');
  return def ? [...new Set(def.vectors(fe.params ?? {}).map((v) => v.model))] : [];
}
