/**
 * Emits TypeScript declarations from our schema subset (objects, arrays, maps, enums, scalars, free-form nodes).
 * Hand-written: json-schema-to-typescript is not a dependency, and our subset (with x-kubernetes-* extensions) is
 * small enough that twenty lines give exactly the output we want, deterministically.
 */
import { typeNameOf, type Schema } from './schema-builder.ts';

const IDENT_KEY = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function comment(text: string | undefined, indent: string): string {
  if (!text) return '';
  return `${indent}/** ${text.replaceAll('*/', '*\\/')} */\n`;
}

/**
 * The TS type of a schema node. Named nodes (schema-builder `named`) become references and are added to `named`
 * for the caller to declare once.
 */
export function tsType(s: Schema, indent = '', named?: Map<string, Schema>, root = true): string {
  const name = typeNameOf(s);
  if (name && !root && named) {
    const seen = named.get(name);
    if (seen && seen !== s) throw new Error(`internal: two different schemas are named ${name}`);
    named.set(name, s);
    return name;
  }
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' | ');
  switch (s.type) {
    case 'string':
      return 'string';
    case 'integer':
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'array':
      return `Array<${tsType(s.items ?? {}, indent, named, false)}>`;
    case 'object': {
      if (s.additionalProperties) return `Record<string, ${tsType(s.additionalProperties, indent, named, false)}>`;
      if (!s.properties) return 'Record<string, unknown>';
      const inner = indent + '  ';
      const required = new Set(s.required ?? []);
      const lines = Object.entries(s.properties).map(([name, p]) => {
        const key = IDENT_KEY.test(name) ? name : JSON.stringify(name);
        return `${comment(p.description, inner)}${inner}${key}${required.has(name) ? '' : '?'}: ${tsType(p, inner, named, false)};\n`;
      });
      const open = s['x-kubernetes-preserve-unknown-fields'] ? `${inner}[key: string]: unknown;\n` : '';
      return `{\n${lines.join('')}${open}${indent}}`;
    }
    default:
      return 'unknown';
  }
}

/** Declarations for `roots` and every named node they reach, each once, in first-use order. */
export function tsDeclarations(roots: [string, Schema][]): string[] {
  const named = new Map<string, Schema>();
  const out: string[] = [];
  const declared = new Set<string>();
  const declare = (name: string, s: Schema) => {
    declared.add(name);
    out.push(`${comment(s.description, '')}export type ${name} = ${tsType(s, '', named, true)};\n`);
  };
  for (const [name, s] of roots) {
    declare(name, s);
    for (let grew = true; grew; ) {
      grew = false;
      for (const [n, sub] of named) {
        if (!declared.has(n)) {
          declare(n, sub);
          grew = true;
        }
      }
    }
  }
  return out;
}
