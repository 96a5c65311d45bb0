/**
 * The retriever engine: validates inputs against input_schema, walks the stages in order (parameters aliased,
 * templated, validated; pre/post filters; statistics; budget), paginates after the last stage, and caches whole
 * results by (pipeline, inputs, filters, index signature). Streaming callers get stage events through `onEvent`.
 */
import { randomUUID } from 'node:crypto';
import { QuarryError, badRequest } from '../lib/errors.ts';
import { logger } from '../lib/log.ts';
import type { FilterNode } from '../ports/filter.ts';
import { QueryCache, hashOf } from './cache.ts';
import { filterDocs, mergeFilters, resolveDynamic } from './filters.ts';
import { validateInputs } from './inputs.ts';
import { normalizeDefinition } from './normalize.ts';
import { checkPagination, paginate, type PageRequest } from './pagination.ts';
import { ExecutionHistory, historyInputs } from './execution-history.ts';
import { presignDocuments } from './presigned-urls.ts';
import { unknownParameters, validateParams } from './params.ts';
import { InferenceCache, lazyLlm, newUsage } from './llm-calls.ts';
import { getStage, stageCredits } from './registry.ts';
import { stageSecrets, type StageSecrets } from './secrets.ts';
import { ssrfAllowCidrsFromEnv } from './ssrf.ts';
import { containsTemplate, referencesDoc, renderValue, type TemplateScope } from './template.ts';
import type { Doc, EngineDeps, RetrieverDefinition, StageContext, StageStatistics, StageSummary } from './types.ts';

const log = logger('retriever');
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const VECTOR_STAGES = new Set(['mmr', 'cluster', 'taxonomy_enrich']);
const MAX_NESTING = 3;
/** Stages whose output the per-stage cache keeps (model calls, store queries, joins). */
const CACHEABLE = new Set(['feature_search', 'rerank', 'document_enrich', 'taxonomy_enrich', 'cluster', 'llm_filter', 'llm_enrich', 'summarize', 'query_expand', 'agentic_enrich', 'cross_compare', 'agent_search']);
/** Stages that retrieve (they get the request filters merged with their pre_filters). */
const RETRIEVING = new Set(['feature_search', 'query_expand', 'agent_search']);
/** Validated parameters of stage instances whose parameters hold no template. */
const staticParams = new WeakMap<object, Record<string, unknown>>();
/** inputs_hash of a request without inputs, the common case of the hot path (hashing costs a few µs per call). */
const NO_INPUTS_HASH = hashOf(null);
/**
 * 12 random hex digits. randomUUID draws from a buffered entropy pool; randomBytes(6) is a synchronous OpenSSL call
 * per execution (~9 µs here, a quarter of the engine's own cost per execution). The first 12 hex digits of a v4 UUID
 * are all random (the version nibble is the 13th).
 */
const executionIdOf = () => {
  const u = randomUUID();
  return `exec_${u.slice(0, 8)}${u.slice(9, 13)}`;
};

export interface ExecuteRequest extends PageRequest {
  inputs?: unknown;
  filters?: unknown;
  return_vectors?: unknown;
  /** Presign stored s3:// URLs in the returned documents (query `return_presigned_urls`; body `return_urls`). */
  return_presigned_urls?: unknown;
  return_urls?: unknown;
  stream?: unknown;
  session_id?: unknown;
}

export interface StreamEvent {
  event_type: 'stage_start' | 'stage_complete' | 'stage_error' | 'execution_complete' | 'execution_error';
  execution_id: string;
  [k: string]: unknown;
}

export interface ExecuteOptions {
  onEvent?: (e: StreamEvent) => void;
  /** Index signature of the retriever's collections (set by execute; enables the per-stage cache). */
  signature?: string;
  /** Adds `X-Execution-Mode: adhoc` semantics: nothing is persisted. */
  adhoc?: boolean;
  signal?: AbortSignal;
}

export interface ExecuteResult {
  body: Record<string, unknown>;
  cacheHit: boolean;
  etag: string;
  ttlSeconds: number;
}

interface CachedRun {
  docs: Doc[];
  stages: Record<string, StageStatistics>;
  facets?: Record<string, unknown>;
  credits: number;
  /** LLM tokens the run used (reference §3.4 budget_used.tokens_used). */
  tokens: number;
}

interface RunResult extends CachedRun {
  budgetExceeded?: { stage: string; reason: string };
  elapsed: number;
}

export class RetrieverEngine {
  readonly deps: EngineDeps;
  readonly cache: QueryCache<CachedRun>;
  readonly stageCache: QueryCache<Doc[]>;
  /** Recent executions (this engine process), newest last. */
  readonly history = new ExecutionHistory();
  private readonly embeddings = new Map<string, Promise<Float32Array>>();
  /** LLM answers by their inputs (model, messages, schema, limits). */
  readonly inference = new InferenceCache();

  constructor(deps: EngineDeps) {
    // Outbound fetches (api_call, content URLs) may reach private ranges only when the wiring or the environment
    // says so (QUARRY_FETCH_ALLOW_PRIVATE / QUARRY_FETCH_ALLOW_CIDRS, see ssrf.ts).
    this.deps = deps.ssrfAllowCidrs ? deps : { ...deps, ssrfAllowCidrs: ssrfAllowCidrsFromEnv() };
    this.cache = new QueryCache(deps.cacheEntries ?? 1000);
    this.stageCache = new QueryCache(deps.cacheEntries ?? 1000);
  }

  /**
   * The key a namespace's executions are recorded and read under: the namespace's identity from the wiring
   * (`deps.namespaceKey`: one key for its id, name and `<k8s-namespace>/<name>`, a new one when it is recreated),
   * else the name as given. Undefined when there is no namespace or it does not resolve: such runs are not recorded,
   * and nothing is read without one.
   */
  historyKey(namespace: string | undefined): string | undefined {
    if (!namespace) return undefined;
    return this.deps.namespaceKey ? this.deps.namespaceKey(namespace) : namespace;
  }

  /** Loads a named retriever (id or name) from the RetrieverSource. */
  async load(idOrName: string, namespace?: string): Promise<RetrieverDefinition> {
    const raw = this.deps.retrievers ? await this.deps.retrievers.get(idOrName, namespace) : undefined;
    if (!raw) throw new QuarryError('NotFoundError', `retriever '${idOrName}' not found`, { resource: 'retriever', id: idOrName });
    const def = normalizeDefinition(raw, 'retriever');
    // Where the source found it (the engine runtime reports it), so routes can check the caller may act there.
    if (typeof (raw as { namespace?: unknown }).namespace === 'string') def.namespace = (raw as { namespace: string }).namespace;
    if (!def.retriever_id && !def.retriever_name) def.retriever_name = idOrName;
    return def;
  }

  /**
   * Runs a retriever and records the execution (completed or failed) in the bounded execution history
   * (reference §3.1 …/executions/list and …/executions/{execution_id}).
   */
  async execute(defIn: RetrieverDefinition, req: ExecuteRequest, opts: ExecuteOptions = {}): Promise<ExecuteResult> {
    const executionId = executionIdOf();
    const createdAt = new Date().toISOString();
    const started = performance.now();
    const base = {
      execution_id: executionId,
      retriever_id: defIn.retriever_id ?? null,
      retriever_name: defIn.retriever_name ?? null,
      execution_mode: opts.adhoc ? 'adhoc' : 'named',
      collection_ids: defIn.collection_identifiers,
      inputs: historyInputs(isObj(req) ? req.inputs : undefined),
      inputs_hash: isObj(req) && req.inputs !== undefined && req.inputs !== null ? hashOf(req.inputs) : NO_INPUTS_HASH,
      total_stages: defIn.stages.length,
      created_at: createdAt,
    };
    try {
      const r = await this.executeOnce(defIn, req, opts, executionId, createdAt, started);
      const b = r.body;
      const stats = b.stage_statistics as { stages: Record<string, StageStatistics> };
      const first = Object.values(stats.stages)[0];
      this.history.record(this.historyKey(defIn.namespace), {
        ...base,
        status: 'completed',
        completed_at: b.completed_at,
        duration_ms: round(performance.now() - started),
        credits_used: (b.budget as { credits_used: number }).credits_used,
        total_processed: first?.output_count ?? 0,
        total_returned: (b.documents as unknown[]).length,
        cache_hit: r.cacheHit,
        stages_completed: b.stages_completed,
        stage_statistics: b.stage_statistics,
        budget: b.budget,
      });
      return r;
    } catch (e) {
      const qe = e instanceof QuarryError ? e : undefined;
      this.history.record(this.historyKey(defIn.namespace), {
        ...base,
        status: 'failed',
        completed_at: new Date().toISOString(),
        duration_ms: round(performance.now() - started),
        error: qe ? qe.toBody().error : { type: 'InternalServerError', message: 'internal error; see the engine log' },
      });
      throw e;
    }
  }

  private async executeOnce(defIn: RetrieverDefinition, req: ExecuteRequest, opts: ExecuteOptions, executionId: string, createdAt: string, started: number): Promise<ExecuteResult> {
    if (!isObj(req)) throw badRequest('the request body must be a JSON object', { field: 'body' });
    const def = defIn;
    this.checkAvailable(def);
    const inputs = validateInputs(def.input_schema, req.inputs);
    if (req.filters !== undefined && req.filters !== null && !isObj(req.filters)) {
      throw badRequest('filters must be a filter object: {field, operator, value} or {AND|OR|NOT: [...]}', { field: 'filters' });
    }
    if (req.return_vectors !== undefined && typeof req.return_vectors !== 'boolean') throw badRequest('return_vectors must be true or false', { field: 'return_vectors' });
    const presignField = req.return_presigned_urls !== undefined ? 'return_presigned_urls' : 'return_urls';
    const presignUrls = req[presignField];
    if (presignUrls !== undefined && typeof presignUrls !== 'boolean') throw badRequest(`${presignField} must be true or false`, { field: presignField });
    checkPagination(req);
    const filters = req.filters ? (resolveDynamic(renderValue(req.filters, { inputs }, { stage: '(request)', parameter: 'filters' }), { inputs, INPUT: inputs }) as FilterNode) : undefined;
    const returnVectors = req.return_vectors === true;

    // cache_config.cache_stage_names (reference §3.9: "default = cache final result") caches those stages instead.
    // fusion: learned ranks by the interactions recorded so far: its results are never reused from the cache.
    const learned = def.stages.some((st) => st.stage_id === 'feature_search' && st.parameters?.fusion === 'learned');
    const cacheOn = def.cache_config?.enabled !== false && this.deps.features.indexSignature !== undefined && !opts.onEvent && !def.cache_config?.cache_stage_names?.length && !learned;
    const ttl = def.cache_config?.ttl_seconds ?? 3600;
    let key: string | undefined;
    let signature = '';
    if (this.deps.features.indexSignature) signature = await this.deps.features.indexSignature(def.collection_identifiers, def.namespace);
    if (cacheOn) key = hashOf({ c: def.collection_identifiers, s: def.stages, i: inputs, f: filters ?? null, v: returnVectors, n: def.namespace ?? null, sig: signature });

    let run: RunResult;
    let cacheHit = false;
    const cached = key ? this.cache.get(key) : undefined;
    if (cached) {
      cacheHit = true;
      run = { ...cached, elapsed: performance.now() - started };
    } else {
      run = await this.run(def, inputs, filters, returnVectors, executionId, started, { ...opts, signature }, 0);
      if (key && !run.budgetExceeded) this.cache.set(key, { docs: run.docs, stages: run.stages, ...(run.facets ? { facets: run.facets } : {}), credits: run.credits, tokens: run.tokens }, ttl);
    }
    const page = paginate(run.docs, req);
    let documents = page.documents.map((d) => outputDoc(d, returnVectors));
    if (presignUrls === true && this.deps.presign) documents = await presignDocuments(documents, this.deps.presign, def.namespace);
    const totalMs = round(performance.now() - started);
    const maxCredits = def.budget_limits?.max_credits;
    const maxTime = def.budget_limits?.max_time_ms;
    const stages = cacheHit ? Object.fromEntries(Object.entries(run.stages).map(([k, s]) => [k, { ...s, cache_hit: true }])) : run.stages;
    const body: Record<string, unknown> = {
      execution_id: executionId,
      status: 'completed',
      ...(def.retriever_id ? { retriever_id: def.retriever_id } : {}),
      ...(def.retriever_name ? { retriever_name: def.retriever_name } : {}),
      documents,
      pagination: page.pagination,
      stage_statistics: stageStatistics(stages, totalMs, run.credits),
      budget: {
        credits_used: run.credits,
        credits_limit: maxCredits ?? null,
        credits_remaining: maxCredits !== undefined ? Math.max(0, maxCredits - run.credits) : null,
        time_elapsed_ms: totalMs,
        // The reference gives both spellings (§3.4: time_elapsed_ms | time_used_ms); both are sent.
        time_used_ms: totalMs,
        time_limit_ms: maxTime ?? null,
        tokens_used: run.tokens,
        exceeded: Boolean(run.budgetExceeded),
        ...(run.budgetExceeded ? { halted_before_stage: run.budgetExceeded.stage, reason: run.budgetExceeded.reason } : {}),
      },
      ...(run.facets ? { facets: run.facets } : {}),
      cache_hit: cacheHit,
      optimization_applied: false,
      created_at: createdAt,
      completed_at: new Date().toISOString(),
      current_stage: def.stages[def.stages.length - 1]!.stage_name,
      stages_completed: Object.keys(run.stages).length,
      total_stages: def.stages.length,
      execution_metadata: { retriever_persisted: !opts.adhoc, execution_mode: opts.adhoc ? 'adhoc' : 'named', index_signature: signature || null },
    };
    // Uncached runs are unique, and so is their execution id: hashing it with the page would add nothing but time.
    const etag = key ? `"${hashOf({ k: key, p: req.pagination ?? null, l: req.limit ?? null, o: req.offset ?? null, s: req.settings ?? null, u: presignUrls === true })}"` : `"${executionId}"`;
    opts.onEvent?.({ event_type: 'execution_complete', execution_id: executionId, documents, pagination: page.pagination, stage_statistics: body.stage_statistics, budget: body.budget });
    return { body, cacheHit, etag, ttlSeconds: cacheOn ? ttl : 0 };
  }

  /** Refuses pipelines naming stages that are registered but not available, before any stage runs. */
  private checkAvailable(def: RetrieverDefinition): void {
    for (const s of def.stages) {
      const mod = getStage(s.stage_id);
      if (mod.available === false) {
        throw new QuarryError('NotEnabledError', `stage '${s.stage_name}' uses ${mod.id}, which is not available in Quarry: ${mod.unavailableReason ?? 'not built yet'}; remove the stage or replace it`, {
          stage: s.stage_name,
          stage_id: mod.id,
        });
      }
    }
  }

  private async run(def: RetrieverDefinition, inputs: Record<string, unknown>, filters: FilterNode | undefined, returnVectors: boolean, executionId: string, started: number, opts: ExecuteOptions, depth: number): Promise<RunResult> {
    const stats: Record<string, StageStatistics> = {};
    const outputs: Record<string, StageSummary> = {};
    let facets: Record<string, unknown> | undefined;
    let docs: Doc[] = [];
    let credits = 0;
    let tokens = 0;
    const total = def.stages.length;
    const signal = opts.signal, llmOf = lazyLlm(this.deps, def.namespace);
    for (let i = 0; i < total; i++) {
      const st = def.stages[i]!;
      const mod = getStage(st.stage_id);
      const elapsed = performance.now() - started;
      const maxTime = def.budget_limits?.max_time_ms;
      const maxCredits = def.budget_limits?.max_credits;
      if (maxTime !== undefined && elapsed > maxTime) return { docs, stages: stats, ...(facets ? { facets } : {}), credits, tokens, elapsed, budgetExceeded: { stage: st.stage_name, reason: `time budget ${maxTime} ms exceeded` } };
      if (maxCredits !== undefined && credits + stageCredits(mod.id) > maxCredits) {
        return { docs, stages: stats, ...(facets ? { facets } : {}), credits, tokens, elapsed, budgetExceeded: { stage: st.stage_name, reason: `credit budget ${maxCredits} exceeded` } };
      }
      const context = {
        execution_id: executionId,
        retriever_id: def.retriever_id ?? null,
        retriever_name: def.retriever_name ?? null,
        namespace_id: def.namespace ?? null,
        stage_index: i,
        time_elapsed_ms: round(elapsed),
        budget_remaining: maxCredits !== undefined ? maxCredits - credits : maxTime !== undefined ? Math.max(0, maxTime - elapsed) : null,
      };
      const scope: TemplateScope = { inputs, context, stage: outputs };
      opts.onEvent?.({ event_type: 'stage_start', execution_id: executionId, stage_name: st.stage_name, stage_index: i, total_stages: total });
      const t0 = performance.now();
      const metadata: Record<string, unknown> = {};
      const usage = newUsage();
      // {{SECRET.name}} in egress parameters, resolved from this run's namespace (secrets.ts); scrubbed from errors and metadata.
      let secrets: StageSecrets | undefined;
      const scopeFor = (parameter: string) => (secrets?.egress(parameter) ? { ...scope, secret: secrets.scope } : scope);
      try {
        // Parameters without templates are validated once per stage instance and reused (they cannot change).
        let params = staticParams.get(st);
        if (!params) {
          const aliased = mod.normalize ? mod.normalize({ ...st.parameters }) : { ...st.parameters };
          const isStatic = !containsTemplate(aliased, mod.id === 'api_call');
          if (!isStatic) secrets = await stageSecrets(mod.id, st.stage_name, aliased, this.deps.secrets, def.namespace);
          const rendered: Record<string, unknown> = {};
          for (const [k, v] of Object.entries(aliased)) {
            const perDoc = mod.perDocParameters?.includes(k) ?? false;
            rendered[k] = perDoc ? v : renderValue(v, scopeFor(k), { stage: st.stage_name, parameter: k }, { skipDoc: true, singleBraces: mod.id === 'api_call' });
            if (!perDoc && referencesDoc(rendered[k]) && mod.category !== 'apply' && mod.category !== 'enrich') {
              throw badRequest(`template error in stage '${st.stage_name}', parameter '${k}': DOC is only available in per-document parameters`, { stage: st.stage_name, parameter: k });
            }
          }
          params = validateParams(mod, st.stage_name, rendered);
          // Defaults may be input templates (rerank's query defaults to {{INPUT.query}}): rendered like given parameters,
          // and then the parameters depend on the request, so they are not cached.
          let templatedDefault = false;
          for (const [k, v] of Object.entries(params)) {
            // Only defaults that read the request's inputs; placeholders such as {{TAXONOMY_ID}} stay literal for the stage to refuse.
            if (k in rendered || mod.perDocParameters?.includes(k) || typeof v !== 'string' || !containsTemplate(v, mod.id === 'api_call') || !/\binput\./i.test(v)) continue;
            params[k] = renderValue(v, scope, { stage: st.stage_name, parameter: k }, { skipDoc: true, singleBraces: mod.id === 'api_call' });
            templatedDefault = true;
          }
          if (isStatic && !templatedDefault) staticParams.set(st, params);
        }
        const ignored = unknownParameters(mod, params);
        if (ignored.length) metadata.ignored_parameters = ignored;
        const pre = st.pre_filters ? (resolveDynamic(renderValue(st.pre_filters, scope, { stage: st.stage_name, parameter: 'pre_filters' }), { inputs, INPUT: inputs }) as FilterNode) : undefined;
        const retrieving = RETRIEVING.has(mod.id) || (mod.id === 'attribute_filter' && i === 0);
        const input = retrieving ? docs : filterDocs(docs, pre);
        const later = def.stages.slice(i + 1).some((s) => VECTOR_STAGES.has(s.stage_id));
        const { llm, error: llmError } = await llmOf(mod.id);
        const ctx: StageContext = {
          stageName: st.stage_name,
          stageId: mod.id,
          params,
          inputs,
          definition: def,
          deps: this.deps,
          ...(def.namespace ? { namespace: def.namespace } : {}),
          ...(retrieving ? { filters: mergeFilters(filters, pre) } : {}),
          renderForDoc: (value, doc, parameter, extra) =>
            renderValue(value, { ...scopeFor(parameter), doc, ...(extra ? { extra, context: { ...context, ...extra } } : {}) }, { stage: st.stage_name, parameter }, { singleBraces: mod.id === 'api_call' }),
          metadata,
          setFacets: (f) => {
            facets = { ...(facets ?? {}), ...f };
          },
          stageOutputs: outputs,
          wantVectors: later || returnVectors,
          embedText: (model, text) => this.embed(model, text),
          complete: llmError ? () => Promise.reject(llmError) : this.inference.for(llm, usage, st.stage_name, signal, maxTime !== undefined ? started + maxTime : undefined, def.namespace, byok(params)),
          ...(llm ? { llmModel: llm.model } : {}),
          ...(llm?.contextTokens ? { llmContextTokens: llm.contextTokens } : {}),
          runRetriever: async (raw, nestedInputs) => {
            if (depth + 1 >= MAX_NESTING) throw badRequest(`stage '${st.stage_name}': retrievers nest deeper than ${MAX_NESTING} levels`, { stage: st.stage_name });
            // Always normalised (a definition already in normalised form comes out the same), so only the fields a
            // definition has are kept; it runs in the caller's namespace, whatever the config or a stored retriever says.
            const nested = normalizeDefinition(raw, `stage '${st.stage_name}' retriever`);
            this.checkAvailable(nested);
            const nestedIn = validateInputs(nested.input_schema, nestedInputs);
            const { namespace: _ignored, ...own } = nested;
            const r = await this.run({ ...own, ...(def.namespace !== undefined ? { namespace: def.namespace } : {}) }, nestedIn, undefined, false, executionId, performance.now(), {}, depth + 1);
            credits += r.credits;
            tokens += r.tokens;
            return r.docs;
          },
          ...(signal ? { signal } : {}),
        };
        // Per-stage cache for expensive stages (reference §3.9): keyed by the stage, its rendered parameters, its
        // input documents, the filters and the index signature; `cache_behavior: disabled` opts out. With
        // cache_config.cache_stage_names, exactly the listed stages are cached (any kind) and the final result is not.
        const listed = def.cache_config?.cache_stage_names;
        const stageKey =
          opts.signature && (listed?.length ? listed.includes(st.stage_name) : CACHEABLE.has(mod.id)) && params.cache_behavior !== 'disabled' && params.fusion !== 'learned' && def.cache_config?.enabled !== false
            ? hashOf({ id: mod.id, p: params, d: input.map((d) => outputDoc(d, false)), f: ctx.filters ?? null, v: ctx.wantVectors, sig: opts.signature, n: def.namespace ?? null, l: llm ? `${llm.provider}|${llm.model}` : null })
            : undefined;
        const cachedStage = stageKey ? this.stageCache.get(stageKey) : undefined;
        let out = cachedStage ?? (await mod.execute(input, ctx));
        if (stageKey && !cachedStage) this.stageCache.set(stageKey, out, typeof params.cache_ttl_seconds === 'number' ? params.cache_ttl_seconds : (def.cache_config?.ttl_seconds ?? 3600));
        if (st.post_filters) {
          const post = resolveDynamic(renderValue(st.post_filters, scope, { stage: st.stage_name, parameter: 'post_filters' }), { inputs, INPUT: inputs }) as FilterNode;
          out = filterDocs(out, post);
        }
        const duration = round(performance.now() - t0);
        if (secrets) for (const [k, v] of Object.entries(metadata)) metadata[k] = secrets.redact(v);
        // LLM stages also pay one credit per started 1000 tokens they used.
        if (!cachedStage) credits += stageCredits(mod.id) + Math.ceil(usage.tokens / 1000);
        tokens += usage.tokens;
        const s: StageStatistics = {
          input_count: input.length,
          output_count: out.length,
          duration_ms: duration,
          efficiency: input.length === 0 ? 0 : round(out.length / input.length),
          cache_hit: cachedStage !== undefined,
          ...(usage.calls || usage.cache_hits ? { llm_calls: usage.calls, tokens_used: usage.tokens } : {}),
          ...(usage.calls || usage.cache_hits ? { metadata: { ...metadata, model_name: llm?.model, llm_cache_hits: usage.cache_hits, prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens } } : Object.keys(metadata).length ? { metadata } : {}),
        };
        stats[st.stage_name] = s;
        outputs[st.stage_name] = summary(out, duration);
        docs = out;
        opts.onEvent?.({
          event_type: 'stage_complete',
          execution_id: executionId,
          stage_name: st.stage_name,
          stage_index: i,
          total_stages: total,
          documents: docs.slice(0, 100).map((d) => outputDoc(d, false)),
          statistics: s,
          budget_used: { credits_used: credits, time_elapsed_ms: round(performance.now() - started), tokens_used: tokens },
        });
      } catch (raw) {
        const e = secrets ? secrets.redactError(raw) : raw;
        const message = (e as Error).message;
        opts.onEvent?.({ event_type: 'stage_error', execution_id: executionId, stage_name: st.stage_name, stage_index: i, error: message });
        if (!(e instanceof QuarryError)) log.error({ err: e, stage: st.stage_name, stage_id: mod.id }, 'stage failed');
        throw e;
      }
    }
    return { docs, stages: stats, ...(facets ? { facets } : {}), credits, tokens, elapsed: performance.now() - started };
  }

  /** Text embedding with in-flight de-duplication and a bounded cache (identical model calls run once). */
  private embed(model: string, text: string): Promise<Float32Array> {
    const models = this.deps.models;
    if (!models) throw new QuarryError('InferenceServiceUnavailableError', `no models are loaded, so text queries cannot be embedded with '${model}'; send a vector query or configure models`, { model });
    const k = `${model}\u0000${text}`;
    let p = this.embeddings.get(k);
    if (!p) {
      p = models.embedText(model, [text]).then((v) => v[0]!);
      p.catch(() => this.embeddings.delete(k));
      if (this.embeddings.size > 2000) this.embeddings.delete(this.embeddings.keys().next().value!);
      this.embeddings.set(k, p);
    }
    return p;
  }
}

/**
 * `stage_statistics` in the SDK form `{stages: {name: stats}, total_time_ms, credits_used}` (reference §3.4), plus the
 * seed page's flat form `{name: stats}` for every stage whose name does not collide with those three keys, so
 * clients written against either read it.
 */
function stageStatistics(stages: Record<string, StageStatistics>, totalMs: number, credits: number): Record<string, unknown> {
  const out: Record<string, unknown> = { stages, total_time_ms: totalMs, credits_used: credits };
  for (const [name, s] of Object.entries(stages)) if (!(name in out)) out[name] = s;
  return out;
}

function summary(docs: Doc[], duration: number): StageSummary {
  let top: number | null = null;
  for (const d of docs) if (typeof d.score === 'number' && (top === null || d.score > top)) top = d.score;
  return { count: docs.length, top_score: top, duration_ms: duration, document_ids: docs.slice(0, 100).map((d) => String(d.document_id ?? '')) };
}

/** The document as returned: vectors removed, or turned into plain arrays when requested. */
export function outputDoc(d: Doc, returnVectors: boolean): Doc {
  if (!('_vectors' in d)) return d;
  const { _vectors, ...rest } = d;
  if (!returnVectors) return rest;
  const v: Record<string, number[]> = {};
  for (const [k, x] of Object.entries((_vectors ?? {}) as Record<string, ArrayLike<number>>)) v[k] = Array.from(x);
  return { ...rest, _vectors: v };
}

/** An LLM stage's `api_key` (BYOK, usually `{{SECRET.name}}`): the key its calls send to the namespace's provider. */
const byok = (params: Record<string, unknown>): string | undefined => (typeof params.api_key === 'string' && params.api_key.trim() ? params.api_key.trim() : undefined);

const round = (n: number) => Math.round(n * 1000) / 1000;
