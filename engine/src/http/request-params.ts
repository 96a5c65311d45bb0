/**
 * Request parameters read the same way by every route: single-valued headers, the namespace header in both of the
 * reference's spellings (`X-Namespace`, and `X-Namespace-Id` from its manifest example, §11 #27), and boolean flags
 * that the documented API passes in the query string (`?return_vectors=true`).
 */
import type { FastifyRequest } from 'fastify';
import { validationError } from '../lib/errors.ts';

/** A header's first value; empty counts as absent. */
export function headerValue(req: FastifyRequest, name: string): string | undefined {
  const h = req.headers[name];
  const v = Array.isArray(h) ? h[0] : h;
  return v || undefined;
}

/** The namespace (id or name) a request acts on, from `X-Namespace` or `X-Namespace-Id`. */
export function namespaceHeader(req: FastifyRequest): string | undefined {
  return headerValue(req, 'x-namespace') ?? headerValue(req, 'x-namespace-id');
}

const asBoolean = (v: unknown): boolean | undefined => (v === true || v === 'true' ? true : v === false || v === 'false' ? false : undefined);

/**
 * A boolean flag: the body's value when the body has the field, else the query string's ('true' / 'false'),
 * else undefined. Anything else is a 422 naming the parameter, as FastAPI answers a malformed parameter.
 */
export function booleanFlag(req: FastifyRequest, name: string, body: Record<string, unknown> = {}): boolean | undefined {
  const inBody = body[name] !== undefined;
  const v = inBody ? body[name] : (req.query as Record<string, unknown> | undefined)?.[name];
  if (v === undefined) return undefined;
  const b = asBoolean(v);
  if (b === undefined) throw validationError(`${inBody ? '' : 'query parameter '}${name} must be true or false`, { field: name, ...(inBody ? {} : { in: 'query' }) });
  return b;
}
