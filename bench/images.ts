/**
 * Image toolchain benchmark: `image faas` building 1000 distinct function unikernels in every
 * variant (compact, DCE, aligned, one ASLR image each: 4000 images, every one linked by ld and run
 * once) with a warm library build (the real libraries and our platform objects already in their
 * caches). Target (issue 12): under 5 minutes on this machine.
 *
 * Each run builds into a fresh temporary directory (so nothing of the set itself is cached) and
 * removes it afterwards. Run alone: node --import tsx bench/images.ts [count], or
 * `npm run bench -- --only images`; UNIMEM_BENCH_FAAS_COUNT changes the count.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildFaasSet, realLibraries } from '../src/image/index.ts';
import type { BenchFigure } from './types.ts';

export function benchFaasBuild(count = Number(process.env.UNIMEM_BENCH_FAAS_COUNT ?? 1000)): BenchFigure[] {
  realLibraries();
  // Warm our platform objects too (a 2-function set builds them once).
  const warm = fs.mkdtempSync(path.join(os.tmpdir(), 'unimem-bench-faas-warm-'));
  buildFaasSet({ count: 2, outDir: path.join(warm, 'set') });
  fs.rmSync(warm, { recursive: true, force: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unimem-bench-faas-'));
  try {
    const t0 = performance.now();
    const m = buildFaasSet({ count, outDir: path.join(dir, 'set') });
    const sec = (performance.now() - t0) / 1000;
    return [
      { name: `image faas --count ${count}: wall time, ${m.images.length} images in all variants (warm libraries)`, value: sec, unit: 's', target: count === 1000 ? '< 300 s' : undefined },
      { name: `image faas --count ${count}: images per second`, value: m.images.length / sec, unit: 'images/s' },
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export const benchmarks = [{ group: 'images', run: () => benchFaasBuild() }];

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const f of benchFaasBuild(process.argv[2] ? Number(process.argv[2]) : undefined)) console.log(`${f.name}: ${f.value.toFixed(2)} ${f.unit}`);
}
