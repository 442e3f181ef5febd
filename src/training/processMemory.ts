// What a long run holds in memory, for its per-epoch log line. On a CPU adapter (lavapipe) the
// device memory is host memory in memfd files the process keeps open: unmapped shared memory,
// counted neither in the RSS nor in the engine's buffer pool once the driver has taken it. A run
// that grows towards the machine's limit shows it here, epoch by epoch, before the OOM killer ends
// it without a word. Linux only (/proc); elsewhere the host figures are left out.

import { fstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { runtime } from '../engine/engine.js';

export interface ProcessMemory {
  /** Resident set size of the process (null where /proc is missing). */
  rssBytes: number | null;
  /** Bytes allocated to the memfd files the process holds open, each counted once (lavapipe's device memory; null where /proc is missing). */
  memfdBytes: number | null;
  /** The engine's buffer pool: bytes handed out to live tensors, and bytes kept in its free lists. */
  poolLiveBytes: number;
  poolFreeBytes: number;
}

function rss(): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

function memfd(): number | null {
  let fds: string[];
  try {
    fds = readdirSync('/proc/self/fd');
  } catch {
    return null;
  }
  let total = 0;
  // Allocated blocks, not the length (a file may be sparse); a file open under two descriptors once.
  const seen = new Set<string>();
  for (const fd of fds) {
    try {
      if (!readlinkSync(`/proc/self/fd/${fd}`).startsWith('/memfd:')) continue;
      const st = fstatSync(Number(fd));
      const id = `${st.dev}:${st.ino}`;
      if (seen.has(id)) continue;
      seen.add(id);
      total += st.blocks * 512;
    } catch {
      // closed between the listing and the look (the listing's own descriptor among them)
    }
  }
  return total;
}

export function processMemory(): ProcessMemory {
  const pool = runtime().pool.snapshot();
  return { rssBytes: rss(), memfdBytes: memfd(), poolLiveBytes: pool.liveBytes, poolFreeBytes: pool.pooledBytes };
}

const mib = (b: number) => `${Math.round(b / 2 ** 20)} MiB`;

/** "memory: tensors 120 MiB (+400 MiB pooled), rss 1310 MiB, memfd 2253 MiB" (host figures where known). */
export function processMemoryLine(m: ProcessMemory = processMemory()): string {
  return (
    `memory: tensors ${mib(m.poolLiveBytes)} (+${mib(m.poolFreeBytes)} pooled)` +
    (m.rssBytes === null ? '' : `, rss ${mib(m.rssBytes)}`) +
    (m.memfdBytes === null ? '' : `, memfd ${mib(m.memfdBytes)}`)
  );
}
