/**
 * A single-node Kubernetes cluster that runs pods, for `make test-cluster-up` / `make test-cluster-down` and the pod
 * suite (test/pods/). Every part is a real process started here: etcd, kube-apiserver, kube-controller-manager,
 * kube-scheduler and kubelet (hack/tools/build-tools.sh, one Kubernetes version), kube-proxy (iptables mode),
 * CoreDNS, containerd with runc and the CNI bridge plugin (Debian packages). Images come from hack/cluster/images.sh,
 * imported into containerd's k8s.io namespace; nothing is pulled.
 *
 * Network: a bridge of our own (quarry-br0, 10.244.0.1/16) is the pods' gateway and the node's address; each pod
 * lives in a network namespace the CNI plugin makes. Forwarding is switched on for the Services' DNAT, and two
 * iptables rules drop anything forwarded between the bridge and any other interface, so pods reach this machine and
 * each other only. `down` undoes all of it: pods (through the CRI), processes (by pid), kube-proxy's rules, ours, the
 * bridge, the sysctls it changed, and the mounts under the state directory.
 *
 * State lives under QUARRY_CLUSTER_DIR (default .cache/test-cluster), containerd's images in <state>-containerd;
 * <state>.sh exports KUBECONFIG.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BIN, CACHE, alive, bin, freePort, startDetached, stopAll, waitHealthy } from '../test-env.ts';
import { type NodeNet, cniConflist, containerdConfig, corefile, kubeProxyConfig, kubeletConfig, writeKubeconfig } from './configs.ts';
import { makePki } from './pki.ts';

export const CLUSTER_DIR = process.env.QUARRY_CLUSTER_DIR ?? path.join(CACHE, 'test-cluster');
export const CLUSTER_ENV_SCRIPT = `${CLUSTER_DIR}.sh`;
export const IMAGES_DIR = process.env.QUARRY_CLUSTER_IMAGES ?? path.join(CACHE, 'cluster-images');
const STATE_FILE = path.join(CLUSTER_DIR, 'state.json');
/**
 * containerd's content store and unpacked snapshots, beside the state directory and kept by `down`: the next `up`
 * imports unchanged images without unpacking them again, and `down` need not delete the app image's ~100,000 files
 * (about a minute here). Nothing in it is mounted once the pods are gone.
 */
const CONTAINERD_ROOT = `${CLUSTER_DIR}-containerd`;
const CNI_BIN = '/usr/lib/cni';

export const NET: NodeNet = {
  nodeName: 'quarry-node',
  bridge: 'quarry-br0',
  podCidr: '10.244.0.0/16',
  nodeIp: '10.244.0.1',
  serviceCidr: '10.96.0.0/16',
  serviceIp: '10.96.0.1',
};

export interface ClusterState {
  startedAt: string;
  pids: Record<string, number>;
  /** Values this cluster changed and `down` restores (sysctl path -> previous value). */
  sysctls: Record<string, string>;
  socket: string;
  kubeconfig: string;
  server: string;
}

/** Static bearer tokens (--token-auth-file) of the admin and of each component. */
interface Tokens { admin: string; node: string; controllerManager: string; scheduler: string; proxy: string }

const log = (msg: string) => process.stderr.write(`[test-cluster] ${msg}\n`);
const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const trySh = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });

function systemPath(name: string, candidates: string[], pkg: string): string {
  for (const c of candidates) if (existsSync(c)) return c;
  throw new Error(`${name} not found (looked in ${candidates.join(', ')}): install the Debian package '${pkg}' (hack/ci/apt-packages.sh)`);
}

export function readClusterState(): ClusterState | undefined {
  return existsSync(STATE_FILE) ? (JSON.parse(readFileSync(STATE_FILE, 'utf8')) as ClusterState) : undefined;
}

export function clusterIsUp(): boolean {
  const s = readClusterState();
  return !!s && Object.values(s.pids).every(alive);
}

// ---- the host network --------------------------------------------------------------------------------------------

const ISOLATION = [
  ['FORWARD', '-i', NET.bridge, '!', '-o', NET.bridge, '-m', 'comment', '--comment', 'quarry-test-cluster: pods reach nothing beyond this machine', '-j', 'DROP'],
  ['FORWARD', '-o', NET.bridge, '!', '-i', NET.bridge, '-m', 'comment', '--comment', 'quarry-test-cluster: nothing from outside reaches pods', '-j', 'DROP'],
];

function setSysctl(state: ClusterState, key: string, value: string) {
  const file = path.join('/proc/sys', key);
  const prev = readFileSync(file, 'utf8').trim();
  if (prev !== value) {
    state.sysctls[key] ??= prev;
    writeFileSync(file, value);
  }
}

function networkUp(state: ClusterState) {
  if (trySh('ip', ['link', 'show', NET.bridge]).status !== 0) sh('ip', ['link', 'add', NET.bridge, 'type', 'bridge']);
  trySh('ip', ['addr', 'add', `${NET.nodeIp}/${NET.podCidr.split('/')[1]}`, 'dev', NET.bridge]);
  sh('ip', ['link', 'set', NET.bridge, 'up']);
  for (const rule of ISOLATION) if (trySh('iptables', ['-C', ...rule]).status !== 0) sh('iptables', ['-I', ...rule]);
  // Services: kube-proxy DNATs ClusterIPs on the node, so pod -> Service -> pod is routed; on a bridge, bridged
  // packets must pass iptables too (hairpin and same-bridge Service traffic).
  setSysctl(state, 'net/ipv4/ip_forward', '1');
  if (existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables')) setSysctl(state, 'net/bridge/bridge-nf-call-iptables', '1');
}

/** The chains the kubelet itself adds (its canary, the localnet firewall), which `kube-proxy --cleanup` leaves. */
function kubeletChainsDown() {
  for (const cmd of ['iptables', 'ip6tables']) {
    for (const [table, rules] of [['filter', [['INPUT', '-j', 'KUBE-FIREWALL'], ['OUTPUT', '-j', 'KUBE-FIREWALL']]], ['nat', []], ['mangle', []]] as const) {
      for (const rule of rules) while (trySh(cmd, ['-t', table, '-C', ...rule]).status === 0) trySh(cmd, ['-t', table, '-D', ...rule]);
      for (const chain of ['KUBE-FIREWALL', 'KUBE-KUBELET-CANARY', 'KUBE-IPTABLES-HINT']) {
        if (trySh(cmd, ['-t', table, '-F', chain]).status === 0) trySh(cmd, ['-t', table, '-X', chain]);
      }
    }
  }
}

/** The kubelet's QoS cgroups (/kubepods in every v1 controller), emptied once every pod is gone; deepest first. */
function cgroupsDown() {
  const root = '/sys/fs/cgroup';
  if (!existsSync(root)) return;
  for (const controller of readdirSync(root)) {
    const top = path.join(root, controller, 'kubepods');
    if (!existsSync(top)) continue;
    const dirs: string[] = [];
    const walk = (d: string) => {
      dirs.push(d);
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name));
    };
    walk(top);
    for (const d of dirs.reverse()) trySh('rmdir', [d]);
  }
}

function networkDown(state: ClusterState | undefined) {
  for (const rule of ISOLATION) while (trySh('iptables', ['-C', ...rule]).status === 0) trySh('iptables', ['-D', ...rule]);
  trySh('ip', ['link', 'delete', NET.bridge]);
  for (const [key, prev] of Object.entries(state?.sysctls ?? {})) writeFileSync(path.join('/proc/sys', key), prev);
}

// ---- the control plane -------------------------------------------------------------------------------------------

async function startControlPlane(state: ClusterState, tokens: Tokens, pki: ReturnType<typeof makePki>) {
  const dir = CLUSTER_DIR;
  const [client, peer, apiPort] = [await freePort(), await freePort(), await freePort()];
  const etcdUrl = `http://127.0.0.1:${client}`;
  state.pids.etcd = startDetached('etcd', bin('etcd'), [
    '--name=quarry-pods', `--data-dir=${path.join(dir, 'etcd-data')}`,
    `--listen-client-urls=${etcdUrl}`, `--advertise-client-urls=${etcdUrl}`,
    `--listen-peer-urls=http://127.0.0.1:${peer}`, `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
    `--initial-cluster=quarry-pods=http://127.0.0.1:${peer}`, '--unsafe-no-fsync=true', '--log-level=warn',
  ], {}, dir);
  await waitHealthy('etcd', `${etcdUrl}/health`, state.pids.etcd, {}, 60_000, dir);

  const tokenFile = path.join(pki.dir, 'tokens.csv');
  writeFileSync(tokenFile, [
    `${tokens.admin},quarry-admin,quarry-admin-uid,"system:masters"`,
    `${tokens.node},system:node:${NET.nodeName},node-uid,"system:nodes"`,
    `${tokens.controllerManager},system:kube-controller-manager,kcm-uid`,
    `${tokens.scheduler},system:kube-scheduler,sched-uid`,
    `${tokens.proxy},system:kube-proxy,proxy-uid`,
    '',
  ].join('\n'));
  state.server = `https://${NET.nodeIp}:${apiPort}`;
  state.pids['kube-apiserver'] = startDetached('kube-apiserver', bin('kube-apiserver'), [
    `--etcd-servers=${etcdUrl}`, `--bind-address=${NET.nodeIp}`, `--advertise-address=${NET.nodeIp}`, `--secure-port=${apiPort}`,
    `--tls-cert-file=${pki.apiserverCert}`, `--tls-private-key-file=${pki.apiserverKey}`, `--client-ca-file=${pki.caCert}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${pki.saPub}`, `--service-account-signing-key-file=${pki.saKey}`,
    `--token-auth-file=${tokenFile}`, '--authorization-mode=Node,RBAC', '--enable-admission-plugins=NodeRestriction',
    `--service-cluster-ip-range=${NET.serviceCidr}`, '--allow-privileged=true',
    `--kubelet-client-certificate=${pki.kubeletClientCert}`, `--kubelet-client-key=${pki.kubeletClientKey}`,
    `--kubelet-certificate-authority=${pki.caCert}`, '--kubelet-preferred-address-types=InternalIP',
    '--enable-priority-and-fairness=false', '--v=0',
  ], {}, dir);
  await waitHealthy('kube-apiserver', `${state.server}/readyz`, state.pids['kube-apiserver'], { authorization: `Bearer ${tokens.admin}` }, 120_000, dir);
  const kc = (user: string, token: string) => writeKubeconfig(path.join(dir, `${user}.kubeconfig`), { server: state.server, caCert: pki.caCert, user, token });
  state.kubeconfig = kc('admin', tokens.admin);
  log(`kube-apiserver ready at ${state.server}`);

  const [kcmPort, schedPort] = [await freePort(), await freePort()];
  state.pids['kube-controller-manager'] = startDetached('kube-controller-manager', bin('kube-controller-manager'), [
    `--kubeconfig=${kc('kube-controller-manager', tokens.controllerManager)}`, '--leader-elect=false',
    '--bind-address=127.0.0.1', `--secure-port=${kcmPort}`, '--use-service-account-credentials=true',
    `--service-account-private-key-file=${pki.saKey}`, `--root-ca-file=${pki.caCert}`,
    `--cluster-signing-cert-file=${pki.caCert}`, `--cluster-signing-key-file=${pki.caKey}`,
    `--service-cluster-ip-range=${NET.serviceCidr}`, '--v=0',
  ], {}, dir);
  state.pids['kube-scheduler'] = startDetached('kube-scheduler', bin('kube-scheduler'), [
    `--kubeconfig=${kc('kube-scheduler', tokens.scheduler)}`, '--leader-elect=false',
    '--bind-address=127.0.0.1', `--secure-port=${schedPort}`, '--v=0',
  ], {}, dir);
  await Promise.all([
    waitHealthy('kube-controller-manager', `https://127.0.0.1:${kcmPort}/healthz`, state.pids['kube-controller-manager'], {}, 60_000, dir),
    waitHealthy('kube-scheduler', `https://127.0.0.1:${schedPort}/healthz`, state.pids['kube-scheduler'], {}, 60_000, dir),
  ]);
  return kc;
}

// ---- the node ----------------------------------------------------------------------------------------------------

async function startNode(state: ClusterState, tokens: Tokens, pki: ReturnType<typeof makePki>, kc: (u: string, t: string) => string) {
  const dir = CLUSTER_DIR;
  const containerd = systemPath('containerd', ['/usr/bin/containerd', '/usr/sbin/containerd'], 'containerd');
  const runc = systemPath('runc', ['/usr/sbin/runc', '/usr/bin/runc'], 'runc');
  systemPath('the CNI bridge plugin', [path.join(CNI_BIN, 'bridge')], 'containernetworking-plugins');
  const cniConf = path.join(dir, 'cni', 'net.d');
  mkdirSync(cniConf, { recursive: true });
  writeFileSync(path.join(cniConf, '10-quarry.conflist'), cniConflist(NET, path.join(dir, 'cni', 'ipam')));
  state.socket = path.join(dir, 'containerd.sock');
  const cdConf = path.join(dir, 'containerd.toml');
  writeFileSync(cdConf, containerdConfig({ root: CONTAINERD_ROOT, dir: path.join(dir, 'containerd'), socket: state.socket, cniConfDir: cniConf, cniBinDir: CNI_BIN, runc }));
  state.pids.containerd = startDetached('containerd', containerd, ['--config', cdConf], {}, dir);
  const deadline = Date.now() + 30_000;
  while (trySh('ctr', ['-a', state.socket, 'version']).status !== 0) {
    if (!alive(state.pids.containerd) || Date.now() > deadline) throw new Error(`containerd did not start; see ${path.join(dir, 'containerd.log')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  importImages(state.socket);

  const [proxyHealthz, proxyMetrics, dnsHealth, kubeletPort, kubeletHealthz] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const proxyConf = path.join(dir, 'kube-proxy.json');
  writeFileSync(proxyConf, kubeProxyConfig({ net: NET, kubeconfig: kc('kube-proxy', tokens.proxy), healthzPort: proxyHealthz, metricsPort: proxyMetrics }));
  state.pids['kube-proxy'] = startDetached('kube-proxy', bin('kube-proxy'), [`--config=${proxyConf}`], {}, dir);
  const coreConf = path.join(dir, 'Corefile');
  writeFileSync(coreConf, corefile({ net: NET, kubeconfig: state.kubeconfig, healthPort: dnsHealth }));
  state.pids.coredns = startDetached('coredns', bin('coredns'), ['-conf', coreConf], {}, dir);

  const kubeletConf = path.join(dir, 'kubelet.json');
  writeFileSync(kubeletConf, kubeletConfig({ net: NET, port: kubeletPort, healthzPort: kubeletHealthz, caCert: pki.caCert, tlsCert: pki.kubeletServingCert, tlsKey: pki.kubeletServingKey, socket: state.socket }));
  state.pids.kubelet = startDetached('kubelet', bin('kubelet'), [
    `--config=${kubeletConf}`, `--kubeconfig=${kc('kubelet', tokens.node)}`, `--root-dir=${path.join(dir, 'kubelet')}`,
    `--hostname-override=${NET.nodeName}`, `--node-ip=${NET.nodeIp}`, '--v=0',
  ], {}, dir);
  await Promise.all([
    waitHealthy('kube-proxy', `http://127.0.0.1:${proxyHealthz}/healthz`, state.pids['kube-proxy'], {}, 60_000, dir),
    waitHealthy('coredns', `http://127.0.0.1:${dnsHealth}/health`, state.pids.coredns, {}, 60_000, dir),
    waitHealthy('kubelet', `http://127.0.0.1:${kubeletHealthz}/healthz`, state.pids.kubelet, {}, 120_000, dir),
  ]);
}

/** Imports every image tarball hack/cluster/images.sh wrote; containerd skips blobs it already has. */
function importImages(socket: string) {
  if (!existsSync(IMAGES_DIR)) throw new Error(`${IMAGES_DIR} is missing: run 'make test-cluster-images' (hack/cluster/images.sh) first`);
  for (const f of readdirSync(IMAGES_DIR).filter((n) => n.endsWith('.tar')).sort()) {
    const name = f.replace(/\.tar$/, '');
    // The OCI layout names its image by tag only (umoci): --base-name makes it quarry.local/<name>:<tag>. Unpacked into
    // the overlayfs snapshotter now, so the kubelet finds every image ready (imagePullPolicy IfNotPresent/Never).
    const r = trySh('ctr', ['-a', socket, '-n', 'k8s.io', 'images', 'import', '--snapshotter', 'overlayfs', '--base-name', `quarry.local/${name}`, path.join(IMAGES_DIR, f)]);
    if (r.status !== 0) throw new Error(`importing ${f} failed: ${r.stderr.toString()}`);
    log(`imported quarry.local/${name}`);
  }
}

function kubectl(state: ClusterState, args: string[]) {
  return spawnSync(path.join(BIN, 'kubectl'), [`--kubeconfig=${state.kubeconfig}`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

async function waitNodeReady(state: ClusterState, timeoutMs = 120_000) {
  const r = kubectl(state, ['wait', '--for=condition=Ready', `node/${NET.nodeName}`, `--timeout=${timeoutMs / 1000}s`]);
  if (r.status === 0) return;
  // `kubectl wait` fails at once while the node is not registered yet: retry until the deadline.
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 1000));
    if (kubectl(state, ['wait', '--for=condition=Ready', `node/${NET.nodeName}`, '--timeout=5s']).status === 0) return;
  }
  throw new Error(`node ${NET.nodeName} not Ready after ${timeoutMs} ms; see ${path.join(CLUSTER_DIR, 'kubelet.log')}`);
}

// ---- up / down ---------------------------------------------------------------------------------------------------

export async function clusterUp(): Promise<ClusterState> {
  if (process.getuid?.() !== 0) throw new Error('the test cluster needs root (network namespaces, cgroups, mounts)');
  const existing = readClusterState();
  if (existing && clusterIsUp()) {
    log('already up; reusing');
    return existing;
  }
  if (existing) await clusterDown();
  rmSync(CLUSTER_DIR, { recursive: true, force: true });
  const pkiDir = path.join(CLUSTER_DIR, 'pki');
  mkdirSync(pkiDir, { recursive: true });
  const state: ClusterState = { startedAt: new Date().toISOString(), pids: {}, sysctls: {}, socket: '', kubeconfig: '', server: '' };
  const save = () => writeFileSync(STATE_FILE, JSON.stringify(state, null, 2));
  save();
  try {
    networkUp(state);
    save();
    const pki = makePki(pkiDir, { serviceIp: NET.serviceIp, nodeIp: NET.nodeIp, nodeName: NET.nodeName });
    const token = () => randomBytes(24).toString('hex');
    const tokens: Tokens = { admin: token(), node: token(), controllerManager: token(), scheduler: token(), proxy: token() };
    const kc = await startControlPlane(state, tokens, pki);
    save();
    await startNode(state, tokens, pki, kc);
    save();
    await waitNodeReady(state);
    writeFileSync(CLUSTER_ENV_SCRIPT, `# written by make test-cluster-up; source it\nexport KUBECONFIG=${JSON.stringify(state.kubeconfig)}\nexport PATH=${JSON.stringify(BIN)}:"$PATH"\n`);
    log(`node ${NET.nodeName} Ready; KUBECONFIG=${state.kubeconfig}`);
    return state;
  } catch (err) {
    save();
    log(`start-up failed: ${(err as Error).message}; tearing down`);
    await clusterDown();
    throw err;
  }
}

/** Unmounts whatever is still mounted under the state directory (pod volumes, container root filesystems), deepest first. */
function unmountUnder(dir: string) {
  const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]?.replace(/\\040/g, ' ')).filter((m): m is string => !!m && (m === dir || m.startsWith(`${dir}/`)));
  for (const m of mounts.sort((a, b) => b.length - a.length)) trySh('umount', ['-l', m]);
}

export async function clusterDown(): Promise<void> {
  const state = readClusterState();
  const t0 = Date.now();
  const took = (what: string) => log(`${what} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  if (state) {
    const pids = Object.entries(state.pids);
    // First whatever would recreate pods, then every pod sandbox through the CRI (stops containers, tears down their
    // network namespaces with the CNI plugin), then the rest; etcd last.
    await stopAll(pids.filter(([n]) => ['kubelet', 'kube-controller-manager', 'kube-scheduler'].includes(n)));
    took('kubelet, controller manager and scheduler stopped');
    if (state.pids.containerd && alive(state.pids.containerd)) {
      const r = trySh(bin('crictl'), ['--runtime-endpoint', `unix://${state.socket}`, '--timeout', '60s', 'rmp', '--all', '--force']);
      if (r.status !== 0) log(`crictl rmp: ${r.stderr.toString().trim()}`);
      took('pod sandboxes removed');
    }
    await stopAll(pids.filter(([n]) => !['kubelet', 'kube-controller-manager', 'kube-scheduler', 'etcd'].includes(n)));
    took('containerd, kube-proxy, CoreDNS and kube-apiserver stopped');
    await stopAll(pids.filter(([n]) => n === 'etcd'));
    log(`stopped ${pids.map(([n, p]) => `${n}(${p})`).join(', ')}`);
  }
  if (existsSync(path.join(BIN, 'kube-proxy'))) trySh(bin('kube-proxy'), ['--cleanup']);
  kubeletChainsDown();
  networkDown(state);
  took('iptables rules, bridge and sysctls restored');
  unmountUnder(CLUSTER_DIR);
  cgroupsDown();
  rmSync(CLUSTER_DIR, { recursive: true, force: true });
  took('mounts, cgroups and state removed');
  rmSync(CLUSTER_ENV_SCRIPT, { force: true });
}
