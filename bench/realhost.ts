/**
 * The micro-VMM's own costs (issue 13 targets): start to guest entry (the VMM's clock, from main()
 * to the first KVM_RUN) at most 10 ms, and the VMM's private memory per VM (smaps of the VMM
 * without its guest memory) at most 1 MiB (Firecracker's specification allows 5 MiB). One VM at a
 * time, 30 boots per run of the standard loader with the helloworld image; memory of eight VMs held
 * side by side. Skipped (no figures) where KVM is unusable.
 *
 * Start to entry depends on the machine's load (docs/realhost.md): besides its median, a run
 * gives the 90th percentile, the median of each start-up phase (the VMM's µs clock), the VMM's
 * CPU time to entry (its own work; the rest of the wall time is waiting) and the load average.
 *
 * Run alone: npm run bench -- --only realhost
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { median } from '../src/base/stats.ts';
import { prepareImages } from '../src/experiments/dedup/images.ts';
import { realHostUnavailable } from '../src/realhost/check.ts';
import { readSplit } from '../src/realhost/smaps.ts';
import { bootOnce, saveCpuid, vmmArgs, vmmBinary } from '../src/realhost/vmm.ts';
import type { BenchFigure } from './types.ts';

async function heldVmmMemory(elf: string, count: number): Promise<{ privateBytes: number; pssBytes: number }> {
  const children = Array.from({ length: count }, () => spawn(vmmBinary(), vmmArgs({ image: { elf }, memMiB: 16, hold: true }), { stdio: ['ignore', 'ignore', 'pipe'] }));
  try {
    await Promise.all(children.map((c) => new Promise<void>((resolve) => c.stderr!.on('data', (d: Buffer) => d.toString().includes('holding') && resolve()))));
    const splits = children.map((c) => readSplit(c.pid!)!);
    return { privateBytes: median(splits.map((s) => s.vmmPrivate)), pssBytes: median(splits.map((s) => s.vmmPss)) };
  } finally {
    for (const c of children) c.kill('SIGKILL');
  }
}

async function benchVmm(): Promise<BenchFigure[]> {
  if (realHostUnavailable(['kvm', 'vmm'])) return [];
  const set = prepareImages(20, 1, 1, ['compact', 'aligned', 'aligned-aslr']);
  const elf = set.byVariant.get('compact')!.find((i) => i.name === 'helloworld')!.elf;
  // As a run boots its VMs: with the CPUID table saved once (vmm.ts saveCpuid).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unimem-bench-vmm-'));
  const cpuid = path.join(dir, 'cpuid.bin');
  saveCpuid(cpuid);
  const boots = Array.from({ length: 30 }, () => bootOnce({ image: { elf }, memMiB: 16, cpuid }));
  fs.rmSync(dir, { recursive: true, force: true });
  const setups = boots.map((b) => b.setupMicros).sort((a, b) => a - b);
  const phase = (name: string): number => median(boots.map((b) => b.phases[name] ?? 0)) / 1000;
  const mem = await heldVmmMemory(elf, 8);
  return [
    { name: 'realhost: VMM start to guest entry (median of 30)', value: median(setups) / 1000, unit: 'ms', target: '<= 10 ms' },
    { name: 'realhost: VMM start to guest entry, 90th percentile of 30', value: setups[Math.floor(0.9 * setups.length) - 1] / 1000, unit: 'ms', target: '' },
    { name: 'realhost: VMM CPU time to guest entry (median of 30)', value: median(boots.map((b) => b.cpuMicros)) / 1000, unit: 'ms', target: '' },
    { name: 'realhost: VMM waiting to guest entry (wall - CPU, median of 30)', value: median(boots.map((b) => Math.max(0, b.setupMicros - b.cpuMicros))) / 1000, unit: 'ms', target: '' },
    ...['open', 'create_vm', 'guest_mem', 'load', 'memslot', 'create_vcpu', 'vcpu_regs', 'thread'].map((p) => ({ name: `realhost: start-up phase ${p} (median of 30)`, value: phase(p), unit: 'ms', target: '' })),
    { name: 'realhost: load average (1 min) during the boots', value: os.loadavg()[0], unit: '', target: '' },
    { name: 'realhost: VMM private memory per VM (median of 8)', value: mem.privateBytes / 1024, unit: 'KiB', target: '<= 1024 KiB' },
    { name: 'realhost: VMM own Pss per VM (8 VMs)', value: mem.pssBytes / 1024, unit: 'KiB', target: '' },
  ];
}

export const benchmarks = [{ group: 'realhost', run: benchVmm }];
