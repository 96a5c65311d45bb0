/**
 * What every command needs: the global options (server, key, namespace, output format), a client built from
 * them, and the error kinds that decide the exit code.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { QuarryClient } from './client.ts';
import type { OutputFormat } from './output.ts';

export const EXIT = { ok: 0, api: 1, usage: 2, unreachable: 3, interrupted: 130 } as const;

/** A usage problem found after commander parsed the line (e.g. a missing option that depends on another): exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The command ran but its outcome is a failure the user must see in the exit code (invalid manifest, failed batch). */
export class FailedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FailedError';
  }
}

export interface GlobalOptions {
  server: string;
  apiKey?: string;
  namespace?: string;
  output: OutputFormat;
}

export interface Ctx {
  opts: GlobalOptions;
  client(): QuarryClient;
  /** The namespace or a usage error naming the flag and the variable. */
  requireNamespace(): string;
}

export function ctxOf(cmd: Command): Ctx {
  const opts = cmd.optsWithGlobals<GlobalOptions>();
  return {
    opts,
    client: () => new QuarryClient({ server: opts.server, ...(opts.apiKey ? { apiKey: opts.apiKey } : {}), ...(opts.namespace ? { namespace: opts.namespace } : {}) }),
    requireNamespace() {
      if (!opts.namespace) throw new UsageError('this command acts inside a namespace: pass --namespace <name> (-n) or set QUARRY_NAMESPACE');
      return opts.namespace;
    },
  };
}

export function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return n;
  };
}

/** Collects repeated `--input k=v` / `--metadata k=v` pairs; values that parse as JSON (numbers, true, [..]) keep their type. */
export function keyValue(v: string, prev: Record<string, unknown> = {}): Record<string, unknown> {
  const i = v.indexOf('=');
  if (i < 1) throw new InvalidArgumentError(`expected key=value, got '${v}'`);
  const key = v.slice(0, i);
  const raw = v.slice(i + 1);
  let value: unknown = raw;
  if (/^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null|\[.*\]|\{.*\})$/s.test(raw)) {
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw;
    }
  }
  return { ...prev, [key]: value };
}
