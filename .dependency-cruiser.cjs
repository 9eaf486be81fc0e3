/**
 * Import rules of docs/architecture.md, checked by `npm run lint`. The folders of src/ form
 * layers; a folder may import its own layer's lower neighbours, never a higher layer, so no two
 * folders can import each other (no folder cycles), and no two files either (no-circular).
 */

// Lowest first. A folder may import only folders listed before it (and itself).
const LAYERS = [
  ['errors', 'wire'],
  ['model', '_utils'],
  ['metrics'],
  ['policy'],
  ['store'],
  ['backends'],
  ['config'],
  ['keys'],
  ['audit'],
  ['secrets'],
  ['services'],
  ['credentials'],
  ['agents'],
  ['http'],
  ['cli'],
  // The entries: creddy.cts is the `creddy` bin (CommonJS), which runs main.ts or get's bundle.
  ['creddy', 'main', 'git-credential-main'],
];
const name = (folder) => `^src/${folder}(/|\\.c?ts$)`;
const above = (i) => LAYERS.slice(i + 1).flat();

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'No import cycles between files.', from: {}, to: { circular: true } },
    ...LAYERS.flatMap((layer, i) =>
      above(i).length === 0
        ? []
        : layer.map((folder) => ({
            name: `layer-${folder}`,
            severity: 'error',
            comment: `${folder} sits below ${above(i).join(', ')} and must not import them (docs/architecture.md, "Import rules").`,
            from: { path: name(folder) },
            to: { path: above(i).map(name) },
          })),
    ),
    {
      name: 'policy-is-pure',
      severity: 'error',
      comment: 'policy/ is pure functions: it imports only errors, wire types and _utils helpers, and no Node built-in with I/O.',
      from: { path: '^src/policy/' },
      to: { path: ['^src/(?!errors|wire|_utils|policy)', '^(node:)?(fs|net|http|https|child_process|worker_threads)$'] },
    },
    {
      name: 'store-imports-only-the-model',
      severity: 'error',
      comment: 'store/ implements the port over the domain model; it imports no domain logic.',
      from: { path: '^src/store/' },
      to: { path: '^src/(?!store|model|errors|_utils)' },
    },
    {
      name: 'adapters-never-touch-sql',
      severity: 'error',
      comment: 'http/ and cli/ go through services and use cases, never a store implementation.',
      from: { path: '^src/(http|cli)/' },
      to: { path: ['^src/store/(sqlite|postgres)/', 'better-sqlite3', '^pg$', 'pg-connection-string'] },
    },
    {
      name: 'sdks-stay-client-side',
      severity: 'error',
      comment: 'client/, verify/ and hono/ ship to callers and resource servers: nothing server-side.',
      from: { path: '^src/(client|verify|hono)/' },
      to: { path: '^src/(?!client|verify|hono|errors|wire)' },
    },
    {
      name: 'client-runs-in-browsers',
      severity: 'error',
      comment:
        'client/ runs in browsers and edge runtimes: no Node built-in and no jose through any import (it signs with @noble/ed25519 and WebCrypto).',
      from: { path: '^src/client/' },
      to: { reachable: true, path: ['^node_modules/(?!@noble/)', '^src/hono/'] },
    },
    {
      name: 'client-uses-no-node-builtins',
      severity: 'error',
      comment: 'client/ runs in browsers and edge runtimes: no Node built-in modules.',
      from: { path: '^src/client/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'hono-is-a-peer',
      severity: 'error',
      comment: 'hono/ uses the application\'s hono: it imports hono types only, never its code, and not the client SDK.',
      from: { path: '^src/hono/' },
      to: { path: ['^node_modules/hono/', '^src/client/'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'public-api-is-client-side',
      severity: 'error',
      comment: 'The package entry (creddy) exports the SDKs, not the broker.',
      from: { path: '^src/index\\.ts$' },
      to: { path: '^src/(?!client|verify|errors|wire)' },
    },
    {
      name: 'prom-client-stays-in-metrics',
      severity: 'error',
      comment:
        'Only metrics/ imports prom-client; everything else reports through the Metrics interface of metrics/port.ts, so the CLI and tests run without it.',
      from: { path: '^src/(?!metrics/)' },
      to: { path: '^node_modules/prom-client/' },
    },
    {
      name: 'metrics-load-lazily',
      severity: 'error',
      comment:
        "Outside metrics/, only cli/metrics.ts imports more than metrics/port.ts (dynamically, when the server's metrics are on): no other command loads prom-client.",
      from: { path: '^src/(?!metrics/|cli/metrics\\.ts$)' },
      to: { path: '^src/metrics/(?!port\\.ts$)' },
    },
    {
      name: 'no-test-code-in-src',
      severity: 'error',
      comment: 'Test-only seams are injected by tests, never imported by production code.',
      from: { path: '^src/' },
      to: { path: ['^test/', '^bench/'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
  },
};
