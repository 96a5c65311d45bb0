/**
 * The release workflow (.github/workflows/release.yaml) passes actionlint (built by `make tools`, pinned in
 * hack/tools/versions.env), and publishes exactly what the chart defaults, the Makefile's `make image` and the
 * GitOps examples name: the image ghcr.io/<owner>/quarry:<appVersion> with the models baked in, and both charts under
 * oci://ghcr.io/<owner>/charts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parse } from 'yaml';
import { run } from '../harness/env.ts';
import { BIN, ROOT } from '../harness/test-env.ts';
import { QUARRY_CHART } from './chart-helpers.ts';

const WORKFLOW = path.join(ROOT, '.github/workflows/release.yaml');
const ACTIONLINT = path.join(BIN, 'actionlint');
const scratch = mkdtempSync(path.join(tmpdir(), 'quarry-actionlint-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

interface Step { uses?: string; run?: string; with?: Record<string, unknown> }
interface Workflow { on: { push: { tags: string[] } }; jobs: Record<string, { steps: Step[] }> }

describe('release workflow', () => {
  const wf = parse(readFileSync(WORKFLOW, 'utf8')) as Workflow;

  it('passes actionlint', async () => {
    const r = await run(ACTIONLINT, ['-no-color', WORKFLOW]);
    assert.equal(r.code, 0, `actionlint (run make tools to build it):\n${r.stdout}${r.stderr}`);
  });

  it('actionlint does catch a broken workflow (the check is live)', async () => {
    const broken = path.join(scratch, 'broken.yaml');
    writeFileSync(broken, readFileSync(WORKFLOW, 'utf8').replace('runs-on: ubuntu-24.04', 'runs_on: ubuntu-24.04'));
    const r = await run(ACTIONLINT, ['-no-color', broken]);
    assert.notEqual(r.code, 0);
    assert.match(r.stdout + r.stderr, /runs_on/);
  });

  it('runs on v* tags and pushes the image (models baked in) and both charts under the names the defaults use', () => {
    assert.deepEqual(wf.on.push.tags, ['v*']);
    const steps = Object.values(wf.jobs).flatMap((j) => j.steps);
    const build = steps.find((s) => s.uses?.startsWith('docker/build-push-action@'));
    assert.ok(build, 'no image build');
    assert.equal(build.with?.push, true);
    assert.equal(build.with?.['build-args'], 'BAKE_MODELS=true');
    assert.match(String(build.with?.tags), /^\$\{\{ env\.REGISTRY \}\}\/\$\{\{ needs\.version\.outputs\.owner \}\}\/quarry:\$\{\{ needs\.version\.outputs\.version \}\}$/);
    const push = steps.find((s) => s.run?.includes('helm push'));
    assert.ok(push?.run?.includes('helm package charts/quarry-crds') && push.run.includes('helm package charts/quarry '), 'both charts packaged');
    assert.match(push?.run ?? '', /oci:\/\/\$REGISTRY\/\$OWNER\/charts/);

    // What the defaults name, for owner quarry-dev and the version in Chart.yaml:
    const values = parse(readFileSync(path.join(QUARRY_CHART, 'values.yaml'), 'utf8')) as { image: { repository: string; tag: string } };
    assert.equal(values.image.repository, 'ghcr.io/quarry-dev/quarry');
    assert.equal(values.image.tag, '', 'the tag defaults to appVersion, which the workflow requires to equal the git tag');
    assert.match(readFileSync(path.join(ROOT, 'Makefile'), 'utf8'), /^IMAGE \?= ghcr\.io\/quarry-dev\/quarry$/m);
    const flux = parse(readFileSync(path.join(ROOT, 'examples/gitops/flux/infrastructure/helmrepository.yaml'), 'utf8')) as { spec: { url: string } };
    assert.equal(flux.spec.url, 'oci://ghcr.io/quarry-dev/charts');
  });
});
