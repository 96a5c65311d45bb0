/**
 * Objects checked against their Bucket's schema (spec.schema.properties) before anything is stored: every blob
 * names a declared content property of a matching type, required properties are present, declared metadata
 * values have their declared type (and enum), and defaults fill what an object omits. Undeclared metadata keys
 * are kept (the reference leaves object metadata open). Hand-written: the schema is the Bucket's own field
 * list (its blob types are not JSON Schema types), and each error must name the object's field and the fix.
 */
import { validationError } from '../lib/errors.ts';
import type { BucketSchemaField } from '../resources/generated/types.ts';

export interface BucketSchema {
  properties: Record<string, BucketSchemaField>;
}

const CONTENT_TYPES = new Set(['text', 'image', 'audio', 'video', 'pdf', 'excel']);
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Whether a blob of `blobType` may fill a property declared as `declared` ('string' and 'text' both hold text). */
function blobFits(declared: string, blobType: string): boolean {
  if (blobType === 'auto') return CONTENT_TYPES.has(declared) || declared === 'string';
  const textual = (t: string) => t === 'text' || t === 'string';
  return declared === blobType || (textual(declared) && textual(blobType));
}

/** Checks the blobs' properties and declared types (before any byte is stored). */
export function checkBlobs(schema: BucketSchema, bucket: string, blobs: { property: string; type: string }[], at: string): void {
  const declared = schema.properties;
  const content = Object.entries(declared).filter(([, f]) => CONTENT_TYPES.has(f.type)).map(([k]) => k);
  blobs.forEach((b, i) => {
    const f = declared[b.property];
    if (!f) {
      throw validationError(
        `${at}.blobs[${i}].property: '${b.property}' is not declared in bucket '${bucket}' schema (content properties: ${content.join(', ') || 'none'}); use one of them or add it to the Bucket's spec.schema.properties`,
        { field: `${at}.blobs[${i}].property` },
      );
    }
    if (!blobFits(f.type, b.type)) {
      throw validationError(`${at}.blobs[${i}].type: '${b.type}', but bucket '${bucket}' declares '${b.property}' as ${f.type}; send a ${f.type} blob or use another property`, {
        field: `${at}.blobs[${i}].type`,
      });
    }
  });
}

/** The type a stored blob resolved to ('auto' sniffed), checked again against its property. */
export function checkResolvedBlob(schema: BucketSchema, bucket: string, blob: { property: string; type: string }, at: string): void {
  const f = schema.properties[blob.property];
  if (f && !blobFits(f.type, blob.type)) {
    throw validationError(`${at}.type: the content is ${blob.type}, but bucket '${bucket}' declares '${blob.property}' as ${f.type}`, { field: `${at}.type` });
  }
}

function typeError(field: BucketSchemaField, v: unknown): string | undefined {
  switch (field.type) {
    case 'string':
    case 'text':
      return typeof v === 'string' ? undefined : 'a string';
    case 'number':
    case 'float':
      return typeof v === 'number' && Number.isFinite(v) ? undefined : 'a number';
    case 'integer':
      return Number.isInteger(v) ? undefined : 'an integer';
    case 'boolean':
      return typeof v === 'boolean' ? undefined : 'true or false';
    case 'object':
      return isObj(v) ? undefined : 'an object';
    case 'array':
      return Array.isArray(v) ? undefined : 'an array';
    case 'date':
      return typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v) && !Number.isNaN(Date.parse(v)) ? undefined : 'a date such as 2026-01-31';
    case 'datetime':
      return typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(v) && !Number.isNaN(Date.parse(v)) ? undefined : 'an RFC 3339 date-time such as 2026-01-31T12:00:00Z';
    default:
      return undefined;
  }
}

/**
 * Checks metadata values of declared non-content properties and required properties; returns the metadata with
 * declared defaults filled in. Values may come in `metadata` or as top-level keys of the object (`extra`).
 */
export function checkMetadata(
  schema: BucketSchema,
  bucket: string,
  blobProperties: string[],
  metadata: Record<string, unknown>,
  extra: Record<string, unknown>,
  at: string,
  metadataAt = `${at}.metadata`,
): Record<string, unknown> {
  const out = { ...metadata };
  for (const [name, f] of Object.entries(schema.properties)) {
    if (CONTENT_TYPES.has(f.type)) {
      if (f.required && !blobProperties.includes(name)) {
        throw validationError(`${at}.blobs: bucket '${bucket}' requires a '${name}' blob (${f.type}); add {property: '${name}', type: '${f.type}', data | upload_id}`, { field: `${at}.blobs` });
      }
      continue;
    }
    if (f.type === 'string' && blobProperties.includes(name)) continue;
    const inMeta = name in metadata;
    const v = inMeta ? metadata[name] : extra[name];
    const where = inMeta ? `${metadataAt}.${name}` : `${at}.${name}`;
    if (v === undefined || v === null) {
      if (f.default !== undefined) out[name] = f.default;
      else if (f.required) throw validationError(`${metadataAt}.${name}: bucket '${bucket}' requires it (${f.type}); add it to the object's metadata`, { field: `${metadataAt}.${name}` });
      continue;
    }
    const want = typeError(f, v);
    if (want) throw validationError(`${where}: must be ${want} (bucket '${bucket}' declares it as ${f.type})`, { field: where });
    if (f.enum && !f.enum.includes(String(v))) throw validationError(`${where}: must be one of ${f.enum.join(', ')}`, { field: where });
  }
  return out;
}

/**
 * The property an uploaded file fills when none is named: the filename stem when the schema declares it, else the
 * one content property of the file's type. Undefined when that is ambiguous or absent.
 */
export function defaultBlobProperty(schema: BucketSchema, stem: string, blobType: string): string | undefined {
  const f = schema.properties[stem];
  if (f && blobFits(f.type, blobType)) return stem;
  const fits = Object.entries(schema.properties).filter(([, p]) => CONTENT_TYPES.has(p.type) && blobFits(p.type, blobType));
  return fits.length === 1 ? fits[0]![0] : undefined;
}

/** The content properties a blob of `blobType` may fill (for error messages). */
export function contentPropertiesFor(schema: BucketSchema, blobType: string): string[] {
  return Object.entries(schema.properties).filter(([, p]) => CONTENT_TYPES.has(p.type) && blobFits(p.type, blobType)).map(([k]) => k);
}
