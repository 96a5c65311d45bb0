/**
 * Template syntax (reference §3.8): every string holding `{{ }}` or `{% %}` must compile as a Jinja-style template.
 * nunjucks is the engine's template library, so what passes here renders there.
 */
import nunjucks from 'nunjucks';
import { child, type FieldError } from './field-error.ts';

const env = new nunjucks.Environment([], { autoescape: false });
const TEMPLATE_MARK = /\{\{|\{%/;
const INPUT_REF = /\b(?:INPUT|inputs|input)\.([A-Za-z_][A-Za-z0-9_]*)/g;
/** Defaults of some stages hold placeholders the user must replace (reference §3.8). */
const PLACEHOLDERS = ['{{TAXONOMY_ID}}', '{{COLLECTION_ID}}'];

export function isTemplate(s: string): boolean {
  return TEMPLATE_MARK.test(s);
}

/** Compiles one template; returns the syntax error text, or undefined when it compiles. */
export function templateError(src: string): string | undefined {
  try {
    new nunjucks.Template(src, env, 'template', true);
    return undefined;
  } catch (e) {
    return (e as Error).message.replace(/^\(template\)\s*/, '').replace(/\s+/g, ' ').trim();
  }
}

export interface TemplateScan {
  errors: FieldError[];
  /** Input names referenced as {{INPUT.<name>}}, with the first field using each. */
  inputs: Map<string, string>;
}

/** Walks any JSON value, compiling every templated string and collecting the INPUT names it reads. */
export function scanTemplates(value: unknown, path: string, scan: TemplateScan = { errors: [], inputs: new Map() }): TemplateScan {
  if (typeof value === 'string') {
    if (!isTemplate(value)) return scan;
    if (PLACEHOLDERS.includes(value.trim())) {
      scan.errors.push({ field: path, message: `${value.trim()} is a placeholder: replace it with the name of the resource to use` });
      return scan;
    }
    const err = templateError(value);
    if (err) scan.errors.push({ field: path, message: `template syntax error: ${err} (templates use {{ expression }} and {% if %}...{% endif %})` });
    for (const m of value.matchAll(INPUT_REF)) if (!scan.inputs.has(m[1]!)) scan.inputs.set(m[1]!, path);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => scanTemplates(v, child(path, i), scan));
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) scanTemplates(v, child(path, k), scan);
  }
  return scan;
}
