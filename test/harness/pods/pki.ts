/**
 * The test cluster's certificates, made with the openssl CLI (Node's crypto makes keys but not X.509 certificates):
 * one CA that the apiserver trusts for client certificates and that pods trust for the apiserver (the controller
 * manager publishes it as kube-root-ca.crt), the apiserver's serving certificate (the `kubernetes` Service's
 * ClusterIP and the node address among its SANs), the apiserver's client certificate towards the kubelet, the
 * kubelet's serving certificate, and the service-account signing key pair.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  saKey: string;
  saPub: string;
  apiserverCert: string;
  apiserverKey: string;
  kubeletClientCert: string;
  kubeletClientKey: string;
  kubeletServingCert: string;
  kubeletServingKey: string;
}

const openssl = (dir: string, args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });

function leaf(dir: string, name: string, subject: string, ext: string): [string, string] {
  openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-subj', subject, '-out', `${name}.csr`]);
  writeFileSync(path.join(dir, `${name}.ext`), ext);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '30', '-extfile', `${name}.ext`, '-out', `${name}.crt`]);
  return [path.join(dir, `${name}.crt`), path.join(dir, `${name}.key`)];
}

/** Writes every key and certificate into `dir`; `ips` are the apiserver's and the kubelet's addresses. */
export function makePki(dir: string, opts: { serviceIp: string; nodeIp: string; nodeName: string }): Pki {
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '30', '-subj', '/CN=quarry-test-cluster-ca']);
  openssl(dir, ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'sa.key']);
  openssl(dir, ['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub']);
  const dns = ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', 'localhost'];
  const san = (ips: string[], names: string[]) => `subjectAltName=${[...ips.map((i) => `IP:${i}`), ...names.map((n) => `DNS:${n}`)].join(',')}\n`;
  const [apiserverCert, apiserverKey] = leaf(dir, 'apiserver', '/CN=kube-apiserver', `${san([opts.serviceIp, opts.nodeIp, '127.0.0.1'], dns)}extendedKeyUsage=serverAuth\n`);
  const [kubeletClientCert, kubeletClientKey] = leaf(dir, 'apiserver-kubelet-client', '/O=system:masters/CN=kube-apiserver-kubelet-client', 'extendedKeyUsage=clientAuth\n');
  const [kubeletServingCert, kubeletServingKey] = leaf(dir, 'kubelet', `/CN=${opts.nodeName}`, `${san([opts.nodeIp, '127.0.0.1'], [opts.nodeName])}extendedKeyUsage=serverAuth\n`);
  return {
    dir,
    caCert: path.join(dir, 'ca.crt'),
    caKey: path.join(dir, 'ca.key'),
    saKey: path.join(dir, 'sa.key'),
    saPub: path.join(dir, 'sa.pub'),
    apiserverCert,
    apiserverKey,
    kubeletClientCert,
    kubeletClientKey,
    kubeletServingCert,
    kubeletServingKey,
  };
}
