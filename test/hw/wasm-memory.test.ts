/**
 * The memory side of the access path in WebAssembly (src/hw/wasm/memory.ts): `tierOfFrame`
 * against `TierMap.tierOfFrame` for one to eight tiers of random sizes, at every boundary and
 * either side of it, at frame 0 and far past the last tier's end. Its other parts (`walkRef`,
 * the tier state, write-backs) are compared machine against machine in wasm-path.test.ts.
 */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../../src/base/rng.ts';
import { arena } from '../../src/hw/arena.ts';
import { resolveTier, TierMap, TIER_PRESETS } from '../../src/hw/tiers.ts';
import { translator } from '../../src/hw/wasm-translate.ts';

const wasm = translator();
const skip = wasm === null ? 'no WebAssembly access path here (AssemblyScript, a dev dependency, is missing, or UNIMEM_WASM_TRANSLATE=0)' : false;

/** The descriptor's memory part (vcpu.ts DESC_MEMORY_*): i32 slots from byte 1608, tier count first, then the ends' offset. */
const DESC_BYTES = 2048;
const TIER_COUNT_I32 = 1608 / 4;

test('tierOfFrame in WebAssembly agrees with TierMap.tierOfFrame', { skip }, () => {
  const rng = new Rng(5);
  const desc = arena.alloc(DESC_BYTES);
  try {
    for (let n = 1; n <= 8; n++) {
      for (let round = 0; round < 4; round++) {
        const counts = Array.from({ length: n }, () => 1 + rng.nextInt(round === 0 ? 4 : 1 << 26));
        const presets = Object.values(TIER_PRESETS);
        const map = new TierMap(counts.map((_, i) => resolveTier(presets[i % presets.length], i, 3)), counts);
        arena.i32[desc / 4 + TIER_COUNT_I32] = n;
        arena.i32[desc / 4 + TIER_COUNT_I32 + 1] = map.endsAt;
        const frames = [0, 2 ** 40, 2 ** 52 + 1];
        let end = 0;
        for (const c of counts) {
          end += c;
          frames.push(end - 1, end, end + 1);
        }
        for (const frame of frames) assert.equal(wasm!.tierOfFrame(desc, frame), map.tierOfFrame(frame), `${n} tiers of ${counts.join(', ')} frames: frame ${frame}`);
      }
    }
  } finally {
    arena.free(desc, DESC_BYTES);
  }
});
