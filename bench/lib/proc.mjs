// Process accounting from /proc (Linux): CPU time (all threads: event loop, audit worker, libuv
// pool) and resident memory of a server, read before and after each measured run.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of utime/stime (USER_HZ; 100 on Linux x86). */
export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of the whole process, in µs. Fields 14 and 15 of /proc/PID/stat. */
export function cpuMicros(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1e6) / CLK_TCK;
}

/** Resident set size now and its high-water mark, in MB (VmRSS, VmHWM of /proc/PID/status). */
export function memoryMb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rss: Math.round(kb('VmRSS') / 102.4) / 10, hwm: Math.round(kb('VmHWM') / 102.4) / 10 };
}

/** `pid` and every process below it (a `--workers` primary's workers), from /proc/PID/task/TID/children. */
export function processTree(pid) {
  const out = [];
  const walk = (p) => {
    out.push(p);
    let tasks;
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      return; // gone meanwhile
    }
    for (const tid of tasks) {
      let children = '';
      try {
        children = readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8');
      } catch {}
      for (const c of children.trim().split(/\s+/).filter(Boolean)) walk(Number(c));
    }
  };
  walk(pid);
  return out;
}

/** cpuMicros summed over `pids`; a process that has gone counts 0 (its time is lost with it). */
export function cpuMicrosOf(pids) {
  let sum = 0;
  for (const p of pids) {
    try {
      sum += cpuMicros(p);
    } catch {}
  }
  return sum;
}

/** memoryMb summed over `pids` (RSS counts pages shared between them, the node binary's text, once per process). */
export function memoryMbOf(pids) {
  let rss = 0;
  let hwm = 0;
  for (const p of pids) {
    try {
      const m = memoryMb(p);
      rss += m.rss;
      hwm += m.hwm;
    } catch {}
  }
  return { rss: Math.round(rss * 10) / 10, hwm: Math.round(hwm * 10) / 10 };
}
