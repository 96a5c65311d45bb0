/** unwind (reference §4.5): one document per element of an array field; non-arrays pass through unchanged. */
import { getPath, withPath } from '../../paths.ts';
import type { Doc, StageContext, StageModule } from '../../types.ts';

export const parameterSchema = {
  type: 'object',
  additionalProperties: true,
  required: ['field'],
  properties: {
    field: { type: 'string', minLength: 1 },
    preserve_null_and_empty: { type: 'boolean', default: false },
    include_array_index: { type: 'string', minLength: 1 },
    output_field: { type: 'string', minLength: 1 },
  },
};

export async function execute(docs: Doc[], ctx: StageContext): Promise<Doc[]> {
  const field = ctx.params.field as string;
  const target = (ctx.params.output_field as string | undefined) ?? field;
  const indexField = ctx.params.include_array_index as string | undefined;
  const out: Doc[] = [];
  for (const d of docs) {
    const v = getPath(d, field);
    if (v === undefined || v === null || (Array.isArray(v) && v.length === 0)) {
      if (ctx.params.preserve_null_and_empty) out.push(d);
      continue;
    }
    if (!Array.isArray(v)) {
      out.push(d);
      continue;
    }
    v.forEach((el, i) => {
      let doc = withPath(d, target, el);
      if (indexField) doc = withPath(doc, indexField, i);
      if (typeof d.document_id === 'string') doc.document_id = `${d.document_id}#${i}`;
      out.push(doc);
    });
  }
  return out;
}

export const stage: StageModule = { id: 'unwind', category: 'apply', description: 'One document per array element', icon: 'unfold-vertical', parameterSchema, execute };
