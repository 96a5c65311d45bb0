import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '#operator/runtime/config.ts';

test('operator config: env as the chart sets it, flags win, bad values fail loudly', () => {
  const env = { WATCH_NAMESPACES: 'team-a, team-b,,team-a', LEADER_ELECT: 'true', LEADER_ELECTION_NAMESPACE: 'quarry-system', LEADER_ELECTION_ID: 'quarry-operator', METRICS_PORT: '9090', POD_NAME: 'op-0' };
  const c = loadConfig([], env);
  assert.deepEqual(c.watchNamespaces, ['team-a', 'team-b']);
  assert.equal(c.leaderElect, true);
  assert.equal(c.leaderElectionNamespace, 'quarry-system');
  assert.equal(c.metricsPort, 9090);
  assert.equal(c.identity, 'op-0');
  assert.equal(c.resyncMs, 60_000);
  const f = loadConfig(['--leader-elect=false', '--watch-namespaces=x', '--metrics-port=0'], env);
  assert.equal(f.leaderElect, false);
  assert.deepEqual(f.watchNamespaces, ['x']);
  assert.equal(f.metricsPort, 0);
  assert.deepEqual(loadConfig([], {}).watchNamespaces, [], 'empty: the whole cluster');
  assert.equal(loadConfig([], {}).leaderElect, false);
  assert.equal(loadConfig([], {}).metricsPort, 8081, 'the default metrics port is not the engine API port (8080)');
  assert.throws(() => loadConfig([], { METRICS_PORT: 'abc' }), /METRICS_PORT/);
  assert.throws(() => loadConfig([], { LEADER_ELECT: 'maybe' }), /boolean/);
  assert.throws(() => loadConfig(['--bogus'], {}));
});
