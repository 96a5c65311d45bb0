/**
 * metav1.Condition helpers with kstatus semantics (sigs.k8s.io/cli-utils/pkg/kstatus):
 * - `Ready` is the summary every tool keys on; `Reconciling=True` while work is in progress, `Stalled=True` on a
 *   terminal error; both are "abnormal-true" and are removed when false;
 * - `lastTransitionTime` changes only when a condition's status flips;
 * - every condition carries the generation it was computed from.
 */
import { isDeepStrictEqual } from 'node:util';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export type ConditionInput = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

/** Kubernetes timestamps have second precision; so do ours, so a re-read object compares equal. */
export function nowTimestamp(now: Date = new Date()): string {
  return now.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** Returns a new list with `next` set; keeps the old lastTransitionTime when the status did not flip. */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  next: ConditionInput,
  generation: number | undefined,
  now: string = nowTimestamp(),
): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === next.type);
  const prev = i >= 0 ? list[i] : undefined;
  const cond: Condition = {
    type: next.type,
    status: next.status,
    reason: next.reason,
    message: next.message,
    lastTransitionTime: prev && prev.status === next.status ? prev.lastTransitionTime : now,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  };
  if (i >= 0) list[i] = cond;
  else list.push(cond);
  return list;
}

export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

export const CONDITION_ORDER = ['Ready', 'Reconciling', 'Stalled', 'Paused'];

/** Stable order (summary conditions first, then the rest alphabetically) so equal statuses compare equal. */
export function sortConditions(conditions: Condition[]): Condition[] {
  const rank = (t: string) => {
    const i = CONDITION_ORDER.indexOf(t);
    return i < 0 ? CONDITION_ORDER.length : i;
  };
  return [...conditions].sort((a, b) => rank(a.type) - rank(b.type) || a.type.localeCompare(b.type));
}

/** What a reconcile (or the runtime on its behalf) says about an object. */
export interface Outcome {
  /** The summary. Reasons are CamelCase. */
  ready: { status: ConditionStatus; reason: string; message: string };
  /** A terminal problem: retrying will not help until the spec changes. */
  stalled?: { reason: string; message: string };
  /** Reconciliation paused by annotation. */
  paused?: boolean;
  /** Kind-specific conditions (e.g. NamespaceReady) next to the summary. */
  conditions?: ConditionInput[];
}

/**
 * Builds the full condition list for `outcome`, reusing transition times from `previous`. Conditions the
 * reconciler does not mention (kind-specific ones from earlier runs) are dropped, so status never shows stale facts.
 */
export function kstatusConditions(
  previous: readonly Condition[] | undefined,
  outcome: Outcome,
  generation: number | undefined,
  now: string = nowTimestamp(),
): Condition[] {
  const keep = (type: string) => findCondition(previous, type);
  let out: Condition[] = [];
  const put = (c: ConditionInput) => {
    const prev = keep(c.type);
    out = setCondition(prev ? [...out, prev] : out, c, generation, now);
  };
  put({ type: 'Ready', ...outcome.ready });
  if (outcome.stalled) {
    put({ type: 'Stalled', status: 'True', ...outcome.stalled });
  } else if (outcome.ready.status !== 'True' && !outcome.paused) {
    put({ type: 'Reconciling', status: 'True', reason: outcome.ready.reason, message: outcome.ready.message });
  }
  if (outcome.paused) {
    put({
      type: 'Paused',
      status: 'True',
      reason: 'ReconcilePaused',
      message: 'Reconciliation is paused by the annotation quarry.dev/paused=true',
    });
  }
  for (const c of outcome.conditions ?? []) put(c);
  return sortConditions(out);
}

/** Deep equality that ignores key order: the "nothing changed, skip the write" test. */
export function statusEqual(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(normalize(a), normalize(b));
}

/** Key-order-independent JSON of a value (for remembering what was written). */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(normalize(v) ?? null);
}

function normalize(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(normalize);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = normalize(x);
    }
    return out;
  }
  return v;
}
