/**
 * The configuration files of the test cluster's node: containerd (its own root, state and socket under the cluster's
 * state directory, the overlayfs snapshotter, runc with the cgroupfs driver), the CNI bridge network, the kubelet
 * (cgroup v1 accepted: this kernel mounts v1 controllers beside an empty unified hierarchy), kube-proxy (iptables
 * mode) and CoreDNS, plus kubeconfigs. Pure rendering: cluster.ts decides addresses, ports and paths.
 */
import { writeFileSync } from 'node:fs';

export interface NodeNet {
  nodeName: string;
  /** The bridge the CNI plugin attaches pods to. */
  bridge: string;
  podCidr: string;
  /** The bridge's own address: the pods' gateway, and the address the apiserver, the kubelet and CoreDNS serve on. */
  nodeIp: string;
  serviceCidr: string;
  /** The `kubernetes` Service's ClusterIP (the first address of serviceCidr). */
  serviceIp: string;
}

/** The pause image the CRI plugin starts every sandbox from (hack/cluster/images.sh builds it from the k8s module). */
export const PAUSE_IMAGE = 'quarry.local/pause:3.10';

/** `root`: containerd's content and snapshots (kept between clusters); `dir`: its state, options and the rest. */
export function containerdConfig(o: { root: string; dir: string; socket: string; cniConfDir: string; cniBinDir: string; runc: string }): string {
  return `version = 2
root = "${o.root}"
state = "${o.dir}/state"
[grpc]
  address = "${o.socket}"
[ttrpc]
  address = "${o.socket}.ttrpc"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "${o.dir}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  enable_selinux = false
  # This machine's root lacks CAP_SYS_RESOURCE (not in the bounding set), so no process may lower its oom_score_adj:
  # runc failed every sandbox (the kubelet asks -998) with "can't get final child's PID from pipe: EOF". Clamp the
  # kubelet's negative scores to containerd's own (0), as rootless setups do.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "${o.runc}"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${o.cniBinDir}"
    conf_dir = "${o.cniConfDir}"
`;
}

/** The bridge network; no IP masquerade: pods reach nothing but this machine (cluster.ts also drops forwarding). */
export function cniConflist(net: NodeNet, ipamDir: string): string {
  return JSON.stringify({
    cniVersion: '1.0.0',
    name: 'quarry-pods',
    plugins: [
      {
        type: 'bridge',
        bridge: net.bridge,
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: net.podCidr, gateway: net.nodeIp }]],
          routes: [{ dst: '0.0.0.0/0' }],
          dataDir: ipamDir,
        },
      },
    ],
  }, null, 2);
}

export function kubeletConfig(o: { net: NodeNet; port: number; healthzPort: number; caCert: string; tlsCert: string; tlsKey: string; socket: string }): string {
  return JSON.stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: o.net.nodeIp,
    port: o.port,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: o.healthzPort,
    tlsCertFile: o.tlsCert,
    tlsPrivateKeyFile: o.tlsKey,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: o.caCert } },
    authorization: { mode: 'Webhook' },
    containerRuntimeEndpoint: `unix://${o.socket}`,
    // This kernel offers cgroup v1 controllers (the unified hierarchy has none): the kubelet refuses v1 unless told.
    failCgroupV1: false,
    cgroupDriver: 'cgroupfs',
    failSwapOn: false,
    clusterDNS: [o.net.nodeIp],
    clusterDomain: 'cluster.local',
    // No host resolver inside pods: cluster names only, nothing resolves to the outside.
    resolvConf: '',
    // The images are imported, never pulled: never garbage-collect them, and never evict for a busy shared disk.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '1%', 'nodefs.inodesFree': '1%', 'imagefs.available': '1%' },
    serializeImagePulls: false,
    rotateCertificates: false,
    serverTLSBootstrap: false,
    maxPods: 60,
  }, null, 2);
}

export function kubeProxyConfig(o: { net: NodeNet; kubeconfig: string; healthzPort: number; metricsPort: number }): string {
  return JSON.stringify({
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig: o.kubeconfig },
    mode: 'iptables',
    clusterCIDR: o.net.podCidr,
    hostnameOverride: o.net.nodeName,
    healthzBindAddress: `127.0.0.1:${o.healthzPort}`,
    metricsBindAddress: `127.0.0.1:${o.metricsPort}`,
    // 0: leave the machine's conntrack table size alone (a shared VM, not the proxy's to tune).
    conntrack: { maxPerCore: 0, min: 0 },
  }, null, 2);
}

/** CoreDNS as a process on the node address (the pods' clusterDNS): cluster names, NXDOMAIN for everything else. */
export function corefile(o: { net: NodeNet; kubeconfig: string; healthPort: number }): string {
  return `cluster.local:53 in-addr.arpa:53 {
    bind ${o.net.nodeIp}
    errors
    health 127.0.0.1:${o.healthPort}
    kubernetes cluster.local in-addr.arpa {
        kubeconfig ${o.kubeconfig}
        pods insecure
        fallthrough in-addr.arpa
    }
}
.:53 {
    bind ${o.net.nodeIp}
    template ANY ANY {
        rcode NXDOMAIN
    }
}
`;
}

/** A kubeconfig for `user` with a bearer token, verifying the apiserver against the cluster CA. */
export function writeKubeconfig(file: string, o: { server: string; caCert: string; user: string; token: string }): string {
  writeFileSync(file, JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'quarry-pods', cluster: { server: o.server, 'certificate-authority': o.caCert } }],
    users: [{ name: o.user, user: { token: o.token } }],
    contexts: [{ name: 'quarry-pods', context: { cluster: 'quarry-pods', user: o.user, namespace: 'default' } }],
    'current-context': 'quarry-pods',
  }, null, 2));
  return file;
}
