// Preloaded into a creddy server by `node bench/issue.mjs --heap-prof DIR` (node --import): V8's
// sampling heap profiler over everything allocated, garbage included (what `node --heap-prof`
// leaves out: it keeps only what is still live at exit), written as DIR/heap.PID.heapprofile when
// the process exits. bench/profile-summary.mjs summarises it: bytes allocated per function.
// BENCH_HEAP_PROF_MODE=promoted drops what the young generation's collections freed: what is
// left is what outlived them (promoted to the old space) — what makes the old space grow.

import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { isMainThread } from 'node:worker_threads';

const dir = process.env.BENCH_HEAP_PROF_DIR;
if (dir && isMainThread) {
  const session = new Session();
  session.connect();
  // The in-process session answers synchronously, so the profile can be taken in an exit handler.
  const post = (method, params) => {
    let out;
    session.post(method, params, (err, result) => {
      if (err) throw err;
      out = result;
    });
    return out;
  };
  post('HeapProfiler.enable');
  post('HeapProfiler.startSampling', {
    samplingInterval: Number(process.env.BENCH_HEAP_PROF_INTERVAL ?? 16384),
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: process.env.BENCH_HEAP_PROF_MODE !== 'promoted',
  });
  process.once('exit', () => {
    const { profile } = post('HeapProfiler.stopSampling');
    writeFileSync(join(dir, `heap.${process.pid}.heapprofile`), JSON.stringify(profile));
  });
}
