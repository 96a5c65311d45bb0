/**
 * The execution history the retriever routes list and show (reference §3.1 …/executions/list and
 * …/executions/{execution_id}): the last HISTORY_MAX executions of this engine process, per namespace.
 */
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const HISTORY_MAX = 1000;
const HISTORY_INPUT_CHARS = 2000;

/** Inputs as the history keeps them: each value up to HISTORY_INPUT_CHARS of JSON (content queries can be megabytes). */
export function historyInputs(inputs: unknown): Record<string, unknown> {
  if (!isObj(inputs)) return {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(inputs)) {
    const json = JSON.stringify(v) ?? 'null';
    out[k] = json.length <= HISTORY_INPUT_CHARS ? v : { truncated: true, chars: json.length, preview: json.slice(0, 200) };
  }
  return out;
}

/**
 * The execution history the routes list and show: the last HISTORY_MAX executions of this engine process, each with
 * the namespace it ran in (routes only show a namespace's own). Not shared between engine replicas.
 */
export class ExecutionHistory {
  private readonly entries = new Map<string, { namespace: string; detail: Record<string, unknown> }>();

  /** Records an execution under a resolved namespace key; one without (no namespace, unknown namespace) is not kept. */
  record(namespace: string | undefined, detail: Record<string, unknown>): void {
    if (!namespace) return;
    this.entries.set(detail.execution_id as string, { namespace, detail });
    if (this.entries.size > HISTORY_MAX) this.entries.delete(this.entries.keys().next().value!);
  }

  /** Executions in a namespace matching `pick`, newest first; none without a namespace. */
  list(namespace: string | undefined, pick: (d: Record<string, unknown>) => boolean): Record<string, unknown>[] {
    if (!namespace) return [];
    return [...this.entries.values()].filter((e) => e.namespace === namespace && pick(e.detail)).map((e) => e.detail).reverse();
  }

  get(namespace: string | undefined, id: string): Record<string, unknown> | undefined {
    if (!namespace) return undefined;
    const e = this.entries.get(id);
    return e && e.namespace === namespace ? e.detail : undefined;
  }
}
