/**
 * Image toolchain benchmark: `image faas` building 1000 distinct function unikernels in every
 * variant (compact, DCE, aligned, one ASLR image each: 4000 images, every one linked by ld and run
 * once) with a warm library build (the real libraries and our platform objects already in their
 * caches). Target (issue 12): under 5 minutes on this machine.
 *
 * Two builds, each into a fresh temporary directory removed afterwards: with a fresh (cold)
 * function-object cache, so every function is compiled, and again with that cache warm (what a
 * second set over the same functions costs: links, trampolines, runs). Figures: wall time, CPU
 * time (this process and every tool it ran) and the load average seen by the run, because the
 * machine is shared and wall time depends on it; and the CPU time of each phase of the build
 * (compile, plan layouts, link, trampolines, run), recorded through the build's progress calls. Run alone: node --import tsx bench/images.ts
 * [count], or `npm run bench -- --only images --runs 1`; UNIMEM_BENCH_FAAS_COUNT changes the count.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildFaasSet, realLibraries } from '../src/image/index.ts';
import type { Progress } from '../src/base/progress.ts';
import type { BenchFigure } from './types.ts';

/** CPU seconds of this process and of its waited-for children (the compilers, linkers and images). */
function cpuSeconds(): number {
  const fields = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  const ticks = 100; // USER_HZ on Linux x86-64
  const children = (Number(fields[13]) + Number(fields[14])) / ticks;
  const self = process.cpuUsage();
  return children + (self.user + self.system) / 1e6;
}

interface PhaseTime {
  phase: string;
  wall: number;
  cpu: number;
}

/** A progress sink that records the wall and CPU time of each phase of the build. */
function phaseRecorder(): { progress: Progress; phases: PhaseTime[] } {
  const phases: PhaseTime[] = [];
  let current: { phase: string; t: number; c: number } | undefined;
  const close = (): void => {
    if (current) phases.push({ phase: current.phase, wall: (performance.now() - current.t) / 1000, cpu: cpuSeconds() - current.c });
    current = undefined;
  };
  return {
    phases,
    progress: {
      phase(label) {
        close();
        current = { phase: label, t: performance.now(), c: cpuSeconds() };
      },
      update() {},
      finish: close,
    },
  };
}

function timedBuild(count: number, objectCache: string): { wall: number; cpu: number; load: number; images: number; phases: PhaseTime[] } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unimem-bench-faas-'));
  try {
    const load0 = os.loadavg()[0];
    const c0 = cpuSeconds();
    const t0 = performance.now();
    const { progress, phases } = phaseRecorder();
    const m = buildFaasSet({ count, outDir: path.join(dir, 'set'), objectCache, progress });
    const wall = (performance.now() - t0) / 1000;
    return { wall, cpu: cpuSeconds() - c0, load: (load0 + os.loadavg()[0]) / 2, images: m.images.length, phases };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function benchFaasBuild(count = Number(process.env.UNIMEM_BENCH_FAAS_COUNT ?? 1000)): BenchFigure[] {
  realLibraries();
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'unimem-bench-faas-objects-'));
  try {
    // Warm our platform objects too (a 2-function set builds them once).
    timedBuild(2, cache);
    fs.rmSync(cache, { recursive: true, force: true });
    const cold = timedBuild(count, cache);
    const warm = timedBuild(count, cache);
    const label = `image faas --count ${count}`;
    return [
      { name: `${label}: wall time, ${cold.images} images in all variants (warm libraries, functions compiled)`, value: cold.wall, unit: 's', target: count === 1000 ? '< 300 s' : undefined },
      { name: `${label}: CPU time (all processes), functions compiled`, value: cold.cpu, unit: 's' },
      { name: `${label}: load average during the build, functions compiled`, value: cold.load, unit: '' },
      { name: `${label}: wall time, function objects cached`, value: warm.wall, unit: 's' },
      { name: `${label}: CPU time (all processes), function objects cached`, value: warm.cpu, unit: 's' },
      { name: `${label}: load average during the build, function objects cached`, value: warm.load, unit: '' },
      { name: `${label}: images per second, functions compiled`, value: cold.images / cold.wall, unit: 'images/s' },
      // Where the time goes (functions compiled): CPU of every process in each phase.
      ...cold.phases.map((p) => ({ name: `${label}: CPU time in phase '${p.phase}'`, value: p.cpu, unit: 's' })),
    ];
  } finally {
    fs.rmSync(cache, { recursive: true, force: true });
  }
}

export const benchmarks = [{ group: 'images', run: () => benchFaasBuild() }];

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const f of benchFaasBuild(process.argv[2] ? Number(process.argv[2]) : undefined)) console.log(`${f.name}: ${f.value.toFixed(2)} ${f.unit}`);
}
