/**
 * Registers every implemented stage's parameter schema with the resource model (resources/stage-ids.ts), so
 * Retriever manifests are validated against the same schemas the engine uses. `make generate` imports this module.
 */
import { registerStageSchema } from '../resources/stage-ids.ts';
import { allStages } from './registry.ts';

for (const m of allStages()) if (m.available !== false) registerStageSchema(m.id, m.parameterSchema);
