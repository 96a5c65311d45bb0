// Numeric settings read from the environment by the engine's processes, checked the same way in each.

/**
 * `env[name]` as a positive integer, or `fallback` when unset or empty. Anything else (0, -1, 2.5, "four") is an
 * error naming the setting, what it means and the value given (the processes stop with exit code 2).
 */
export function positiveIntSetting(env: NodeJS.ProcessEnv, name: string, fallback: number, meaning: string): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer (${meaning}), got '${raw}'`);
  return n;
}
