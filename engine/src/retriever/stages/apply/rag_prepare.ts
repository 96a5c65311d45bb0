/**
 * rag_prepare (reference §4.5): formats documents into an LLM-ready context with citations, within a token budget.
 * Tokens are estimated as ceil(chars / 4) (no tiktoken port exists; the estimate is documented as such).
 */
import { getPath } from '../../paths.ts';
import type { Doc, StageContext, StageModule } from '../../types.ts';

export const parameterSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    max_tokens: { type: 'integer', minimum: 100, maximum: 128000, default: 8000 },
    tokenizer: { enum: ['cl100k_base', 'p50k_base', 'r50k_base', 'gpt2'], default: 'cl100k_base' },
    truncation_strategy: { enum: ['priority_truncate', 'proportional', 'drop_last'], default: 'priority_truncate' },
    output_mode: { enum: ['single_context', 'formatted_list'], default: 'single_context' },
    document_template: { type: 'string', default: '[{{CONTEXT.INDEX}}] {{DOC.content}}\n\n' },
    content_field: { type: 'string', default: 'content' },
    separator: { type: 'string', default: '\n' },
    citation: {
      type: 'object',
      default: {},
      properties: { style: { enum: ['numbered', 'bracketed', 'footnote', 'none'], default: 'numbered' }, include_title: { type: 'boolean', default: true }, include_url: { type: 'boolean', default: false } },
    },
    context_field: { type: 'string', default: 'rag_context' },
    citations_field: { type: 'string', default: 'citations' },
    formatted_content_field: { type: 'string', default: 'formatted_content' },
  },
};

export const estimateTokens = (s: string) => Math.ceil(s.length / 4);

export async function execute(docs: Doc[], ctx: StageContext): Promise<Doc[]> {
  const p = ctx.params;
  const contentField = p.content_field as string;
  const budget = p.max_tokens as number;
  const cite = p.citation as { style: string; include_title: boolean; include_url: boolean };
  const pieces: { doc: Doc; text: string; citation: Record<string, unknown> }[] = [];
  docs.forEach((d, i) => {
    const content = getPath(d, contentField) ?? getPath(d, 'text') ?? '';
    const docView = { ...d, content };
    const index = i + 1;
    const label = cite.style === 'bracketed' ? `[${index}]` : cite.style === 'footnote' ? `^${index}` : cite.style === 'none' ? '' : String(index);
    const text = String(ctx.renderForDoc(p.document_template, docView, 'document_template', { INDEX: index, CITATION: label }) ?? '')
      .replace(/\{\{\s*CONTEXT\.INDEX\s*\}\}/g, String(index));
    const citation: Record<string, unknown> = { index, label, document_id: d.document_id ?? null };
    if (cite.include_title) citation.title = getPath(d, 'title') ?? getPath(d, 'metadata.title') ?? null;
    if (cite.include_url) citation.url = getPath(d, 'url') ?? getPath(d, 'metadata.url') ?? null;
    pieces.push({ doc: d, text, citation });
  });
  // Priority order = input order; truncate the piece that crosses the budget (priority_truncate), or drop it.
  let used = 0;
  const kept: typeof pieces = [];
  for (const piece of pieces) {
    const t = estimateTokens(piece.text);
    if (used + t <= budget) {
      kept.push(piece);
      used += t;
      continue;
    }
    if (p.truncation_strategy !== 'drop_last' && budget - used > 10) {
      kept.push({ ...piece, text: piece.text.slice(0, (budget - used) * 4) });
      used = budget;
    }
    break;
  }
  if (p.truncation_strategy === 'proportional' && pieces.length > kept.length) ctx.metadata.note = 'proportional truncation approximated by priority truncation';
  ctx.metadata.tokens_estimated = used;
  ctx.metadata.documents_included = kept.length;
  if (p.output_mode === 'formatted_list') return kept.map((k) => ({ ...k.doc, [p.formatted_content_field as string]: k.text, citation: k.citation }));
  return [
    {
      document_id: 'rag_context',
      [p.context_field as string]: kept.map((k) => k.text).join(p.separator as string),
      [p.citations_field as string]: kept.map((k) => k.citation),
      token_count: used,
      document_count: kept.length,
      source_document_ids: kept.map((k) => k.doc.document_id ?? null),
    },
  ];
}

export const stage: StageModule = {
  id: 'rag_prepare',
  category: 'apply',
  description: 'Format documents into an LLM-ready context with citations and a token budget',
  icon: 'file-text',
  parameterSchema,
  perDocParameters: ['document_template'],
  execute,
};
