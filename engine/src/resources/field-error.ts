/** A validation finding: the field (kubectl-style path, e.g. spec.stages[1].config.stageId) and what to do. */
export interface FieldError {
  field: string;
  message: string;
}

/** Appends a property or index to a kubectl-style field path. */
export function child(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  if (!/^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(key)) return `${path}[${JSON.stringify(key)}]`;
  return path ? `${path}.${key}` : key;
}
