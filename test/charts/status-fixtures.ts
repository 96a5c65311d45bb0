/**
 * Status fixtures for the GitOps health checks of quarry.dev kinds, with what Argo CD (health.lua) and Flux
 * (healthCheckExprs) must make of each. Quarry's status follows kstatus: observedGeneration + Ready/Reconciling/Stalled.
 */
export type ArgoHealth = 'Healthy' | 'Progressing' | 'Degraded' | 'Suspended';
export type FluxHealth = 'Current' | 'InProgress' | 'Failed';

export const cond = (type: string, status: string, reason = '', message = '', observedGeneration?: number) => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: '2026-11-23T08:00:00Z',
  ...(observedGeneration === undefined ? {} : { observedGeneration }),
});

export function collection(opts: { generation?: number; annotations?: Record<string, string>; status?: unknown; deleting?: boolean }) {
  return {
    apiVersion: 'quarry.dev/v1alpha1',
    kind: 'Collection',
    metadata: {
      name: 'product-images',
      namespace: 'shop',
      generation: opts.generation ?? 3,
      annotations: opts.annotations ?? { 'kubectl.kubernetes.io/last-applied-configuration': '{"a":"é \\"quoted\\""}' },
      ...(opts.deleting ? { deletionTimestamp: '2026-11-23T08:05:00Z', finalizers: ['quarry.dev/finalizer'] } : {}),
    },
    spec: { namespaceRef: 'shop', featureExtractor: { name: 'image_extractor', version: 'v1' } },
    ...(opts.status === undefined ? {} : { status: opts.status }),
  };
}

const ready = {
  observedGeneration: 3,
  conditions: [cond('Ready', 'True', 'Available', 'Collection is ready', 3), cond('Reconciling', 'False', 'Done', '', 3), cond('Stalled', 'False', 'Done', '', 3)],
};

export interface StatusFixture {
  name: string;
  obj: ReturnType<typeof collection>;
  argo: ArgoHealth;
  /** Argo CD's message must match this. */
  message: RegExp;
  /** undefined: Flux cannot evaluate the expressions yet (no status at all) and keeps waiting. */
  flux: FluxHealth | undefined;
}

export const STATUS_FIXTURES: StatusFixture[] = [
  { name: 'Ready at the current generation', obj: collection({ status: ready }), argo: 'Healthy', flux: 'Current', message: /Available: Collection is ready/ },
  {
    name: 'Reconciling',
    obj: collection({
      status: { observedGeneration: 3, conditions: [cond('Ready', 'Unknown', 'Reconciling', '', 3), cond('Reconciling', 'True', 'Provisioning', 'creating JetStream consumer', 3)] },
    }),
    argo: 'Progressing',
    flux: 'InProgress',
    message: /Provisioning: creating JetStream consumer/,
  },
  {
    name: 'Stalled',
    obj: collection({
      status: { observedGeneration: 3, conditions: [cond('Ready', 'False', 'InvalidSpec', 'x', 3), cond('Stalled', 'True', 'UnknownExtractor', 'feature extractor "img@v9" does not exist', 3)] },
    }),
    argo: 'Degraded',
    flux: 'Failed',
    message: /UnknownExtractor: feature extractor "img@v9" does not exist/,
  },
  {
    name: 'paused (wins over everything else in Argo CD)',
    obj: collection({ annotations: { 'quarry.dev/paused': 'true' }, status: { observedGeneration: 1, conditions: [cond('Stalled', 'True', 'Broken', 'x', 1)] } }),
    argo: 'Suspended',
    flux: 'InProgress',
    message: /paused/,
  },
  { name: 'paused annotation not "true"', obj: collection({ annotations: { 'quarry.dev/paused': 'false' }, status: ready }), argo: 'Healthy', flux: 'Current', message: /ready/ },
  { name: 'stale observedGeneration with Ready=True', obj: collection({ generation: 4, status: ready }), argo: 'Progressing', flux: 'InProgress', message: /generation 4 \(observed 3\)/ },
  {
    name: 'stale Ready condition',
    obj: collection({ generation: 4, status: { observedGeneration: 4, conditions: [cond('Ready', 'True', 'Available', '', 3)] } }),
    argo: 'Progressing',
    flux: 'InProgress',
    message: /from generation 3, waiting for generation 4/,
  },
  { name: 'no status yet', obj: collection({}), argo: 'Progressing', flux: undefined, message: /report status/ },
  { name: 'status without observedGeneration', obj: collection({ status: { conditions: [cond('Ready', 'True')] } }), argo: 'Progressing', flux: 'InProgress', message: /observed nil/ },
  {
    name: 'Ready=False waiting on a dependency',
    obj: collection({ status: { observedGeneration: 3, conditions: [cond('Ready', 'False', 'NamespaceNotReady', 'QuarryNamespace "shop" is not Ready', 3)] } }),
    argo: 'Progressing',
    flux: 'InProgress',
    message: /NamespaceNotReady: QuarryNamespace "shop" is not Ready/,
  },
  { name: 'deleting', obj: collection({ deleting: true, status: ready }), argo: 'Progressing', flux: 'Current', message: /Deleting/ },
];
