/** Structured JSON logs (pino). Every component takes a child logger named after itself. */
import { pino, type Logger } from 'pino';

export type { Logger };

export const rootLogger: Logger = pino({
  level: process.env.LOG_LEVEL ?? (process.env.NODE_ENV === 'test' ? 'warn' : 'info'),
  base: { app: 'quarry' },
  timestamp: pino.stdTimeFunctions.isoTime,
});

export function logger(component: string): Logger {
  return rootLogger.child({ component });
}
