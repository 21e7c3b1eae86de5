/**
 * HostMemory: tiers numbered one after another, buddy allocation of 4 KiB / 2 MiB / 1 GiB frames,
 * per-frame state, and the invariants (no frame handed out twice, every frame comes back).
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { InvariantError } from '../../src/base/assert.ts';
import { UserError } from '../../src/base/errors.ts';
import { GiB, MiB, PageSize } from '../../src/base/units.ts';
import { FrameFlag, HostMemory } from '../../src/host/frames.ts';
import { resolveTier, TIER_PRESETS, TierMap } from '../../src/hw/tiers.ts';

const SIZE_FRAMES = [1, 512, 262144];

describe('HostMemory construction', () => {
  it('rejects impossible tier sizes and names with a UserError', () => {
    for (const bytes of [0, -4096, NaN, Infinity, 1000, MiB(1) + 1]) {
      assert.throws(() => new HostMemory([{ tier: 'ddr4', bytes }]), UserError, `bytes=${bytes}`);
    }
    assert.throws(() => new HostMemory([{ tier: 'hbm9', bytes: MiB(4) }]), /unknown memory tier 'hbm9'/);
    assert.throws(() => new HostMemory([]), UserError);
    assert.throws(() => new HostMemory([{ tier: 'ddr4', bytes: MiB(4) }, { tier: 'ddr4', bytes: MiB(4) }]), /listed twice/);
    // Every host frame must fit a 32-bit EPT entry: 1 TiB in total, across tiers.
    assert.throws(() => new HostMemory([{ tier: 'ddr4', bytes: GiB(512) }, { tier: 'optane', bytes: GiB(513) }]), /more than 1\.00 TiB in total/);
  });

  it('numbers frames tier after tier, as hw TierMap does', () => {
    const mem = new HostMemory([{ tier: 'ddr4', bytes: MiB(64) }, { tier: 'optane', bytes: MiB(256) }]);
    const map = new TierMap([resolveTier(TIER_PRESETS.ddr4, 0, 2), resolveTier(TIER_PRESETS.optane, 1, 2)], mem.tiers.map((t) => t.frameCount));
    assert.equal(mem.tiers[1].firstFrame, MiB(64) / 4096);
    for (const [tier, size] of [[0, PageSize.Size4K], [1, PageSize.Size4K], [1, PageSize.Size2M], [0, PageSize.Size2M]] as const) {
      const f = mem.alloc(tier, size);
      assert.equal(map.tierOfFrame(f), tier);
      assert.equal(mem.tierOf(f), tier);
    }
    assert.equal(mem.tierId('optane'), 1);
    assert.equal(mem.tierId('nvm'), 1, 'a unique kind names its tier');
    assert.throws(() => mem.tierId('cxl'), UserError);
  });

  it('keeps per-frame state lazy: a 320 GiB host costs little until frames are touched', () => {
    const mem = new HostMemory([{ tier: 'ddr4', bytes: GiB(64) }, { tier: 'optane', bytes: GiB(256) }]);
    assert.ok(mem.simulatorBytes() < 64 * 1024, `${mem.simulatorBytes()} bytes before any allocation`);
    // Splitting a 1 GiB block for one 4 KiB frame marks the heads of the halves it leaves free
    // (at +512 MiB, +256 MiB, ...): a handful of 240 KiB segments.
    mem.alloc(1, PageSize.Size4K, 3);
    assert.ok(mem.simulatorBytes() < 2 * 1024 * 1024, `${mem.simulatorBytes()} bytes after one allocation`);
    mem.checkInvariants();
  });
});

describe('HostMemory buddy allocator', () => {
  it('aligns 2 MiB and 1 GiB frames to their size in global frame numbers', () => {
    // A first tier of 6 MiB + 4 KiB leaves the second tier's start unaligned.
    const mem = new HostMemory([{ tier: 'ddr4', bytes: MiB(6) + 4096 }, { tier: 'optane', bytes: GiB(3) }]);
    const f2 = mem.alloc(1, PageSize.Size2M);
    const f1 = mem.alloc(1, PageSize.Size1G);
    assert.equal(f2 % 512, 0);
    assert.equal(f1 % 262144, 0);
    assert.ok(f2 >= mem.tiers[1].firstFrame && f1 >= mem.tiers[1].firstFrame);
    mem.checkInvariants();
  });

  it('returns -1 from a full tier instead of failing, and counts it', () => {
    const mem = new HostMemory([{ tier: 'ddr4', bytes: MiB(2) }, { tier: 'optane', bytes: MiB(2) }]);
    assert.ok(mem.alloc(0, PageSize.Size2M) >= 0);
    assert.equal(mem.alloc(0, PageSize.Size4K), -1);
    assert.equal(mem.alloc(0, PageSize.Size2M), -1);
    assert.equal(mem.tiers[0].failedAllocs, 2);
    assert.ok(mem.alloc(1, PageSize.Size4K) >= 0, 'the other tier is unaffected');
    assert.equal(mem.alloc(1, PageSize.Size2M), -1, 'no whole 2 MiB block left after a 4 KiB split');
    mem.checkInvariants();
  });

  it('coalesces freed frames back into the blocks it started with', () => {
    const mem = new HostMemory([{ tier: 'ddr4', bytes: MiB(8) }]);
    const start = Array.from(mem.tiers[0].freeBlocks);
    const frames: number[] = [];
    for (;;) {
      const f = mem.alloc(0, PageSize.Size4K, 0);
      if (f < 0) break;
      frames.push(f);
    }
    assert.equal(frames.length, MiB(8) / 4096);
    assert.equal(new Set(frames).size, frames.length, 'no frame handed out twice');
    mem.checkInvariants();
    // Free in an order that exercises lazy removal of buddies from the free lists.
    for (let i = 0; i < frames.length; i += 2) mem.free(frames[i], PageSize.Size4K);
    for (let i = 1; i < frames.length; i += 2) mem.free(frames[i], PageSize.Size4K);
    mem.checkInvariants();
    assert.deepEqual(Array.from(mem.tiers[0].freeBlocks), start);
    assert.equal(mem.allocatedFrames, 0);
  });

  it('gives every frame of a block its owner and zeroed state', () => {
    const mem = new HostMemory([{ tier: 'ddr4', bytes: MiB(4) }]);
    const f = mem.alloc(0, PageSize.Size2M, 7);
    mem.setFingerprint(f + 3, 42);
    mem.addRefs(f, 512, 1);
    assert.equal(mem.owner(f + 511), 7);
    assert.ok(mem.flags(f) & FrameFlag.Huge2M);
    assert.ok(!(mem.flags(f + 1) & FrameFlag.Huge2M));
    mem.addRefs(f, 512, -1);
    mem.free(f, PageSize.Size2M);
    const g = mem.alloc(0, PageSize.Size2M, 8);
    assert.equal(g, f);
    assert.equal(mem.fingerprint(f + 3), 0, 'a reused frame starts zero-filled');
    assert.equal(mem.owner(f + 3), 8);
  });

  it('refuses double frees, mapped frames and pieces of huge blocks', () => {
    const mem = new HostMemory([{ tier: 'ddr4', bytes: MiB(8) }]);
    const a = mem.alloc(0, PageSize.Size4K, 1);
    mem.free(a, PageSize.Size4K);
    assert.throws(() => mem.free(a, PageSize.Size4K), InvariantError);
    const h = mem.alloc(0, PageSize.Size2M, 1);
    assert.throws(() => mem.free(h + 1, PageSize.Size4K), /inside the 2 MiB block/);
    assert.throws(() => mem.free(h, PageSize.Size4K), /heads a 2 MiB block, not a 4 KiB one/);
    const b = mem.alloc(0, PageSize.Size4K, 1);
    assert.throws(() => mem.free(b, PageSize.Size2M), InvariantError);
    mem.addRefs(b, 1, 1);
    assert.throws(() => mem.free(b, PageSize.Size4K), /still mapped/);
  });

  it('splits a 2 MiB block into 4 KiB blocks that free one by one and merge back', () => {
    const mem = new HostMemory([{ tier: 'ddr4', bytes: MiB(4) }]);
    const h = mem.alloc(0, PageSize.Size2M, 1);
    mem.splitBlock(h, PageSize.Size2M);
    assert.equal(mem.tiers[0].allocatedBlocks[PageSize.Size4K], 512);
    mem.checkInvariants();
    for (let i = 511; i >= 0; i--) mem.free(h + i, PageSize.Size4K);
    mem.checkInvariants();
    assert.equal(mem.tiers[0].freeBlocks[10], 1, 'back to one 4 MiB block');
  });

  it('property: random alloc/free sequences never hand a frame out twice and every frame returns', () => {
    const op = fc.record({
      free: fc.boolean(),
      tier: fc.integer({ min: 0, max: 1 }),
      size: fc.constantFrom(PageSize.Size4K, PageSize.Size4K, PageSize.Size4K, PageSize.Size2M),
      pick: fc.nat(),
    });
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 300 }), (ops) => {
        // Unaligned tier sizes exercise edge blocks that can never merge.
        const mem = new HostMemory([{ tier: 'ddr4', bytes: MiB(6) + 3 * 4096 }, { tier: 'optane', bytes: MiB(10) }]);
        const initial = mem.tiers.map((t) => Array.from(t.freeBlocks));
        const owned = new Map<number, number>(); // frame -> owner (every 4 KiB frame of every block)
        const live: { f: number; size: PageSize }[] = [];
        for (const o of ops) {
          if (o.free && live.length > 0) {
            const [b] = live.splice(o.pick % live.length, 1);
            mem.free(b.f, b.size);
            for (let i = 0; i < SIZE_FRAMES[b.size]; i++) owned.delete(b.f + i);
          } else {
            const f = mem.alloc(o.tier, o.size, live.length);
            if (f < 0) continue;
            assert.equal(mem.tierOf(f), o.tier);
            for (let i = 0; i < SIZE_FRAMES[o.size]; i++) {
              assert.ok(!owned.has(f + i), `frame ${f + i} handed out twice`);
              owned.set(f + i, live.length);
            }
            live.push({ f, size: o.size });
          }
        }
        mem.checkInvariants();
        assert.equal(mem.allocatedFrames, owned.size);
        for (const b of live) mem.free(b.f, b.size);
        mem.checkInvariants();
        assert.equal(mem.allocatedFrames, 0);
        assert.deepEqual(mem.tiers.map((t) => Array.from(t.freeBlocks)), initial);
      }),
      { numRuns: 150 },
    );
  });
});
