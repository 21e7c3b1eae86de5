/**
 * This checkout's access path against another checkout's, in one process: for a change of a few
 * per cent, which separate processes do not resolve (the same code reads 1.18 to 1.45 M random
 * accesses per CPU second with the cache model from one process to the next on the hosts of
 * docs/machine.md, "Issue 16, eighteenth round").
 *
 *   node --import tsx bench/ab-access.ts ../other-checkout [--pairs 24] [--batch 400000]
 *        [--per-access] [--translation-only]
 *
 * Each checkout's classes build a vCPU (Zen 2, nested 4K/4K, with its caches unless
 * --translation-only) and map 4 GiB; then batches of uniform random 8-byte loads over those 4 GiB
 * run on the two vCPUs in turn, the first of a pair alternating, each batch timed by CPU time
 * (`loadMany`, or `load` access by access with --per-access). Printed: the medians of both sides
 * and of the pairs' ratios (this checkout over the other), with the ratios' quartiles. Within a
 * process the quartiles lie within about 1 %; between processes the median ratio moves by a few
 * per cent (where each arena lands in the host's memory), so run it in several processes. The
 * other checkout needs its dependencies (a `node_modules`, a link does) and builds its own module.
 * Each checkout's arena takes its own memory, advised for huge pages as that checkout's code does
 * (src/base/hugepages.ts; a checkout from before the advice runs on 4 KiB pages).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const GIB4 = 2 ** 32;

interface Side {
  loads(addrs: Float64Array, count: number): void;
  base: number;
}

/** A vCPU built by the classes of the checkout at `root`, 4 GiB mapped. */
async function sideOf(root: string, withCaches: boolean, perAccess: boolean): Promise<Side> {
  const { PageSize } = await import(path.join(root, 'src/base/units.ts'));
  const { CPU_PRESETS, translationOnly } = await import(path.join(root, 'src/hw/cpu.ts'));
  const { FlatSpace } = await import(path.join(root, 'src/hw/flatspace.ts'));
  const { resolveTier, TierMap, TIER_PRESETS } = await import(path.join(root, 'src/hw/tiers.ts'));
  const { Machine, VCpu } = await import(path.join(root, 'src/hw/vcpu.ts'));
  const cpu = withCaches ? CPU_PRESETS.zen2 : translationOnly(CPU_PRESETS.zen2);
  const tiers = new TierMap([resolveTier(TIER_PRESETS.ddr4, 0, cpu.clockGHz)], [1 << 30]);
  const space = new FlatSpace({ guestPageSize: PageSize.Size4K, hostPageSize: PageSize.Size4K });
  const vcpu = new VCpu(new Machine(cpu, tiers), space, 0);
  for (let off = 0; off < GIB4; off += 4096) vcpu.load(space.base + off, 8);
  const loads = perAccess
    ? (addrs: Float64Array, count: number) => {
        for (let i = 0; i < count; i++) vcpu.load(addrs[i], 8);
      }
    : (addrs: Float64Array, count: number) => vcpu.loadMany(addrs, 0, count, 8);
  return { loads, base: space.base };
}

function optionValue(args: string[], name: string, fallback: number): number {
  const at = args.indexOf(name);
  if (at < 0) return fallback;
  const value = Number(args[at + 1]);
  if (!Number.isInteger(value) || value <= 0) usage(`${name} wants a positive whole number, not ${args[at + 1] ?? 'nothing'}`);
  return value;
}

function usage(problem: string): never {
  process.stderr.write(`ab-access: ${problem}\n`);
  process.exit(2);
}

const quantile = (values: number[], q: number) => [...values].sort((a, b) => a - b)[Math.floor(q * (values.length - 1) + 0.5)];

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const other = args[0];
  if (other === undefined || other.startsWith('--')) usage('name the other checkout first');
  const otherRoot = path.resolve(other);
  if (!existsSync(path.join(otherRoot, 'src/hw/vcpu.ts'))) usage(`${otherRoot}: not a checkout (no src/hw/vcpu.ts)`);
  const pairs = optionValue(args, '--pairs', 24);
  const batch = optionValue(args, '--batch', 400_000);
  const withCaches = !args.includes('--translation-only');
  const perAccess = args.includes('--per-access');
  const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const mine = await sideOf(here, withCaches, perAccess);
  const theirs = await sideOf(otherRoot, withCaches, perAccess);

  // One fixed linear congruential stream (the same for every run), drawn outside the timed calls.
  let seed = 12345;
  const addrs = new Float64Array(batch);
  const rate = (side: Side): number => {
    for (let i = 0; i < batch; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      addrs[i] = side.base + Math.floor((seed / 2 ** 32) * (GIB4 / 8)) * 8;
    }
    const c0 = process.cpuUsage();
    side.loads(addrs, batch);
    const c = process.cpuUsage(c0);
    return batch / ((c.user + c.system) / 1e6) / 1e6;
  };
  for (let warm = 0; warm < 2; warm++) {
    rate(theirs);
    rate(mine);
  }
  const mineRates: number[] = [];
  const theirRates: number[] = [];
  const ratios: number[] = [];
  for (let p = 0; p < pairs; p++) {
    let theirRate: number;
    let mineRate: number;
    if (p % 2 === 0) {
      theirRate = rate(theirs);
      mineRate = rate(mine);
    } else {
      mineRate = rate(mine);
      theirRate = rate(theirs);
    }
    theirRates.push(theirRate);
    mineRates.push(mineRate);
    ratios.push(mineRate / theirRate);
  }
  process.stdout.write(
    `this checkout ${quantile(mineRates, 0.5).toFixed(3)} M/CPU s, ${otherRoot} ${quantile(theirRates, 0.5).toFixed(3)}: ` +
      `ratio ${quantile(ratios, 0.5).toFixed(3)} (quartiles ${quantile(ratios, 0.25).toFixed(3)}-${quantile(ratios, 0.75).toFixed(3)}, ${pairs} pairs of ${batch})\n`,
  );
}

await main();
