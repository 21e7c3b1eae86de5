import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PageSize } from '../../src/base/units.ts';
import { CPU_PRESETS } from '../../src/hw/cpu.ts';
import { FlatSpace } from '../../src/hw/flatspace.ts';
import { resolveTier, TierMap, TIER_PRESETS } from '../../src/hw/tiers.ts';
import { Machine, VCpu } from '../../src/hw/vcpu.ts';
import { quantumCycles, runOnCores, type CoreTask } from '../../src/sim/scheduler.ts';

/** A task of `units` units of `cost` cycles each, recording when each unit started. */
function task(vcpu: VCpu, units: number, cost: number, starts: number[]): CoreTask {
  let left = units;
  let spent = 0;
  return {
    vcpu,
    get done() {
      return left === 0;
    },
    step(now: number) {
      starts.push(now);
      left--;
      spent += cost;
    },
    spent: () => spent,
  };
}

test('round robin in quanta on each core, the core furthest behind first, a switch costing the preset\'s cycles (hand-traced)', () => {
  const cpu = CPU_PRESETS.zen2;
  const m = new Machine(cpu, new TierMap([resolveTier(TIER_PRESETS.ddr4, 0, cpu.clockGHz)], [1 << 20]), { cores: 2 });
  const vcpu = (core: number) => new VCpu(m, new FlatSpace({ guestPageSize: PageSize.Size4K, hostPageSize: null }), m.vcpus.length, core);
  const [a, b, c] = [vcpu(0), vcpu(0), vcpu(1)];
  const sa: number[] = [];
  const sb: number[] = [];
  const sc: number[] = [];
  const S = cpu.vcpuSwitchCycles;
  const r = runOnCores(m, [task(a, 5, 100, sa), task(b, 3, 100, sb), task(c, 4, 100, sc)], 250);
  // Core 0: A 0-300 (idle core: no switch), B 300+S..600+S, A 600+2S..800+2S. Core 1: C 0-300, 300-400.
  assert.deepEqual(sa, [0, 100, 200, 600 + 2 * S, 700 + 2 * S]);
  assert.deepEqual(sb, [300 + S, 400 + S, 500 + S]);
  assert.deepEqual(sc, [0, 100, 200, 300]);
  assert.deepEqual(r.finishedAt, [800 + 2 * S, 600 + S, 400]);
  assert.deepEqual(r.coreCycles, [800 + 2 * S, 400]);
  assert.equal(r.switches, 2);
  assert.equal(a.counters.vcpuSwitches + b.counters.vcpuSwitches, 2);
  assert.equal(c.counters.vcpuSwitches, 0);
});

test('the default quantum is 3 ms of the preset\'s clock', () => {
  const cpu = CPU_PRESETS.icelake;
  const m = new Machine(cpu, new TierMap([resolveTier(TIER_PRESETS.ddr4, 0, cpu.clockGHz)], [1 << 20]));
  assert.equal(quantumCycles(m), 3e-3 * cpu.clockGHz * 1e9);
});
