/**
 * The configurations the `ucat` experiment compares: one registry, each entry a host back-end
 * variant, the host's huge-backing (THP) policy and a guest preset or knob set. Names become these
 * values once, before the run (STYLE.md: resolve at the edge).
 *
 * Mapping to the list (docs/ucat-experiment.md explains each choice):
 *   osv        stock OSv: tier-unaware host (one untyped region, DRAM first then NVM), 4 KiB
 *              backing, guest `osv-4k` (power-of-two pools, 4 KiB application pages)
 *   osv-large  OSv with large pages: same host with THP 'always' (2 MiB backing where the range
 *              allows it), guest `osv` (2 MiB pages in anonymous mappings and linear maps)
 *   osv-slab   OSv with slabs: stock host and 4 KiB pages, fine slab classes instead of pools,
 *              no tier awareness (the slab allocator of the `ucat` policy with tierAware off)
 *   ucat       UCat: tier-aware host (typed, 2 MiB-aligned regions, huge backing), guest `ucat`
 *              (slabs + 2 MiB pages + tier placement by hint)
 * Ablations, not in the minimum set:
 *   ucat-no-tiers  UCat without tier placement (fills its DRAM region first)
 *   ucat-4k        UCat without large pages (4 KiB guest pages; the host still backs with 2 MiB)
 */
import type { HugeBackingName } from '../../host/backend.ts';
import type { GuestKnobs } from '../../guest/registry.ts';

export interface UcatConfiguration {
  name: string;
  description: string;
  /** Host back-end variant (src/host/variants.ts). */
  variant: 'baseline' | 'tierAware';
  /** Host THP mode for guest memory (src/host/backend.ts). */
  hugeBacking: HugeBackingName;
  /** Guest preset name or a preset plus overrides (src/guest/registry.ts). */
  guest: string | (Partial<GuestKnobs> & { preset?: string });
}

export const UCAT_CONFIGURATIONS: readonly UcatConfiguration[] = [
  {
    name: 'osv',
    description: 'stock OSv: tier-unaware host, 4 KiB backing, power-of-two pools, 4 KiB application pages',
    variant: 'baseline',
    hugeBacking: 'never',
    guest: 'osv-4k',
  },
  {
    name: 'osv-large',
    description: 'OSv with large pages: tier-unaware host with 2 MiB backing (THP always), 2 MiB guest pages, power-of-two pools',
    variant: 'baseline',
    hugeBacking: 'always',
    guest: 'osv',
  },
  {
    name: 'osv-slab',
    description: 'OSv with slabs: tier-unaware host, 4 KiB backing and pages, fine slab classes, no tier placement',
    variant: 'baseline',
    hugeBacking: 'never',
    guest: { preset: 'ucat-4k', tierAware: false },
  },
  {
    name: 'ucat',
    description: 'UCat: tier-aware host (typed 2 MiB-aligned regions, 2 MiB backing), slabs, 2 MiB pages, tier placement',
    variant: 'tierAware',
    hugeBacking: 'madvise',
    guest: 'ucat',
  },
  {
    name: 'ucat-no-tiers',
    description: 'ablation: UCat without tier placement (DRAM region first, whatever the hint)',
    variant: 'tierAware',
    hugeBacking: 'madvise',
    guest: 'ucat-no-tiers',
  },
  {
    name: 'ucat-4k',
    description: 'ablation: UCat without large guest pages (4 KiB pages over 2 MiB host backing)',
    variant: 'tierAware',
    hugeBacking: 'madvise',
    guest: 'ucat-4k',
  },
];

export const UCAT_CONFIGURATION_NAMES = UCAT_CONFIGURATIONS.map((c) => c.name) as [string, ...string[]];

export function ucatConfiguration(name: string): UcatConfiguration {
  const c = UCAT_CONFIGURATIONS.find((x) => x.name === name);
  if (!c) throw new Error(`unknown ucat configuration '${name}'`);
  return c;
}
