/**
 * The CPU presets the differential tests of the access path run on (test/hw/wasm-path.test.ts,
 * test/hw/wasm-dataline.test.ts, test/hw/access-many.test.ts): two presets with their caches, one without any, one with an LLC
 * alone, and caches of a few sets, so that dirty victims leave every level and reach memory of both
 * tiers within a few hundred accesses: in one the L2 has 12 sets, indexed by modulo; the other has
 * Zen 2's widths (8, 8 and 16 ways, power-of-two set counts), which the module serves by paths of
 * their own (the walk's reads at the L1D, the 8-way levels in line).
 */
import { CPU_PRESETS, translationOnly, withoutPrivateCaches, type CpuPreset } from '../../src/hw/cpu.ts';

export const ACCESS_PRESETS: Record<string, CpuPreset> = {
  zen2: CPU_PRESETS.zen2,
  icelake: CPU_PRESETS.icelake,
  'zen2-translation': translationOnly(CPU_PRESETS.zen2),
  'zen2-llc-only': withoutPrivateCaches(CPU_PRESETS.zen2),
  'zen2-tiny-caches': {
    ...CPU_PRESETS.zen2,
    name: 'zen2-tiny-caches',
    l1d: { bytes: 1024, ways: 4, latency: 4 },
    l2: { bytes: 3072, ways: 4, latency: 12 },
    llc: { bytes: 16384, ways: 8, latency: 39, scope: 'per-cluster', clusterCores: 4 },
  },
  'zen2-small-caches': {
    ...CPU_PRESETS.zen2,
    name: 'zen2-small-caches',
    l1d: { bytes: 2048, ways: 8, latency: 4 },
    l2: { bytes: 4096, ways: 8, latency: 12 },
    llc: { bytes: 16384, ways: 16, latency: 39, scope: 'per-cluster', clusterCores: 4 },
  },
};
