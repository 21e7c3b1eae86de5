/**
 * The CPU presets the differential tests of the access path run on (test/hw/wasm-path.test.ts,
 * test/hw/wasm-dataline.test.ts, test/hw/access-many.test.ts): two presets with their caches, one without any, one with an LLC
 * alone, and caches of a few sets, so that dirty victims leave every level and reach memory of both
 * tiers within a few hundred accesses: in one the L2 has 12 sets, indexed by modulo; the other has
 * Zen 2's widths (8, 8 and 16 ways, power-of-two set counts), which the module serves by paths of
 * their own (the walk's reads at the L1D, the 8-way levels in line).
 */
import { CPU_PRESETS, translationOnly, withoutPrivateCaches, type CpuPreset } from '../../src/hw/cpu.ts';

/** Zen 2 with caches of a few sets: bytes and ways of its L1D, L2 and LLC (Zen 2's latencies). */
function zen2WithSmallCaches(name: string, l1d: [number, number], l2: [number, number], llc: [number, number]): CpuPreset {
  return {
    ...CPU_PRESETS.zen2,
    name,
    l1d: { bytes: l1d[0], ways: l1d[1], latency: 4 },
    l2: { bytes: l2[0], ways: l2[1], latency: 12 },
    llc: { bytes: llc[0], ways: llc[1], latency: 39, scope: 'per-cluster', clusterCores: 4 },
  };
}

export const ACCESS_PRESETS: Record<string, CpuPreset> = {
  zen2: CPU_PRESETS.zen2,
  icelake: CPU_PRESETS.icelake,
  'zen2-translation': translationOnly(CPU_PRESETS.zen2),
  'zen2-llc-only': withoutPrivateCaches(CPU_PRESETS.zen2),
  'zen2-tiny-caches': zen2WithSmallCaches('zen2-tiny-caches', [1024, 4], [3072, 4], [16384, 8]),
  'zen2-small-caches': zen2WithSmallCaches('zen2-small-caches', [2048, 8], [4096, 8], [16384, 16]),
};
