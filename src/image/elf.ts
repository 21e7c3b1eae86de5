/**
 * A small, strict ELF64 little-endian reader (x86-64 images and relocatable objects): file header,
 * program headers (segments), section headers, symbols (.symtab) and RELA relocations.
 *
 * Every offset and size is checked against the file before it is read, so a truncated or garbage
 * file gives an `InputError(file, problem)`, never a crash or an out-of-range read. Addresses are
 * plain numbers: x86-64 user addresses are below 2^47, and anything above 2^53 is rejected.
 *
 *   file:  [ Ehdr 64 B ][ ... section contents ... ][ Phdr 56 B x e_phnum ][ Shdr 64 B x e_shnum ]
 *          (the header tables may sit anywhere; e_phoff / e_shoff say where)
 */
import * as fs from 'node:fs';
import { InputError } from '../base/errors.ts';

export const ET_REL = 1;
export const ET_EXEC = 2;
export const ET_DYN = 3;
export const EM_X86_64 = 62;
export const PT_LOAD = 1;
export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;
export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_RELA = 4;
export const SHT_NOBITS = 8;
export const SHF_WRITE = 1;
export const SHF_ALLOC = 2;
export const SHF_EXECINSTR = 4;
export const SHN_UNDEF = 0;
export const SHN_ABS = 0xfff1;
export const STT_OBJECT = 1;
export const STT_FUNC = 2;
export const STT_SECTION = 3;
export const STT_FILE = 4;
export const STB_LOCAL = 0;
export const STB_GLOBAL = 1;
export const STB_WEAK = 2;

/** x86-64 relocation types used by gcc/ld for non-PIC code. */
export const R_X86_64_64 = 1;
export const R_X86_64_PC32 = 2;
export const R_X86_64_PLT32 = 4;
export const R_X86_64_32 = 10;
export const R_X86_64_32S = 11;

export interface ElfSegment {
  type: number;
  flags: number;
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
  align: number;
}

export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: number;
  addr: number;
  offset: number;
  size: number;
  link: number;
  info: number;
  addralign: number;
  entsize: number;
}

export interface ElfSymbol {
  name: string;
  value: number;
  size: number;
  /** STT_* */
  type: number;
  /** STB_* */
  bind: number;
  /** Section index (SHN_UNDEF, SHN_ABS, ...). */
  shndx: number;
}

export interface ElfRelocation {
  /** Offset in the target section (relocatable) or virtual address (executables). */
  offset: number;
  type: number;
  /** Index into `symbols`. */
  symbol: number;
  addend: number;
}

export interface ElfRelocationSection {
  section: ElfSection;
  /** The section the relocations apply to. */
  target: number;
  relocations: ElfRelocation[];
}

export interface ElfFile {
  file: string;
  bytes: Uint8Array;
  type: number;
  machine: number;
  entry: number;
  segments: ElfSegment[];
  sections: ElfSection[];
  symbols: ElfSymbol[];
  relocations: ElfRelocationSection[];
}

class Reader {
  readonly view: DataView;
  constructor(readonly file: string, readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  fail(problem: string): never {
    throw new InputError(this.file, problem);
  }
  check(offset: number, size: number, what: string): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(size) || offset < 0 || size < 0 || offset + size > this.bytes.length) {
      this.fail(`truncated or corrupt ELF: ${what} (bytes ${offset}..${offset + size}) lies outside the ${this.bytes.length}-byte file`);
    }
  }
  u8(o: number): number {
    return this.view.getUint8(o);
  }
  u16(o: number): number {
    return this.view.getUint16(o, true);
  }
  u32(o: number): number {
    return this.view.getUint32(o, true);
  }
  u64(o: number, what: string): number {
    const v = this.view.getBigUint64(o, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} 0x${v.toString(16)} is too large for a 64-bit x86 image`);
    return Number(v);
  }
  i64(o: number): number {
    return Number(this.view.getBigInt64(o, true));
  }
  cstring(o: number, end: number, what: string): string {
    let e = o;
    while (e < end && this.bytes[e] !== 0) e++;
    if (e >= end) this.fail(`${what}: unterminated string at offset ${o}`);
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset + o, e - o).toString('latin1');
  }
}

/** Parse ELF bytes; `file` names the input in error messages. */
export function parseElf(bytes: Uint8Array, file: string): ElfFile {
  const r = new Reader(file, bytes);
  if (bytes.length < 64) r.fail(`not an ELF file (${bytes.length} bytes, shorter than an ELF header)`);
  if (bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) r.fail('not an ELF file (bad magic)');
  if (bytes[4] !== 2) r.fail('not a 64-bit ELF file (EI_CLASS is not ELFCLASS64)');
  if (bytes[5] !== 1) r.fail('not a little-endian ELF file');
  if (bytes[6] !== 1) r.fail(`unsupported ELF version ${bytes[6]}`);
  const type = r.u16(16);
  const machine = r.u16(18);
  const entry = r.u64(24, 'e_entry');
  const phoff = r.u64(32, 'e_phoff');
  const shoff = r.u64(40, 'e_shoff');
  const phentsize = r.u16(54);
  const phnum = r.u16(56);
  const shentsize = r.u16(58);
  const shnum = r.u16(60);
  const shstrndx = r.u16(62);
  if (phnum > 0 && phentsize !== 56) r.fail(`bad program header entry size ${phentsize}`);
  if (shnum > 0 && shentsize !== 64) r.fail(`bad section header entry size ${shentsize}`);
  r.check(phoff, phnum * 56, 'program header table');
  r.check(shoff, shnum * 64, 'section header table');

  const segments: ElfSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * 56;
    const seg: ElfSegment = {
      type: r.u32(o),
      flags: r.u32(o + 4),
      offset: r.u64(o + 8, 'p_offset'),
      vaddr: r.u64(o + 16, 'p_vaddr'),
      filesz: r.u64(o + 32, 'p_filesz'),
      memsz: r.u64(o + 40, 'p_memsz'),
      align: r.u64(o + 48, 'p_align'),
    };
    if (seg.type === PT_LOAD) {
      r.check(seg.offset, seg.filesz, `segment ${i}`);
      if (seg.filesz > seg.memsz) r.fail(`segment ${i}: p_filesz ${seg.filesz} exceeds p_memsz ${seg.memsz}`);
    }
    segments.push(seg);
  }

  const sections: ElfSection[] = [];
  const nameOffsets: number[] = [];
  for (let i = 0; i < shnum; i++) {
    const o = shoff + i * 64;
    nameOffsets.push(r.u32(o));
    const s: ElfSection = {
      index: i,
      name: '',
      type: r.u32(o + 4),
      flags: r.u64(o + 8, 'sh_flags'),
      addr: r.u64(o + 16, 'sh_addr'),
      offset: r.u64(o + 24, 'sh_offset'),
      size: r.u64(o + 32, 'sh_size'),
      link: r.u32(o + 40),
      info: r.u32(o + 44),
      addralign: r.u64(o + 48, 'sh_addralign'),
      entsize: r.u64(o + 56, 'sh_entsize'),
    };
    if (s.type !== SHT_NOBITS && s.type !== 0) r.check(s.offset, s.size, `section ${i}`);
    sections.push(s);
  }
  if (shnum > 0) {
    if (shstrndx >= shnum) r.fail(`section name table index ${shstrndx} out of range`);
    const strtab = sections[shstrndx];
    for (const s of sections) {
      if (nameOffsets[s.index] >= strtab.size) r.fail(`section ${s.index}: name offset out of range`);
      s.name = r.cstring(strtab.offset + nameOffsets[s.index], strtab.offset + strtab.size, `section ${s.index} name`);
    }
  }

  let symbols: ElfSymbol[] = [];
  const symtab = sections.find((s) => s.type === SHT_SYMTAB);
  if (symtab) {
    if (symtab.entsize !== 24 || symtab.size % 24 !== 0) r.fail(`${symtab.name}: bad symbol entry size`);
    if (symtab.link >= sections.length) r.fail(`${symtab.name}: string table index out of range`);
    const str = sections[symtab.link];
    symbols = new Array(symtab.size / 24);
    for (let i = 0; i < symbols.length; i++) {
      const o = symtab.offset + i * 24;
      const nameOff = r.u32(o);
      if (nameOff >= str.size && str.size > 0) r.fail(`${symtab.name}: symbol ${i} name out of range`);
      const info = r.u8(o + 4);
      symbols[i] = {
        name: nameOff === 0 ? '' : r.cstring(str.offset + nameOff, str.offset + str.size, `symbol ${i} name`),
        type: info & 0xf,
        bind: info >> 4,
        shndx: r.u16(o + 6),
        value: r.u64(o + 8, 'st_value'),
        size: r.u64(o + 16, 'st_size'),
      };
    }
  }

  const relocations: ElfRelocationSection[] = [];
  for (const s of sections) {
    if (s.type !== SHT_RELA) continue;
    if (s.entsize !== 24 || s.size % 24 !== 0) r.fail(`${s.name}: bad relocation entry size`);
    const list: ElfRelocation[] = new Array(s.size / 24);
    for (let i = 0; i < list.length; i++) {
      const o = s.offset + i * 24;
      const sym = r.u32(o + 12);
      if (sym >= symbols.length && sym !== 0) r.fail(`${s.name}: relocation ${i} names symbol ${sym} of ${symbols.length}`);
      list[i] = { offset: r.u64(o, 'r_offset'), type: r.u32(o + 8), symbol: sym, addend: r.i64(o + 16) };
    }
    relocations.push({ section: s, target: s.info, relocations: list });
  }
  return { file, bytes, type, machine, entry, segments, sections, symbols, relocations };
}

/** Read and parse an ELF file from disk. */
export function readElf(file: string): ElfFile {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new InputError(file, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseElf(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), file);
}

/** The bytes of a section (empty for NOBITS). */
export function sectionBytes(elf: ElfFile, s: ElfSection): Uint8Array {
  if (s.type === SHT_NOBITS) return new Uint8Array(0);
  return elf.bytes.subarray(s.offset, s.offset + s.size);
}

export function findSection(elf: ElfFile, name: string): ElfSection | undefined {
  return elf.sections.find((s) => s.name === name);
}

/** "r-x" style flags of a segment. */
export function segmentFlags(flags: number): string {
  return `${flags & PF_R ? 'r' : '-'}${flags & PF_W ? 'w' : '-'}${flags & PF_X ? 'x' : '-'}`;
}
