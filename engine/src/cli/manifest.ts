/**
 * Manifest commands, for Quarry resource YAML and the Mixpeek manifest format alike. Server-side (multipart field
 * `manifest_file`, reference §6.2): `apply -f` (POST /v1/manifest/apply[?dry_run&prune&manifest_name]), `diff -f`
 * (POST /v1/manifest/diff), `export` (GET /v1/manifest/export), `validate -f --remote` (POST
 * /v1/manifest/validate). Offline: `validate -f` (engine/src/manifest parses and converts, resources/validate.ts
 * checks each resource as the operator and engine do) and `convert` (Mixpeek manifest ⇄ resources).
 */
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { parseAllDocuments, stringify } from 'yaml';
import type { QuarryClient } from './client.ts';
import { FailedError, UsageError, ctxOf } from './context.ts';
import { print, type Column } from './output.ts';

interface ManifestFile {
  name: string;
  text: string;
  /** The files it was read from, with their text (a folder is read as many files). */
  parts: { file: string; text: string }[];
  /** Files of a folder left out because they hold neither Quarry resources nor a Mixpeek manifest (e.g. GitOps). */
  skipped: string[];
}

function yamlFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith('.')) continue;
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...yamlFilesUnder(p));
    else if (/\.ya?ml$/.test(name)) out.push(p);
  }
  return out;
}

/** Whether a file of a folder belongs in the manifest: a Quarry resource or a Mixpeek manifest in it (or bad YAML, to report). */
async function holdsManifest(text: string): Promise<boolean> {
  const { isMixpeekManifest } = await import('../manifest/mixpeek.ts');
  return parseAllDocuments(text).some((d) => {
    if (d.errors.length) return true;
    const v = d.toJS() as { apiVersion?: unknown } | null;
    return (typeof v?.apiVersion === 'string' && v.apiVersion.startsWith('quarry.dev/')) || isMixpeekManifest(v);
  });
}

/**
 * A manifest file, stdin (`-`), or a folder of YAML files joined into one multi-document YAML stream. In a folder,
 * files without Quarry resources (GitOps wiring, other tools' YAML) are left out, as local mode does.
 */
export async function readManifest(file: string): Promise<ManifestFile> {
  if (file === '-') {
    const text = readFileSync(0, 'utf8');
    return { name: 'stdin.yaml', text, parts: [{ file: '-', text }], skipped: [] };
  }
  let st;
  try {
    st = statSync(file);
  } catch {
    throw new UsageError(`no such file or directory: ${file}`);
  }
  if (st.isDirectory()) {
    const parts: ManifestFile['parts'] = [];
    const skipped: string[] = [];
    for (const f of yamlFilesUnder(file)) {
      const text = readFileSync(f, 'utf8');
      if (await holdsManifest(text)) parts.push({ file: f, text });
      else skipped.push(f);
    }
    if (!parts.length) throw new UsageError(`no Quarry resources or Mixpeek manifest in the .yaml/.yml files under ${file}`);
    const text = parts.map((p) => p.text.replace(/^---\s*\n/, '').trimEnd()).join('\n---\n') + '\n';
    return { name: `${path.basename(path.resolve(file))}.yaml`, text, parts, skipped };
  }
  const text = readFileSync(file, 'utf8');
  return { name: path.basename(file), text, parts: [{ file, text }], skipped: [] };
}

function manifestForm(m: ManifestFile): FormData {
  const form = new FormData();
  form.append('manifest_file', new Blob([m.text], { type: 'application/yaml' }), m.name.endsWith('.yaml') || m.name.endsWith('.yml') ? m.name : `${m.name}.yaml`);
  return form;
}

const postManifest = <T>(client: QuarryClient, route: string, m: ManifestFile, query?: Record<string, string | boolean | undefined>) =>
  client.request<T>('POST', `/v1/manifest/${route}`, { form: manifestForm(m), ...(query ? { query } : {}) });

type Doc = Record<string, unknown>;

interface ResourceCheck {
  file: string;
  kind: string;
  name: string;
  valid: boolean;
  errors: { field: string; message: string }[];
}

/**
 * Offline validation of every file: parsed and (for the Mixpeek format) converted by engine/src/manifest, then each
 * resource checked by resources/validate.ts, the validator the operator and the engine use.
 */
export async function validateOffline(m: ManifestFile): Promise<{ checks: ResourceCheck[]; warnings: string[] }> {
  // Loaded on use: the generated validators are large and only the manifest commands need them.
  const { validateResource } = await import('../resources/validate.ts');
  const { parseManifest } = await import('../manifest/parse.ts');
  const checks: ResourceCheck[] = [];
  const warnings: string[] = m.skipped.map((f) => `${f}: skipped, no Quarry resources in it`);
  const declared = new Map<string, string>();
  for (const { file, text } of m.parts) {
    let parsed;
    try {
      parsed = parseManifest(text);
    } catch (err) {
      checks.push({ file, kind: '(manifest)', name: '', valid: false, errors: [{ field: '(yaml)', message: err instanceof Error ? err.message : String(err) }] });
      continue;
    }
    for (const e of parsed.errors) checks.push({ file, kind: '(manifest)', name: parsed.name ?? '', valid: false, errors: [{ field: e.location, message: e.message }] });
    for (const w of parsed.warnings) warnings.push(`${file}: ${w.location}: ${w.message}`);
    parsed.resources.forEach((res, i) => {
      const r = validateResource(res);
      const where = parsed.format === 'mixpeek' && parsed.sources[i] ? `${file} ${parsed.sources[i]}` : file;
      const errors = r.errors.map((e) => ({ field: e.field, message: e.message }));
      // Across files too: the server reads a folder as one manifest, where a second declaration would overwrite.
      const key = `${res.kind}/${res.metadata?.namespace ?? ''}/${res.metadata?.name ?? ''}`;
      const first = declared.get(key);
      if (first !== undefined) errors.push({ field: 'metadata.name', message: `${res.kind} '${res.metadata?.name ?? ''}' is declared twice (also in ${first}): keep one` });
      else declared.set(key, where);
      checks.push({ file: where, kind: res.kind, name: res.metadata?.name ?? '?', valid: errors.length === 0, errors });
    });
  }
  return { checks, warnings };
}

const RESULT_COLUMNS: Column<Doc>[] = [
  { header: 'type', value: (r) => r.resource_type },
  { header: 'name', value: (r) => r.name },
  { header: 'status', value: (r) => r.status },
  { header: 'id', value: (r) => r.resource_id },
  { header: 'error', value: (r) => r.error, max: 100 },
];

const DIFF_COLUMNS: Column<Doc>[] = [
  { header: 'action', value: (r) => r.action },
  { header: 'type', value: (r) => r.resource_type },
  { header: 'name', value: (r) => r.name },
  { header: 'details', value: (r) => r.details, max: 100 },
];

export function registerManifest(program: Command): void {
  program
    .command('apply')
    .description('create or update the resources of a manifest on the server (POST /v1/manifest/apply)')
    .requiredOption('-f, --file <path>', "manifest file, folder of YAML files, or '-' for stdin")
    .option('--dry-run', 'validate and plan on the server without changing anything')
    .option('--prune', 'also delete resources this manifest applied before and no longer lists (needs a manifest name)')
    .option('--manifest-name <name>', 'name that labels the resources of this manifest (default: metadata.name of a Mixpeek manifest)')
    .action(async (o: { file: string; dryRun?: boolean; prune?: boolean; manifestName?: string }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const res = await postManifest<Doc>(ctx.client(), 'apply', await readManifest(o.file), { dry_run: o.dryRun, prune: o.prune, manifest_name: o.manifestName });
      const rows = (Array.isArray(res.resources) ? res.resources : []) as Doc[];
      print(ctx.opts.output, res, { rows, columns: RESULT_COLUMNS, empty: 'Nothing to apply.' });
      if (ctx.opts.output === 'table') {
        const counts = ['created', 'updated', 'unchanged', 'deleted', 'skipped', 'failed'].map((k) => [k, res[`${k}_count`]] as const).filter(([, v]) => typeof v === 'number');
        if (counts.length) process.stdout.write(counts.map(([k, v]) => `${String(v)} ${k}`).join(', ') + (res.dry_run ? ' (dry run)' : '') + '\n');
        for (const e of (Array.isArray(res.errors) ? res.errors : []) as unknown[]) process.stdout.write(`error: ${typeof e === 'string' ? e : JSON.stringify(e)}\n`);
        for (const w of (Array.isArray(res.warnings) ? res.warnings : []) as Doc[]) process.stdout.write(`warning: ${String(w.location ?? '')}: ${String(w.message ?? JSON.stringify(w))}\n`);
      }
      if (res.success === false) throw new FailedError(`apply failed${res.rollback_performed ? ' (rolled back)' : ''}`);
    });

  program
    .command('validate')
    .description('validate a manifest: offline with the resource validator (default), or on the server with --remote')
    .requiredOption('-f, --file <path>', "manifest file, folder of YAML files, or '-' for stdin")
    .option('--remote', 'validate on the server (POST /v1/manifest/validate): also checks references against live state')
    .action(async (o: { file: string; remote?: boolean }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const m = await readManifest(o.file);
      if (o.remote) {
        const res = await postManifest<Doc>(ctx.client(), 'validate', m);
        if (ctx.opts.output === 'table') {
          const errors = (Array.isArray(res.errors) ? res.errors : []) as unknown[];
          const warnings = (Array.isArray(res.warnings) ? res.warnings : []) as unknown[];
          const fmt = (e: unknown) => (typeof e === 'string' ? e : JSON.stringify(e));
          process.stdout.write([`${res.valid ? 'valid' : 'invalid'}: ${JSON.stringify(res.resources ?? {})}`, ...errors.map((e) => `error: ${fmt(e)}`), ...warnings.map((w) => `warning: ${fmt(w)}`)].join('\n') + '\n');
        } else print(ctx.opts.output, res);
        if (res.valid === false) throw new FailedError('the manifest is invalid');
        return;
      }
      const { checks, warnings } = await validateOffline(m);
      const valid = checks.length > 0 && checks.every((c) => c.valid);
      if (ctx.opts.output === 'table') {
        const lines = checks.flatMap((c) => [`${c.valid ? 'ok     ' : 'invalid'} ${c.kind}/${c.name}  (${c.file})`, ...c.errors.map((e) => `        ${e.field}: ${e.message}`)]);
        process.stdout.write([...(lines.length ? lines : ['no resources found']), ...warnings.map((w) => `warning: ${w}`)].join('\n') + '\n');
      } else print(ctx.opts.output, { valid, resources: checks, warnings });
      if (!checks.length) throw new FailedError(`no Quarry resources in ${o.file}`);
      if (!valid) throw new FailedError(`${checks.filter((c) => !c.valid).length} of ${checks.length} resources are invalid`);
    });

  program
    .command('diff')
    .description('compare a manifest with the live state (POST /v1/manifest/diff)')
    .requiredOption('-f, --file <path>', "manifest file, folder of YAML files, or '-' for stdin")
    .option('--prune', 'show deletions as apply --prune would make them')
    .option('--manifest-name <name>', 'name that labels the resources of this manifest')
    .action(async (o: { file: string; prune?: boolean; manifestName?: string }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const res = await postManifest<Doc>(ctx.client(), 'diff', await readManifest(o.file), { prune: o.prune, manifest_name: o.manifestName });
      const list = (k: string, action: string) => ((Array.isArray(res[k]) ? res[k] : []) as Doc[]).map((d) => ({ ...d, action: d.action ?? action }));
      const rows = [...list('to_create', 'create'), ...list('differences', 'update'), ...list('unchanged', 'unchanged'), ...list('in_system_only', 'delete')];
      print(ctx.opts.output, res, { rows, columns: DIFF_COLUMNS, empty: 'No differences.' });
      // The diff of an invalid manifest is shown, but it could not be applied: say why and fail like validate.
      if (res.valid === false) {
        const errors = (Array.isArray(res.errors) ? res.errors : []) as Doc[];
        const lines = errors.map((e) => `  - ${[e.kind && e.name ? `${String(e.kind)}/${String(e.name)}` : '', e.field ?? ''].filter(Boolean).join(' ')}: ${String(e.message ?? '')}`);
        throw new FailedError([`the manifest is invalid (${errors.length} problem${errors.length === 1 ? '' : 's'}); apply would refuse it`, ...lines].join('\n'));
      }
    });

  program
    .command('export')
    .description('export live resources as a manifest (GET /v1/manifest/export); the namespace given by --namespace, or all with --all')
    .option('--all', 'every namespace (default: the --namespace one)')
    .option('--name <name>', 'manifest name', 'exported-manifest')
    .addOption(new Option('--format <format>', 'Quarry resources (yaml) or the Mixpeek manifest format').choices(['yaml', 'mixpeek']).default('yaml'))
    .option('--out <file>', 'write to a file instead of stdout')
    .action(async (o: { all?: boolean; name: string; format: string; out?: string }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const ns = o.all ? undefined : ctx.requireNamespace();
      const yamlText = await ctx.client().request<string>('GET', '/v1/manifest/export', { query: { namespace: ns, format: o.format, manifest_name: o.name }, text: true, noNamespace: o.all === true });
      // json/yaml re-render the export; table (the default) keeps the server's YAML as it is.
      const out = ctx.opts.output === 'json' ? JSON.stringify(parseAllDocuments(yamlText).map((d) => d.toJS() as unknown).filter((d) => d != null), null, 2) + '\n' : yamlText;
      if (o.out) {
        writeFileSync(o.out, out);
        process.stderr.write(`wrote ${o.out}\n`);
      } else process.stdout.write(out.endsWith('\n') ? out : out + '\n');
    });

  program
    .command('convert')
    .description('convert between a Mixpeek-format manifest and Quarry resources (CR YAML); the direction follows the input')
    .requiredOption('-f, --file <path>', "manifest file, folder of YAML files, or '-' for stdin")
    .option('--namespace-ref <k8s-namespace>', 'Kubernetes namespace to put in the resources’ metadata (CRs only)')
    .option('--out <file>', 'write to a file instead of stdout')
    .option('--name <name>', 'manifest name (CRs → Mixpeek format)')
    .action(async (o: { file: string; namespaceRef?: string; out?: string; name?: string }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const m = await readManifest(o.file);
      const { parseManifest } = await import('../manifest/parse.ts');
      const { toMixpeekManifest } = await import('../manifest/mixpeek.ts');
      const parsed = parseManifest(m.text);
      for (const w of parsed.warnings) process.stderr.write(`warning: ${w.location}: ${w.message}\n`);
      if (parsed.errors.length) {
        for (const e of parsed.errors) process.stderr.write(`error: ${e.location}: ${e.message}\n`);
        throw new FailedError(`${parsed.errors.length} error(s) in ${o.file}: nothing converted`);
      }
      let out: string;
      if (parsed.format === 'mixpeek') {
        const crs = parsed.resources.map((r) => (o.namespaceRef ? { ...r, metadata: { ...r.metadata, namespace: o.namespaceRef } } : r));
        out = ctx.opts.output === 'json' ? JSON.stringify({ apiVersion: 'v1', kind: 'List', items: crs }, null, 2) + '\n' : crs.map((r) => stringify(r)).join('---\n');
      } else {
        const manifest = toMixpeekManifest(parsed.resources, o.name ? { name: o.name } : {});
        out = ctx.opts.output === 'json' ? JSON.stringify(manifest, null, 2) + '\n' : stringify(manifest);
      }
      if (o.out) {
        writeFileSync(o.out, out);
        process.stderr.write(`wrote ${o.out}\n`);
      } else process.stdout.write(out);
    });
}
