/**
 * Per-namespace LLMs: a QuarryNamespace's `spec.llm` picks the LLM its LLM stages call.
 * - absent: the engine's own LLM (engine/src/llm/from-env.ts);
 * - `provider: local`: the engine's local GGUF model (refused when the engine runs none);
 * - `provider: openai`: an OpenAI-compatible server at `baseUrl` serving `model`, its API key read from the Secret
 *   `apiKeySecretRef` in the namespace's own Kubernetes namespace (local mode: the local secrets store), only a Secret
 *   the namespace owns (its quarry-secrets-<name>, or one labelled for it: lib/secret-refs.ts). The adapter
 *   reaches only that host, through the SSRF guard; private addresses only within the engine's allow-list
 *   (QUARRY_LLM_ALLOW_CIDRS, QUARRY_FETCH_ALLOW_*), never one a tenant writes;
 * - `provider: none`: the LLM stages are refused in this namespace.
 * One adapter per QuarryNamespace (keyed by its Kubernetes namespace and name), rebuilt when its spec.llm or the
 * key changes; the key is re-read at most every `secretTtlMs`. A tenant's adapter, key and limits are never shared
 * with another tenant (the inference cache is keyed by namespace too: retriever/llm-calls.ts).
 */
import { createHash } from 'node:crypto';
import { QuarryError, badRequest } from '../lib/errors.ts';
import { logger } from '../lib/log.ts';
import { readOwnedSecret, type SecretReader } from '../lib/secret-refs.ts';
import type { LLM } from '../ports/llm.ts';
import type { LookupFn } from '../retriever/types.ts';
import { withLimits } from './limits.ts';
import type { LlmMetrics } from './metrics.ts';
import { OpenAiHttpLLM } from './openai-http.ts';

const log = logger('llm-namespace');

/** spec.llm of a QuarryNamespace (the one schema source: engine/src/resources/kinds/quarry-namespace.ts). */
export interface NamespaceLlmSpec {
  provider: 'local' | 'openai' | 'none';
  baseUrl?: string;
  model?: string;
  apiKeySecretRef?: { name: string; key?: string };
  contextTokens?: number;
}

/** The QuarryNamespace fields this module reads. */
export interface LlmNamespace {
  metadata: { name: string; namespace?: string };
  spec?: { llm?: NamespaceLlmSpec } | Record<string, unknown>;
}

export interface NamespaceLlmOptions {
  /** The engine's own LLM (namespaces without spec.llm); its `provider` is `local` for the local model. */
  engine?: LLM;
  readSecret?: SecretReader;
  /** CIDRs a provider may resolve to although private: the engine's setting, never the tenant's. */
  allowCidrs?: string[];
  timeoutMs?: number;
  /** Calls at once per namespace provider (default 2). */
  concurrency?: number;
  metrics?: LlmMetrics;
  lookup?: LookupFn;
  /** How long a read API key is reused before the Secret is read again (default 30 s). */
  secretTtlMs?: number;
}

interface Entry {
  fingerprint: string;
  spec: string;
  checkedAt: number;
  llm: LLM;
}

const digest = (s: string) => createHash('sha256').update(s).digest('hex');

export class NamespaceLlms {
  private readonly o: NamespaceLlmOptions;
  private readonly entries = new Map<string, Entry>();

  constructor(o: NamespaceLlmOptions) {
    this.o = o;
  }

  /** The LLM a namespace's stages call; undefined when it has none (the stages answer 403 naming what to set). */
  async for(qn: LlmNamespace | undefined): Promise<LLM | undefined> {
    const spec = (qn?.spec as { llm?: NamespaceLlmSpec } | undefined)?.llm;
    if (!qn || !spec) return this.o.engine;
    const where = `QuarryNamespace '${qn.metadata.name}'`;
    if (spec.provider === 'none') {
      throw new QuarryError('NotEnabledError', `the LLM stages are disabled in ${where} (spec.llm.provider: none)`, { field: 'spec.llm.provider' });
    }
    if (spec.provider === 'local') {
      if (this.o.engine?.provider === 'local') return this.o.engine;
      throw new QuarryError('NotEnabledError', `${where} asks for the local LLM (spec.llm.provider: local) but the engine runs none: install it with 'make models' and unset QUARRY_LLM_BASE_URL, or set spec.llm.provider: openai`, { field: 'spec.llm.provider' });
    }
    const key = `${qn.metadata.namespace ?? ''}/${qn.metadata.name}`;
    const specText = JSON.stringify(spec);
    const now = Date.now();
    const cur = this.entries.get(key);
    if (cur && cur.spec === specText && now - cur.checkedAt < (this.o.secretTtlMs ?? 30_000)) return cur.llm;
    const apiKey = await this.apiKey(qn, spec, where);
    const fingerprint = digest(`${specText}\n${apiKey ?? ''}`);
    if (cur && cur.fingerprint === fingerprint) {
      cur.checkedAt = now;
      cur.spec = specText;
      return cur.llm;
    }
    if (!spec.baseUrl || !spec.model) throw badRequest(`${where}: spec.llm.provider openai needs baseUrl and model`, { field: 'spec.llm.baseUrl' });
    const inner = new OpenAiHttpLLM({
      baseUrl: spec.baseUrl,
      model: spec.model,
      ...(apiKey ? { apiKey } : {}),
      ...(spec.contextTokens ? { contextTokens: spec.contextTokens } : {}),
      ...(this.o.timeoutMs ? { timeoutMs: this.o.timeoutMs } : {}),
      allowCidrs: this.o.allowCidrs ?? [],
      ...(this.o.lookup ? { lookup: this.o.lookup } : {}),
    });
    const llm = withLimits(inner, { concurrency: this.o.concurrency ?? 2, ...(this.o.timeoutMs ? { timeoutMs: this.o.timeoutMs } : {}), ...(this.o.metrics ? { metrics: this.o.metrics } : {}) });
    this.entries.set(key, { fingerprint, spec: specText, checkedAt: now, llm });
    if (cur) await cur.llm.close().catch(() => undefined);
    log.info({ namespace: key, provider: inner.provider, model: spec.model }, 'namespace LLM: OpenAI-compatible provider');
    return llm;
  }

  private async apiKey(qn: LlmNamespace, spec: NamespaceLlmSpec, where: string): Promise<string | undefined> {
    const ref = spec.apiKeySecretRef;
    if (!ref) return undefined;
    const field = 'spec.llm.apiKeySecretRef';
    const data = await readOwnedSecret(this.o.readSecret, { k8sNamespace: qn.metadata.namespace ?? '', owners: [qn.metadata.name], name: ref.name, field, where });
    const value = data[ref.key ?? 'apiKey'];
    if (value === undefined || value.trim() === '') throw badRequest(`${where}: the Secret '${ref.name}' has no key '${ref.key ?? 'apiKey'}' (${field}.key)`, { field: `${field}.key` });
    return value.trim();
  }

  /** Drops the adapters of namespaces no longer served. */
  async forget(keep: (key: string) => boolean): Promise<void> {
    for (const [k, e] of this.entries) {
      if (keep(k)) continue;
      this.entries.delete(k);
      await e.llm.close().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    await this.forget(() => false);
  }
}
