/**
 * The OSv baseline: `std_malloc` of core/mempool.cc as summarised in ucat.md §2.2, over one untyped
 * page-range allocator holding all RAM (§2.3). Hints are ignored: stock OSv has no notion of memory
 * tiers, so an object lands wherever the page allocator finds room, DRAM or NVM alike.
 *
 *   size (B)          where                              reserved
 *   1 .. 1024         pool of 2^ceil(log2(max(size,8)))  the class size; 40 B header per pool page
 *   1025 .. 4096      one page, `page` area               4096
 *   > 4096            malloc_large, `main` area          page_round(size + 48)
 *   page_round >= 2M  anonymous mapping, 2 MiB pages     page_round(size + 48)
 */
import { AllocHint } from '../allocator.ts';
import { InvariantError } from '../../base/assert.ts';
import type { GuestKernel } from '../kernel.ts';
import { osvPoolGeometry } from '../classes.ts';
import { MallocBase } from './base.ts';

export class OsvMallocBaseline extends MallocBase {
  readonly name = 'osv';
  protected readonly reallocInPlace = false;

  constructor(kernel: GuestKernel) {
    super(kernel, osvPoolGeometry());
    if (kernel.tiers.length !== 1) throw new InvariantError('the OSv baseline runs on an untiered guest kernel (one page allocator)');
  }

  protected allocate(bytes: number, align: number, hint: AllocHint): number {
    void hint;
    const r = this.osvPath(bytes, align, 0);
    return r >= 0 ? r : this.outOfMemory(bytes, 0);
  }
}
