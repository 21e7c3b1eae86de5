/**
 * Access-path throughput: simulated accesses per second on one core, Zen 2 geometry, nested 4K/4K.
 *   (a) sequential 8-byte accesses (TLB-friendly)
 *   (b) uniform random 8-byte accesses over 4 GiB (nearly every access walks)
 * Targets (issue): (a) >= 50 M/s, (b) >= 1 M/s. For scale, the C reference of the same structures
 * runs side by side with ours in the `cref` group (bench/cref.ts), which prints the ratios.
 *
 * Each loop gives two figures: accesses per second of wall time (the name as it always was) and
 * per second of the process's CPU time (user + system; `.cpu` appended), which on a machine shared
 * with other work varies much less.
 *
 * `npm run bench` runs each loop in a child process of its own (`--one NAME`): in one process a
 * loop ran on whatever the JIT had made of the shared access path for the loops before it, so its
 * figure depended on its place in the list (the sequential loop with caches read 45 or 51 M per
 * CPU s for the same tree, by order alone).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Rng } from '../src/base/rng.ts';
import { PageSize } from '../src/base/units.ts';
import { CPU_PRESETS, translationOnly, withoutPrivateCaches, type CpuPreset } from '../src/hw/cpu.ts';
import { FlatSpace } from '../src/hw/flatspace.ts';
import { resolveTier, TierMap, TIER_PRESETS } from '../src/hw/tiers.ts';
import { Machine, VCpu } from '../src/hw/vcpu.ts';
import type { BenchFigure } from './types.ts';

/** Wall and CPU figures of a loop of `accesses` accesses run by `loop`. */
function timedLoop(name: string, accesses: number, target: string, loop: () => void): BenchFigure[] {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  loop();
  const s = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  const cpuSec = (cpu.user + cpu.system) / 1e6;
  return [
    { name, value: accesses / s / 1e6, unit: 'M accesses/s', target },
    { name: `${name}.cpu`, value: accesses / cpuSec / 1e6, unit: 'M accesses/CPU s', target },
  ];
}

function nestedVcpu(cpu: CpuPreset = CPU_PRESETS.zen2) {
  const tiers = new TierMap([resolveTier(TIER_PRESETS.ddr4, 0, cpu.clockGHz)], [1 << 30]);
  const machine = new Machine(cpu, tiers);
  const space = new FlatSpace({ guestPageSize: PageSize.Size4K, hostPageSize: PageSize.Size4K });
  return { space, vcpu: new VCpu(machine, space, 0) };
}

export function benchSequential(accesses = 20_000_000, cpu: CpuPreset = CPU_PRESETS.zen2, name = 'hw.sequential8B.nested4K4K.zen2'): BenchFigure[] {
  const { space, vcpu } = nestedVcpu(cpu);
  const span = 64 * 1024 * 1024;
  for (let off = 0; off < span; off += 4096) vcpu.load(space.base + off, 8); // map first
  return timedLoop(name, accesses, '>= 50', () => {
    let addr = 0;
    for (let i = 0; i < accesses; i++) {
      vcpu.load(space.base + addr, 8);
      addr += 8;
      if (addr >= span) addr = 0;
    }
  });
}

export function benchRandom(accesses = 2_000_000, cpu: CpuPreset = CPU_PRESETS.zen2, name = 'hw.random8B.4GiB.nested4K4K.zen2'): BenchFigure[] {
  const { space, vcpu } = nestedVcpu(cpu);
  const span = 4 * 1024 * 1024 * 1024;
  for (let off = 0; off < span; off += 4096) vcpu.load(space.base + off, 8); // map all 1 M pages first
  const rng = new Rng(42);
  const addrs = new Float64Array(accesses);
  for (let i = 0; i < accesses; i++) addrs[i] = space.base + Math.floor(rng.nextFloat() * (span / 8)) * 8;
  return timedLoop(name, accesses, '>= 1', () => {
    for (let i = 0; i < accesses; i++) vcpu.load(addrs[i], 8);
  });
}

/** (b) without the private L1D/L2 models (the LLC is still simulated): the issue makes L1/L2 optional. */
export function benchRandomLlcOnly(accesses = 2_000_000): BenchFigure[] {
  return benchRandom(accesses, withoutPrivateCaches(CPU_PRESETS.zen2), 'hw.random8B.4GiB.nested4K4K.zen2-llconly');
}

/**
 * (a) and (b) with translation alone (TLBs, PSCs, nested TLB, 2-D walk; no data-cache model): the
 * same structures as the plain C reference the targets are scaled from.
 */
export function benchSequentialTranslationOnly(accesses = 20_000_000): BenchFigure[] {
  return benchSequential(accesses, translationOnly(CPU_PRESETS.zen2), 'hw.sequential8B.nested4K4K.zen2-translation');
}

export function benchRandomTranslationOnly(accesses = 2_000_000): BenchFigure[] {
  return benchRandom(accesses, translationOnly(CPU_PRESETS.zen2), 'hw.random8B.4GiB.nested4K4K.zen2-translation');
}

/**
 * The miss paths the core model added: one 8-byte load per 64 B line over 1 GiB (every line
 * misses to memory; the stream prefetcher covers most), and (b) with two vCPUs of different VMs
 * alternating on one core every 10,000 accesses (VPID-tagged entries competing for the sets).
 */
export function benchLineStream(accesses = 4_000_000): BenchFigure[] {
  const { space, vcpu } = nestedVcpu();
  const span = 1024 * 1024 * 1024;
  for (let off = 0; off < span; off += 4096) vcpu.load(space.base + off, 8);
  return timedLoop('hw.lineStream64B.1GiB.nested4K4K.zen2', accesses, '', () => {
    let addr = 0;
    for (let i = 0; i < accesses; i++) {
      vcpu.load(space.base + addr, 8);
      addr += 64;
      if (addr >= span) addr = 0;
    }
  });
}

export function benchRandomTwoVmsOneCore(accesses = 2_000_000): BenchFigure[] {
  const cpu = CPU_PRESETS.zen2;
  const machine = new Machine(cpu, new TierMap([resolveTier(TIER_PRESETS.ddr4, 0, cpu.clockGHz)], [1 << 30]), { cores: 1 });
  const span = 1024 * 1024 * 1024;
  const vms = [0, 1].map((v) => {
    const space = new FlatSpace({ guestPageSize: PageSize.Size4K, hostPageSize: PageSize.Size4K, hostFirstFrame: v * (1 << 19), hostFrames: 1 << 19 });
    const vcpu = new VCpu(machine, space, v, 0);
    for (let off = 0; off < span; off += 4096) vcpu.load(space.base + off, 8);
    return { space, vcpu };
  });
  const rng = new Rng(42);
  const addrs = new Float64Array(accesses);
  for (let i = 0; i < accesses; i++) addrs[i] = vms[0].space.base + Math.floor(rng.nextFloat() * (span / 8)) * 8;
  return timedLoop('hw.random8B.1GiB.nested4K4K.zen2.twoVmsOneCore', accesses, '', () => {
    for (let i = 0; i < accesses; i++) vms[Math.floor(i / 10_000) & 1].vcpu.load(addrs[i], 8);
  });
}

/** Every loop, by the name its child process is asked for. */
const LOOPS: Record<string, () => BenchFigure[]> = {
  sequential: () => benchSequential(),
  random: () => benchRandom(),
  randomLlcOnly: () => benchRandomLlcOnly(),
  sequentialTranslationOnly: () => benchSequentialTranslationOnly(),
  randomTranslationOnly: () => benchRandomTranslationOnly(),
  lineStream: () => benchLineStream(),
  randomTwoVmsOneCore: () => benchRandomTwoVmsOneCore(),
};

/** Loop `name` in a fresh process (see the header); its figures come back as JSON on stdout. */
function inChildProcess(name: string): BenchFigure[] {
  const p = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--one', name], { encoding: 'utf8' });
  if (p.status !== 0) throw new Error(`bench/hw-access.ts --one ${name} failed with status ${String(p.status)}:\n${p.stderr}`);
  return JSON.parse(p.stdout) as BenchFigure[];
}

/** Picked up by bench/run.ts (its optional modules). */
export const benchmarks = Object.keys(LOOPS).map((name) => ({ group: 'hw', run: () => inChildProcess(name) }));

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
const one = process.argv.indexOf('--one');
if (isMain && one > 0) {
  const loop = LOOPS[process.argv[one + 1]];
  if (loop) process.stdout.write(JSON.stringify(loop()));
  else {
    process.stderr.write(`bench/hw-access.ts: no loop ${String(process.argv[one + 1])} (${Object.keys(LOOPS).join(', ')})\n`);
    process.exitCode = 2;
  }
}
