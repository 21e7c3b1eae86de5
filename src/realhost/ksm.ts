/**
 * Linux KSM through /sys/kernel/mm/ksm (docs.kernel.org/admin-guide/mm/ksm.html): the settings an
 * experiment sets, the counters a run samples, and the restore that puts every setting back.
 *
 * Order matters: max_page_sharing and merge_across_nodes can only change while no page is merged
 * (EBUSY), so both applying and restoring first write run=2 (stop and unmerge everything), then
 * the settings, then run.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { KsmParams } from '../host/index.ts';

export const KSM_DIR = process.env.UNIMEM_KSM_DIR ?? '/sys/kernel/mm/ksm';

/** Settings a run may change, in the order they are written (run last). */
export const KSM_SETTINGS = ['max_page_sharing', 'merge_across_nodes', 'use_zero_pages', 'smart_scan', 'advisor_mode', 'stable_node_chains_prune_millisecs', 'pages_to_scan', 'sleep_millisecs', 'run'] as const;
export type KsmSetting = (typeof KSM_SETTINGS)[number];
export type KsmSettings = Partial<Record<KsmSetting, string>>;

/** Counters sampled during a run. */
export const KSM_COUNTERS = ['pages_shared', 'pages_sharing', 'pages_unshared', 'pages_volatile', 'full_scans', 'pages_scanned', 'pages_skipped', 'stable_node_chains', 'stable_node_dups', 'ksm_zero_pages', 'general_profit'] as const;
export type KsmCounter = (typeof KSM_COUNTERS)[number];
export type KsmSample = Record<KsmCounter, number>;

const file = (name: string): string => path.join(KSM_DIR, name);

/** A setting's current value; `advisor_mode` reads as "[none] scan-time", the bracketed one is set. */
export function readSetting(name: KsmSetting): string | undefined {
  try {
    const text = fs.readFileSync(file(name), 'utf8').trim();
    const chosen = /\[([^\]]+)\]/.exec(text);
    return chosen ? chosen[1] : text;
  } catch {
    return undefined; // absent on older kernels
  }
}

export function readSettings(): KsmSettings {
  const out: KsmSettings = {};
  for (const s of KSM_SETTINGS) {
    const v = readSetting(s);
    if (v !== undefined) out[s] = v;
  }
  return out;
}

export function readCounters(): KsmSample {
  const out = {} as KsmSample;
  for (const c of KSM_COUNTERS) {
    let v = 0;
    try {
      v = Number(fs.readFileSync(file(c), 'utf8').trim());
    } catch {
      v = 0;
    }
    out[c] = Number.isFinite(v) ? v : 0;
  }
  return out;
}

function write(name: string, value: string): void {
  fs.writeFileSync(file(name), value);
}

/** Stop ksmd and unmerge every page, waiting (bounded) until nothing is merged. */
export function unmergeAll(): void {
  write('run', '2');
  for (let i = 0; i < 200 && readCounters().pages_shared > 0; i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
}

/** Write `settings` (absent ones untouched): unmerge first, run last. */
export function applySettings(settings: KsmSettings): void {
  unmergeAll();
  for (const s of KSM_SETTINGS) {
    const v = settings[s];
    if (v === undefined || s === 'run') continue;
    if (readSetting(s) !== v) write(s, v);
  }
  write('run', settings.run ?? '0');
}

/** The settings of an experiment's KSM parameters (ksmd running). */
export function settingsOf(p: Partial<KsmParams>): KsmSettings {
  const s: KsmSettings = { run: '1', advisor_mode: 'none' };
  if (p.pagesToScan !== undefined) s.pages_to_scan = String(p.pagesToScan);
  if (p.sleepMillisecs !== undefined) s.sleep_millisecs = String(p.sleepMillisecs);
  if (p.maxPageSharing !== undefined) s.max_page_sharing = String(p.maxPageSharing);
  if (p.useZeroPages !== undefined) s.use_zero_pages = p.useZeroPages ? '1' : '0';
  s.smart_scan = p.smartScan ? '1' : '0';
  return s;
}

/** Can this process change KSM? A one-line reason when not. */
export function ksmWritable(): { ok: true } | { ok: false; reason: string } {
  if (!fs.existsSync(file('run'))) return { ok: false, reason: `${KSM_DIR} is missing (kernel without CONFIG_KSM)` };
  try {
    fs.accessSync(file('run'), fs.constants.W_OK);
  } catch {
    return { ok: false, reason: `${file('run')} is not writable (needs root)` };
  }
  if (process.getuid && process.getuid() !== 0) return { ok: false, reason: `${file('run')} needs root to write` };
  return { ok: true };
}

/** The pid of the ksmd kernel thread, or null (no KSM). */
export function ksmdPid(): number | null {
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (fs.readFileSync(`/proc/${d}/comm`, 'utf8').trim() === 'ksmd') return Number(d);
    } catch {
      // the process ended while we looked
    }
  }
  return null;
}

/** USER_HZ, the unit of /proc/PID/stat's times (fixed at 100 on x86). */
const USER_HZ = 100;

/**
 * CPU time ksmd has used, ns: /proc/PID/schedstat's time on CPU (exact), or utime + stime of
 * /proc/PID/stat (in 10 ms ticks) where the kernel has no schedstats.
 */
export function ksmdCpuNs(pid: number | null): number {
  if (pid === null) return 0;
  try {
    const sched = Number(fs.readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
    if (Number.isFinite(sched) && sched > 0) return sched;
  } catch {
    // no schedstats: use the ticks
  }
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    return (Number(fields[11]) + Number(fields[12])) * (1e9 / USER_HZ);
  } catch {
    return 0;
  }
}
