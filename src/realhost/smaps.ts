/**
 * Memory of VMM processes from /proc: smaps_rollup as the SoCC'22 sampler read it (Rss, Pss,
 * Pss_Anon, Pss_File, Pss_Shmem), and the split of one process's Pss between its guest memory
 * (everything mapped in the GiB from GUEST_HVA: anonymous guest RAM and pool files mapped into it) and
 * the VMM's own memory (binary, heap, stacks, vCPU run page).
 */
import * as fs from 'node:fs';
import { GUEST_HVA, GUEST_MAX_BYTES } from './vmm.ts';

export interface Rollup {
  rss: number;
  pss: number;
  pssAnon: number;
  pssFile: number;
  pssShmem: number;
}

const FIELDS: Record<string, keyof Rollup> = { Rss: 'rss', Pss: 'pss', Pss_Anon: 'pssAnon', Pss_File: 'pssFile', Pss_Shmem: 'pssShmem' };

/** Parse smaps_rollup text; values in bytes. */
export function parseRollup(text: string): Rollup {
  const r: Rollup = { rss: 0, pss: 0, pssAnon: 0, pssFile: 0, pssShmem: 0 };
  for (const line of text.split('\n')) {
    const m = /^(\w+):\s+(\d+) kB$/.exec(line);
    if (m && FIELDS[m[1]]) r[FIELDS[m[1]]] = Number(m[2]) * 1024;
  }
  return r;
}

/** smaps_rollup of a process, or null when it is gone. */
export function readRollup(pid: number): Rollup | null {
  try {
    return parseRollup(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
  } catch {
    return null;
  }
}

export interface VmmSplit {
  /** Pss of guest memory (anonymous RAM and pool pages), bytes. */
  guestPss: number;
  /** Pss of everything else: the VMM's own memory, bytes. */
  vmmPss: number;
  /** Private (not shared with any process) bytes of the VMM's own memory. */
  vmmPrivate: number;
  /** Pss of pool pages mapped into the guest (shmem), and their Rss. */
  poolPss: number;
  poolRss: number;
}

/** Parse /proc/PID/smaps text into guest and VMM parts. */
export function parseSplit(text: string): VmmSplit {
  const s: VmmSplit = { guestPss: 0, vmmPss: 0, vmmPrivate: 0, poolPss: 0, poolRss: 0 };
  let guest = false;
  let pool = false;
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f]+)-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      // Guest memory is [GUEST_HVA, GUEST_HVA + guest size); the VMM's stacks, its vCPU's kvm_run
      // page and the vDSO lie above it and are the VMM's own.
      const start = parseInt(head[1], 16);
      guest = start >= GUEST_HVA && start < GUEST_HVA + GUEST_MAX_BYTES;
      pool = guest && head[2].startsWith('/');
      continue;
    }
    const m = /^(Pss|Rss|Private_Clean|Private_Dirty):\s+(\d+) kB$/.exec(line);
    if (!m) continue;
    const bytes = Number(m[2]) * 1024;
    if (m[1] === 'Pss') {
      if (guest) s.guestPss += bytes;
      else s.vmmPss += bytes;
      if (pool) s.poolPss += bytes;
    } else if (m[1] === 'Rss') {
      if (pool) s.poolRss += bytes;
    } else if (!guest) s.vmmPrivate += bytes;
  }
  return s;
}

export function readSplit(pid: number): VmmSplit | null {
  try {
    return parseSplit(fs.readFileSync(`/proc/${pid}/smaps`, 'utf8'));
  } catch {
    return null;
  }
}
