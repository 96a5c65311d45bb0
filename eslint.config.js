// Lint config: typescript-eslint's recommended rules on every TS source, plus the house's layering rules; generated files are checked by drift, not lint.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

/**
 * Layering (README "Layout"): ports and the rest of the shared core (#core/…) at the bottom, adapters above
 * them, domain above that, the apps on top. Domain code never imports an adapter or a client library; the
 * operator never imports the engine's apps or HTTP routes; below the engine's apps nothing imports the operator.
 * Each rule names the layer it protects.
 */
const CLIENT_LIBRARIES = {
  regex: '^(@aws-sdk/|@qdrant/|@lancedb/|@nats-io/|pg$|@kubernetes/client-node$|fastify$|@fastify/)',
  message: 'Domain code never imports a client library: take the port (#core/ports/…) and let the app wire the adapter.',
};
const ADAPTERS = {
  regex: '(^|/)(vector/(qdrant|embedded)/|objects/(s3|local)\\.ts$|queue/nats[^/]*\\.ts$|store/local-resource-store\\.ts$|kube-resource-store\\.ts$|kube-secret-store\\.ts$)',
  message: 'Domain code never imports an adapter: depend on its port (#core/ports/…) instead.',
};
const ENGINE_APPS = {
  regex: '^(#engine/(app|http|cli)/|#engine/(main|worker|all-in-one)\\.ts$)|(^|/)engine/src/(app|http|cli)/|routes\\.ts$',
  message: 'The operator never imports an engine app or HTTP routes: share through #core/… or a domain module, and compose at the app level.',
};

const OPERATOR_INTERNALS = {
  regex: '^#operator/|(^|/)operator/src/',
  message: 'Only the engine apps (engine/src/app, main.ts, worker.ts, all-in-one.ts) compose the operator: share through #core/… instead.',
};

/** Domain folders of the engine (route files, which are the HTTP app's, excepted). */
export const DOMAIN_FILES = [
  'engine/src/ports/**/*.ts',
  'engine/src/resources/**/*.ts',
  'engine/src/naming.ts',
  'engine/src/ingestion/**/*.ts',
  'engine/src/retriever/**/*.ts',
  'engine/src/management/**/*.ts',
  'engine/src/extractors/**/*.ts',
  'engine/src/manifest/**/*.ts',
  'engine/src/llm/**/*.ts',
  'engine/src/media/**/*.ts',
];

export default tseslint.config(
  { ignores: ['node_modules/', '.cache/', 'models/', 'dist/', '.quarry/', '**/generated/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  // One rule key per file: a later block replaces an earlier one's patterns, so the domain block repeats the engine's.
  {
    files: ['engine/**/*.ts'],
    ignores: ['engine/src/app/**', 'engine/src/main.ts', 'engine/src/worker.ts', 'engine/src/all-in-one.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns: [OPERATOR_INTERNALS] }] },
  },
  {
    files: DOMAIN_FILES,
    ignores: ['**/*routes.ts', '**/*routes-*.ts', 'engine/src/manifest/http.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns: [CLIENT_LIBRARIES, ADAPTERS, OPERATOR_INTERNALS] }] },
  },
  {
    files: ['operator/**/*.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns: [ENGINE_APPS] }] },
  },
);
