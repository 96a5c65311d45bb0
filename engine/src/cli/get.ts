/**
 * `quarry get <kind> [name]`: one resource (GET /v1/<kind>/{name}) or all of a kind (POST /v1/<kind>/list), for
 * namespaces, buckets, collections, retrievers and taxonomies; also the objects of a bucket
 * (`get objects --bucket b`, POST /v1/buckets/{b}/objects/list, every page).
 */
import { Option, type Command } from 'commander';
import { seg, type QuarryClient } from './client.ts';
import { UsageError, ctxOf, positiveInt } from './context.ts';
import { print, type Column } from './output.ts';

type Row = Record<string, unknown>;

interface KindInfo {
  plural: string;
  /** Field prefix in API responses: bucket → bucket_name, bucket_id. */
  singular: string;
  namespaced: boolean;
}

const KINDS: Record<string, KindInfo> = {
  namespaces: { plural: 'namespaces', singular: 'namespace', namespaced: false },
  buckets: { plural: 'buckets', singular: 'bucket', namespaced: true },
  collections: { plural: 'collections', singular: 'collection', namespaced: true },
  retrievers: { plural: 'retrievers', singular: 'retriever', namespaced: true },
  taxonomies: { plural: 'taxonomies', singular: 'taxonomy', namespaced: true },
  objects: { plural: 'objects', singular: 'object', namespaced: true },
};
const ALIASES: Record<string, string> = {
  namespace: 'namespaces', ns: 'namespaces', quarrynamespace: 'namespaces', quarrynamespaces: 'namespaces',
  bucket: 'buckets', bkt: 'buckets',
  collection: 'collections', col: 'collections',
  retriever: 'retrievers', ret: 'retrievers',
  taxonomy: 'taxonomies', tax: 'taxonomies',
  object: 'objects', obj: 'objects',
};

export function resolveKind(kind: string): KindInfo {
  const k = kind.toLowerCase();
  const info = KINDS[ALIASES[k] ?? k];
  if (!info) throw new UsageError(`unknown kind '${kind}': use one of ${Object.keys(KINDS).join(', ')}`);
  return info;
}

const pick = (r: Row, ...keys: string[]): unknown => {
  for (const k of keys) {
    const v = k.split('.').reduce<unknown>((o, p) => (o && typeof o === 'object' ? (o as Row)[p] : undefined), r);
    if (v !== undefined && v !== null && v !== '') return v;
  }
  return undefined;
};

function statusOf(r: Row): unknown {
  const s = r.status;
  if (typeof s === 'string') return s;
  if (s && typeof s === 'object') {
    const conds = (s as { conditions?: { type: string; status: string; reason?: string }[] }).conditions ?? [];
    const ready = conds.find((c) => c.type === 'Ready');
    if (ready) return ready.status === 'True' ? 'Ready' : (ready.reason ?? 'NotReady');
    return (s as Row).phase;
  }
  return r.ready === undefined ? undefined : r.ready ? 'Ready' : 'NotReady';
}

function columnsFor(kind: KindInfo): Column<Row>[] {
  if (kind.plural === 'objects') {
    return [
      { header: 'object id', value: (r) => r.object_id },
      { header: 'status', value: (r) => r.status },
      { header: 'blobs', value: (r) => (Array.isArray(r.blobs) ? (r.blobs as Row[]).map((b) => `${String(b.property)}:${String(b.type)}`).join(',') : '') },
      { header: 'filename', value: (r) => pick(r, 'metadata.filename', 'blobs.0.filename') },
      { header: 'created', value: (r) => r.created_at },
    ];
  }
  const s = kind.singular;
  return [
    { header: 'name', value: (r) => pick(r, `${s}_name`, 'name', 'metadata.name') },
    { header: 'id', value: (r) => pick(r, `${s}_id`, 'id', 'metadata.uid') },
    { header: 'status', value: statusOf },
    { header: 'description', value: (r) => pick(r, 'description', 'spec.description'), max: 60 },
    { header: 'created', value: (r) => pick(r, 'created_at', 'metadata.creationTimestamp') },
    // Namespaces of every Kubernetes namespace the key sees (a cluster-wide key sees several tenants' namespaces).
    ...(kind.plural === 'namespaces' ? [{ header: 'kubernetes namespace', value: (r: Row) => pick(r, 'kubernetes_namespace', 'metadata.namespace') }] : []),
  ];
}

/** Up to `max` results of a documented `POST …/list`, page by page (the server answers at most 1000 at a time). */
async function listAll(client: QuarryClient, path: string, max: number, opts: { noNamespace?: boolean } = {}): Promise<{ results: Row[]; total: number }> {
  const results: Row[] = [];
  let total = 0;
  for (let offset = 0; results.length < max; ) {
    const limit = Math.min(1000, max - results.length);
    const page = await client.post<{ results: Row[]; pagination?: { total?: number } }>(path, { limit, offset }, { ...opts, query: { limit, offset } });
    results.push(...page.results);
    total = page.pagination?.total ?? results.length;
    offset += page.results.length;
    if (!page.results.length || offset >= total) break;
  }
  return { results, total };
}

export function registerGet(program: Command): void {
  program
    .command('get')
    .description('show resources: namespaces, buckets, collections, retrievers, taxonomies, or the objects of a bucket')
    .argument('<kind>', `one of ${Object.keys(KINDS).join(', ')} (singular and short forms work too)`)
    .argument('[name]', 'name or id of one resource (default: list them all)')
    .option('-b, --bucket <bucket>', 'for objects: the bucket')
    .addOption(new Option('--limit <n>', 'most results to list').default(1000).argParser(positiveInt('--limit')))
    .action(async (kindArg: string, name: string | undefined, o: { bucket?: string; limit: number }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const kind = resolveKind(kindArg);
      if (kind.namespaced) ctx.requireNamespace();
      const client = ctx.client();
      const columns = columnsFor(kind);
      if (kind.plural === 'objects') {
        if (!o.bucket) throw new UsageError('objects live in a bucket: pass --bucket <bucket>');
        if (name) {
          print(ctx.opts.output, await client.get<Row>(`/v1/buckets/${seg(o.bucket)}/objects/${seg(name)}`, { query: { return_url: true } }));
          return;
        }
        const list = await listAll(client, `/v1/buckets/${seg(o.bucket)}/objects/list`, o.limit);
        print(ctx.opts.output, list, { rows: list.results, columns, empty: `No objects in bucket '${o.bucket}'.` });
        return;
      }
      const noNamespace = !kind.namespaced;
      if (name) {
        const one = await client.get<Row>(`/v1/${kind.plural}/${seg(name)}`, { noNamespace });
        print(ctx.opts.output, one, { rows: [one], columns });
        return;
      }
      const list = await listAll(client, `/v1/${kind.plural}/list`, o.limit, { noNamespace });
      print(ctx.opts.output, list, { rows: list.results, columns, empty: `No ${kind.plural}.` });
    });
}
