import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

// Layering of src/ (README "Development" lists the same rules for people).
// Shared leaves: modules every folder may import, which themselves import only each other (and packages):
// the error classes and codes, the logger, the defaults table, the one Ajv with its error wording, the backoff formula,
// and the run model (statuses, terminal sets, wake reasons: the types store/ maps rows to).
const SHARED_LEAVES = ['./errors.ts', './log.ts', './config/defaults.ts', './json-schema.ts', './backoff.ts', './model'];
const leafMessage = (folder) =>
  `${folder}/ is a leaf: it imports only src/errors.ts, src/log.ts, src/config/defaults.ts, src/json-schema.ts, src/backoff.ts and src/model/.`;

/** Each zone: files under `target` may not import `from`, except `except` (relative to `from`). */
const LAYERS = {
  'store-leaf': {
    target: './src/store',
    from: './src',
    except: ['./store', ...SHARED_LEAVES],
    message: leafMessage('store'),
  },
  'expressions-leaf': {
    target: './src/expressions',
    from: './src',
    except: ['./expressions', ...SHARED_LEAVES],
    message: leafMessage('expressions'),
  },
  'config-leaf': {
    target: './src/config',
    from: './src',
    except: ['./config', ...SHARED_LEAVES],
    message: leafMessage('config'),
  },
  'shared-leaves': {
    target: SHARED_LEAVES.map((f) => `./src/${f.slice(2)}`),
    from: './src',
    except: SHARED_LEAVES,
    message: 'A shared leaf imports only the other shared leaves.',
  },
  'engine-no-sync': { target: './src/engine', from: './src/sync', message: 'engine/ never imports sync/.' },
  'engine-no-server': { target: './src/engine', from: './src/server', message: 'engine/ never imports server/.' },
  'engine-no-cli': { target: './src/engine', from: './src/cli', message: 'engine/ never imports cli/.' },
  'engine-no-slack': { target: './src/engine', from: './src/slack', message: 'engine/ never imports slack/.' },
  'server-no-cli': { target: './src/server', from: './src/cli', message: 'server/ never imports cli/.' },
  'views-below-adapters': {
    target: './src/views',
    from: ['./src/server', './src/cli', './src/client', './src/slack', './src/daemon'],
    message: 'views/ (the API and --json shapes) sits below server/, cli/ and client/, and never imports them.',
  },
  'client-no-server-cli': {
    target: './src/client',
    from: ['./src/server', './src/cli'],
    message: 'client/ (in-process and HTTP) never imports server/ or cli/: both sides share views/.',
  },
  'approvals-no-slack': {
    target: './src/approvals',
    from: './src/slack',
    message: 'approvals/ never imports slack/: it queues notifications in its outbox; slack/ delivers them.',
  },
};

/** Files allowed to break a named layering rule, with the reason (empty: every file keeps every rule). */
const EXEMPT = {};

const zones = (skip = []) =>
  Object.entries(LAYERS)
    .filter(([name]) => !skip.includes(name))
    .map(([, zone]) => zone);

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.station/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      // Dependencies are parsed as TypeScript (no-cycle follows them); without these it skips .ts files.
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
    },
    rules: {
      // Type-only imports are erased at runtime and not counted as edges of a cycle.
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-restricted-paths': ['error', { basePath: import.meta.dirname, zones: zones() }],
    },
  },
  ...Object.entries(EXEMPT).map(([file, skip]) => ({
    files: [file],
    rules: {
      'import-x/no-restricted-paths': ['error', { basePath: import.meta.dirname, zones: zones(skip) }],
    },
  })),
);
