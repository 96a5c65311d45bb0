/**
 * No Docker engine here, so the Dockerfile is checked by a Dockerfile validator (dockerfile-utils, the one behind the
 * VS Code Docker extension) and by reading its stages: Node 22, production dependencies, a non-root user matching
 * the chart's securityContext, the entry points the chart runs, and a build context without secrets or local state.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { validate } from 'dockerfile-utils';
import { parse } from 'yaml';
import { ROOT } from '../harness/test-env.ts';
import { QUARRY_CHART } from './chart-helpers.ts';

const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
const dockerignore = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

/** Instructions per stage, continuation lines joined. */
function stages(text: string): { name: string; from: string; lines: string[] }[] {
  const joined = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const args = new Map<string, string>();
  const out: { name: string; from: string; lines: string[] }[] = [];
  for (const l of joined) {
    const arg = /^ARG (\w+)=(\S+)$/.exec(l);
    if (arg && out.length === 0) args.set(arg[1]!, arg[2]!);
    const from = /^FROM (\S+)(?: AS (\S+))?$/i.exec(l);
    if (from) {
      const image = from[1]!.replace(/\$\{(\w+)\}/g, (_, v: string) => args.get(v) ?? '');
      out.push({ name: from[2] ?? String(out.length), from: image, lines: [] });
    } else out.at(-1)?.lines.push(l);
  }
  return out;
}

describe('Dockerfile', () => {
  const all = stages(dockerfile);
  const runtime = all.at(-1)!;

  it('passes the Dockerfile validator with no problems', () => {
    const problems = validate(dockerfile).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
    assert.deepEqual(problems, []);
  });

  it('is multi-stage on the official Node 22 image', () => {
    assert.ok(all.length >= 2, 'multi-stage');
    for (const s of all) assert.match(s.from, /^node:22[-.\w]*$/, `stage ${s.name} is FROM ${s.from}`);
  });

  it('installs production dependencies from the lockfile and checks that its Node runs TypeScript itself', () => {
    const deps = all.find((s) => s.name === 'deps');
    assert.ok(deps, 'a deps stage');
    const run = deps.lines.filter((l) => l.startsWith('RUN')).join('\n');
    assert.match(run, /npm ci --omit=dev/);
    assert.match(run, /process\.features\.typescript/);
    assert.ok(runtime.lines.some((l) => /^COPY --from=deps .*node_modules/.test(l)), 'runtime copies node_modules from deps');
  });

  it('runs as the non-root UID/GID the chart expects', () => {
    const values = parse(readFileSync(path.join(QUARRY_CHART, 'values.yaml'), 'utf8')) as { podSecurityContext: { runAsUser: number; runAsGroup: number } };
    const user = runtime.lines.filter((l) => l.startsWith('USER ')).at(-1);
    assert.equal(user, `USER ${values.podSecurityContext.runAsUser}:${values.podSecurityContext.runAsGroup}`);
    assert.ok(runtime.lines.some((l) => l.includes(`--uid ${values.podSecurityContext.runAsUser}`)), 'the user exists in /etc/passwd');
  });

  it('models: baked in by default (the chart default, models.volume=none, needs them), BAKE_MODELS=false for an empty /models to mount over', () => {
    const models = all.find((s) => s.name === 'models');
    assert.ok(models?.lines.some((l) => l === 'ARG BAKE_MODELS=true'));
    const values = parse(readFileSync(path.join(QUARRY_CHART, 'values.yaml'), 'utf8')) as { models: { volume: string } };
    assert.equal(values.models.volume, 'none');
    assert.ok(runtime.lines.some((l) => /^COPY --from=models .* \/models$/.test(l)));
    assert.ok(runtime.lines.some((l) => l.includes('QUARRY_MODELS_DIR=/models')));
  });

  it('defaults to the engine entry point; the chart runs operator, engine and worker from the same image', () => {
    const cmd = runtime.lines.filter((l) => l.startsWith('CMD')).at(-1);
    assert.equal(cmd, 'CMD ["node", "engine/src/main.ts"]', 'no loader: Node strips the types');
    const templates = ['operator', 'engine', 'worker'].map((c) => readFileSync(path.join(QUARRY_CHART, 'templates', `${c}-deployment.yaml`), 'utf8'));
    assert.match(templates[0]!, /command: \["node", ("--[a-z-]+=\d+", )*"operator\/src\/main\.ts"\]/);
    assert.match(templates[1]!, /command: \["node", \{\{ ternary "engine\/src\/all-in-one\.ts" "engine\/src\/main\.ts" /);
    assert.match(templates[2]!, /command: \["node", "engine\/src\/worker\.ts"\]/);
    assert.ok(existsSync(path.join(ROOT, 'package-lock.json')), 'npm ci needs the lockfile');
  });

  it('.dockerignore keeps local state, dependencies and secrets out of the build context', () => {
    for (const entry of ['.git', 'node_modules', '.cache', '.quarry', 'models', '**/.env', '**/*.pem', '**/*.key']) {
      assert.ok(dockerignore.includes(entry), `.dockerignore lacks ${entry}`);
    }
    for (const needed of ['operator', 'engine', 'package.json', 'package-lock.json', 'hack']) {
      assert.ok(!dockerignore.includes(needed), `${needed} must stay in the build context`);
    }
  });
});
