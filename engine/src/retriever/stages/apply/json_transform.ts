/**
 * json_transform (reference §4.5): renders a Jinja2 template per document (DOC, INPUT, CONTEXT, STAGE) and replaces
 * the document with the parsed JSON. Failures drop the document (recorded in metadata) unless fail_on_error.
 */
import { badRequest } from '#core/lib/errors.ts';
import type { Doc, StageContext, StageModule } from '../../types.ts';

export const DEFAULT_TEMPLATE = '{"id": "{{ DOC.document_id }}", "content": {{ DOC.content | tojson }}, "score": {{ DOC.score }}}';

export const parameterSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    template: { type: 'string', minLength: 1, default: DEFAULT_TEMPLATE },
    fail_on_error: { type: 'boolean', default: false },
  },
};

export async function execute(docs: Doc[], ctx: StageContext): Promise<Doc[]> {
  const template = ctx.params.template as string;
  const out: Doc[] = [];
  const errors: { document_id: unknown; error: string }[] = [];
  for (const d of docs) {
    try {
      const text = ctx.renderForDoc(template, d, 'template');
      const parsed: unknown = typeof text === 'string' ? JSON.parse(text) : text;
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('the template must render a JSON object');
      out.push(parsed as Doc);
    } catch (e) {
      const msg = (e as Error).message;
      if (ctx.params.fail_on_error) {
        throw badRequest(`stage '${ctx.stageName}': parameter 'template' did not render valid JSON for document '${String(d.document_id)}': ${msg}`, { stage: ctx.stageName, parameter: 'template' });
      }
      errors.push({ document_id: d.document_id ?? null, error: msg });
    }
  }
  if (errors.length) ctx.metadata.errors = errors.slice(0, 20);
  return out;
}

export const stage: StageModule = {
  id: 'json_transform',
  category: 'apply',
  description: 'Transform document structure using Jinja2 templates',
  icon: 'code',
  parameterSchema,
  perDocParameters: ['template'],
  execute,
};
