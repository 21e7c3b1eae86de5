import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AllocHint } from '../../src/guest/allocator.ts';
import { PageSize } from '../../src/base/units.ts';
import { SimHost } from '../../src/sim/index.ts';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

function host(variant: 'tierAware' | 'baseline') {
  return new SimHost({ cpu: 'zen2', host: { tiers: [{ tier: 'ddr4', bytes: 2 * GiB }, { tier: 'optane', bytes: 8 * GiB }], variant } });
}

test('a store through guest malloc faults in guest and EPT mappings and backs host frames', () => {
  const h = host('tierAware');
  const vm = h.startVm({ memory: [{ tier: 'ddr4', bytes: 256 * MiB }, { tier: 'optane', bytes: 512 * MiB }], guest: 'ucat' });
  const before = h.residentFrames().reduce((a, b) => a + b, 0);
  const p = vm.guest.malloc.malloc(4 * MiB, AllocHint.Bulk);
  for (let off = 0; off < 4 * MiB; off += 4096) vm.vcpu.store(p + off, 8);
  const after = h.residentFrames().reduce((a, b) => a + b, 0);
  assert.ok(after - before >= 1024, `4 MiB touched backs at least 1024 frames (got ${after - before})`);
  assert.ok(vm.vcpu.counters.eptViolations > 0 && vm.vcpu.counters.guestFaults > 0);
  // UCat: 2 MiB guest pages over 2 MiB host backing give 2 MiB TLB entries.
  assert.ok(vm.vcpu.counters.walksBySize[PageSize.Size2M] > 0);
  h.backend.checkInvariants();
});

test('stock OSv on the tier-unaware back-end splinters into 4 KiB translations', () => {
  const h = host('baseline');
  const vm = h.startVm({ memory: [{ tier: 'ddr4', bytes: 256 * MiB }, { tier: 'optane', bytes: 512 * MiB }], guest: 'osv-4k' });
  const p = vm.guest.malloc.malloc(64 * 1024, AllocHint.Bulk);
  for (let off = 0; off < 64 * 1024; off += 4096) vm.vcpu.store(p + off, 8);
  assert.equal(vm.vcpu.counters.walksBySize[PageSize.Size2M], 0);
  assert.ok(vm.vcpu.counters.walksBySize[PageSize.Size4K] > 0);
  h.backend.checkInvariants();
});
