/**
 * Keeps third-party modules from owning the process's fatal-error policy. opencv.js (an Emscripten build, loaded by
 * the OCR library @gutenye/ocr-node) installs `process.on('uncaughtException', e => { throw e })` and
 * `process.on('unhandledRejection', abort)` when it loads: one stray rejection anywhere in the engine then killed the
 * process with exit code 7 and megabytes of opencv source on stderr (issue 14 item 5).
 *
 * This module is imported before the OCR library (ESM evaluates imports in order), so `BEFORE` holds the listeners
 * that existed until then; `dropForeignProcessHandlers()`, called once the library has loaded, removes every
 * listener added since and installs the project's own policy: an unhandled promise rejection is logged (error, with
 * its stack) and the process keeps serving; an uncaught exception keeps Node's default (exit after printing it), as
 * Node documents that the process's state is unknown after one.
 */
import { logger } from '../lib/log.ts';

const log = logger('process');
const EVENTS = ['uncaughtException', 'unhandledRejection'] as const;
type Listener = (...args: unknown[]) => void;
const listeners = (event: (typeof EVENTS)[number]): Listener[] => process.listeners(event as 'unhandledRejection') as Listener[];
const BEFORE = new Map(EVENTS.map((e) => [e, new Set(listeners(e))]));
let policyInstalled = false;

function logRejection(reason: unknown): void {
  log.error({ err: reason instanceof Error ? reason : new Error(String(reason)) }, 'unhandled promise rejection (the process keeps serving)');
}

/** Removes the process-wide error listeners added since this module loaded; returns how many it removed. */
export function dropForeignProcessHandlers(): number {
  let removed = 0;
  for (const event of EVENTS) {
    for (const fn of listeners(event)) {
      if (BEFORE.get(event)!.has(fn) || fn === (logRejection as Listener)) continue;
      process.removeListener(event, fn);
      removed++;
    }
  }
  if (!policyInstalled) {
    process.on('unhandledRejection', logRejection);
    policyInstalled = true;
  }
  if (removed) log.debug({ removed }, 'removed process-wide error handlers installed by a third-party module');
  return removed;
}
