import js from '@eslint/js';
import boundaries from 'eslint-plugin-boundaries';
import tseslint from 'typescript-eslint';

/**
 * The layers of src/, lowest first: each may import itself and the layers
 * before it, never one after it (README.md "Architecture").
 *
 * - common:   what every stage shares and that imports nothing of walhook: the
 *             webhook vocabulary (operations, payload formats, the webhook's
 *             fields), signature schemes and their check (`walhook/verify`),
 *             operator errors, the logger.
 * - config:   the configuration schema and loading; it validates with common's vocabulary.
 * - state:    walhook's own tables (webhooks, retries, dead letters, leases):
 *             storage that delivery, leadership and the API write through.
 * - source:   the replication slot and stream, leadership of the slot, the watermark, the stall watchdog.
 * - events:   row changes → events, the pipeline in WAL order, matching.
 * - delivery: webhook registry, fan-out, queues, signing, HTTP, retries.
 * - api:      the HTTP server: GraphQL, console, metrics, health.
 * - assembly: src/*.ts and src/demo/: the commands, and the daemon that builds the stages and runs them.
 */
const LAYERS = ['common', 'config', 'state', 'source', 'events', 'delivery', 'api', 'assembly'];

const layerElements = LAYERS.map((type) => ({ type, pattern: type === 'assembly' ? 'src' : `src/${type}`, partialMatch: false }));

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'helm/', 'bench/results*', '.tmp/', 'test-artifacts/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { boundaries },
    settings: {
      // The first matching descriptor gives a file its layer: the folders, then everything else in src/ is assembly.
      'boundaries/elements': layerElements,
      'import/resolver': { typescript: { project: './tsconfig.json' } },
    },
    rules: {
      'boundaries/dependencies': [
        'error',
        {
          default: 'disallow',
          message:
            '{{from.type}} may not import {{to.type}}: a layer imports only itself and the layers below it (' +
            LAYERS.join(' → ') +
            '). Move what both need into the lower layer.',
          policies: LAYERS.map((type, index) => ({
            from: { element: { type } },
            allow: { to: { element: { types: { anyOf: LAYERS.slice(0, index + 1) } } } },
          })),
        },
      ],
      'boundaries/no-unknown-files': 'error',
    },
  },
);
