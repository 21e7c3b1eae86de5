/**
 * The pages a FaaS invocation's closing system call writes (the saved user stack pointer and the
 * CPL0 stack's frame), read from the image.
 *
 * An invocation of a real FaaS unikernel ends with the system call that asks the VMM for the next
 * one (demo/libs/ukplat/kvm.c: `ukplat_kvm_serve` → `syscall` → `ukplat_kvm_syscall_entry`, which
 * saves the user stack pointer in `ukplat_kvm_user_rsp`, switches to the top of
 * `ukplat_kvm_kstack`, pushes eight registers and calls `ukplat_kvm_syscall`, whose prologue
 * pushes and reserves its frame). So every invocation writes that variable and the bytes from the
 * stack's top down to the bottom of that handler's frame. Between invocations the guest waits
 * inside that call; where a page of these holds the same bytes in every instance of an image, KSM
 * merges it and the next invocation breaks the merged copy: traced on this machine with
 * `kvmmmu:kvm_mmu_set_spte` (docs/realhost.md, "KSM merges: the CPL0 stack").
 *
 * The depth is read from the image: the entry's frame (kvm.c's assembly: 8 pushes and the call's
 * return address) plus the handler's prologue (its pushes and `sub $n, %rsp`, decoded from the
 * ELF's text). An image without the symbols (not built with the KVM platform library) has no
 * such pages.
 */
import { SHT_NOBITS, type ElfFile } from '../../image/elf.ts';
import { PAGE_4K } from '../../base/units.ts';
import { fingerprintBytes } from '../../base/hash.ts';
import type { HostVm } from '../../host/index.ts';

/** The platform library's CPL0 stack (kvm.c), in bss. */
export const KSTACK_SYMBOL = 'ukplat_kvm_kstack';
/** Where the system-call entry saves the user stack pointer, its first store (kvm.c), in bss. */
export const USER_RSP_SYMBOL = 'ukplat_kvm_user_rsp';
/** The C handler the system-call entry calls on that stack (kvm.c). */
const HANDLER_SYMBOL = 'ukplat_kvm_syscall';
/** `ukplat_kvm_syscall_entry` (kvm.c): %rcx, %r11, %rdi, %rsi, %rdx, %r10, %r8, %r9 pushed, then the call's return address. */
const ENTRY_FRAME_BYTES = 8 * 8 + 8;
/** Prologue bytes decoded at most: a handful of pushes and one `sub`. */
const PROLOGUE_SCAN_BYTES = 32;

/**
 * Bytes a function's prologue moves %rsp down: `endbr64`, `push %r64` (50-57, 41 50-57) and a
 * final `sub $imm, %rsp` (48 83 ec ib, 48 81 ec id) are read; the first other instruction ends it.
 */
export function prologueBytes(code: Uint8Array): number {
  let bytes = 0;
  let i = 0;
  if (code[0] === 0xf3 && code[1] === 0x0f && code[2] === 0x1e && code[3] === 0xfa) i = 4;
  while (i < code.length) {
    const b = code[i];
    if (b >= 0x50 && b <= 0x57) {
      bytes += 8;
      i += 1;
    } else if (b === 0x41 && code[i + 1] >= 0x50 && code[i + 1] <= 0x57) {
      bytes += 8;
      i += 2;
    } else if (b === 0x48 && code[i + 1] === 0x83 && code[i + 2] === 0xec && i + 3 < code.length) {
      return bytes + code[i + 3];
    } else if (b === 0x48 && code[i + 1] === 0x81 && code[i + 2] === 0xec && i + 6 < code.length) {
      return bytes + (code[i + 3] | (code[i + 4] << 8) | (code[i + 5] << 16) | (code[i + 6] << 24));
    } else break;
  }
  return bytes;
}

/** The bytes at virtual address `addr` of a loaded section, at most `n`; empty when no section holds them. */
function bytesAt(elf: ElfFile, addr: number, n: number): Uint8Array {
  const s = elf.sections.find((x) => x.type !== SHT_NOBITS && x.size > 0 && addr >= x.addr && addr < x.addr + x.size);
  if (!s) return new Uint8Array(0);
  const from = s.offset + (addr - s.addr);
  return elf.bytes.subarray(from, Math.min(from + n, s.offset + s.size, elf.bytes.length));
}

/** The stack depth of the invocation path (bytes below the CPL0 stack's top), 0 without the handler. */
export function invocationStackDepth(elf: ElfFile): number {
  const handler = elf.symbols.find((s) => s.name === HANDLER_SYMBOL && s.size > 0);
  if (!handler) return 0;
  return ENTRY_FRAME_BYTES + prologueBytes(bytesAt(elf, handler.value, Math.min(PROLOGUE_SCAN_BYTES, handler.size)));
}

/** The pages an image's invocations write on their closing system call, and their content. */
export interface InvocationStack {
  /** Guest-physical pages (identity-mapped), ascending; empty without the platform's symbols. */
  pages: Float64Array;
  /**
   * Per page, the content the system call leaves under the modelled boot conventions (`bssAtBoot`
   * all or none, where no measured boot says what it is): the image's own, the same in every
   * instance of the image and in no other image (the image's code writes it: return addresses,
   * saved registers, the saved user stack pointer). A measured boot profile writes the real
   * content instead.
   */
  fingerprints: Float64Array;
}

/**
 * The pages an invocation's closing system call writes, read from the image `elf`: the page of
 * `ukplat_kvm_user_rsp` (the entry's first store saves the user stack pointer there) and the CPL0
 * stack's frame pages.
 */
export function invocationStack(elf: ElfFile): InvocationStack {
  const stack = elf.symbols.find((s) => s.name === KSTACK_SYMBOL && s.size > 0);
  const userRsp = elf.symbols.find((s) => s.name === USER_RSP_SYMBOL && s.size > 0);
  const depth = invocationStackDepth(elf);
  if (!stack || !userRsp || depth === 0) return { pages: new Float64Array(0), fingerprints: new Float64Array(0) };
  const top = stack.value + stack.size;
  const low = Math.max(stack.value, top - depth);
  const set = new Set<number>([userRsp.value - (userRsp.value % PAGE_4K)]);
  for (let p = low - (low % PAGE_4K); p < top; p += PAGE_4K) set.add(p);
  const pages = [...set].sort((a, b) => a - b);
  const image = fingerprintBytes(elf.bytes);
  const fingerprints = pages.map((gpa) => fingerprintBytes(new Uint8Array(Float64Array.of(image, gpa).buffer)));
  return { pages: Float64Array.from(pages), fingerprints: Float64Array.from(fingerprints) };
}

/**
 * The closing system call of an invocation on a VM without cores: each of its pages is rewritten
 * with the bytes it held (the same code path writes the same bytes), which breaks a KSM page's
 * copy-on-write and backs an untouched page with zeros. With cores the same is a store through the
 * vCPU (cores.ts).
 */
export function rewriteStackPages(vm: HostVm, pages: Float64Array): void {
  for (let k = 0; k < pages.length; k++) vm.writePage(pages[k], vm.contentOf(pages[k]));
}
