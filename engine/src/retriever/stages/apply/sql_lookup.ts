/**
 * sql_lookup (reference §4.5): one parameterised SELECT per document against a database the namespace declares
 * (QuarryNamespace spec.sqlConnections; connection_id is its name), through the SQL port (EngineDeps.sql): read-only,
 * one statement, time-limited. `parameters` ({name: templated value}) become $1, $2… in key order; the rows go to
 * output_field per result_handling / on_no_results. With no input documents the query runs once and each row becomes
 * a document.
 */
import { QuarryError, badRequest } from '#core/lib/errors.ts';
import type { SqlRow, SqlSession } from '#core/ports/sql.ts';
import { withPath } from '../../paths.ts';
import type { Doc, StageContext, StageModule } from '../../types.ts';
import { alias, applies, filterSchema } from '../common.ts';

const MAX_ROWS = 1000;

export const parameterSchema = {
  type: 'object',
  additionalProperties: true,
  required: ['connection_id', 'query'],
  properties: {
    connection_id: { type: 'string', minLength: 1 },
    query: { type: 'string', minLength: 1, maxLength: 100000 },
    parameters: { type: 'object', additionalProperties: true },
    output_field: { type: 'string', minLength: 1, default: 'sql_result' },
    result_handling: { enum: ['first', 'all', 'error_if_empty', 'error_if_multiple'], default: 'first' },
    on_no_results: { enum: ['skip', 'null', 'error'], default: 'null' },
    timeout: { type: 'number', minimum: 1, maximum: 300, default: 30 },
    when: filterSchema,
    on_error: { enum: ['skip', 'remove', 'raise'], default: 'skip' },
  },
};

/** SELECT-only (the reference's rule), checked before the database's own read-only transaction refuses anything else. */
const READ_ONLY_START = /^(?:\s|--[^\n]*\n|\/\*[^*]*\*+(?:[^/*][^*]*\*+)*\/)*(select|with|values|table)\b/i;

function normalize(params: Record<string, unknown>): Record<string, unknown> {
  const p = alias(params, { result_field: 'output_field' });
  if (typeof p.timeout_ms === 'number' && p.timeout === undefined) p.timeout = Math.max(1, Math.ceil(p.timeout_ms / 1000));
  delete p.timeout_ms;
  if (p.multiple_rows === true && p.result_handling === undefined) p.result_handling = 'all';
  delete p.multiple_rows;
  return p;
}

/** What a document gets at output_field; `undefined` = leave it unchanged (on_no_results: skip). */
function shape(rows: SqlRow[], ctx: StageContext): { value: unknown } | undefined {
  const p = ctx.params;
  const fail = (why: string) => new QuarryError('BadRequestError', `stage '${ctx.stageName}': ${why}`, { stage: ctx.stageName, parameter: 'result_handling' });
  if (rows.length === 0) {
    if (p.result_handling === 'error_if_empty' || p.on_no_results === 'error') throw fail('the query returned no rows');
    return p.on_no_results === 'skip' ? undefined : { value: null };
  }
  if (p.result_handling === 'error_if_multiple' && rows.length > 1) throw fail(`the query returned ${rows.length} rows, expected at most one`);
  return { value: p.result_handling === 'all' ? rows : rows[0] };
}

export async function execute(docs: Doc[], ctx: StageContext): Promise<Doc[]> {
  const p = ctx.params;
  if (!READ_ONLY_START.test(p.query as string)) throw badRequest(`stage '${ctx.stageName}': query must be one SELECT (or WITH … SELECT) statement; writes are never run`, { stage: ctx.stageName, parameter: 'query' });
  if (!ctx.deps.sql) throw new QuarryError('NotEnabledError', `stage '${ctx.stageName}': no database connections are configured in this engine`, { stage: ctx.stageName, parameter: 'connection_id' });
  const values = (d: Doc | undefined): unknown[] =>
    Object.keys((p.parameters as Record<string, unknown> | undefined) ?? {}).map((k) => {
      const v = ctx.renderForDoc((p.parameters as Record<string, unknown>)[k], d ?? {}, `parameters.${k}`);
      return v !== null && typeof v === 'object' ? JSON.stringify(v) : v;
    });
  const session: SqlSession = await ctx.deps.sql(ctx.namespace, p.connection_id as string, { timeoutMs: (p.timeout as number) * 1000, maxRows: MAX_ROWS });
  const errors: { document_id: unknown; error: string }[] = [];
  try {
    if (docs.length === 0) {
      const rows = await session.query(p.query as string, values(undefined));
      return rows.map((row, i) => withPath({ document_id: `sql_${i}` }, p.output_field as string, row));
    }
    const out: Doc[] = [];
    for (const d of docs) {
      if (!applies(d, p.when)) {
        out.push(d);
        continue;
      }
      try {
        const r = shape(await session.query(p.query as string, values(d)), ctx);
        out.push(r ? withPath(d, p.output_field as string, r.value) : d);
      } catch (e) {
        if (p.on_error === 'raise' || (e instanceof QuarryError && e.type === 'ServiceUnavailableError')) throw e;
        errors.push({ document_id: d.document_id ?? null, error: (e as Error).message });
        if (p.on_error === 'skip') out.push(d);
      }
    }
    return out;
  } finally {
    if (errors.length) ctx.metadata.errors = errors.slice(0, 20);
    await session.close();
  }
}

export const stage: StageModule = {
  id: 'sql_lookup',
  category: 'apply',
  description: 'Look up rows in a database the namespace declares (read-only, parameterised, time-limited)',
  icon: 'database',
  parameterSchema,
  normalize,
  perDocParameters: ['parameters'],
  execute,
};
