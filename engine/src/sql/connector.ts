/**
 * sql_lookup's connections: `connection_id` names an entry of the request's QuarryNamespace spec.sqlConnections; its
 * URL is read from the Secret it references in that namespace's own Kubernetes namespace (local mode: the local
 * secrets store), only one the namespace owns (lib/secret-refs.ts), so a tenant can reach only the databases it
 * declares with the credentials it holds.
 */
import { QuarryError, badRequest } from '../lib/errors.ts';
import { readOwnedSecret, type SecretReader } from '../lib/secret-refs.ts';
import type { SqlConnector } from '../ports/sql.ts';
import type { LookupFn } from '../retriever/types.ts';
import { openPostgres } from './postgres.ts';

export interface SqlConnectionSpec {
  name: string;
  type: 'postgresql';
  urlSecretRef: { name: string; key?: string };
}

export interface SqlNamespace {
  metadata: { name: string; namespace?: string };
  spec?: { sqlConnections?: SqlConnectionSpec[] } | Record<string, unknown>;
}

export interface SqlConnectorOptions {
  /** The QuarryNamespace a request's namespace names (throws 404 when none). */
  resolve: (namespace: string) => SqlNamespace;
  readSecret?: SecretReader;
  /** The engine's SSRF allow-list (never a tenant's). */
  allowCidrs: string[];
  lookup?: LookupFn;
}

export function namespaceSqlConnector(o: SqlConnectorOptions): SqlConnector {
  return async (namespace, connectionId, session) => {
    if (!namespace) throw badRequest('sql_lookup needs a namespace (X-Namespace): connections are declared per namespace', { parameter: 'connection_id' });
    const qn = o.resolve(namespace);
    const list = ((qn.spec as { sqlConnections?: SqlConnectionSpec[] } | undefined)?.sqlConnections ?? []);
    const c = list.find((x) => x.name === connectionId);
    if (!c) {
      throw badRequest(`sql_lookup: connection '${connectionId}' is not declared in QuarryNamespace '${qn.metadata.name}' (spec.sqlConnections${list.length ? `: ${list.map((x) => x.name).join(', ')}` : ' is empty'})`, { parameter: 'connection_id' });
    }
    const key = c.urlSecretRef.key ?? 'url';
    const field = `spec.sqlConnections[${list.indexOf(c)}].urlSecretRef`;
    const where = `sql_lookup connection '${c.name}' of QuarryNamespace '${qn.metadata.name}'`;
    const data = await readOwnedSecret(o.readSecret, { k8sNamespace: qn.metadata.namespace ?? '', owners: [qn.metadata.name], name: c.urlSecretRef.name, field, where, details: { parameter: 'connection_id' } });
    const url = data[key]?.trim();
    if (!url) throw new QuarryError('BadRequestError', `sql_lookup: the Secret '${c.urlSecretRef.name}' key '${key}' of connection '${c.name}' (spec.sqlConnections) does not exist in Kubernetes namespace '${qn.metadata.namespace ?? ''}'`, { parameter: 'connection_id', field: 'spec.sqlConnections' });
    return openPostgres(url, { ...session, allowCidrs: o.allowCidrs, ...(o.lookup ? { lookup: o.lookup } : {}) });
  };
}
