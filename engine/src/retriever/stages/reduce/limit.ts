/** limit (reference §4.3): keep documents [offset, offset + limit). */
import type { Doc, StageContext, StageModule } from '../../types.ts';

export const parameterSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: 10000, default: 10 },
    offset: { type: 'integer', minimum: 0, maximum: 10000, default: 0 },
  },
};

export async function execute(docs: Doc[], ctx: StageContext): Promise<Doc[]> {
  const offset = ctx.params.offset as number;
  return docs.slice(offset, offset + (ctx.params.limit as number));
}

export const stage: StageModule = { id: 'limit', category: 'reduce', description: 'Keep the first N documents', icon: 'list-end', parameterSchema, execute };
