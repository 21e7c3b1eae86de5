/**
 * One VM: a guest (OSv-like kernel and allocator) on a host VM (guest-physical regions, EPT) with
 * one vCPU. The VM is the translation-fault handler its vCPU calls: guest page faults go to the
 * guest kernel, EPT violations to the host.
 *
 * The guest sees the host only through the boot memory map and the cost of its faults (DESIGN.md
 * seams). One coupling is physical, not informational: when the guest zero-fills a page it has just
 * mapped (as OSv does for anonymous memory), those stores touch every guest-physical page under it,
 * so the host backs all of them, exactly as the stores would fault them in one by one.
 */
import type { TranslationFaultHandler } from '../hw/faults.ts';
import type { PageTable } from '../hw/pagetable.ts';
import { VCpu, type AddressSpace } from '../hw/vcpu.ts';
import type { HostVm, VmMemoryRequest } from '../host/index.ts';
import { createGuest, type Guest, type MemoryRegion } from '../guest/index.ts';
import type { SimHost } from './host.ts';

export interface SimVmOptions {
  host: SimHost;
  /** Guest-physical memory by tier (the back-end variant decides the layout the guest sees). */
  memory: VmMemoryRequest['memory'];
  hugeBacking?: boolean;
  /** Guest preset name or knobs (src/guest/registry.ts). */
  guest: Parameters<typeof createGuest>[1];
  /** Core of the host machine the vCPU is pinned to (default: a core of its own). */
  core?: number;
}

/** The host's boot memory map as the guest reads it (CXL regions count as the slow tier). */
function guestMap(hostVm: HostVm): MemoryRegion[] {
  return hostVm.bootMemoryMap().map((e) => ({ gpaStart: e.gpaStart, bytes: e.bytes, type: e.type === 'cxl' ? 'nvm' : e.type }));
}

/**
 * The vCPU's address space, made by a constructor so that every VM's object has one map from the
 * start. An object literal here got its map from a boilerplate at the second VM of a process, which
 * widened the recorded types of its fields (`guest`, `ept`, `faults`) and threw away the optimized
 * code that had relied on them (the translation path's `translateSlow`, `translateInWasm`).
 */
class VmAddressSpace implements AddressSpace {
  guest: PageTable;
  ept: PageTable | null;
  faults: TranslationFaultHandler;

  constructor(guest: PageTable, ept: PageTable | null, faults: TranslationFaultHandler) {
    this.guest = guest;
    this.ept = ept;
    this.faults = faults;
  }
}

export class SimVm implements TranslationFaultHandler {
  readonly hostVm: HostVm;
  readonly guest: Guest;
  readonly vcpu: VCpu;
  readonly id: number;

  constructor(options: SimVmOptions) {
    const host = options.host;
    this.hostVm = host.backend.createVm({ memory: options.memory, hugeBacking: options.hugeBacking });
    this.id = this.hostVm.id;
    this.guest = createGuest(guestMap(this.hostVm), options.guest);
    this.vcpu = new VCpu(host.machine, new VmAddressSpace(this.guest.kernel.pageTable, this.hostVm.ept, this), this.id, options.core);
    this.hostVm.setInvalidator(this.vcpu);
    this.guest.kernel.attachTlb(this.vcpu);
  }

  guestPageFault(gva: number, write: boolean): number {
    const kernel = this.guest.kernel;
    kernel.lastPopulatedBytes = 0;
    let cycles = kernel.guestPageFault(gva, write);
    const bytes = kernel.lastPopulatedBytes;
    if (bytes > 0) {
      // The zero-fill stores reach every guest-physical page of the new mapping.
      const start = kernel.lastPopulatedGpa;
      for (let gpa = start; gpa < start + bytes; gpa += 4096) {
        if (this.hostVm.translate(gpa) < 0) cycles += this.hostVm.eptViolation(gpa, true);
      }
    }
    return cycles;
  }

  eptViolation(gpa: number, write: boolean): number {
    return this.hostVm.eptViolation(gpa, write);
  }
}
