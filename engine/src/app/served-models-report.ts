/**
 * A runtime's served-models report (the operator's readiness of Models, Collections and Retrievers reads it): the
 * engine (engine-runtime.ts) and the standalone worker (worker.ts) report alike, built-in models and delivered Model
 * resources, with the failures of the ones that could not be delivered.
 */
import { logger } from '../lib/log.ts';
import type { JobQueue } from '../ports/job-queue.ts';
import type { Models } from '../ports/models.ts';
import type { CustomModels } from '../models/custom/custom-models.ts';
import { servedModels } from '../models/custom/model-sync.ts';
import { reportServedModels, type RuntimeRole } from '#operator/controllers/collection/served-models.ts';

const log = logger('served-models');

/** Reports `models` (and `custom`'s failures, with the file at fault) under `id` for the operator's readiness. */
export function reportRuntimeModels(queue: Pick<JobQueue, 'kv'>, o: { id: string; roles: RuntimeRole[]; models: Models; custom: CustomModels | undefined }) {
  const custom = o.custom;
  return reportServedModels(queue, {
    id: o.id,
    roles: o.roles,
    models: () => servedModels(o.models, custom),
    ...(custom ? { failed: () => custom.failed() } : {}),
    onError: (err) => log.warn({ err: err instanceof Error ? err.message : String(err) }, 'reporting served models failed; retrying'),
  });
}
