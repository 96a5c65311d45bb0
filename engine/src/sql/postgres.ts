/**
 * PostgreSQL adapter of the SQL port (node-postgres). The connection URL (postgresql://user:password@host:port/db,
 * from a Secret) is parsed here and its host checked by the SSRF guard — public addresses only, unless the engine's
 * allow-list (QUARRY_FETCH_ALLOW_PRIVATE / QUARRY_FETCH_ALLOW_CIDRS) opens the range — and the socket is opened to the
 * checked address. Each query: BEGIN READ ONLY, the statement with the extended protocol (one statement, parameters
 * bound by the server, never spliced into the text), ROLLBACK; statement_timeout bounds it on the server and
 * query_timeout on the client.
 */
import pg from 'pg';
import { QuarryError, badRequest } from '../lib/errors.ts';
import type { SqlRow, SqlSession, SqlSessionOptions } from '../ports/sql.ts';
import { resolvePublic } from '../retriever/ssrf.ts';
import type { LookupFn } from '../retriever/types.ts';

export interface PostgresOptions extends SqlSessionOptions {
  allowCidrs: string[];
  lookup?: LookupFn;
}

/** The error a pg failure becomes: the database's own message, a 4xx for the statement, 504 for the time limit. */
function mapped(e: unknown, timeoutMs: number): QuarryError {
  if (e instanceof QuarryError) return e;
  const err = e as Error & { code?: string };
  if (err.code === '57014' || /timeout/i.test(err.message)) return new QuarryError('TimeoutError', `sql_lookup: the query was cancelled after ${timeoutMs} ms (parameter timeout)`, { parameter: 'timeout' });
  if (typeof err.code === 'string' && /^[0-9A-Z]{5}$/.test(err.code) && !err.code.startsWith('08')) {
    return new QuarryError('BadRequestError', `sql_lookup: the database refused the query: ${err.message}`, { parameter: 'query', sqlstate: err.code });
  }
  return new QuarryError('ServiceUnavailableError', `sql_lookup: the database is not reachable: ${err.message}`, { parameter: 'connection_id', retryable: true });
}

export async function openPostgres(url: string, o: PostgresOptions): Promise<SqlSession> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw badRequest('sql_lookup: the connection URL in the Secret is not a URL (postgresql://user:password@host:5432/db)', { parameter: 'connection_id' });
  }
  if (u.protocol !== 'postgresql:' && u.protocol !== 'postgres:') throw badRequest(`sql_lookup: the connection URL must be postgresql://…, not ${u.protocol}//…`, { parameter: 'connection_id' });
  const redacted = `${u.protocol}//${u.host}${u.pathname}`;
  const addr = await resolvePublic(u.hostname, redacted, { allowCidrs: o.allowCidrs }, o.lookup, 'sql_lookup');
  const sslmode = u.searchParams.get('sslmode');
  const client = new pg.Client({
    host: addr.address,
    port: u.port ? Number(u.port) : 5432,
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.replace(/^\//, '')) || undefined,
    ...(sslmode && sslmode !== 'disable' ? { ssl: { servername: u.hostname, rejectUnauthorized: sslmode === 'verify-full' || sslmode === 'verify-ca' } } : {}),
    statement_timeout: o.timeoutMs,
    query_timeout: o.timeoutMs + 2000,
    connectionTimeoutMillis: o.timeoutMs,
    application_name: 'quarry-sql-lookup',
  });
  client.on('error', () => undefined); // a dropped connection fails the next query, it must not crash the engine
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => undefined);
    throw mapped(e, o.timeoutMs);
  }
  return {
    async query(sql: string, params: unknown[]): Promise<SqlRow[]> {
      try {
        await client.query('BEGIN TRANSACTION READ ONLY');
        const r = await client.query({ text: sql, values: params, queryMode: 'extended' } as pg.QueryConfig);
        return (r.rows as SqlRow[]).slice(0, o.maxRows);
      } catch (e) {
        throw mapped(e, o.timeoutMs);
      } finally {
        await client.query('ROLLBACK').catch(() => undefined);
      }
    },
    async close() {
      await client.end().catch(() => undefined);
    },
  };
}
