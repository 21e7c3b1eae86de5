/**
 * The configurations the `ucat` experiment compares: one registry, each entry a guest (preset or
 * knobs) on a host back-end. Names say what runs; they become these values once, before the run
 * (STYLE.md: resolve at the edge).
 *
 *   osv              stock OSv as it allocates (research/ucat.md §2): guest preset `osv`, malloc
 *                    served from the linear maps, which OSv builds with 2 MiB pages; power-of-two
 *                    pools, whole pages and page ranges; mappings of 2 MiB and more on 2 MiB
 *                    pages. Tier-unaware host. Host backing is the experiment's separate axis.
 *   osv-4k           OSv with 4 KiB pages everywhere (guest preset `osv-4k`) on 4 KiB host
 *                    backing: the row the first version of this experiment called stock OSv.
 *   osv-ucat-slabs   OSv's kernel and page policy with UCat's slab classes in place of its pools
 *                    (UCat's allocator with tier placement off), tier-unaware host.
 *   ucat             UCat: tier-aware back-end (typed 2 MiB-aligned regions, 2 MiB backing),
 *                    slabs, 2 MiB pages, placement by hint.
 * Ablations:
 *   ucat-no-tiers    UCat without tier placement (fills its DRAM region first)
 *   ucat-4k          UCat without large guest pages (4 KiB pages over 2 MiB host backing)
 *
 * Host backing axis (`HostBacking`): 'thp' backs guest memory with 2 MiB host pages where the range
 * allows it (QEMU asks for it with MADV_HUGEPAGE on guest RAM, and THP 'madvise' is Ubuntu's
 * default, 'always' RHEL's; docs/ucat-experiment.md), '4k' never does. It applies to the
 * configurations that run on the tier-unaware host and do not fix their backing; UCat's back-end
 * always asks for 2 MiB backing.
 *
 * Host DRAM policy (`DramPolicy`), for the tier-unaware configurations: 'first-come' gives each VM
 * one untyped region that the host backs from DRAM while it lasts, then from NVM; 'equal-share'
 * gives each VM a DRAM region of its share and an NVM region (UCat's back-end layout), which a
 * tier-unaware guest uses without knowing which is which.
 */
import type { HugeBackingName } from '../../host/backend.ts';
import type { GuestKnobs } from '../../guest/registry.ts';

export type HostBacking = 'thp' | '4k';
export type DramPolicy = 'first-come' | 'equal-share';

export interface UcatConfiguration {
  name: string;
  description: string;
  /** Tier-aware back-end (UCat's); false: the tier-unaware host, with a DRAM policy. */
  tierAwareHost: boolean;
  /** Fixed host backing; undefined: the experiment's host-backing axis. */
  backing?: HostBacking;
  /** Guest preset name or a preset plus overrides (src/guest/registry.ts). */
  guest: string | (Partial<GuestKnobs> & { preset?: string });
}

export const UCAT_CONFIGURATIONS: readonly UcatConfiguration[] = [
  {
    name: 'osv',
    description: 'stock OSv: malloc from the 2 MiB-page linear maps, power-of-two pools and page ranges, mappings >= 2 MiB on 2 MiB pages; tier-unaware host',
    tierAwareHost: false,
    guest: 'osv',
  },
  {
    name: 'osv-4k',
    description: 'OSv with 4 KiB pages everywhere (guest and host): power-of-two pools and page ranges; tier-unaware host',
    tierAwareHost: false,
    backing: '4k',
    guest: 'osv-4k',
  },
  {
    name: 'osv-ucat-slabs',
    description: "OSv's page policy with UCat's slab classes instead of its pools (UCat's allocator, tier placement off); tier-unaware host",
    tierAwareHost: false,
    guest: 'ucat-no-tiers',
  },
  {
    name: 'ucat',
    description: 'UCat: tier-aware host (typed 2 MiB-aligned regions, 2 MiB backing), slabs, 2 MiB pages, tier placement',
    tierAwareHost: true,
    backing: 'thp',
    guest: 'ucat',
  },
  {
    name: 'ucat-no-tiers',
    description: 'ablation: UCat without tier placement (DRAM region first, whatever the hint)',
    tierAwareHost: true,
    backing: 'thp',
    guest: 'ucat-no-tiers',
  },
  {
    name: 'ucat-4k',
    description: 'ablation: UCat without large guest pages (4 KiB pages over 2 MiB host backing)',
    tierAwareHost: true,
    backing: 'thp',
    guest: 'ucat-4k',
  },
];

export const UCAT_CONFIGURATION_NAMES = UCAT_CONFIGURATIONS.map((c) => c.name) as [string, ...string[]];
export const HOST_BACKINGS = ['thp', '4k'] as const;
export const DRAM_POLICIES = ['first-come', 'equal-share'] as const;

export function ucatConfiguration(name: string): UcatConfiguration {
  const c = UCAT_CONFIGURATIONS.find((x) => x.name === name);
  if (!c) throw new Error(`unknown ucat configuration '${name}'`);
  return c;
}

/** One configuration as it runs: the host it runs on, resolved. */
export interface FleetSetup {
  configuration: UcatConfiguration;
  backing: HostBacking;
  dramPolicy: DramPolicy;
  /** Host back-end variant (src/host/variants.ts) and THP mode (src/host/backend.ts). */
  variant: 'baseline' | 'tierAware';
  hugeBacking: HugeBackingName;
}

/**
 * Resolve a configuration on a host: its backing (fixed, or `backing` from the axis) and DRAM
 * policy (UCat's back-end is its own policy: every VM gets its share).
 */
export function fleetSetup(configuration: UcatConfiguration, backing: HostBacking, dramPolicy: DramPolicy): FleetSetup {
  const b = configuration.backing ?? backing;
  const policy: DramPolicy = configuration.tierAwareHost ? 'equal-share' : dramPolicy;
  const variant = policy === 'equal-share' ? 'tierAware' : 'baseline';
  // The tier-aware variant asks for huge backing on its regions (madvise); the baseline needs the
  // host-wide 'always' for the same effect.
  const hugeBacking: HugeBackingName = b === '4k' ? 'never' : variant === 'tierAware' ? 'madvise' : 'always';
  return { configuration, backing: b, dramPolicy: policy, variant, hugeBacking };
}
