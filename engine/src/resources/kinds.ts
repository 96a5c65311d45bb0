/** The Quarry kinds, in dependency order (namespaces → buckets → collections → retrievers → taxonomies; models are used by collections and retrievers but refer to nothing). */
import type { KindDefinition } from './common.ts';
import { bucket } from './kinds/bucket.ts';
import { collection } from './kinds/collection.ts';
import { model } from './kinds/model.ts';
import { quarryNamespace } from './kinds/quarry-namespace.ts';
import { retriever } from './kinds/retriever.ts';
import { taxonomy } from './kinds/taxonomy.ts';

export const KIND_DEFINITIONS: readonly KindDefinition[] = [quarryNamespace, bucket, collection, retriever, taxonomy, model];

export function kindDefinition(kind: string): KindDefinition | undefined {
  return KIND_DEFINITIONS.find((k) => k.kind === kind);
}
