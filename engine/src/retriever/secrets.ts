/**
 * `{{SECRET.name}}` in stage parameters (reference §3.8: `SECRET`/`secret`, BYOK `{{secrets.name}}`).
 *
 * A secret is resolved only where it leaves the engine for the service it is meant for — the egress parameters of
 * EGRESS_PARAMETERS (api_call headers and body, sql_lookup parameters, an LLM stage's api_key) — when the stage runs,
 * from the run's own namespace (EngineDeps.secrets: the keys of the Secret `quarry-secrets-<namespace name>` in the
 * namespace's Kubernetes namespace; local mode: `<data dir>/secrets/quarry-secrets-<namespace name>/<name>`), never
 * another's. Anywhere else (a prompt, a filter value, a URL) a reference is refused with a 400 naming the parameter,
 * not silently rendered. Only names written out (`SECRET.name`, `SECRET['name']`) are resolved: a computed name
 * (`SECRET[INPUT.x]`) would let a request pick any of the namespace's secrets, and is refused. An unknown name is a
 * 400 naming the parameter and the secret, never its value.
 *
 * Values never come back: the template scope holds only the names a stage's parameters spell out; error messages and
 * stage metadata are scrubbed of the values (`[secret:name]`); the result cache keys the definition (templates, not
 * values) and the stage cache a hash of the rendered parameters.
 *
 * Detection is by hand (no template library tells which variables a Jinja string reads): template blocks are
 * `{{ … }}` and `{% … %}`, as template.ts renders them.
 */
import { QuarryError, badRequest } from '../lib/errors.ts';
import { namespaceSecretName, type SecretReader } from '../lib/secret-refs.ts';

export { namespaceSecretName };

/** Top-level parameters, per stage, whose value is sent to the service a secret is for. */
export const EGRESS_PARAMETERS: Readonly<Record<string, readonly string[]>> = {
  api_call: ['headers', 'body'],
  sql_lookup: ['parameters'],
  llm_filter: ['api_key'],
  llm_enrich: ['api_key'],
  summarize: ['api_key'],
  query_expand: ['api_key'],
  agent_search: ['api_key'],
  agentic_enrich: ['api_key'],
};

const WHERE_ALLOWED = 'api_call headers and body, sql_lookup parameters, the api_key of an LLM stage';

/**
 * EngineDeps.secrets over a Secret reader: the value of key `name` of the Secret namespaceSecretName(<namespace>) in
 * the Kubernetes namespace of the QuarryNamespace the request names (`resolve`: 404 when it names none). Another
 * namespace's secrets are never read: the Secret's name and Kubernetes namespace both come from the run's namespace.
 */
export function namespaceSecrets(
  resolve: (namespace: string) => { metadata: { name: string; namespace?: string } },
  read: SecretReader | undefined,
): (name: string, namespace?: string) => Promise<string | undefined> {
  return async (name, namespace) => {
    if (!namespace || !read) return undefined;
    const qn = resolve(namespace);
    const data = (await read(qn.metadata.namespace ?? '', namespaceSecretName(qn.metadata.name)))?.data;
    return data && Object.prototype.hasOwnProperty.call(data, name) ? data[name] : undefined;
  };
}

const BLOCK = /\{\{[\s\S]*?\}\}|\{%[\s\S]*?%\}/g;
const STATIC_REF = /(?<![\w.])(SECRETS?|secrets?)\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*(['"])([-._A-Za-z0-9]+)\3\s*\])/g;
const STRING_LITERAL = /(['"])(?:\\.|(?!\1)[^\\])*\1/g;
const ANY_REF = /(?<![\w.])secrets?(?![\w])/i;
const CHEAP = /secret/i;

interface Refs {
  names: string[];
  /** A mention of the secrets namespace that is not a written-out name (computed, another spelling). */
  dynamic: boolean;
}

/** The secret names a template string reads; `undefined` when it reads none. */
export function secretRefs(s: string): Refs | undefined {
  if (!CHEAP.test(s)) return undefined;
  const names: string[] = [];
  let dynamic = false;
  let any = false;
  for (const block of s.match(BLOCK) ?? []) {
    if (!CHEAP.test(block)) continue;
    const rest = block.replace(STATIC_REF, (_m, _ns: string, dotted: string | undefined, _q: string, quoted: string | undefined) => {
      names.push(dotted ?? quoted!);
      any = true;
      return '';
    });
    if (ANY_REF.test(rest.replace(STRING_LITERAL, '""'))) {
      dynamic = true;
      any = true;
    }
  }
  return any ? { names, dynamic } : undefined;
}

/** True when any string inside the value reads a secret. */
export function readsSecret(value: unknown): boolean {
  if (typeof value === 'string') return secretRefs(value) !== undefined;
  if (Array.isArray(value)) return value.some(readsSecret);
  if (value && typeof value === 'object') return Object.values(value).some(readsSecret);
  return false;
}

/** The template guard's message: a secret reference rendered without a resolved secret scope (template.ts). */
const ONLY_EGRESS = `secrets ({{SECRET.name}}) are resolved only in parameters that send them to their service (${WHERE_ALLOWED})`;
export const SECRET_OUTSIDE_EGRESS = `${ONLY_EGRESS}; remove it from here`;

/** Every (parameter path, template string) inside a parameter value. */
function* strings(value: unknown, path: string): Generator<[string, string]> {
  if (typeof value === 'string') yield [path, value];
  else if (Array.isArray(value)) for (const [i, v] of value.entries()) yield* strings(v, `${path}[${i}]`);
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) yield* strings(v, `${path}.${k}`);
}

export interface StageSecrets {
  /** Name → value, only the names the stage's parameters spell out: the SECRET scope of its egress parameters. */
  readonly scope: Record<string, string>;
  /** Whether a parameter (`headers`, `parameters.cid`, …) is one the secrets may be rendered into. */
  egress(parameter: string): boolean;
  /** The value with every secret value replaced by `[secret:name]` (strings inside arrays and objects too). */
  redact<T>(value: T): T;
  /** The error with its message and details scrubbed (a QuarryError stays one, of the same type). */
  redactError(e: unknown): unknown;
}

const topOf = (parameter: string) => parameter.split(/[.[]/, 1)[0]!;

/**
 * Where a stage's parameters read secrets: name → the first parameter reading it. Throws a 400 naming the parameter
 * for a secret outside an egress parameter or a computed name (explain reports it as a warning).
 */
export function secretPlacement(stageId: string, stageName: string, params: Record<string, unknown>): Map<string, string> {
  const allowed = new Set(EGRESS_PARAMETERS[stageId] ?? []);
  const wanted = new Map<string, string>();
  for (const [path, s] of strings(params, '')) {
    const refs = secretRefs(s);
    if (!refs) continue;
    const parameter = path.slice(1);
    const details = { stage: stageName, parameter, ...(refs.names[0] ? { secret: refs.names[0] } : {}) };
    if (!allowed.has(topOf(parameter))) {
      const here = allowed.size ? `; in ${stageId} that is ${[...allowed].join(', ')}` : `; ${stageId} has none`;
      throw badRequest(`stage '${stageName}': parameter '${parameter}' reads ${refs.names[0] ? `secret '${refs.names[0]}'` : 'a secret'}, but ${ONLY_EGRESS}${here}. Remove it from '${parameter}'`, details);
    }
    if (refs.dynamic) throw badRequest(`stage '${stageName}': parameter '${parameter}' reads a secret by a computed name or another spelling; write the name out: {{SECRET.name}} or {{SECRET['name']}}`, details);
    for (const n of refs.names) if (!wanted.has(n)) wanted.set(n, parameter);
  }
  return wanted;
}

/**
 * Checks where a stage's parameters read secrets (secretPlacement) and resolves them from the run's namespace.
 * Undefined when they read none. A name the namespace does not hold is a 400 naming the parameter and the secret.
 */
export async function stageSecrets(
  stageId: string,
  stageName: string,
  params: Record<string, unknown>,
  read: ((name: string, namespace?: string) => Promise<string | undefined>) | undefined,
  namespace: string | undefined,
): Promise<StageSecrets | undefined> {
  const wanted = secretPlacement(stageId, stageName, params);
  if (!wanted.size) return undefined;
  const scope: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, parameter] of wanted) {
    const value = read && namespace ? await read(name, namespace) : undefined;
    if (value === undefined) {
      throw badRequest(
        `stage '${stageName}': parameter '${parameter}' reads secret '${name}', which ${namespace ? 'this namespace does not hold' : 'cannot be resolved without a namespace (X-Namespace)'}: add it as key '${name}' of the Secret '${namespaceSecretName('<namespace name>')}' in the namespace's Kubernetes namespace (local mode: <data dir>/secrets/${namespaceSecretName('<namespace name>')}/${name})`,
        { stage: stageName, parameter, secret: name },
      );
    }
    scope[name] = value;
  }
  return secretsOf(scope, new Set(EGRESS_PARAMETERS[stageId] ?? []));
}

function secretsOf(scope: Record<string, string>, allowed: Set<string>): StageSecrets {
  // Longest first, so a value containing another is replaced whole; the URL-encoded form too (query strings, errors).
  const pairs: [string, string][] = [];
  for (const [name, v] of Object.entries(scope)) {
    if (!v) continue;
    pairs.push([v, name]);
    const enc = encodeURIComponent(v);
    if (enc !== v) pairs.push([enc, name]);
  }
  pairs.sort((a, b) => b[0].length - a[0].length);
  const scrub = (s: string): string => {
    let out = s;
    for (const [v, name] of pairs) if (out.includes(v)) out = out.split(v).join(`[secret:${name}]`);
    return out;
  };
  const redact = <T>(value: T): T => {
    if (typeof value === 'string') return scrub(value) as T;
    if (Array.isArray(value)) return value.map(redact) as T;
    if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redact(v)])) as T;
    }
    return value;
  };
  return {
    scope,
    egress: (parameter) => allowed.has(topOf(parameter)),
    redact,
    redactError(e) {
      if (e instanceof QuarryError) {
        const msg = scrub(e.message);
        const details = e.details ? redact(e.details) : undefined;
        if (msg === e.message && JSON.stringify(details) === JSON.stringify(e.details)) return e;
        return new QuarryError(e.type, msg, details);
      }
      if (e instanceof Error) {
        const msg = scrub(e.message);
        if (msg === e.message) return e;
        const copy = new Error(msg);
        copy.name = e.name;
        return copy;
      }
      return e;
    },
  };
}
