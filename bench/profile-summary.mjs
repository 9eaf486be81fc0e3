// Summarises a V8 .cpuprofile (from `node bench/issue.mjs --cpu-prof DIR`): self time by
// function and by where the code lives (creddy's dist/ file, an npm package, node internals), and
// inclusive time for the functions that matter, so "where does the time go" is one command.
// A .heapprofile (`--heap-prof DIR`) is summarised the same way in bytes allocated; with
// --requests N (the requests the process answered) also per request.
//
//   node bench/profile-summary.mjs DIR/CPU.*.cpuprofile|DIR/heap.*.heapprofile [--top 25] [--requests N]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '25' }, requests: { type: 'string' } },
});
if (positionals.length !== 1) throw new Error('usage: node bench/profile-summary.mjs FILE.cpuprofile [--top N]');
// `… | head` closes the pipe early; that is not an error.
process.stdout.on('error', (err) => (err.code === 'EPIPE' ? process.exit(0) : Promise.reject(err)));
const profile = JSON.parse(readFileSync(positionals[0], 'utf8'));
const top = Number(values.top);
const heap = profile.head !== undefined;

// A heap profile is a tree from `head`; flatten it to the cpuprofile's node list.
if (heap) {
  profile.nodes = [];
  const flatten = (n) => {
    profile.nodes.push({ ...n, children: n.children.map((c) => c.id) });
    for (const c of n.children) flatten(c);
  };
  flatten(profile.head);
}
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
// "us" below is µs of self time in a CPU profile, bytes allocated in a heap profile (V8 scales
// each node's sampled selfSize to an estimate of everything allocated there).
const selfUs = new Map();
if (heap) for (const n of profile.nodes) selfUs.set(n.id, n.selfSize);
// Time per sample: V8 records the delta before each sample.
else for (const [i, id] of profile.samples.entries()) selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);

const where = (url) => {
  if (!url) return '(native/vm)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return `npm:${pkg[1]}`;
  const dist = /\/dist\/(.+)$/.exec(url);
  if (dist) return `creddy:${dist[1]}`;
  if (url.startsWith('node:')) return 'node internals';
  return url.replace(/^file:\/\//, '');
};
const label = (n) => {
  const f = n.callFrame;
  return `${f.functionName || '(anonymous)'} ${where(f.url)}${f.url ? `:${f.lineNumber + 1}` : ''}`;
};

const byFunction = new Map();
const byPlace = new Map();
const inclusive = new Map();
for (const [id, us] of selfUs) {
  const n = nodes.get(id);
  byFunction.set(label(n), (byFunction.get(label(n)) ?? 0) + us);
  const place = ['(idle)', '(garbage collector)', '(program)'].includes(n.callFrame.functionName)
    ? n.callFrame.functionName
    : where(n.callFrame.url);
  byPlace.set(place, (byPlace.get(place) ?? 0) + us);
  // Inclusive: charge every distinct frame on the stack once.
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const l = label(nodes.get(cur));
    if (seen.has(l)) continue;
    seen.add(l);
    inclusive.set(l, (inclusive.get(l) ?? 0) + us);
  }
}

const pct = (us) => `${((100 * us) / totalUs).toFixed(1).padStart(5)}%`;
const requests = values.requests ? Number(values.requests) : undefined;
const amount = heap
  ? (b) => `${(b / 1e6).toFixed(1).padStart(8)} MB${requests ? `${(b / requests).toFixed(0).padStart(8)} B/req` : ''}`
  : (us) => `${(us / 1000).toFixed(0).padStart(7)} ms`;
const print = (title, map) => {
  process.stdout.write(`\n${title}\n`);
  for (const [k, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${pct(us)}  ${amount(us)}  ${k}\n`);
};
const what = heap ? 'allocated' : 'time';
process.stdout.write(
  heap
    ? `profile: ${(totalUs / 1e6).toFixed(1)} MB allocated${requests ? `, ${(totalUs / requests / 1000).toFixed(1)} KB per request` : ''}\n`
    : `profile: ${(totalUs / 1e6).toFixed(2)} s sampled\n`,
);
print(`self ${what} by place`, byPlace);
print(`self ${what} by function`, byFunction);
print(`inclusive ${what} by function`, inclusive);
