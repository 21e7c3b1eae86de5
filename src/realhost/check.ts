/**
 * `unimem host check`: what this machine offers the real host, each item with its value or the
 * reason it is unusable (research/hostcheck.md measured the same by hand).
 */
import * as fs from 'node:fs';
import { UserError } from '../base/errors.ts';
import { KSM_DIR, ksmWritable, readSettings } from './ksm.ts';
import { perfAvailable } from './perf.ts';
import { vmmAvailable } from './vmm.ts';

export interface CheckItem {
  name: string;
  ok: boolean;
  /** What was found (a value or a short description). */
  value: string;
  /** Why it is unusable (only when !ok). */
  reason?: string;
}

const readText = (file: string): string | undefined => {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
};

function checkKvm(): CheckItem {
  try {
    fs.closeSync(fs.openSync('/dev/kvm', 'r+'));
  } catch (e) {
    return { name: 'kvm', ok: false, value: '/dev/kvm', reason: `/dev/kvm cannot be opened (${(e as NodeJS.ErrnoException).code})` };
  }
  const has = (m: string): boolean => fs.existsSync(`/sys/module/${m}`);
  const flavour = has('kvm_pvm') ? 'PVM (guest CPL0 code emulated, CPL3 native)' : has('kvm_intel') ? 'VMX' : has('kvm_amd') ? 'SVM' : 'unknown flavour';
  return { name: 'kvm', ok: true, value: `/dev/kvm, ${flavour}` };
}

function checkKsm(): CheckItem {
  const w = ksmWritable();
  const s = readSettings();
  const value = Object.entries(s).map(([k, v]) => `${k}=${v}`).join(' ') || `${KSM_DIR} absent`;
  return w.ok ? { name: 'ksm', ok: true, value } : { name: 'ksm', ok: false, value, reason: w.reason };
}

function checkThp(): CheckItem {
  const pick = (f: string): string => /\[([^\]]+)\]/.exec(readText(f) ?? '')?.[1] ?? 'absent';
  const enabled = pick('/sys/kernel/mm/transparent_hugepage/enabled');
  return { name: 'thp', ok: enabled !== 'absent', value: `enabled=${enabled} defrag=${pick('/sys/kernel/mm/transparent_hugepage/defrag')} shmem_enabled=${pick('/sys/kernel/mm/transparent_hugepage/shmem_enabled')}`, reason: enabled === 'absent' ? 'no transparent huge pages' : undefined };
}

function checkSmaps(): CheckItem {
  const ok = readText(`/proc/${process.pid}/smaps_rollup`) !== undefined;
  return { name: 'smaps_rollup', ok, value: '/proc/PID/smaps_rollup', reason: ok ? undefined : 'kernel older than 4.14' };
}

function checkPerf(): CheckItem {
  const p = perfAvailable();
  return p.ok ? { name: 'perf tlb:tlb_flush', ok: true, value: 'perf record -e tlb:tlb_flush -a' } : { name: 'perf tlb:tlb_flush', ok: false, value: 'perf', reason: p.reason };
}

/** KSM's tracepoints, which every real run with a KSM configuration records (merges, full scans). */
function checkPerfKsm(): CheckItem {
  const p = perfAvailable('ksm:ksm_stop_scan');
  return p.ok ? { name: 'perf ksm:*', ok: true, value: 'perf record -e ksm:ksm_merge_with_ksm_page,ksm:ksm_merge_one_page,ksm:ksm_stop_scan -a' } : { name: 'perf ksm:*', ok: false, value: 'perf', reason: p.reason };
}

function checkLimits(): CheckItem {
  const limits = readText(`/proc/${process.pid}/limits`) ?? '';
  const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(limits);
  const soft = m ? m[1] : '?';
  const hard = m ? m[2] : '?';
  const mem = /^MemAvailable:\s+(\d+) kB/m.exec(readText('/proc/meminfo') ?? '');
  const memMiB = mem ? Math.floor(Number(mem[1]) / 1024) : 0;
  // Each VM needs two descriptors (VM and vCPU) in its own VMM process, so the limit that counts
  // is per process; host memory is what caps the number of VMs (hostcheck.md §1).
  return { name: 'limits', ok: true, value: `open files ${soft}/${hard} per process, MemAvailable ${memMiB} MiB, ${fs.readdirSync('/sys/devices/system/cpu').filter((d) => /^cpu\d+$/.test(d)).length} CPUs` };
}

function checkTmpfs(): CheckItem {
  const mounts = readText('/proc/mounts') ?? '';
  const ok = /^\S+ \/dev\/shm tmpfs /m.test(mounts);
  return { name: 'tmpfs /dev/shm', ok, value: '/dev/shm', reason: ok ? undefined : '/dev/shm is not a tmpfs: the pool cannot live in memory' };
}

function checkRoot(): CheckItem {
  const uid = process.getuid?.() ?? -1;
  return { name: 'root', ok: uid === 0, value: `uid ${uid}`, reason: uid === 0 ? undefined : 'KSM settings and perf -a need root' };
}

function checkVmm(): CheckItem {
  const v = vmmAvailable();
  return v.ok ? { name: 'vmm', ok: true, value: v.path } : { name: 'vmm', ok: false, value: 'unimem-vmm', reason: v.reason };
}

export function hostCheck(): CheckItem[] {
  return [checkRoot(), checkKvm(), checkVmm(), checkKsm(), checkSmaps(), checkTmpfs(), checkPerf(), checkPerfKsm(), checkThp(), checkLimits()];
}

/** The items a real run needs; throws the first failure as a one-line user error (exit 2). */
export function requireRealHost(needs: readonly string[] = ['root', 'kvm', 'vmm', 'ksm', 'smaps_rollup', 'tmpfs /dev/shm', 'perf ksm:*']): void {
  const items = [checkRoot(), checkKvm(), checkVmm(), checkKsm(), checkSmaps(), checkTmpfs(), ...(needs.includes('perf tlb:tlb_flush') ? [checkPerf()] : []), ...(needs.includes('perf ksm:*') ? [checkPerfKsm()] : [])];
  for (const i of items) if (needs.includes(i.name) && !i.ok) throw new UserError(`the real host is unavailable: ${i.reason}`);
}

/** Why the real host cannot run here (tests skip with it), or undefined when it can. */
export function realHostUnavailable(needs?: readonly string[]): string | undefined {
  try {
    requireRealHost(needs);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}
