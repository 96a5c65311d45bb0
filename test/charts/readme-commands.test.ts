/**
 * The README's cluster path, run verbatim against the real apiserver (only the namespace name is made unique): the
 * example apply command, `kubectl get quarry`, and the uninstall's resource deletion; every command on Quarry
 * resources names its namespace; the chart README and NOTES use the same apply command; examples/ holds only
 * manifests (the sample data lives outside what kubectl, Argo CD and Flux read); the Argo CD files fix no namespace;
 * the Flux Git variant reads the charts from Git.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { applyCrds, kubectl } from '../harness/env.ts';
import { ROOT } from '../harness/test-env.ts';
import { CRDS_DIR, parseObjects, uniqueName } from './chart-helpers.ts';

/** The shell lines of the fenced code blocks of one README section. */
function sectionCommands(file: string, heading: string): string[] {
  const text = readFileSync(file, 'utf8');
  const start = text.indexOf(heading);
  assert.ok(start >= 0, `${heading} missing in ${file}`);
  const end = text.indexOf('\n## ', start + heading.length);
  const section = text.slice(start, end < 0 ? undefined : end);
  const lines: string[] = [];
  for (const block of section.matchAll(/```sh\n([\s\S]*?)```/g)) {
    let cont = '';
    for (const raw of block[1]!.split('\n')) {
      const line = raw.replace(/\s+#.*$/, '').trim();
      if (line.endsWith('\\')) cont += `${line.slice(0, -1)} `;
      else if (line || cont) {
        lines.push((cont + line).trim());
        cont = '';
      }
    }
  }
  return lines.filter((l) => l && !l.startsWith('#'));
}

const readmeCommands = sectionCommands(path.join(ROOT, 'README.md'), '## Install on a cluster');
const kubectlLines = readmeCommands.filter((l) => l.startsWith('kubectl '));

describe("README's cluster path", () => {
  const ns = uniqueName('readme-demo');
  const rename = (l: string) => l.split(/\s+/).slice(1).map((a) => (a === 'quarry-demo' ? ns : a));

  before(async () => {
    await applyCrds(CRDS_DIR);
  });
  after(async () => {
    await kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  it('every kubectl command on Quarry resources names its namespace', () => {
    const onResources = kubectlLines.filter((l) => / (apply|wait|get quarry|delete quarry)\b/.test(l));
    assert.ok(onResources.length >= 4, `only ${onResources.length} commands found:\n${kubectlLines.join('\n')}`);
    for (const l of onResources) assert.match(l, / -n \S+/, `no -n: ${l}`);
  });

  it('create namespace, apply the examples, get them, delete them: each exits 0 as written', async () => {
    const run = async (l: string) => {
      const r = await kubectl(rename(l));
      assert.equal(r.code, 0, `${l}\n${r.stderr}`);
      return r.stdout;
    };
    await run(kubectlLines.find((l) => l === 'kubectl create namespace quarry-demo')!);
    const apply = kubectlLines.find((l) => l.startsWith('kubectl apply -n quarry-demo'));
    assert.ok(apply, 'no apply command for the examples');
    await run(apply);
    const listed = await run(kubectlLines.find((l) => l.startsWith('kubectl get quarry -n quarry-demo'))!);
    assert.ok(listed.trim().split('\n').length > 10, listed);
    await run(kubectlLines.find((l) => l.startsWith('kubectl delete quarry --all -n quarry-demo'))!);
    const left = await kubectl(['get', 'quarry', '-n', ns, '-o', 'name']);
    assert.equal(left.stdout.trim(), '');
  });

  it('the chart README and NOTES.txt use the same apply command', () => {
    const apply = kubectlLines.find((l) => l.startsWith('kubectl apply -n quarry-demo'))!;
    assert.ok(readFileSync(path.join(ROOT, 'charts/quarry/README.md'), 'utf8').includes(apply));
    assert.ok(readFileSync(path.join(ROOT, 'charts/quarry/templates/NOTES.txt'), 'utf8').includes(apply));
  });
});

describe('what GitOps tools read', () => {
  it('examples/ (outside gitops/) holds only Quarry manifests: no sample data Argo CD or Flux would apply', () => {
    const dir = path.join(ROOT, 'examples');
    const files = readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && /\.(ya?ml|json)$/.test(e.name))
      .map((e) => path.join(e.parentPath, e.name))
      .filter((f) => !f.includes(`${path.sep}gitops${path.sep}`));
    assert.ok(files.length >= 10);
    for (const f of files) {
      for (const doc of parseAllDocuments(readFileSync(f, 'utf8'))) {
        const o = doc.toJS() as { apiVersion?: string; kind?: string } | null;
        if (o === null) continue;
        assert.match(String(o.apiVersion), /^quarry\.dev\//, `${path.relative(ROOT, f)} is not a Quarry manifest`);
      }
    }
  });

  it('the Argo CD files fix no namespace', () => {
    const dir = path.join(ROOT, 'examples/gitops/argocd');
    for (const f of ['argocd-cm.yaml', 'root-application.yaml', 'apps/quarry.yaml', 'apps/quarry-crds.yaml', 'apps/quarry-resources.yaml']) {
      const [o] = parseObjects(readFileSync(path.join(dir, f), 'utf8'));
      assert.equal(o!.metadata.namespace, undefined, `${f} fixes metadata.namespace`);
    }
  });

  it('Flux from Git: infrastructure-git builds HelmReleases reading ./charts from the GitRepository, which keeps charts/', async () => {
    const r = await kubectl(['kustomize', path.join(ROOT, 'examples/gitops/flux/infrastructure-git')]);
    assert.equal(r.code, 0, r.stderr);
    const objs = parseObjects(r.stdout) as (ReturnType<typeof parseObjects>[number] & { spec?: { chart?: { spec: { chart: string; sourceRef: { kind: string; name: string } } } } })[];
    const releases = objs.filter((o) => o.kind === 'HelmRelease');
    assert.deepEqual(releases.map((o) => o.spec!.chart!.spec.chart).sort(), ['./charts/quarry', './charts/quarry-crds']);
    for (const h of releases) assert.deepEqual(h.spec!.chart!.spec.sourceRef, { kind: 'GitRepository', name: 'quarry', namespace: 'flux-system' } as unknown);
    assert.ok(!objs.some((o) => o.kind === 'HelmRepository'));
    const repo = parseObjects(readFileSync(path.join(ROOT, 'examples/gitops/flux/quarry.yaml'), 'utf8')).find((o) => o.kind === 'GitRepository' && o.metadata.name === 'quarry') as unknown as { spec: { ignore: string } };
    assert.match(repo.spec.ignore, /^!\/charts\/$/m, 'the GitRepository ignores charts/');
  });
});
