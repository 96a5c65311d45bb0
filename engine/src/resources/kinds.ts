/** The Quarry kinds, in dependency order (namespaces → buckets → collections → retrievers → taxonomies). */
import type { KindDefinition } from './common.ts';
import { bucket } from './kinds/bucket.ts';
import { collection } from './kinds/collection.ts';
import { quarryNamespace } from './kinds/quarry-namespace.ts';
import { retriever } from './kinds/retriever.ts';
import { taxonomy } from './kinds/taxonomy.ts';

export const KIND_DEFINITIONS: readonly KindDefinition[] = [quarryNamespace, bucket, collection, retriever, taxonomy];

export function kindDefinition(kind: string): KindDefinition | undefined {
  return KIND_DEFINITIONS.find((k) => k.kind === kind);
}
