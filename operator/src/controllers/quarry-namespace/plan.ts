/**
 * QuarryNamespace → the desired vector collection (pure planning, no I/O): one named vector per vector output of
 * every enabled feature extractor, the extractors' lexical fields, and the requested payload indexes.
 */
import { getExtractor } from '#engine/extractors/registry.ts';
import { QuarryError } from '#core/lib/errors.ts';
import { vectorCollectionName } from '#core/naming.ts';
import { mergeSpecs } from '#engine/vector/spec.ts';
import type { CollectionSpec, NamedVectorSpec, PayloadIndexType } from '#core/ports/vector-store.ts';
import type { Resource } from '#core/ports/resource-store.ts';

/** A type alias (not an interface) so it fits Resource's Record<string, unknown> spec. */
export type QuarryNamespaceSpec = {
  featureExtractors?: Array<{ name: string; version?: string; params?: Record<string, unknown> }>;
  payloadIndexes?: Array<{ field: string; type: string }>;
  vectorStore?: { shards?: number; replicationFactor?: number; onDisk?: boolean };
  deletionPolicy?: 'Delete' | 'Retain';
};

export type QuarryNamespace = Resource<QuarryNamespaceSpec>;

export interface VectorIndexStatus {
  name: string;
  featureUri: string;
  dimensions: number;
  distance: string;
}

export interface NamespacePlan {
  collection: CollectionSpec;
  vectorIndexes: VectorIndexStatus[];
}

/** A spec the reconciler cannot act on; retrying will not help (reported as Stalled). */
export class InvalidSpecError extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}

const INDEX_TYPES: Record<string, PayloadIndexType | undefined> = {
  keyword: 'keyword',
  uuid: 'keyword',
  integer: 'integer',
  float: 'float',
  bool: 'bool',
  datetime: 'datetime',
  text: 'text',
};

export function planNamespace(obj: QuarryNamespace): NamespacePlan {
  const spec = obj.spec ?? {};
  const vectors: NamedVectorSpec[] = [];
  const vectorIndexes: VectorIndexStatus[] = [];
  const lexical = new Set<string>();
  for (const fe of spec.featureExtractors ?? []) {
    const def = getExtractor(fe.name, fe.version ?? 'v1');
    if (!def) {
      throw new InvalidSpecError('UnknownExtractor', `spec.featureExtractors: no extractor ${fe.name}@${fe.version ?? 'v1'} is registered`);
    }
    for (const v of def.vectors(fe.params ?? {})) {
      vectors.push({ name: v.name, size: v.dimensions, distance: v.distance });
      vectorIndexes.push({ name: v.name, featureUri: v.featureUri, dimensions: v.dimensions, distance: v.distance });
    }
    for (const f of def.lexicalFields) lexical.add(f);
  }
  const payloadIndexes = (spec.payloadIndexes ?? []).map((p) => {
    const type = INDEX_TYPES[p.type];
    if (!type) throw new InvalidSpecError('UnsupportedIndexType', `spec.payloadIndexes: index type ${p.type} on ${p.field} is not supported by the vector store`);
    return { field: p.field, type };
  });
  const vs = spec.vectorStore ?? {};
  return {
    collection: {
      name: vectorCollectionName({ k8sNamespace: obj.metadata.namespace ?? '', name: obj.metadata.name }),
      vectors,
      lexicalFields: [...lexical].sort(),
      payloadIndexes,
      ...(vs.shards !== undefined ? { shards: vs.shards } : {}),
      ...(vs.replicationFactor !== undefined ? { replicationFactor: vs.replicationFactor } : {}),
      ...(vs.onDisk !== undefined ? { onDisk: vs.onDisk } : {}),
    },
    vectorIndexes,
  };
}

/**
 * What the observed collection lacks of the desired one: named vectors, lexical fields and payload indexes, as
 * `vector x`, `lexical field y`, `payload index z`. A definition that cannot change in place (a vector's size or
 * distance, a payload index's type) is an InvalidSpecError naming it.
 */
export function collectionDrift(desired: CollectionSpec, observed: CollectionSpec): string[] {
  let added;
  try {
    ({ added } = mergeSpecs(observed, desired));
  } catch (err) {
    if (err instanceof QuarryError) throw new InvalidSpecError('VectorSchemaConflict', `${err.message} (vector collection ${desired.name})`);
    throw err;
  }
  return [
    ...added.vectors.map((v) => `vector ${v.name}`),
    ...added.lexicalFields.map((f) => `lexical field ${f}`),
    ...added.payloadIndexes.map((p) => `payload index ${p.field} (${p.type})`),
  ];
}
