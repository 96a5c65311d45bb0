/**
 * Stage parameter validation with ajv against each stage's JSON schema: defaults from the reference are filled in,
 * and the first violation becomes a 400 naming the stage, the parameter and what is allowed.
 */
import { Ajv, type ValidateFunction, type ErrorObject } from 'ajv';
import { QuarryError } from '../lib/errors.ts';
import type { StageModule } from './types.ts';

const ajv = new Ajv({ useDefaults: true, allErrors: false, strict: false, coerceTypes: false });
const compiled = new WeakMap<StageModule, ValidateFunction>();

function describe(e: ErrorObject): { parameter: string; message: string } {
  const base = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
  if (e.keyword === 'required') {
    const p = base ? `${base}.${String(e.params.missingProperty)}` : String(e.params.missingProperty);
    return { parameter: p, message: 'is required' };
  }
  if (e.keyword === 'enum') return { parameter: base, message: `must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` };
  if (e.keyword === 'additionalProperties') {
    const p = base ? `${base}.${String(e.params.additionalProperty)}` : String(e.params.additionalProperty);
    return { parameter: p, message: 'is not a known parameter of this stage' };
  }
  return { parameter: base || '(parameters)', message: e.message ?? 'is invalid' };
}

export function validateParams(stage: StageModule, stageName: string, params: Record<string, unknown>): Record<string, unknown> {
  let v = compiled.get(stage);
  if (!v) {
    v = ajv.compile(stage.parameterSchema);
    compiled.set(stage, v);
  }
  const copy = structuredClone(params);
  if (!v(copy)) {
    const { parameter, message } = describe(v.errors![0]!);
    throw new QuarryError('BadRequestError', `stage '${stageName}' (${stage.id}): parameter '${parameter}' ${message}`, {
      stage: stageName,
      stage_id: stage.id,
      parameter,
    });
  }
  return copy;
}

/**
 * Top-level parameters the stage does not know (its schema lists no such property, after the stage's aliases were
 * applied): accepted, because stage schemas stay open for forward compatibility, but reported so that a typo or an
 * unsupported parameter is not ignored silently (stage metadata `ignored_parameters`, explain warnings).
 */
export function unknownParameters(stage: StageModule, params: Record<string, unknown>): string[] {
  const props = (stage.parameterSchema as { properties?: Record<string, unknown> }).properties;
  if (!props || stage.available === false) return [];
  return Object.keys(params).filter((k) => !(k in props));
}
