// Codemod: rewrites relative module specifiers that climb 3+ folders or cross top-level rooms into package `imports` names (#core/…, #engine/…).
/**
 * Run: `node --import tsx hack/codemods/core-imports.ts` (rewrites in place; idempotent, re-run after merges).
 *      `node --import tsx hack/codemods/core-imports.ts --check` exits 1 and lists what is left to rewrite.
 * Module specifiers are found with the TypeScript parser: import/export declarations, `import('…')`,
 * `import type`-style `typeof import('…')` and `mock.module('…')`. The names come from package.json `imports`;
 * a `#…` specifier that names a core file through its room (`#engine/ports/…`) is rewritten to `#core/…` too, and
 * one that names a file issue #22 moved (MOVED) is pointed at its new place.
 */
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const ROOMS = ['operator', 'engine', 'test', 'bench', 'hack'] as const;
const SKIP_DIRS = new Set(['node_modules', 'generated']);

interface Mapping { name: string; target: string; star: boolean }

/** package.json `imports`, most specific first (exact names, then longest prefix), as repo-relative POSIX paths. */
export function importMappings(root = ROOT): Mapping[] {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { imports?: Record<string, string> };
  const out: Mapping[] = [];
  for (const [name, target] of Object.entries(pkg.imports ?? {})) {
    const star = name.endsWith('*');
    out.push({ name: star ? name.slice(0, -1) : name, target: target.replace(/^\.\//, '').replace(/\*$/, ''), star });
  }
  // #core/… before the room names, exact before prefix, longer prefix first.
  const rank = (m: Mapping) => (m.name.startsWith('#core/') ? 0 : 1);
  return out.sort((a, b) => rank(a) - rank(b) || Number(a.star) - Number(b.star) || b.target.length - a.target.length);
}

const posix = (p: string) => p.split(sep).join('/');

/** The `#…` name for a repo-relative file path, or undefined when no mapping covers it. */
export function packageName(repoPath: string, maps: Mapping[]): string | undefined {
  for (const m of maps) {
    if (!m.star && repoPath === m.target) return m.name;
    if (m.star && repoPath.startsWith(m.target)) return m.name + repoPath.slice(m.target.length);
  }
  return undefined;
}

/** The repo-relative file a `#…` specifier names, or undefined. */
function resolvePackageName(spec: string, maps: Mapping[]): string | undefined {
  for (const m of maps) {
    if (!m.star && spec === m.name) return m.target;
    if (m.star && spec.startsWith(m.name)) return m.target + spec.slice(m.name.length);
  }
  return undefined;
}

const roomOf = (repoPath: string) => repoPath.split('/')[0];
const climbs = (spec: string) => (spec.match(/^(?:\.\.\/)+/)?.[0].length ?? 0) / 3;

/**
 * Files issue #22 moved (old → new repo path): a branch written before the move still imports the old path, and the
 * codemod points it at the new one (relative inside a room within two folders, else the room name).
 */
export const MOVED: Readonly<Record<string, string>> = {
  'engine/src/app/namespace-view.ts': 'engine/src/ingestion/namespace-view.ts',
  'operator/src/controllers/bucket/plan.ts': 'engine/src/objects/bucket-plan.ts',
  'operator/src/controllers/bucket/claims.ts': 'engine/src/objects/storage-claims.ts',
  'operator/src/controllers/bucket/storage-policy.ts': 'engine/src/objects/storage-policy.ts',
  'operator/src/runtime/http-server.ts': 'engine/src/lib/probe-server.ts',
};

/** What the specifier should be, or undefined when it is fine as it is. */
export function rewriteSpecifier(fromFile: string, spec: string, maps: Mapping[]): string | undefined {
  if (spec.startsWith('#')) {
    const named = resolvePackageName(spec, maps);
    if (named === undefined) return undefined;
    const target = MOVED[named] ?? named;
    const canonical = packageName(target, maps);
    return canonical !== undefined && canonical !== spec ? canonical : undefined;
  }
  if (!spec.startsWith('.')) return undefined;
  const resolved = posix(relative(ROOT, resolve(dirname(join(ROOT, fromFile)), spec)));
  const target = MOVED[resolved] ?? resolved;
  if (target !== resolved) {
    let rel = posix(relative(dirname(fromFile), target));
    if (!rel.startsWith('.')) rel = `./${rel}`;
    if (climbs(rel) < 3 && roomOf(target) === roomOf(fromFile)) return rel;
    return packageName(target, maps) ?? rel;
  }
  if (climbs(spec) < 3 && roomOf(target) === roomOf(fromFile)) return undefined;
  return packageName(target, maps);
}

/** Every module-specifier string literal in a source file. */
export function specifiers(file: string, text: string): ts.StringLiteralLike[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: ts.StringLiteralLike[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteralLike(node.moduleSpecifier)) {
      found.push(node.moduleSpecifier);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteralLike(node.argument.literal)) {
      found.push(node.argument.literal);
    } else if (ts.isCallExpression(node) && node.arguments[0] && ts.isStringLiteralLike(node.arguments[0])) {
      const callee = node.expression;
      const isImport = callee.kind === ts.SyntaxKind.ImportKeyword;
      const isMock = ts.isPropertyAccessExpression(callee) && ['module', 'mock'].includes(callee.name.text);
      if (isImport || isMock) found.push(node.arguments[0]);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

export function sourceFiles(root = ROOT): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(join(root, dir))) {
      if (SKIP_DIRS.has(name)) continue;
      const rel = dir ? `${dir}/${name}` : name;
      if (statSync(join(root, rel)).isDirectory()) walk(rel);
      else if (name.endsWith('.ts')) out.push(rel);
    }
  };
  for (const room of ROOMS) walk(room);
  return out.sort();
}

/** Rewrites one file's text; returns the new text and the edits made. */
export function rewriteText(file: string, text: string, maps: Mapping[]): { text: string; edits: string[] } {
  const edits: string[] = [];
  let out = text;
  for (const lit of specifiers(file, text).reverse()) {
    const next = rewriteSpecifier(file, lit.text, maps);
    if (next === undefined) continue;
    const start = lit.getStart() + 1;
    out = out.slice(0, start) + next + out.slice(start + lit.text.length);
    edits.push(`${file}: ${lit.text} -> ${next}`);
  }
  return { text: out, edits: edits.reverse() };
}

function main(argv: string[]): number {
  const check = argv.includes('--check');
  const maps = importMappings();
  let total = 0;
  for (const file of sourceFiles()) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    const { text: next, edits } = rewriteText(file, text, maps);
    if (edits.length === 0) continue;
    total += edits.length;
    for (const e of edits) console.log(e);
    if (!check) writeFileSync(join(ROOT, file), next);
  }
  // What no package.json `imports` name covers cannot be rewritten: say so, and fail --check.
  let unnamed = 0;
  for (const file of sourceFiles()) {
    for (const lit of specifiers(file, readFileSync(join(ROOT, file), 'utf8'))) {
      if (lit.text.startsWith('.') && climbs(lit.text) >= 3 && rewriteSpecifier(file, lit.text, maps) === undefined) {
        unnamed++;
        console.log(`${file}: ${lit.text} climbs ${climbs(lit.text)} folders and no package.json "imports" name covers its target`);
      }
    }
  }
  console.log(check ? `${total} specifier(s) left to rewrite` : `${total} specifier(s) rewritten`);
  if (unnamed > 0) console.log(`${unnamed} climbing specifier(s) without a name: add an "imports" entry or fix the path`);
  return (check && total > 0) || unnamed > 0 ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = main(process.argv.slice(2));
