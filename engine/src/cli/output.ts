/**
 * Output formats for every command: `--output json|yaml|table`. json and yaml print the API's data as it is
 * (scriptable); table prints chosen columns with cli-table3 (borderless, so it stays greppable).
 */
import Table from 'cli-table3';
import { stringify } from 'yaml';

export type OutputFormat = 'json' | 'yaml' | 'table';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['json', 'yaml', 'table'];

export interface Column<T> {
  header: string;
  value: (row: T) => unknown;
  /** Truncate cell text to this many characters. */
  max?: number;
}

function cell(v: unknown, max?: number): string {
  let s = v === undefined || v === null ? '' : typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
  s = s.replace(/\s+/g, ' ').trim();
  if (max && s.length > max) s = s.slice(0, max - 1) + '…';
  return s;
}

export function renderTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const table = new Table({
    head: columns.map((c) => c.header.toUpperCase()),
    chars: {
      top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
      left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '  ',
    },
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 },
  });
  for (const r of rows) table.push(columns.map((c) => cell(c.value(r), c.max)));
  return table.toString().split('\n').map((l) => l.trimEnd()).join('\n');
}

/** Prints data in the chosen format; `table` uses the columns (or key/value lines for a single object). */
export function print<T>(format: OutputFormat, data: unknown, table?: { rows: readonly T[]; columns: readonly Column<T>[]; empty?: string }): void {
  if (format === 'json') {
    process.stdout.write(JSON.stringify(data, null, 2) + '\n');
    return;
  }
  if (format === 'yaml') {
    process.stdout.write(stringify(data));
    return;
  }
  if (table) {
    process.stdout.write(table.rows.length ? renderTable(table.rows, table.columns) + '\n' : (table.empty ?? 'No results.') + '\n');
    return;
  }
  // An object without a table layout: YAML reads best for nested records.
  process.stdout.write(typeof data === 'string' ? data.endsWith('\n') ? data : data + '\n' : stringify(data));
}
