/** Taxonomy: a retriever-powered similarity join that labels documents against reference collections. */
import { FIELD_PATH, IDENT, description, namespaceRef, ref, standardColumns, status, type KindDefinition } from '../common.ts';
import { anyValue, arr, enumOf, int, int64, named, num, obj, rule, str } from '../schema-builder.ts';

const inputMapping = named('TaxonomyInputMapping', obj(
  "Builds one retriever input from each document being labelled.",
  {
    inputKey: str("Name of the retriever input (in the Retriever's spec.inputSchema).", { maxLength: 63, minLength: 1, pattern: IDENT }),
    sourceType: enumOf('payload: a document field; vector: a stored vector; literal: a fixed value.', ['payload', 'literal', 'vector'], { default: 'payload' }),
    path: str('Dot path of the document field or vector name (payload and vector).', { maxLength: 255, pattern: FIELD_PATH }),
    override: anyValue('The fixed value (literal).'),
  },
  {
    required: ['inputKey'],
    rules: [
      rule("self.sourceType == 'literal' || has(self.path)", 'path is required when sourceType is payload or vector: name the document field or vector', { fieldPath: '.path', reason: 'FieldValueRequired' }),
    ],
  },
));

const enrichmentField = named('EnrichmentField', obj(
  'A field copied from the matched reference document into the labelled document.',
  {
    fieldPath: str('Dot path in the reference document.', { maxLength: 255, minLength: 1, pattern: FIELD_PATH }),
    targetField: str('Dot path written in the labelled document (default: fieldPath).', { maxLength: 255, pattern: FIELD_PATH }),
    mergeMode: enumOf('replace overwrites; append adds to an array.', ['replace', 'append'], { default: 'replace' }),
  },
  { required: ['fieldPath'] },
));

const inputMappings = arr('Retriever inputs built from each document.', inputMapping, { maxItems: 16, listType: 'map', mapKeys: ['inputKey'] });
const enrichmentFields = arr('Fields copied on a match (omit to copy the whole reference payload).', enrichmentField, { maxItems: 32 });

const node = named('TaxonomyNode', obj(
  'A node of a hierarchical taxonomy: a reference collection, tested when its parent matched.',
  {
    collectionRef: ref('Collection', 'holding the reference documents of this node'),
    parentCollectionRef: ref('Collection', 'of the parent node (omit for a root node)'),
    label: str('Human label of the node.', { maxLength: 200 }),
    summary: str('What the node covers.', { maxLength: 2048 }),
    keywords: arr('Keywords of the node.', str('A keyword.', { maxLength: 100 }), { maxItems: 32 }),
    retrieverRef: ref('Retriever', 'used for this node (default: spec.retrieverRef)'),
    inputMappings,
    enrichmentFields,
  },
  { required: ['collectionRef'], rules: [rule('!has(self.parentCollectionRef) || self.parentCollectionRef != self.collectionRef', 'a node cannot be its own parent: fix parentCollectionRef', { fieldPath: '.parentCollectionRef' })] },
));

export const taxonomy: KindDefinition = {
  kind: 'Taxonomy',
  plural: 'taxonomies',
  singular: 'taxonomy',
  shortNames: ['qtax'],
  description: 'Taxonomy labels documents by joining them, through a Retriever, against reference Collections: flat (one reference collection) or hierarchical (a tree of collections).',
  spec: obj(
    'Desired state of the Taxonomy.',
    {
      namespaceRef: namespaceRef('Taxonomy'),
      description: description('taxonomy'),
      type: enumOf('flat: one reference collection; hierarchical: a tree of reference collections tested top-down.', ['flat', 'hierarchical'], { default: 'flat' }),
      retrieverRef: ref('Retriever', 'matching documents against the reference collection (required for flat; the default for hierarchical nodes)'),
      inputMappings,
      sourceCollection: obj(
        'The reference collection of a flat taxonomy.',
        { collectionRef: ref('Collection', 'holding the reference documents (labels)'), enrichmentFields },
        { required: ['collectionRef'] },
      ),
      nodes: arr('Nodes of a hierarchical taxonomy (at least one root).', node, { maxItems: 64, listType: 'map', mapKeys: ['collectionRef'] }),
      topK: int('Matches kept per document.', { minimum: 1, maximum: 50, default: 1 }),
      minScore: num('Minimum match score (0-1) for a label to apply.', { minimum: 0, maximum: 1, default: 0 }),
    },
    {
      required: ['namespaceRef'],
      rules: [
        rule("self.type != 'flat' || has(self.retrieverRef)", 'spec.retrieverRef is required for a flat taxonomy: name the Retriever that matches documents', { fieldPath: '.retrieverRef', reason: 'FieldValueRequired' }),
        rule("self.type != 'flat' || has(self.sourceCollection)", 'spec.sourceCollection is required for a flat taxonomy: name the reference Collection', { fieldPath: '.sourceCollection', reason: 'FieldValueRequired' }),
        rule("self.type != 'flat' || (has(self.inputMappings) && size(self.inputMappings) > 0)", 'spec.inputMappings is required for a flat taxonomy: map at least one retriever input', { fieldPath: '.inputMappings', reason: 'FieldValueRequired' }),
        rule("self.type != 'flat' || !has(self.nodes)", 'spec.nodes is only for hierarchical taxonomies: set type: hierarchical or remove nodes', { fieldPath: '.nodes', reason: 'FieldValueForbidden' }),
        rule("self.type != 'hierarchical' || (has(self.nodes) && self.nodes.exists(n, !has(n.parentCollectionRef)))", 'spec.nodes of a hierarchical taxonomy must contain at least one root node (a node without parentCollectionRef)', { fieldPath: '.nodes' }),
        rule("self.type != 'hierarchical' || !has(self.nodes) || self.nodes.all(n, !has(n.parentCollectionRef) || self.nodes.exists(m, m.collectionRef == n.parentCollectionRef))", 'spec.nodes[].parentCollectionRef must name the collectionRef of another node: add the parent node or fix the name', { fieldPath: '.nodes' }),
        rule("self.type != 'hierarchical' || has(self.retrieverRef) || !has(self.nodes) || self.nodes.all(n, has(n.retrieverRef))", 'a hierarchical taxonomy needs spec.retrieverRef or a retrieverRef on every node', { fieldPath: '.retrieverRef', reason: 'FieldValueRequired' }),
      ],
    },
  ),
  status: status('Taxonomy', {
    version: int64('Incremented on every spec change.', { minimum: 0 }),
    nodeCount: int('Nodes (1 for a flat taxonomy).', { minimum: 0 }),
  }),
  printerColumns: standardColumns([
    { name: 'Type', type: 'string', jsonPath: '.spec.type', description: 'flat or hierarchical.' },
  ]),
};
