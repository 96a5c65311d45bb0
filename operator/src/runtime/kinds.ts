/** The API resources the operator works with: kind → group/version/plural (the URL parts client-node needs). */
export interface KindInfo {
  kind: string;
  group: string;
  version: string;
  plural: string;
  namespaced: boolean;
}

export const apiVersionOf = (k: KindInfo): string => (k.group ? `${k.group}/${k.version}` : k.version);

export const QUARRY_GROUP = 'quarry.dev';
export const QUARRY_VERSION = 'v1alpha1';

const quarry = (kind: string, plural: string): KindInfo => ({
  kind,
  group: QUARRY_GROUP,
  version: QUARRY_VERSION,
  plural,
  namespaced: true,
});

export const QUARRY_KINDS: readonly KindInfo[] = [
  quarry('QuarryNamespace', 'quarrynamespaces'),
  quarry('Bucket', 'buckets'),
  quarry('Collection', 'collections'),
  quarry('Retriever', 'retrievers'),
  quarry('Taxonomy', 'taxonomies'),
  quarry('Model', 'models'),
];

/** Secrets referenced by Quarry objects (S3 credentials): read with get only (the chart grants nothing else). */
export const SECRET_KIND: KindInfo = { kind: 'Secret', group: '', version: 'v1', plural: 'secrets', namespaced: true };

/** The finalizer every Quarry controller puts on the objects it provisions external state for. */
export const QUARRY_FINALIZER = 'quarry.dev/finalizer';
export const PAUSED_ANNOTATION = 'quarry.dev/paused';
export const FIELD_MANAGER = 'quarry-operator';
