/**
 * How a collection maps onto one LanceDB table:
 * - `id` (Utf8) and `payload` (the free-form JSON payload, as a string);
 * - one FixedSizeList<Float32> column per named dense vector (nullable: a point may lack a vector);
 * - one Utf8 column per lexical field, with a full-text (BM25) index;
 * - promoted columns for each declared payload index, so those conditions run inside LanceDB as SQL:
 *   `<col>` holds every value of the field (a list: Qdrant fields may be multi-valued), and numeric/datetime
 *   indexes also get `<col>__lo` / `<col>__hi` (min/max), which makes "any value > x" the SQL `hi > x`.
 * Column names are lower-case ASCII (DataFusion folds unquoted identifiers), with a hash suffix when the
 * field name had to be changed.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as Arrow from 'apache-arrow';
import type { Field as ArrowField, Schema as ArrowSchema } from 'apache-arrow';
import type { CollectionSpec, PayloadIndexType } from '../../ports/vector-store.ts';
import { fieldValues } from '../filter-compile.ts';
import { parseDatetime } from '../datetime.ts';

// LanceDB checks `instanceof Field/Schema` against the CommonJS build of apache-arrow; importing the ESM build
// would give different classes, so take the same CommonJS module LanceDB loads.
export const arrow = createRequire(import.meta.url)('apache-arrow') as typeof Arrow;

function sanitize(prefix: string, name: string): string {
  const clean = name.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const suffix = clean === name ? '' : `_${createHash('sha1').update(name).digest('hex').slice(0, 6)}`;
  return `${prefix}${clean}${suffix}`;
}

export const vectorColumn = (name: string) => sanitize('v__', name);
export const textColumn = (field: string) => sanitize('t__', field);
export const payloadColumn = (field: string) => sanitize('p__', field);
export const loColumn = (field: string) => `${payloadColumn(field)}__lo`;
export const hiColumn = (field: string) => `${payloadColumn(field)}__hi`;

export const hasRange = (t: PayloadIndexType) => t === 'integer' || t === 'float' || t === 'datetime';

function listOf(type: InstanceType<typeof arrow.DataType>): ArrowField {
  return new arrow.Field('item', type, true);
}

function indexFields(field: string, type: PayloadIndexType): ArrowField[] {
  const { Field, List, Utf8, Float64, Bool } = arrow;
  switch (type) {
    case 'keyword':
    case 'text':
      return [new Field(payloadColumn(field), new List(listOf(new Utf8())), true)];
    case 'bool':
      return [new Field(payloadColumn(field), new List(listOf(new Bool())), true)];
    case 'integer':
    case 'float':
    case 'datetime':
      return [
        new Field(payloadColumn(field), new List(listOf(new Float64())), true),
        new Field(loColumn(field), new Float64(), true),
        new Field(hiColumn(field), new Float64(), true),
      ];
  }
}

export function vectorField(name: string, size: number): ArrowField {
  return new arrow.Field(vectorColumn(name), new arrow.FixedSizeList(size, listOf(new arrow.Float32())), true);
}

export function textField(field: string): ArrowField {
  return new arrow.Field(textColumn(field), new arrow.Utf8(), true);
}

export function payloadIndexFields(field: string, type: PayloadIndexType): ArrowField[] {
  return indexFields(field, type);
}

export function tableSchema(spec: CollectionSpec): ArrowSchema {
  const { Field, Utf8, Schema } = arrow;
  return new Schema([
    new Field('id', new Utf8(), false),
    new Field('payload', new Utf8(), false),
    ...spec.vectors.map((v) => vectorField(v.name, v.size)),
    ...(spec.lexicalFields ?? []).map(textField),
    ...(spec.payloadIndexes ?? []).flatMap((p) => indexFields(p.field, p.type)),
  ]);
}

/** The promoted column values of one payload index for one payload. */
export function promotedValues(payload: Record<string, unknown>, field: string, type: PayloadIndexType): Record<string, unknown> {
  const values = fieldValues(payload, field);
  const col = payloadColumn(field);
  switch (type) {
    case 'keyword':
    case 'text':
      return { [col]: values.filter((v): v is string => typeof v === 'string') };
    case 'bool':
      return { [col]: values.filter((v): v is boolean => typeof v === 'boolean') };
    case 'integer':
    case 'float':
    case 'datetime': {
      const nums =
        type === 'datetime'
          ? values.filter((v): v is string => typeof v === 'string').map(parseDatetime).filter((n) => !Number.isNaN(n))
          : values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
      return {
        [col]: nums,
        [loColumn(field)]: nums.length ? Math.min(...nums) : null,
        [hiColumn(field)]: nums.length ? Math.max(...nums) : null,
      };
    }
  }
}
