/**
 * Template rendering for stage parameters (reference §3.8) on nunjucks, the project's Jinja2-compatible engine.
 *
 * nunjucks is not a sandbox by itself (`"".constructor.constructor(...)` reaches Function), so this module adds one:
 * - member lookups only see own properties, `length`, and a short list of harmless string/array methods; names such
 *   as `constructor`, `__proto__` and `prototype` are never reachable (nunjucks' runtime lookup is wrapped once);
 * - the environment has no loaders, so `include`/`import`/`extends` cannot read files; no global does I/O;
 * - time is bounded: every lookup checks a deadline, `range` draws from a per-render item budget, and the output
 *   size is capped.
 * Namespaces: INPUT/inputs/input, DOC/doc, CONTEXT/context, STAGE/stage, in either case; SECRET/secret/SECRETS/secrets
 * only where the executor resolved them (secrets.ts): anywhere else a template reading a secret is refused. A string
 * that is exactly one `{{ expression }}` renders to the expression's native value (a number stays a number); other
 * strings render to text. The documented C-style `{{ a ? b : c }}` is rewritten to Jinja's `b if a else c`.
 */
import nunjucks from 'nunjucks';
import { RE2JS } from 're2js';
import { QuarryError } from '../lib/errors.ts';
import { SECRET_OUTSIDE_EGRESS, secretRefs } from './secrets.ts';
import { BLOCKED, installSafeFilters } from './template-filters.ts';
import {
  DEFAULT_TIMEOUT_MS, RANGE_BUDGET, TemplateLimitError, beginRender, checkArgs, checkItems, checkResult, checkTime, currentSizeLimit,
  endRender, longestString, opaque, reserveChars, stringLength, takeRangeItem,
} from './template-limits.ts';

const TEMPLATE_MARK = /\{\{|\{%/;
const WHOLE_EXPR = /^\s*\{\{([\s\S]*?)\}\}\s*$/;
// On RE2 (linear time): on the backtracking engine this pattern is quadratic in a run of spaces (`{{ a ? b` and
// 20,000 spaces took 13 s).
const TERNARY = RE2JS.compile('\\{\\{\\s*([^{}?]+?)\\s*\\?\\s*([^{}:]+?)\\s*:\\s*([^{}]+?)\\s*\\}\\}');
const SINGLE_BRACE = /(?<!\{)\{\s*((?:DOC|doc|INPUT|inputs|input|CONTEXT|context|STAGE|stage)\.[A-Za-z0-9_.[\]]+)\s*\}(?!\})/g;
const SINGLE_BRACE_TEST = new RegExp(SINGLE_BRACE.source);
const DOC_REF = /\b(?:DOC|doc)\b/;

const SAFE_METHODS = new Set([
  'toUpperCase', 'toLowerCase', 'trim', 'split', 'join', 'slice', 'startsWith', 'endsWith', 'includes', 'indexOf',
  'replace', 'substring', 'padStart', 'padEnd', 'toFixed', 'concat', 'at', 'upper', 'lower', 'strip',
]);

let captured: unknown;

// Jinja-style string methods some templates use (`x.upper()`), mapped to JS.
const ALIASES: Record<string, string> = { upper: 'toUpperCase', lower: 'toLowerCase', strip: 'trim' };

/** Checks before a method that can build a string much larger than its receiver (padStart(1e9), join, concat, replace). */
function precheckMethod(name: string, obj: unknown, args: unknown[]): void {
  if (typeof obj === 'string') {
    if (obj.length > currentSizeLimit()) throw new TemplateLimitError(`${name}() on a string of ${obj.length} characters (limit ${currentSizeLimit()})`);
    if (name === 'padStart' || name === 'padEnd') reserveChars(Math.max(obj.length, Number(args[0]) || 0), name);
    else if (name === 'concat') reserveChars(obj.length + args.reduce((n: number, a) => n + stringLength(a), 0), name);
    else if (name === 'replace') {
      // One replacement; `$&`-style patterns in the replacement can repeat the receiver once per `$`.
      const to = String(args[1] ?? '');
      reserveChars(obj.length + to.length + (to.split('$').length - 1) * obj.length, name);
    }
  } else if (Array.isArray(obj)) {
    if (name === 'join') reserveChars(stringLength(obj) - Math.max(0, obj.length - 1) + String(args[0] ?? ',').length * Math.max(0, obj.length - 1), name);
    else if (name === 'concat') checkItems(obj.length + args.reduce((n: number, a) => n + (Array.isArray(a) ? a.length : 1), 0), name);
  }
}

type Runtime = {
  memberLookup: (obj: unknown, name: unknown) => unknown;
  contextOrFrameLookup: (c: unknown, f: unknown, n: string) => unknown;
  makeMacro: (...a: unknown[]) => (...args: never[]) => unknown;
};
const runtime = (nunjucks as unknown as { runtime: Runtime }).runtime;
const safeLookup = (obj: unknown, name: unknown): unknown => {
  checkTime();
  if (obj === undefined || obj === null) return undefined;
  const key = typeof name === 'number' ? name : String(name);
  if (typeof key === 'string' && BLOCKED.has(key)) return undefined;
  const o = obj as Record<string | number, unknown>;
  if (typeof obj === 'object' || typeof obj === 'function') {
    if (Object.prototype.hasOwnProperty.call(obj, key)) {
      const v = o[key];
      return typeof v === 'function' ? undefined : v;
    }
    if (Array.isArray(obj) && key === 'length') return obj.length;
  }
  if (typeof obj === 'string') {
    if (key === 'length') return obj.length;
    if (typeof key === 'number' || /^\d+$/.test(key)) return obj[Number(key)];
  }
  if ((typeof obj === 'string' || Array.isArray(obj) || typeof obj === 'number') && typeof key === 'string' && SAFE_METHODS.has(key)) {
    const name = ALIASES[key] ?? key;
    const method = (obj as unknown as Record<string, unknown>)[name];
    if (typeof method === 'function') {
      return opaque((...args: unknown[]) => {
        checkTime();
        checkArgs(args, `${key}()`);
        precheckMethod(name, obj, args);
        return checkResult((method as (...a: unknown[]) => unknown).apply(obj, args), `${key}()`);
      });
    }
  }
  return undefined;
};
if (!(runtime.memberLookup as { quarrySafe?: boolean }).quarrySafe) {
  const ctxLookup = runtime.contextOrFrameLookup;
  const makeMacro = runtime.makeMacro;
  runtime.memberLookup = Object.assign(safeLookup, { quarrySafe: true });
  runtime.contextOrFrameLookup = (c, f, n) => {
    checkTime();
    return BLOCKED.has(n) ? undefined : ctxLookup(c, f, n);
  };
  // Macros are functions a template can print or concatenate: they never show their (compiled) source.
  runtime.makeMacro = (...a: unknown[]) => opaque(makeMacro(...a));
}

const env = new nunjucks.Environment([], { autoescape: false, throwOnUndefined: false });
// Only `range` (budgeted) and the Math helpers below: cycler/joiner hand out functions, which templates do not need.
const globals = (env as unknown as { globals: Record<string, unknown> }).globals;
for (const k of Object.keys(globals)) delete globals[k];
installSafeFilters(env, {
  tojson: (v: unknown) => JSON.stringify(v ?? null),
  bool: (v: unknown) => (typeof v === 'string' ? ['true', '1', 'yes', 'on'].includes(v.toLowerCase()) : Boolean(v)),
  slugify: (v: unknown) => String(v ?? '').toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, ''),
  __capture: (v: unknown) => {
    // A whole expression naming a function (`{{ range }}`) has no value: functions never leave the sandbox.
    captured = typeof v === 'function' ? undefined : v;
    return '';
  },
});
env.addGlobal('range', opaque((a: number, b?: number, step = 1) => {
  const [start, end] = b === undefined ? [0, Number(a)] : [Number(a), Number(b)];
  const out: number[] = [];
  if (!Number.isFinite(start) || !Number.isFinite(end) || !Number.isFinite(step) || step === 0) return out;
  for (let i = start; step > 0 ? i < end : i > end; i += step) {
    takeRangeItem();
    out.push(i);
  }
  return out;
}));
for (const fn of ['max', 'min', 'abs', 'round', 'ceil', 'floor'] as const) {
  env.addGlobal(fn, opaque((...args: unknown[]) => (Math[fn] as (...n: number[]) => number)(...args.flat().map(Number))));
}

/**
 * Regex literals (`r/…/`, a nunjucks extension Jinja does not have) would run on the backtracking JavaScript engine
 * inside one native call, past the render deadline: they are refused.
 */
function refuseRegexLiterals(src: string): void {
  const lexer = (nunjucks as unknown as { lexer: { lex(src: string, opts: unknown): { nextToken(): { type: string } | null } } }).lexer;
  const tokens = lexer.lex(src, {});
  for (let t = tokens.nextToken(); t; t = tokens.nextToken()) {
    if (t.type === 'regex') throw new TemplateLimitError('regular expression literals (r/…/) are not supported in templates');
  }
}

const compiled = new Map<string, nunjucks.Template>();
function compile(src: string): nunjucks.Template {
  let t = compiled.get(src);
  if (!t) {
    refuseRegexLiterals(src);
    t = new nunjucks.Template(src, env, 'template', true);
    if (compiled.size > 2000) compiled.clear();
    compiled.set(src, t);
  }
  return t;
}

export interface TemplateScope {
  inputs?: Record<string, unknown>;
  doc?: Record<string, unknown>;
  context?: Record<string, unknown>;
  stage?: Record<string, unknown>;
  /** Stage-local placeholders (rag_prepare INDEX, etc.), added at the root. */
  extra?: Record<string, unknown>;
  /** Resolved secrets (secrets.ts), given only when rendering an egress parameter. */
  secret?: Record<string, string>;
}

export interface RenderWhere {
  stage: string;
  parameter: string;
}

export function isTemplate(v: unknown): v is string {
  return typeof v === 'string' && TEMPLATE_MARK.test(v);
}

export function referencesDoc(v: unknown): boolean {
  if (typeof v === 'string') return isTemplate(v) && DOC_REF.test(v);
  if (Array.isArray(v)) return v.some(referencesDoc);
  if (v && typeof v === 'object') return Object.values(v).some(referencesDoc);
  return false;
}

/** Rewrites `{DOC.x}` single-brace references (api_call/external_web_search docs) to `{{DOC.x}}`. */
export function singleBraces(s: string): string {
  return s.replace(SINGLE_BRACE, '{{$1}}');
}

function contextObject(scope: TemplateScope): Record<string, unknown> {
  const inputs = scope.inputs ?? {};
  const doc = scope.doc ?? {};
  const context = scope.context ?? {};
  const stage = scope.stage ?? {};
  const secret = scope.secret ? { SECRET: scope.secret, secret: scope.secret, SECRETS: scope.secret, secrets: scope.secret } : {};
  return { ...(scope.extra ?? {}), INPUT: inputs, inputs, input: inputs, INPUTS: inputs, DOC: doc, doc, CONTEXT: context, context, STAGE: stage, stage, ...secret };
}

function fail(where: RenderWhere, message: string): QuarryError {
  return new QuarryError('BadRequestError', `template error in stage '${where.stage}', parameter '${where.parameter}': ${message}`, {
    stage: where.stage,
    parameter: where.parameter,
  });
}

/** Longest string the template is given (inputs, the document, stage-local values): what it may pass through whole. */
function longestGiven(scope: TemplateScope): number {
  return Math.max(longestString(scope.inputs), longestString(scope.doc), longestString(scope.extra), longestString(scope.stage), longestString(scope.context));
}

/** Characters of a whole-expression value (a string, or the strings inside an array or object), up to `limit`. */
function valueSize(v: unknown, limit: number, depth = 0): number {
  if (typeof v === 'string') return v.length;
  if (typeof v !== 'object' || v === null) return 8;
  if (depth > 64) return Infinity;
  let n = 2;
  for (const [k, x] of Array.isArray(v) ? v.entries() : Object.entries(v)) {
    n += String(k).length + valueSize(x, limit - n, depth + 1);
    if (n > limit) return n;
  }
  return n;
}

/** Renders one template string. */
export function renderString(src: string, scope: TemplateScope, where: RenderWhere, timeoutMs = DEFAULT_TIMEOUT_MS): unknown {
  // A secret reference is never rendered to an empty string: without resolved secrets it is refused.
  if (!scope.secret && secretRefs(src)) throw fail(where, SECRET_OUTSIDE_EGRESS);
  const text = src.includes('?') ? TERNARY.matcher(src).replaceAll('{{ ($2) if ($1) else ($3) }}') : src;
  const whole = WHOLE_EXPR.exec(text);
  const useCapture = whole !== null && !whole[1]!.includes('}}') && !whole[1]!.includes('{{');
  const body = useCapture ? `{{ (${whole![1]}) | __capture }}` : text;
  beginRender(timeoutMs, longestGiven(scope));
  const limit = currentSizeLimit();
  captured = undefined;
  try {
    const out = compile(body).render(contextObject(scope));
    // Checked on the length alone: a too-long result (a rope of concatenations) is dropped without being flattened.
    if (out.length > limit) throw fail(where, `rendered text exceeds ${limit} characters`);
    if (useCapture && valueSize(captured, limit) > limit) throw fail(where, `the expression's value exceeds ${limit} characters`);
    return useCapture ? captured : out;
  } catch (e) {
    if (e instanceof QuarryError) throw e;
    const msg = (e as Error).message ?? String(e);
    if (e instanceof TemplateLimitError || msg.includes(TemplateLimitError.name)) {
      const reason = e instanceof TemplateLimitError ? msg : msg.slice(msg.indexOf(TemplateLimitError.name) + TemplateLimitError.name.length + 2);
      throw fail(where, `${reason.trim()} (limits: ${timeoutMs} ms, ${RANGE_BUDGET} range items, ${limit} characters)`);
    }
    throw fail(where, msg.replace(/^\(template\)\s*/, '').replace(/\s+/g, ' ').trim());
  } finally {
    endRender();
    captured = undefined;
  }
}

/** True when any string inside the value holds a template (`{{`, `{%`, or `{DOC.x}` with singleBraces). */
export function containsTemplate(value: unknown, singleBrace = false): boolean {
  if (typeof value === 'string') return isTemplate(value) || (singleBrace && SINGLE_BRACE_TEST.test(value));
  if (Array.isArray(value)) {
    for (const v of value) if (typeof v !== 'number' && containsTemplate(v, singleBrace)) return true;
    return false;
  }
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) if (containsTemplate(v, singleBrace)) return true;
  }
  return false;
}

/** Renders every template string inside a JSON value. `skipDoc` leaves strings that read DOC untouched. */
export function renderValue(value: unknown, scope: TemplateScope, where: RenderWhere, opts: { skipDoc?: boolean; singleBraces?: boolean } = {}): unknown {
  if (typeof value !== 'string' && !containsTemplate(value, opts.singleBraces)) return value;
  if (typeof value === 'string') {
    const s = opts.singleBraces ? singleBraces(value) : value;
    if (!isTemplate(s)) return s;
    if (opts.skipDoc && DOC_REF.test(s)) return s;
    return renderString(s, scope, where);
  }
  if (Array.isArray(value)) return value.map((v, i) => renderValue(v, scope, { ...where, parameter: `${where.parameter}[${i}]` }, opts));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = renderValue(v, scope, { ...where, parameter: `${where.parameter}.${k}` }, opts);
    return out;
  }
  return value;
}
