/**
 * The management API (issue #9): create, get, list, patch and delete namespaces, buckets, collections, retrievers
 * and taxonomies (and the documented full-update PUT of namespaces and buckets), by name or id, in the documented shapes (reference §0.1, §1). One code path for both modes: the
 * custom resources go through the ResourceStore port (server-side apply under the adapter's field manager,
 * quarry-engine in cluster mode; the local store in local mode), validated first with the same validator the
 * operator uses, so a bad body is a 422 naming the API field and the fix instead of a Stalled resource.
 * Deletion only deletes the resource: the operator's finalizers clean up the data.
 *
 * Tenancy (auth/tenancy.ts): a request sees the QuarryNamespaces of the Kubernetes namespace it is confined to (its
 * key's), or of every Kubernetes namespace the engine serves for a cluster-wide key; it creates namespaces in that
 * Kubernetes namespace (a cluster-wide key: X-Kubernetes-Namespace, else the engine's default). A namespace's
 * buckets, collections, retrievers and taxonomies live in its Kubernetes namespace.
 *
 * Routes share prefixes with the ingestion (/v1/buckets/:bucket/objects…, /v1/collections/:collection/trigger) and
 * retriever routes (/v1/retrievers/stages, /v1/retrievers/execute, /v1/retrievers/:id/execute…): the parameter
 * names are the same as theirs and the router prefers static segments (tested), so none shadows another.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { authorizeNamespace, mayAccessNamespace } from '../auth/http.ts';
import { requestK8sNamespace, splitNamespaceIdent } from '../auth/tenancy.ts';
import { QuarryError, notFound } from '../lib/errors.ts';
import { namespaceHeader } from '../http/request-params.ts';
import type { Resource, ResourceStore } from '../ports/resource-store.ts';
import type { QuarryKind, QuarryNamespace } from '../resources/generated/types.ts';
import { validateResource } from '../resources/validate.ts';
import { registerPublishRoutes } from '../publish/publish-api.ts';
import { as, BodyReader, checkName, idOf, intent, isObj, Scope, unprocessable, type ApiKind } from './common.ts';
import { displayName, matchAll, objectNameFor } from './identifiers.ts';
import { KIND_APIS, toApiErrors, type KindApi } from './kinds.ts';
import { listResponse } from './list.ts';
import type { TaxonomyToExecute } from '../retriever/taxonomy-execute.ts';

export interface ManagementRoutesDeps {
  resources: ResourceStore;
  /**
   * Where namespaces are created for requests not confined to a Kubernetes namespace (local mode: the local pseudo
   * namespace).
   */
  k8sNamespace: string;
  /** The Kubernetes namespaces the engine serves; undefined: all. Default: only k8sNamespace. */
  k8sNamespaces?: readonly string[] | undefined;
  /** Runs a taxonomy on sample documents (retriever/taxonomy-execute.ts); serves POST …/taxonomies/{id}/execute when given. */
  executeTaxonomy?(t: TaxonomyToExecute, body: unknown): Promise<unknown>;
}

/** Route parameter per kind: the names the ingestion and retriever routes already use at the same position. */
const PARAM: Record<ApiKind, string> = {
  QuarryNamespace: 'namespace_identifier',
  Bucket: 'bucket',
  Collection: 'collection',
  Retriever: 'id',
  Taxonomy: 'taxonomy_identifier',
};

/** Children deleted with their namespace, dependents first (the documented namespace delete removes everything). */
const CHILDREN: readonly QuarryKind[] = ['Taxonomy', 'Retriever', 'Collection', 'Bucket'];

/** Kinds with a documented full update (PUT) besides PATCH (reference §0.1). */
const PUT_KINDS: readonly QuarryKind[] = ['QuarryNamespace', 'Bucket'];

function pick(q: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => q[k] !== undefined).map((k) => [k, k === 'case_sensitive' ? q[k] === 'true' : q[k]]));
}

function bodyOf(req: FastifyRequest, optional = false): Record<string, unknown> {
  const b = req.body;
  if ((b === undefined || b === null) && optional) return {};
  if (!isObj(b)) throw unprocessable([{ field: 'body', message: 'the request body must be a JSON object' }]);
  return { ...b };
}

/**
 * A collection's vector index (the VectorIndexDefinition of its response: name, description, type single, index)
 * as the flat VectorIndex a feature descriptor carries (reference §1.5; the SDK's model requires description and the
 * vector type dense/sparse/multi_dense at the top level, beside the storage name, dimensions and distance).
 */
function vectorIndexOf(v: Record<string, unknown>): Record<string, unknown> {
  const index = (v.index ?? {}) as Record<string, unknown>;
  const name = (index.name ?? v.name) as string | undefined;
  return {
    ...index,
    name,
    description: typeof v.description === 'string' && v.description.length >= 10 ? v.description : `vector index ${name ?? ''}`.trim(),
    type: index.type ?? 'dense',
    distance: index.distance ?? 'cosine',
  };
}

export function registerManagementRoutes(app: FastifyInstance, deps: ManagementRoutesDeps): void {
  const { resources: store, k8sNamespace } = deps;
  const served = 'k8sNamespaces' in deps ? deps.k8sNamespaces : [k8sNamespace];

  /** The Kubernetes namespaces a request sees: the one it is confined to, else every one served (undefined: all). */
  const visible = (req: FastifyRequest): readonly (string | undefined)[] => {
    const mine = requestK8sNamespace(req);
    return mine !== undefined ? [mine] : (served ?? [undefined]);
  };
  /** QuarryNamespaces (being deleted too) in the given Kubernetes namespaces. */
  const namespacesIn = async (where: readonly (string | undefined)[]): Promise<Resource[]> =>
    (await Promise.all(where.map((ns) => store.list('QuarryNamespace', ns === undefined ? {} : { namespace: ns })))).flat();
  /** The one QuarryNamespace an identifier names among `where`: 404 for none, 400 when several tenants have it. */
  const namespaceNamed = async (ident: string, where: readonly (string | undefined)[], shown: string): Promise<Resource> => {
    const candidates = matchAll(await namespacesIn(where), ident);
    if (candidates.length === 0) throw notFound('namespace', shown);
    if (candidates.length > 1) {
      throw new QuarryError('BadRequestError', `namespace '${shown}' exists in Kubernetes namespaces ${candidates.map((q) => q.metadata.namespace).join(', ')}: send X-Namespace: <k8s-namespace>/${ident}, X-Kubernetes-Namespace or the namespace id`, {
        field: 'X-Namespace',
      });
    }
    return candidates[0]!;
  };

  /** The request's scope: X-Namespace (name or id) for namespaced kinds; for namespaces, where they are created. */
  const scopeOf = async (api: KindApi, req: FastifyRequest): Promise<Scope> => {
    if (!api.scoped) return new Scope(store, requestK8sNamespace(req) ?? k8sNamespace, undefined, served);
    const header = namespaceHeader(req);
    if (!header) throw new QuarryError('BadRequestError', `missing X-Namespace header: name the namespace (name or id) whose ${api.info.plural} to act on`, { field: 'X-Namespace' });
    // `<k8s-namespace>/<name>` names the Kubernetes namespace (the auth hook refused one outside the key's binding).
    const { k8s, ident } = splitNamespaceIdent(header);
    if (k8s !== undefined && served && !served.includes(k8s)) throw notFound('namespace', header);
    const ns = await namespaceNamed(ident, k8s !== undefined ? [k8s] : visible(req), header);
    // The auth hook checked the header as given; an id is checked here by the name it resolves to.
    authorizeNamespace(req, displayName(ns));
    return new Scope(store, ns.metadata.namespace ?? k8sNamespace, as<QuarryNamespace>(ns), served);
  };

  /** The resource a path names, and the scope to answer in (a namespace's: its own Kubernetes namespace). */
  const find = async (api: KindApi, scope: Scope, req: FastifyRequest): Promise<{ r: Resource; scope: Scope }> => {
    const ident = (req.params as Record<string, string>)[PARAM[api.info.kind]] ?? '';
    if (!api.scoped) {
      const r = await namespaceNamed(ident, visible(req), ident);
      authorizeNamespace(req, displayName(r));
      return { r, scope: new Scope(store, r.metadata.namespace ?? k8sNamespace) };
    }
    const r = await scope.resolve(api.info.kind, ident);
    if (!r) throw notFound(api.info.word, ident);
    return { r, scope };
  };
  /** Namespaces answer with the Kubernetes namespace they live in (several tenants may have the same name). */
  const respond = async (api: KindApi, r: Resource, scope: Scope): Promise<Record<string, unknown>> => {
    const out = await api.respond(r, scope);
    return api.scoped ? out : { ...out, kubernetes_namespace: r.metadata.namespace ?? null };
  };

  /** Documented aliases → canonical fields; sending both is ambiguous. */
  const canonical = (api: KindApi, body: Record<string, unknown>, r: BodyReader) => {
    for (const [alias, canon] of Object.entries(api.aliases)) {
      if (!(alias in body)) continue;
      if (canon in body) r.fail(alias, `send either ${alias} or ${canon}, not both`);
      else body[canon] = body[alias];
      delete body[alias];
    }
  };

  /** Validates like the apiserver and the operator would, naming API fields; returns nothing or throws a 422. */
  const validate = async (api: KindApi, obj: ReturnType<typeof intent>, scope: Scope, old?: Resource) => {
    const context = api.context ? await api.context(obj.spec, scope) : undefined;
    const res = validateResource(obj, { ...(old ? { old } : {}), ...(context ? { context } : {}) });
    if (!res.valid) throw unprocessable(toApiErrors(api, res.errors));
  };

  /** A whole spec from a create-shaped body (POST, PUT): every required field, nothing left from before. */
  const fullSpec = async (api: KindApi, body: Record<string, unknown>, scope: Scope, r: BodyReader): Promise<Record<string, unknown>> => {
    canonical(api, body, r);
    r.only(body, [api.info.nameField, ...Object.keys(api.fields)], '', api.unsupported);
    for (const f of api.required) if (body[f] === undefined || body[f] === null) r.fail(f, 'required field is missing: add it');
    const spec: Record<string, unknown> = api.scoped ? { namespaceRef: scope.ns!.metadata.name } : {};
    for (const [field, fn] of Object.entries(api.fields)) {
      if (body[field] === undefined || body[field] === null) continue;
      for (const [k, v] of Object.entries(await fn(body[field], { r, scope, body }))) if (v !== undefined) spec[k] = v;
    }
    return spec;
  };

  const wrap = (api: KindApi, r: Record<string, unknown>) => (api.info.kind === 'Retriever' ? { retriever: r } : r);

  for (const api of Object.values(KIND_APIS)) {
    const { info } = api;
    const base = `/v1/${info.plural}`;
    const item = `${base}/:${PARAM[info.kind]}`;

    app.post(base, async (req) => {
      const scope = await scopeOf(api, req);
      const body = bodyOf(req);
      const r = new BodyReader();
      r.errors.push(...checkName(info.kind, info.nameField, body[info.nameField]));
      const spec = await fullSpec(api, body, scope, r);
      r.throwIfAny();
      const name = body[info.nameField] as string;
      if (!api.scoped) authorizeNamespace(req, name);
      // Display names are unique per kind in the Quarry namespace (namespaces: in the Kubernetes namespace); the
      // object name is the display name when it is a free DNS label, else derived (identifiers.ts).
      const existing = (await scope.list(info.kind)).find((x) => displayName(x) === name);
      if (existing) {
        const gone = existing.metadata.deletionTimestamp ? ' and is being deleted; retry once it is gone' : '';
        throw new QuarryError('AlreadyExistsError', `${info.word} '${name}' already exists${gone}: choose another ${info.nameField}`, { resource: info.word, name, id: idOf(existing) });
      }
      const taken = new Set((await scope.all(info.kind)).map((x) => x.metadata.name));
      const objectName = objectNameFor(api.scoped ? scope.ns!.metadata.name : '', info.kind, name, { taken: (n) => taken.has(n) });
      const obj = intent(info.kind, objectName, scope.k8sNamespace, spec, name);
      await validate(api, obj, scope);
      // Server-side apply creates; a concurrent create of the same name merges instead of failing (the check above
      // is not atomic), which the validator-clean intent makes harmless.
      const applied = await store.apply(obj);
      // 200, not 201: the official SDK's generated client maps only 200 on create and returns None otherwise.
      return respond(api, applied, new Scope(store, scope.k8sNamespace, scope.ns, served));
    });

    app.get(item, async (req) => {
      const found = await find(api, await scopeOf(api, req), req);
      return respond(api, found.r, found.scope);
    });

    // Publishing (reference §3.10): spec.publish of the Retriever, written through the same validation as a PATCH.
    if (info.kind === 'Retriever') {
      registerPublishRoutes(app, {
        item,
        find: async (req) => (await find(api, await scopeOf(api, req), req)).r,
        all: async () => (await Promise.all((served ?? [undefined]).map((ns) => store.list('Retriever', ns === undefined ? {} : { namespace: ns })))).flat(),
        idOf,
        save: async (req, current, spec, displayConfig) => {
          const scope = await scopeOf(api, req);
          const r = new BodyReader();
          if (displayConfig !== undefined) Object.assign(spec, await api.fields.display_config!(displayConfig, { r, scope, body: {} }));
          r.throwIfAny();
          const obj = intent(info.kind, current.metadata.name, scope.k8sNamespace, spec, displayName(current));
          await validate(api, obj, scope, current);
          return store.apply({ ...obj, metadata: { ...obj.metadata, uid: current.metadata.uid } }, { force: true });
        },
      });
    }

    // A collection's features (reference §1.5 GET …/features): one descriptor per vector index it writes.
    if (info.kind === 'Collection') {
      app.get(`${item}/features`, async (req) => {
        const found = await find(api, await scopeOf(api, req), req);
        const c = await api.respond(found.r, found.scope);
        const fx = (c.feature_extractor ?? {}) as Record<string, unknown>;
        const indexes = (c.vector_indexes ?? []) as Record<string, unknown>[];
        return {
          features: indexes.map((v, i) => ({
            feature_address: v.feature_uri,
            feature_uri: v.feature_uri,
            feature_extractor_name: fx.feature_extractor_name,
            version: fx.version,
            vector_index: vectorIndexOf(v),
            primary: i === 0,
          })),
        };
      });
    }

    // On-demand taxonomy execution on sample documents (reference §1.8; both spellings the SDK calls).
    const executeTaxonomy = deps.executeTaxonomy;
    if (info.kind === 'Taxonomy' && executeTaxonomy) {
      const execute = async (req: FastifyRequest) => {
        const found = await find(api, await scopeOf(api, req), req);
        const t = await api.respond(found.r, found.scope);
        const ns = found.scope.ns!;
        return executeTaxonomy(
          { taxonomy_id: t.taxonomy_id as string, taxonomy_name: t.taxonomy_name as string, config: (t.config ?? {}) as Record<string, unknown>, namespace: `${ns.metadata.namespace ?? found.scope.k8sNamespace}/${ns.metadata.name}` },
          req.body,
        );
      };
      app.post(`${item}/execute`, execute);
      app.post(`${base}/execute/:${PARAM[info.kind]}`, execute);
    }

    const list = async (req: FastifyRequest, body: Record<string, unknown>) => {
      const scope = await scopeOf(api, req);
      // Namespaces: every one the request sees, and of those only what a key scoped to some namespaces may act on.
      const items = api.scoped ? await scope.list(info.kind) : (await namespacesIn(visible(req))).filter((x) => mayAccessNamespace(req, displayName(x)));
      const out = await Promise.all(items.map((x) => respond(api, x, api.scoped ? scope : new Scope(store, x.metadata.namespace ?? k8sNamespace))));
      return listResponse(out, info, body, req.query as Record<string, unknown>);
    };
    app.post(`${base}/list`, async (req) => list(req, bodyOf(req, true)));
    // The GET form (the SDK's list_*_get): the same list, paging and search in the query string.
    app.get(base, async (req) => list(req, pick(req.query as Record<string, unknown>, ['search', 'case_sensitive'])));

    app.patch(item, async (req) => {
      const { r: current, scope } = await find(api, await scopeOf(api, req), req);
      const body = bodyOf(req);
      const r = new BodyReader();
      canonical(api, body, r);
      for (const k of Object.keys(body)) {
        if (k in api.fields && !api.patchable.includes(k)) r.fail(k, `${k} cannot be changed after creation: create a new ${info.word}`);
      }
      r.only(body, [info.nameField, ...Object.keys(api.fields)], '', api.unsupported);
      const newName = body[info.nameField];
      if (newName !== undefined && newName !== null && newName !== displayName(current)) {
        r.fail(info.nameField, `renaming is not supported: the name is the ${info.word}'s identity (its resource name); create a new ${info.word} named '${String(newName)}' instead`);
      }
      const spec = structuredClone((current.spec ?? {}) as Record<string, unknown>);
      for (const field of api.patchable) {
        if (!(field in body)) continue;
        for (const [k, v] of Object.entries(await api.fields[field]!(body[field], { r, scope, body }))) {
          if (v === undefined) delete spec[k];
          else spec[k] = v;
        }
      }
      r.throwIfAny();
      const obj = intent(info.kind, current.metadata.name, scope.k8sNamespace, spec, displayName(current));
      // The CRDs' immutability rules (extractor, source, storage, shards, existing namespace extractors) run here.
      await validate(api, obj, scope, current);
      // force: a PATCH is the user taking ownership of these fields, even ones another manager (kubectl) applied.
      const applied = await store.apply({ ...obj, metadata: { ...obj.metadata, uid: current.metadata.uid } }, { force: true });
      return wrap(api, await respond(api, applied, new Scope(store, scope.k8sNamespace, scope.ns, served)));
    });

    // Full replacement (PUT), documented for namespaces and buckets: the body is a whole create body; fields left
    // out are removed, immutable ones must stay as they are.
    if (PUT_KINDS.includes(info.kind)) {
      app.put(item, async (req) => {
        const { r: current, scope } = await find(api, await scopeOf(api, req), req);
        const body = bodyOf(req);
        const r = new BodyReader();
        const newName = body[info.nameField];
        if (newName !== undefined && newName !== null && newName !== displayName(current)) {
          r.fail(info.nameField, `renaming is not supported: the name is the ${info.word}'s identity (its resource name); create a new ${info.word} named '${String(newName)}' instead`);
        }
        const spec = await fullSpec(api, body, scope, r);
        r.throwIfAny();
        const obj = intent(info.kind, current.metadata.name, scope.k8sNamespace, spec, displayName(current));
        await validate(api, obj, scope, current);
        const applied = await store.apply({ ...obj, metadata: { ...obj.metadata, uid: current.metadata.uid } }, { force: true });
        return respond(api, applied, new Scope(store, scope.k8sNamespace, scope.ns, served));
      });
    }

    app.delete(item, async (req) => {
      const { r: current, scope } = await find(api, await scopeOf(api, req), req);
      const name = current.metadata.name;
      if (info.kind === 'QuarryNamespace') {
        for (const kind of CHILDREN) {
          for (const child of await scope.all(kind)) {
            if ((child.spec as { namespaceRef?: string } | undefined)?.namespaceRef !== name) continue;
            await store.delete(kind, { ...scope.key(child.metadata.name), ...(child.metadata.uid ? { uid: child.metadata.uid } : {}) });
          }
        }
      }
      await store.delete(info.kind, { ...scope.key(name), ...(current.metadata.uid ? { uid: current.metadata.uid } : {}) });
      return {
        success: true,
        [info.idField]: idOf(current),
        [info.nameField]: displayName(current),
        message: `${info.word} '${displayName(current)}' deleted; its data is removed by the operator according to its deletion_policy`,
      };
    });
  }
}
