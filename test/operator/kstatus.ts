/**
 * kstatus' generic status computation for custom resources (sigs.k8s.io/cli-utils/pkg/kstatus, status/generic.go),
 * which `helm --wait` (Helm 4), Flux and cli-utils apply to Quarry's kinds: Terminating, then InProgress for a stale
 * observedGeneration or Reconciling=True, Failed for Stalled=True, then Ready (True → Current, otherwise InProgress).
 */
import type { Condition } from '#operator/runtime/conditions.ts';

export type KStatus = 'InProgress' | 'Failed' | 'Current' | 'Terminating';

export function kstatus(o: {
  metadata: { generation?: number; deletionTimestamp?: string };
  status?: { observedGeneration?: number; conditions?: Condition[] } | undefined;
}): KStatus {
  if (o.metadata.deletionTimestamp) return 'Terminating';
  const st = o.status;
  if (st?.observedGeneration !== undefined && st.observedGeneration !== o.metadata.generation) return 'InProgress';
  const c = (type: string) => st?.conditions?.find((x) => x.type === type);
  if (c('Reconciling')?.status === 'True') return 'InProgress';
  if (c('Stalled')?.status === 'True') return 'Failed';
  const ready = c('Ready');
  if (ready) return ready.status === 'True' ? 'Current' : 'InProgress';
  return 'Current';
}
