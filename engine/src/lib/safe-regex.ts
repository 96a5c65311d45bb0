/**
 * Regular expressions supplied by API callers (filter `regex` operators in requests, stored retrievers, management
 * list filters) run on RE2JS, a port of RE2: matching time is linear in the input, whatever the pattern, so a
 * pattern such as `^(a+)+$` cannot stall the event loop as it does on the backtracking JavaScript engine.
 *
 * The accepted syntax is JavaScript's minus what needs backtracking: lookahead/lookbehind and backreferences are
 * refused with a message saying so; JavaScript spellings RE2 writes differently (`(?<name>…)`, `\u00e9`, `\/`) are
 * translated by RE2JS. Patterns are at most MAX_REGEX_PATTERN characters, and a value is matched on its first
 * MAX_REGEX_INPUT characters, so one comparison is bounded in time.
 */
import { RE2JS } from 're2js';

export const MAX_REGEX_PATTERN = 1000;
export const MAX_REGEX_INPUT = 1_000_000;

export interface SafeRegex {
  readonly source: string;
  test(value: string): boolean;
}

/** Thrown for a pattern that cannot be used; the message says why and what to write instead. */
export class RegexPatternError extends Error {}

/** `\1`…`\9` and `\k<name>` outside character classes: backreferences, which no linear-time engine offers. */
function hasBackreference(pattern: string): boolean {
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      const n = pattern[i + 1] ?? '';
      if (!inClass && (/[1-9]/.test(n) || (n === 'k' && pattern[i + 2] === '<'))) return true;
      i++;
    } else if (c === '[') inClass = true;
    else if (c === ']') inClass = false;
  }
  return false;
}

const cache = new Map<string, SafeRegex>();

/** Compiles a caller's pattern for linear-time matching; throws RegexPatternError naming the problem. */
export function compileSafeRegex(pattern: string, caseSensitive: boolean): SafeRegex {
  const key = `${caseSensitive ? 's' : 'i'}:${pattern}`;
  const hit = cache.get(key);
  if (hit) return hit;
  if (pattern.length > MAX_REGEX_PATTERN) throw new RegexPatternError(`the pattern is ${pattern.length} characters long; at most ${MAX_REGEX_PATTERN} are allowed`);
  if (hasBackreference(pattern)) throw new RegexPatternError('backreferences (\\1, \\k<name>) are not supported: patterns run on a linear-time (RE2) engine');
  if (/\(\?<?[=!]/.test(pattern)) throw new RegexPatternError('lookahead and lookbehind ((?=…), (?!…), (?<=…), (?<!…)) are not supported: patterns run on a linear-time (RE2) engine');
  let re: RE2JS;
  try {
    re = RE2JS.compile(RE2JS.translateRegExp(pattern), caseSensitive ? 0 : RE2JS.CASE_INSENSITIVE);
  } catch (e) {
    throw new RegexPatternError(`invalid pattern (${(e as Error).message})`);
  }
  const compiled: SafeRegex = {
    source: pattern,
    test: (value) => re.test(value.length > MAX_REGEX_INPUT ? value.slice(0, MAX_REGEX_INPUT) : value),
  };
  if (cache.size >= 500) cache.delete(cache.keys().next().value!);
  cache.set(key, compiled);
  return compiled;
}
