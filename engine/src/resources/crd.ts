/**
 * Builds the CustomResourceDefinition object of a kind, and the JSON schema of a whole object that the ajv
 * validators compile, both from the one schema source (kinds/*.ts). Pure functions: the generator and the drift
 * test call them.
 */
import { API_VERSION, CATEGORY, GROUP, VERSION, type KindDefinition } from './common.ts';
import type { Schema } from './schema-builder.ts';

/** Kubernetes allows nothing but `type: object` here (the apiserver owns the metadata schema). */
const METADATA: Schema = { type: 'object' };

export function objectSchema(k: KindDefinition): Schema {
  return {
    description: k.description,
    type: 'object',
    required: ['spec'],
    properties: {
      apiVersion: { description: 'APIVersion of this object: quarry.dev/v1alpha1.', type: 'string' },
      kind: { description: `Kind of this object: ${k.kind}.`, type: 'string' },
      metadata: METADATA,
      spec: k.spec,
      status: k.status,
    },
  };
}

export function buildCrd(k: KindDefinition): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${k.plural}.${GROUP}`,
      labels: { 'app.kubernetes.io/part-of': 'quarry' },
    },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: { kind: k.kind, listKind: `${k.kind}List`, plural: k.plural, singular: k.singular, shortNames: k.shortNames, categories: [CATEGORY] },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: k.printerColumns,
          schema: { openAPIV3Schema: objectSchema(k) },
        },
      ],
    },
  };
}

/** Schema keywords that only Kubernetes understands; ajv skips them. */
export const KUBERNETES_KEYWORDS = [
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-validations',
  'x-kubernetes-int-or-string',
  'x-kubernetes-embedded-resource',
];

/**
 * The ajv form of a kind's object schema: like the apiserver with strict field validation (kubectl's default),
 * unknown fields are errors, except in nodes kept free-form. apiVersion and kind are pinned. date-time formats are
 * checked by pattern so the standalone code needs no format runtime.
 */
export function ajvSchema(k: KindDefinition): Record<string, unknown> {
  const base = objectSchema(k);
  const strict = toAjv(base) as Record<string, unknown>;
  const props = strict.properties as Record<string, unknown>;
  props.apiVersion = { type: 'string', const: API_VERSION };
  props.kind = { type: 'string', const: k.kind };
  props.metadata = {
    type: 'object',
    required: ['name'],
    properties: {
      name: { type: 'string', maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' },
      namespace: { type: 'string', maxLength: 63 },
    },
  };
  strict.required = ['apiVersion', 'kind', 'metadata', 'spec'];
  strict.$id = `${GROUP}/${VERSION}/${k.kind}`;
  return strict;
}

const DATE_TIME = '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$';

function toAjv(s: Schema): unknown {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(s)) {
    if (key === 'x-kubernetes-validations' || key === 'description') continue;
    if (key === 'properties') {
      out.properties = Object.fromEntries(Object.entries(value as Record<string, Schema>).map(([n, v]) => [n, toAjv(v)]));
    } else if (key === 'items' || key === 'additionalProperties') {
      out[key] = toAjv(value as Schema);
    } else if (key === 'format') {
      if (value === 'date-time') out.pattern = DATE_TIME;
    } else {
      out[key] = value;
    }
  }
  if (s.type === 'object' && s.properties && !s['x-kubernetes-preserve-unknown-fields'] && !s.additionalProperties) {
    out.additionalProperties = false;
  }
  return out;
}
