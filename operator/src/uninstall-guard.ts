/**
 * The chart's pre-delete hook (`helm uninstall`): refuses while any Quarry resource exists in the namespaces the
 * release serves (WATCH_NAMESPACES, empty = every namespace), because without the operator their finalizers could
 * never run and their deletion would hang (and their Qdrant collections, S3 data and streams would be orphaned).
 * Exit 1 with the list and the command to run first; the release stays installed. With none left, it deletes the API
 * keys the engine created (Secrets labelled quarry.dev/api-key=true in QUARRY_API_KEYS_NAMESPACE) so they do not
 * survive the uninstall still valid, and exits 0.
 */
import { CustomObjectsApi, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { QUARRY_KINDS } from './runtime/kinds.ts';
import { parseNamespaces } from './runtime/config.ts';
import { API_KEY_LABEL } from '#engine/auth/kube-secret-store.ts';

interface Listed { items: { metadata?: { name?: string; namespace?: string } }[] }

async function main(): Promise<number> {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const custom = kc.makeApiClient(CustomObjectsApi);
  const namespaces = parseNamespaces(process.env.WATCH_NAMESPACES);
  const remaining: string[] = [];
  for (const k of QUARRY_KINDS) {
    const lists: Listed[] = namespaces.length
      ? await Promise.all(namespaces.map((ns) => custom.listNamespacedCustomObject({ group: k.group, version: k.version, namespace: ns, plural: k.plural }) as Promise<Listed>))
      : [(await custom.listClusterCustomObject({ group: k.group, version: k.version, plural: k.plural })) as Listed];
    for (const l of lists) for (const o of l.items) remaining.push(`${k.kind} ${o.metadata?.namespace}/${o.metadata?.name}`);
  }
  if (remaining.length > 0) {
    const nsList = [...new Set(remaining.map((r) => r.split(' ')[1]!.split('/')[0]))];
    process.stderr.write(
      `refusing to uninstall Quarry: ${remaining.length} Quarry resource(s) still exist, and without the operator their deletion would hang on finalizers:\n` +
        remaining.map((r) => `  ${r}`).join('\n') +
        `\ndelete them first and wait until they are gone, then uninstall again:\n` +
        nsList.map((ns) => `  kubectl delete quarry --all -n ${ns} --wait`).join('\n') +
        '\n',
    );
    return 1;
  }
  const keysNs = process.env.QUARRY_API_KEYS_NAMESPACE;
  if (keysNs) {
    const core = kc.makeApiClient(CoreV1Api);
    const keys = await core.listNamespacedSecret({ namespace: keysNs, labelSelector: `${API_KEY_LABEL}=true` });
    for (const s of keys.items) await core.deleteNamespacedSecret({ namespace: keysNs, name: s.metadata!.name! });
    process.stdout.write(`no Quarry resources left; deleted ${keys.items.length} API key(s) in ${keysNs}\n`);
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`uninstall guard failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);
