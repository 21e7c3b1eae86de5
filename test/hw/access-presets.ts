/**
 * The CPU presets the differential tests of the access path run on (test/hw/wasm-path.test.ts,
 * test/hw/wasm-dataline.test.ts, test/hw/access-many.test.ts): two presets with their caches, one without any, one with an LLC
 * alone, and caches of a few sets, so that dirty victims leave every level and reach memory of both
 * tiers within a few hundred accesses (its L2 has 12 sets, indexed by modulo).
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
};
