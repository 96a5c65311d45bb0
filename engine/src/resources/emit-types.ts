/**
 * Emits TypeScript declarations from our schema subset (objects, arrays, maps, enums, scalars, free-form nodes).
 * Hand-written: json-schema-to-typescript is not a dependency, and our subset (with x-kubernetes-* extensions) is
 * small enough that twenty lines give exactly the output we want, deterministically.
 */
import type { Schema } from './schema-builder.ts';

const IDENT_KEY = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function comment(text: string | undefined, indent: string): string {
  if (!text) return '';
  return `${indent}/** ${text.replaceAll('*/', '*\\/')} */\n`;
}

export function tsType(s: Schema, indent = ''): string {
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
      return `Array<${tsType(s.items ?? {}, indent)}>`;
    case 'object': {
      if (s.additionalProperties) return `Record<string, ${tsType(s.additionalProperties, indent)}>`;
      if (!s.properties) return 'Record<string, unknown>';
      const inner = indent + '  ';
      const required = new Set(s.required ?? []);
      const lines = Object.entries(s.properties).map(([name, p]) => {
        const key = IDENT_KEY.test(name) ? name : JSON.stringify(name);
        return `${comment(p.description, inner)}${inner}${key}${required.has(name) ? '' : '?'}: ${tsType(p, inner)};\n`;
      });
      const open = s['x-kubernetes-preserve-unknown-fields'] ? `${inner}[key: string]: unknown;\n` : '';
      return `{\n${lines.join('')}${open}${indent}}`;
    }
    default:
      return 'unknown';
  }
}

export function tsDeclaration(name: string, s: Schema): string {
  return `${comment(s.description, '')}export type ${name} = ${tsType(s)};\n`;
}
