/**
 * Connection reuse for @kubernetes/client-node 2.x. Its KubeConfig builds a new undici Agent for every request
 * (`applySecurityAuthentication` → `createDispatcher`, the same for each watch), so every API call opens a new TCP
 * connection and does a full TLS handshake, parsing the CA and client certificate into a new SecureContext each
 * time (kubernetes-client/javascript#2893 reports it for the agents of 1.x). Profiled on bench-reconcile: a quarter
 * of the operator's CPU, and the apiserver's handshakes on top. `reuseConnections` makes a KubeConfig hand out one
 * keep-alive dispatcher per distinct cluster and TLS settings instead (a rotated client certificate, e.g. from an
 * exec plugin, gets a new one; the replaced one is closed once its requests finished).
 * Hand-written because the library offers no option for it; it wraps the one method that builds dispatchers and
 * leaves the KubeConfig as it is when a client-node version no longer has that method.
 */
import { createHash } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';

const REUSING = Symbol.for('quarry.kube-connections.reusing');
/** Distinct TLS settings kept at once (more only with rotating client certificates). */
const MAX_DISPATCHERS = 4;

interface Closable {
  close?: () => Promise<void>;
}
type CreateDispatcher = (cluster: { server?: string; proxyUrl?: string } | null, agentOptions: Record<string, unknown>) => Closable | undefined;

function fingerprint(cluster: { server?: string; proxyUrl?: string } | null, opts: Record<string, unknown>): string {
  const h = createHash('sha256');
  h.update(`${cluster?.server ?? ''}\n${cluster?.proxyUrl ?? ''}\n`);
  for (const k of ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername']) {
    const v = opts[k];
    h.update(`${k}=`);
    if (v !== undefined) h.update(Buffer.isBuffer(v) || typeof v === 'string' ? v : JSON.stringify(v));
    h.update('\n');
  }
  return h.digest('hex');
}

/** Makes `kc` reuse its connections (idempotent); returns it. */
export function reuseConnections(kc: KubeConfig): KubeConfig {
  const target = kc as unknown as { createDispatcher?: CreateDispatcher; [REUSING]?: true };
  const original = target.createDispatcher;
  if (target[REUSING] || typeof original !== 'function') return kc;
  const dispatchers = new Map<string, Closable | undefined>();
  target.createDispatcher = (cluster, agentOptions) => {
    const key = fingerprint(cluster, agentOptions);
    if (dispatchers.has(key)) return dispatchers.get(key);
    const d = original.call(kc, cluster, agentOptions);
    dispatchers.set(key, d);
    if (dispatchers.size > MAX_DISPATCHERS) {
      const [oldest, old] = dispatchers.entries().next().value!;
      dispatchers.delete(oldest);
      void old?.close?.().catch(() => {});
    }
    return d;
  };
  target[REUSING] = true;
  return kc;
}
