/** Schema pieces shared by every Quarry kind: references, deletion policy, filters, conditions and status. */
import { arr, enumOf, freeObject, immutable, int64, named, obj, rule, str, type CelRule, type Schema } from './schema-builder.ts';

export const GROUP = 'quarry.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const CATEGORY = 'quarry';

/** An RFC 1123 label: the shape of every Kubernetes object name we refer to. */
export const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
/** A dot path into a document or object payload, e.g. `metadata.author` or `_internal.document_id`. */
export const FIELD_PATH = '^[A-Za-z_][A-Za-z0-9_-]*(\\.[A-Za-z0-9_-]+)*$';
/** A snake_case identifier (stage names, input names, extractor names). */
export const IDENT = '^[a-z][a-z0-9_]*$';

/** Keys of maps whose keys become template variables or payload fields: identifiers. */
export const KEY_NAME = '^[A-Za-z_][A-Za-z0-9_]*$';

/** CEL rule: every key of the map at `field` is an identifier. */
export function identifierKeys(field: string, example: string): CelRule {
  return rule(`self.all(k, k.matches('${KEY_NAME}'))`, `${field}: names must be identifiers (letters, digits, underscores, not starting with a digit), e.g. ${example}`);
}

/** Human wording of the patterns we use, for error messages ("must be ..."). */
export const PATTERN_HINTS: Readonly<Record<string, string>> = {
  [DNS_LABEL]: 'a Kubernetes object name: lower-case letters, digits and "-", starting and ending with a letter or digit, e.g. product-search',
  [FIELD_PATH]: 'a dot path of field names, e.g. metadata.category',
  [IDENT]: 'a snake_case identifier, e.g. product_search',
  [KEY_NAME]: 'an identifier (letters, digits, underscores, not starting with a digit), e.g. product_image',
  '^v[0-9]+$': 'a version such as v1',
};

/** A reference by name to another object of `kind` in the same Kubernetes namespace. */
export function ref(kind: string, what: string): Schema {
  return str(`Name of the ${kind} ${what}, in the same Kubernetes namespace.`, { maxLength: 63, minLength: 1, pattern: DNS_LABEL });
}

export function refList(kind: string, what: string, maxItems: number, minItems?: number): Schema {
  return arr(`Names of the ${kind}s ${what}, in the same Kubernetes namespace.`, str(`Name of a ${kind}.`, { maxLength: 63, minLength: 1, pattern: DNS_LABEL }), {
    maxItems,
    ...(minItems !== undefined ? { minItems } : {}),
    listType: 'set',
  });
}

/** The QuarryNamespace a resource lives in; moving a resource to another QuarryNamespace would orphan its data. */
export function namespaceRef(kind: string): Schema {
  return {
    ...ref('QuarryNamespace', `this ${kind} belongs to (the tenant boundary and its vector collection)`),
    'x-kubernetes-validations': [
      immutable('spec.namespaceRef', `a ${kind} cannot move to another QuarryNamespace; create a new ${kind} in the target namespace instead`),
    ],
  };
}

export const DELETION_POLICIES = ['Delete', 'Retain'] as const;
export function deletionPolicy(what: string): Schema {
  return enumOf(
    `What happens to ${what} when this resource is deleted: Delete removes that data, Retain keeps it (the data outlives the resource).`,
    DELETION_POLICIES,
    { default: 'Delete' },
  );
}

export const description = (kind: string): Schema => str(`Free-text description of this ${kind}.`, { maxLength: 2048 });

/**
 * A filter in the documented language (reference §5): nested `AND` / `OR` / `NOT` lists of
 * `{field, operator, value}` conditions, or the `{"<field>": value}` equality shorthand. Recursive, so not
 * expressible as a structural schema: kept as written and checked by validate.ts (`checkFilter`).
 */
export function filter(what: string): Schema {
  return freeObject(
    `Filter ${what}: {AND|OR|NOT: [conditions]} with conditions {field, operator (eq, ne, gt, gte, lt, lte, in, nin, contains, starts_with, ends_with, regex, exists, is_null, text; default eq), value}. Values may be templates such as "{{INPUT.max_price}}".`,
  );
}

export const CONDITION_TYPES = ['Ready', 'Reconciling', 'Stalled'] as const;

/** metav1.Condition, as the apimachinery types declare it. */
export const condition: Schema = named('Condition', obj(
  'One aspect of the resource state (metav1.Condition). Ready summarises; Reconciling=True while work is in progress; Stalled=True on an error only a spec change can fix.',
  {
    type: str('Condition type: Ready, Reconciling or Stalled.', { maxLength: 316, pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$' }),
    status: enumOf('Status of the condition: True, False or Unknown.', ['True', 'False', 'Unknown']),
    observedGeneration: int64('metadata.generation the condition was computed from.', { minimum: 0 }),
    lastTransitionTime: { description: 'When the status last changed.', type: 'string', format: 'date-time' },
    reason: str('Machine-readable CamelCase reason for the last transition.', { maxLength: 1024, minLength: 1, pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$' }),
    message: str('Human-readable details, naming the field and the fix for errors.', { maxLength: 32768 }),
  },
  { required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'] },
));

/** The status every kind has: observedGeneration + conditions, plus the kind's own fields. */
export function status(kind: string, fields: Record<string, Schema>): Schema {
  return obj(`Observed state of the ${kind}, written by the operator (status subresource).`, {
    observedGeneration: int64('The metadata.generation the operator last reconciled.', { minimum: 0 }),
    conditions: arr('Current conditions (Ready, Reconciling, Stalled), one per type.', condition, { maxItems: 8, listType: 'map', mapKeys: ['type'] }),
    ...fields,
  });
}

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description: string;
  priority?: number;
}

export function standardColumns(domain: PrinterColumn[]): PrinterColumn[] {
  return [
    { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status', description: 'Status of the Ready condition.' },
    { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason', description: 'Reason of the Ready condition.' },
    ...domain,
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since creation.' },
  ];
}

/** Everything the generator needs to emit one CRD and its types and validator. */
export interface KindDefinition {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  /** One line for the CRD and the generated type. */
  description: string;
  spec: Schema;
  status: Schema;
  printerColumns: PrinterColumn[];
}
