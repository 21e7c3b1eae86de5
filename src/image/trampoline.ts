/**
 * Trampoline tables for ASLR (dedup.md §1.4, after the authors' `aslr/binary_rewriter.py`;
 * the slot format follows their SLT v2 for calls and v1 for everything else).
 *
 * Each ASLR instance places libraries in its own random order. A library's bytes would then differ
 * between instances wherever an instruction reaches outside the library. The rewriter finds those
 * instructions (decoded with iced-x86) and sends each through a slot of the library's own table
 * `.ind.<lib>`, which sits at a fixed distance after the library's region:
 *
 *   site in the library (same bytes in every instance)      slot in .ind.<lib> (per instance)
 *   call rel32 X          ->  call slot                       jmp X
 *   jmp rel32 X / jcc X   ->  jmp slot / jcc slot             jmp X
 *   other (rip-relative,  ->  jmp slot; nop...                copy of the instruction, its rip
 *   absolute address)                                         displacement adjusted; jmp back
 *
 * Slots are numbered in instruction order, so the site-to-slot displacement depends only on the
 * library's own layout: the library's pages are byte-identical in every instance, and only the
 * table pages (and data) are private.
 *
 * Which instructions reach outside: a near branch or a RIP-relative operand whose target is outside
 * the library's text+rodata region (decoder), or any field holding an absolute address (an
 * R_X86_64_32/32S/64 relocation kept by `ld --emit-relocs`). The table size is computed beforehand
 * from the library object alone, with the same rules applied to its symbols, so it is the same for
 * every instance.
 */
import * as fs from 'node:fs';
import {
  parseElf,
  readElf,
  R_X86_64_32,
  R_X86_64_32S,
  R_X86_64_64,
  SHN_ABS,
  SHN_UNDEF,
  type ElfFile,
  type ElfSection,
} from './elf.ts';
import { inputSectionKind, PAGE, alignUp } from './planner.ts';
import { sweep, type DecodedInstruction } from './x86.ts';

const isAbsolute = (type: number): boolean => type === R_X86_64_32 || type === R_X86_64_32S || type === R_X86_64_64;
const slotBytes = (ins: DecodedInstruction): number => (ins.branch !== null ? 5 : ins.length + 5);

export interface RewriteStats {
  /** Instructions sent through a table slot. */
  sites: number;
  branches: number;
  ripRelative: number;
  absolute: number;
  /** Table bytes used (slots), over all libraries. */
  tableBytes: number;
}

/** Relocation offsets and types of one code section, sorted by offset. */
function codeRelocs(elf: ElfFile, text: ElfSection): { offset: number; type: number; symbol: number }[] {
  const list = elf.relocations.filter((r) => r.target === text.index).flatMap((r) => r.relocations);
  return list.sort((a, b) => a.offset - b.offset);
}

/**
 * Whether a relocation of a library object gives a different value when the library is placed
 * elsewhere as a whole (an ASLR instance moves each library's text and rodata together): an
 * absolute address, or a relative one whose target is not in the library's own text or rodata
 * (undefined, absolute, or in its data, bss or relro).
 */
export function placementDependent(obj: ElfFile, r: { type: number; symbol: number }): boolean {
  if (isAbsolute(r.type)) return true;
  const sym = obj.symbols[r.symbol];
  if (!sym || sym.shndx === SHN_UNDEF || sym.shndx === SHN_ABS || sym.shndx >= obj.sections.length) return true;
  const k = inputSectionKind(obj.sections[sym.shndx].name);
  return k !== 'text' && k !== 'rodata';
}

/**
 * Read-only data sections of an object that hold addresses (any placement-dependent relocation):
 * the default build renames them to `.rodata_addr*` (demo.ts) so that the ASLR layout can keep
 * them private and the library's shared region identical in every instance.
 */
export function relroSections(obj: ElfFile): ElfSection[] {
  const out: ElfSection[] = [];
  for (const rs of obj.relocations) {
    const target = obj.sections[rs.target];
    if (!target || inputSectionKind(target.name) !== 'rodata') continue;
    if (rs.relocations.some((r) => placementDependent(obj, r))) out.push(target);
  }
  return out;
}

/**
 * Table size (page-rounded) a library needs, from its relocatable object: one slot per instruction
 * whose relocations point outside its text and rodata or hold an absolute address.
 */
export function trampolineTableSize(obj: ElfFile): number {
  let bytes = 0;
  for (const text of obj.sections) {
    if (inputSectionKind(text.name) !== 'text' || text.size === 0) continue;
    const outside = codeRelocs(obj, text).filter((r) => placementDependent(obj, r));
    let i = 0;
    sweep(obj.bytes.subarray(text.offset, text.offset + text.size), 0, (ins) => {
      while (i < outside.length && outside[i].offset < ins.ip) i++;
      if (i < outside.length && outside[i].offset < ins.ip + ins.length) bytes += slotBytes(ins);
    });
  }
  return alignUp(Math.max(bytes, 1), PAGE);
}

function writeJmp(buf: Uint8Array, at: number, fromIp: number, toIp: number, opcode: number[] = [0xe9]): void {
  const rel = toIp - (fromIp + opcode.length + 4);
  if (rel < -0x80000000 || rel > 0x7fffffff) throw new Error(`branch from 0x${fromIp.toString(16)} to 0x${toIp.toString(16)} out of rel32 range`);
  buf.set(opcode, at);
  new DataView(buf.buffer, buf.byteOffset + at + opcode.length, 4).setInt32(0, rel, true);
}

function sectionByName(elf: ElfFile, name: string): ElfSection | undefined {
  return elf.sections.find((s) => s.name === name);
}

/**
 * One instruction of a library that reaches outside it. Which instructions these are, and how long
 * they are, is a property of the library (the same in every instance: a call to another library
 * leaves it wherever the libraries are placed, a relocation holds an absolute address in every
 * link), so it is worked out once per library and reused for every instance (`SiteCache`).
 */
interface Site {
  /** Offset of the instruction in the library's text section. */
  at: number;
  length: number;
  branch: 'call' | 'jmp' | 'jcc' | null;
  absolute: boolean;
  farRip: boolean;
  /** Offset of the RIP displacement inside the instruction (-1: none). */
  displacementOffset: number;
}

/** Sites per library, with the text size they were found in; shared by the instances of one set. */
export type SiteCache = Map<string, { textSize: number; sites: Site[] }>;

/** Find the sites of one library in an instance linked with --emit-relocs. */
function findSites(elf: ElfFile, file: string, lib: string): { textSize: number; sites: Site[] } {
  const text = sectionByName(elf, `.text.${lib}`);
  if (!text) throw new Error(`${file}: library ${lib} has no .text section`);
  const rodata = sectionByName(elf, `.rodata.${lib}`);
  const lo = text.addr;
  const hi = rodata && rodata.size > 0 ? rodata.addr + rodata.size : text.addr + text.size;
  const outside = (a: number): boolean => a < lo || a >= hi;
  const relocs = codeRelocs(elf, text);
  const sites: Site[] = [];
  let r = 0;
  sweep(elf.bytes.subarray(text.offset, text.offset + text.size), text.addr, (ins) => {
    let absolute = false;
    while (r < relocs.length && relocs[r].offset < ins.ip) r++;
    for (let k = r; k < relocs.length && relocs[k].offset < ins.ip + ins.length; k++) if (isAbsolute(relocs[k].type)) absolute = true;
    const farBranch = ins.branch !== null && outside(ins.target);
    const farRip = ins.ipRelAddress >= 0 && outside(ins.ipRelAddress);
    if (!absolute && !farBranch && !farRip) return;
    if (ins.invalid) throw new Error(`${file}: undecodable instruction at 0x${ins.ip.toString(16)}`);
    sites.push({ at: ins.ip - text.addr, length: ins.length, branch: ins.branch, absolute, farRip, displacementOffset: ins.ipRelAddress >= 0 ? ins.displacementOffset : -1 });
  });
  return { textSize: text.size, sites };
}

/**
 * Rewrite one ASLR instance in place (`outFile`). The sites of a library come from `cache`, or,
 * the first time a library is seen, from `relocFile` (the same instance linked with
 * --emit-relocs: identical loaded bytes plus the relocations that mark absolute addresses).
 * `libraries` are the libraries to rewrite (the application, last in the layout, is private to
 * its image anyway and keeps its linked bytes, as the authors' rewriter skips the app).
 */
export function rewriteForAslr(relocFile: string | null, outFile: string, libraries: string[], cache: SiteCache = new Map()): RewriteStats {
  const relElf = relocFile ? readElf(relocFile) : null;
  const out = fs.readFileSync(outFile);
  const outElf = parseElf(out, outFile, { tables: false });
  const stats: RewriteStats = { sites: 0, branches: 0, ripRelative: 0, absolute: 0, tableBytes: 0 };
  for (const lib of libraries) {
    if (!cache.has(lib)) {
      if (!relElf || !relocFile) throw new Error(`${outFile}: no relocations to analyse library ${lib}`);
      cache.set(lib, findSites(relElf, relocFile, lib));
    }
    const { textSize, sites } = cache.get(lib)!;
    const text = sectionByName(outElf, `.text.${lib}`);
    const table = sectionByName(outElf, `.ind.${lib}`);
    if (!text || !table) throw new Error(`${outFile}: library ${lib} has no .text/.ind section`);
    if (text.size !== textSize) throw new Error(`${outFile}: .text.${lib} is ${text.size} bytes, its sites were found in ${textSize}`);
    const linked = out.subarray(text.offset, text.offset + text.size);
    const code = Uint8Array.from(linked);
    const slots = new Uint8Array(table.size).fill(0xcc);
    const view = new DataView(linked.buffer, linked.byteOffset, linked.byteLength);
    let used = 0;
    for (const site of sites) {
      const ip = text.addr + site.at;
      const need = site.branch !== null ? 5 : site.length + 5;
      if (used + need > slots.length) throw new Error(`${outFile}: trampoline table of ${lib} overflows (${slots.length} bytes)`);
      const slotIp = table.addr + used;
      const at = site.at;
      if (site.branch !== null && !site.absolute && !site.farRip) {
        // Branch: the site now targets its slot; the slot jumps on to the instance's target.
        const target = ip + site.length + view.getInt32(at + site.length - 4, true);
        const opcode = site.branch === 'call' ? [0xe8] : site.branch === 'jmp' ? [0xe9] : [0x0f, code[at + site.length - 5]];
        if (site.length !== opcode.length + 4) throw new Error(`${outFile}: unexpected ${site.branch} encoding at 0x${ip.toString(16)}`);
        writeJmp(code, at, ip, slotIp, opcode);
        writeJmp(slots, used, slotIp, target);
        stats.branches++;
      } else {
        if (site.length < 5) throw new Error(`${outFile}: ${site.length}-byte instruction at 0x${ip.toString(16)} cannot hold a jmp`);
        const copy = code.slice(at, at + site.length);
        if (site.displacementOffset >= 0) {
          // Same target from the slot's address: displacement grows by the distance moved.
          const dv = new DataView(copy.buffer, site.displacementOffset, 4);
          const disp = dv.getInt32(0, true) + (ip - slotIp);
          if (disp < -0x80000000 || disp > 0x7fffffff) throw new Error(`${outFile}: displacement out of range in slot of 0x${ip.toString(16)}`);
          dv.setInt32(0, disp, true);
        }
        slots.set(copy, used);
        writeJmp(slots, used + site.length, slotIp + site.length, ip + site.length);
        writeJmp(code, at, ip, slotIp);
        code.fill(0x90, at + 5, at + site.length);
        if (site.farRip) stats.ripRelative++;
        else stats.absolute++;
      }
      stats.sites++;
      used += need;
    }
    stats.tableBytes += used;
    out.set(code, text.offset);
    out.set(slots, table.offset);
  }
  fs.writeFileSync(outFile, out);
  return stats;
}
