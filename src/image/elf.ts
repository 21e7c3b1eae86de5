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
export const SHT_DYNSYM = 11;
export const SHF_WRITE = 1;
export const SHF_ALLOC = 2;
export const SHF_EXECINSTR = 4;
export const SHF_TLS = 0x400;
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
  /** The symbol table the relocations' symbol numbers index (sh_link): `symbols` when it is .symtab. */
  symbolTable: number;
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


/**
 * Documented limits: far above any unikernel image (the demo images load about 2 MiB in a few
 * dozen sections), they bound the memory and time a crafted file can cost, since loading makes a
 * page per 4 KiB of p_memsz and several passes are linear in the loaded sections.
 */
export const ELF_LIMITS = {
  /** Sum of PT_LOAD p_memsz: what loading an image may allocate and hash. */
  loadedBytes: 1024 * 1024 * 1024,
  /** Loaded (SHF_ALLOC, non-empty) sections of a linked image. */
  loadedSections: 4096,
  /** PT_LOAD segments (real images have two to five). */
  loadSegments: 256,
} as const;

/** Bounds-checked little-endian reads of one input; every failure names the file. */
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
}

/**
 * A string table, decoded once. Names are slices of its text and their ends come from a sorted list
 * of its NUL positions, so looking up n names costs n log n however long the strings are (a scan
 * per name would let a crafted table of unterminated strings cost its size squared).
 */
class StringTable {
  private readonly text: string;
  private readonly nuls: Int32Array;
  constructor(private readonly r: Reader, readonly section: ElfSection) {
    const bytes = r.bytes.subarray(section.offset, section.offset + section.size);
    this.text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
    let n = 0;
    for (let i = 0; i < bytes.length; i++) if (bytes[i] === 0) n++;
    this.nuls = new Int32Array(n);
    for (let i = 0, k = 0; i < bytes.length; i++) if (bytes[i] === 0) this.nuls[k++] = i;
  }
  name(offset: number, what: string): string {
    if (offset >= this.section.size) this.r.fail(`${what}: name offset ${offset} lies outside its ${this.section.size}-byte string table`);
    let lo = 0;
    let hi = this.nuls.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.nuls[mid] < offset) lo = mid + 1;
      else hi = mid;
    }
    if (lo === this.nuls.length) this.r.fail(`${what}: unterminated string at offset ${this.section.offset + offset}`);
    return this.text.slice(offset, this.nuls[lo]);
  }
}

interface Header {
  type: number;
  machine: number;
  entry: number;
  phoff: number;
  phnum: number;
  shoff: number;
  shnum: number;
  shstrndx: number;
}

function parseHeader(r: Reader): Header {
  const bytes = r.bytes;
  if (bytes.length < 64) r.fail(`not an ELF file (${bytes.length} bytes, shorter than an ELF header)`);
  if (bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) r.fail('not an ELF file (bad magic)');
  if (bytes[4] !== 2) r.fail('not a 64-bit ELF file (EI_CLASS is not ELFCLASS64)');
  if (bytes[5] !== 1) r.fail('not a little-endian ELF file');
  if (bytes[6] !== 1) r.fail(`unsupported ELF version ${bytes[6]}`);
  const h: Header = {
    type: r.u16(16),
    machine: r.u16(18),
    entry: r.u64(24, 'e_entry'),
    phoff: r.u64(32, 'e_phoff'),
    shoff: r.u64(40, 'e_shoff'),
    phnum: r.u16(56),
    shnum: r.u16(60),
    shstrndx: r.u16(62),
  };
  const phentsize = r.u16(54);
  const shentsize = r.u16(58);
  if (h.phnum > 0 && phentsize !== 56) r.fail(`bad program header entry size ${phentsize}`);
  if (h.shnum > 0 && shentsize !== 64) r.fail(`bad section header entry size ${shentsize}`);
  r.check(h.phoff, h.phnum * 56, 'program header table');
  r.check(h.shoff, h.shnum * 64, 'section header table');
  return h;
}

/**
 * Program headers. Loading copies the file bytes of every PT_LOAD segment into pages and gives the
 * rest zero pages, so the segments' count, their memory size and their file bytes are bounded
 * (segments may share file bytes, but no real image loads more than its own size: at most twice).
 */
function parseSegments(r: Reader, h: Header): ElfSegment[] {
  const segments: ElfSegment[] = [];
  let loaded = 0;
  let fileBytes = 0;
  let loads = 0;
  for (let i = 0; i < h.phnum; i++) {
    const o = h.phoff + i * 56;
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
      if (!Number.isSafeInteger(seg.vaddr + seg.memsz)) r.fail(`segment ${i}: p_vaddr + p_memsz is beyond the address space`);
      loaded += seg.memsz;
      fileBytes += seg.filesz;
      if (++loads > ELF_LIMITS.loadSegments) r.fail(`more than ${ELF_LIMITS.loadSegments} loaded segments`);
      if (loaded > ELF_LIMITS.loadedBytes) r.fail(`segment ${i}: loaded segments exceed ${ELF_LIMITS.loadedBytes} bytes in all (the limit for an image)`);
      if (fileBytes > 2 * r.bytes.length) r.fail(`segment ${i}: loaded segments map ${fileBytes} file bytes, more than twice the file's size`);
    }
    segments.push(seg);
  }
  return segments;
}

function parseSections(r: Reader, h: Header): ElfSection[] {
  const sections: ElfSection[] = [];
  const nameOffsets: number[] = [];
  for (let i = 0; i < h.shnum; i++) {
    const o = h.shoff + i * 64;
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
    if (!Number.isSafeInteger(s.addr + s.size)) r.fail(`section ${i}: sh_addr + sh_size is beyond the address space`);
    sections.push(s);
  }
  if (h.shnum > 0) {
    const names = stringTable(r, sections, h.shstrndx, 'section name table');
    for (const s of sections) s.name = names.name(nameOffsets[s.index], `section ${s.index}`);
  }
  return sections;
}

/** The string table at `index`, which must be one (type SHT_STRTAB, so its bytes were checked). */
function stringTable(r: Reader, sections: ElfSection[], index: number, what: string): StringTable {
  if (index >= sections.length) r.fail(`${what}: section index ${index} out of range (${sections.length} sections)`);
  const s = sections[index];
  if (s.type !== SHT_STRTAB) r.fail(`${what}: section ${index} is not a string table (type ${s.type})`);
  return new StringTable(r, s);
}

/** Entries of a symbol table (.symtab or .dynsym), checked for its entry size. */
function symbolCount(r: Reader, s: ElfSection): number {
  if (s.type !== SHT_SYMTAB && s.type !== SHT_DYNSYM) r.fail(`section ${s.index} (${s.name}): not a symbol table (type ${s.type})`);
  if (s.entsize !== 24 || s.size % 24 !== 0) r.fail(`${s.name}: bad symbol entry size`);
  return s.size / 24;
}

function parseSymbols(r: Reader, sections: ElfSection[]): ElfSymbol[] {
  const symtab = sections.find((s) => s.type === SHT_SYMTAB);
  if (!symtab) return [];
  const symbols: ElfSymbol[] = new Array(symbolCount(r, symtab));
  const str = stringTable(r, sections, symtab.link, `${symtab.name}: string table`);
  for (let i = 0; i < symbols.length; i++) {
    const o = symtab.offset + i * 24;
    const nameOff = r.u32(o);
    const info = r.u8(o + 4);
    symbols[i] = {
      name: nameOff === 0 ? '' : str.name(nameOff, `${symtab.name}: symbol ${i}`),
      type: info & 0xf,
      bind: info >> 4,
      shndx: r.u16(o + 6),
      value: r.u64(o + 8, 'st_value'),
      size: r.u64(o + 16, 'st_size'),
    };
  }
  return symbols;
}

/** RELA sections; symbol numbers are checked against the table each section links to (sh_link). */
function parseRelocations(r: Reader, sections: ElfSection[]): ElfRelocationSection[] {
  const relocations: ElfRelocationSection[] = [];
  for (const s of sections) {
    if (s.type !== SHT_RELA) continue;
    if (s.entsize !== 24 || s.size % 24 !== 0) r.fail(`${s.name}: bad relocation entry size`);
    if (s.link >= sections.length) r.fail(`${s.name}: symbol table index ${s.link} out of range`);
    const count = s.link === 0 ? 0 : symbolCount(r, sections[s.link]);
    const list: ElfRelocation[] = new Array(s.size / 24);
    for (let i = 0; i < list.length; i++) {
      const o = s.offset + i * 24;
      const sym = r.u32(o + 12);
      if (sym >= count && sym !== 0) r.fail(`${s.name}: relocation ${i} names symbol ${sym} of the ${count} in ${sections[s.link].name || `section ${s.link}`}`);
      list[i] = { offset: r.u64(o, 'r_offset'), type: r.u32(o + 8), symbol: sym, addend: r.i64(o + 16) };
    }
    relocations.push({ section: s, target: s.info, symbolTable: s.link, relocations: list });
  }
  return relocations;
}

/** TLS bss (.tbss) takes no address space of its own: it overlaps what follows it. */
const occupiesMemory = (s: ElfSection): boolean => (s.flags & SHF_ALLOC) !== 0 && s.size > 0 && !(s.type === SHT_NOBITS && s.flags & SHF_TLS);

/**
 * A linked image's loaded sections must agree with its segments: each lies inside one PT_LOAD
 * segment, a section with file bytes inside the segment's file part at the matching file offset
 * (so the section's bytes are the bytes loaded there), and no two overlap. Readers that use
 * sections (attribution, the pool) then describe exactly what a loader maps.
 */
function checkLayout(r: Reader, segments: ElfSegment[], sections: ElfSection[]): void {
  const loads = segments.filter((g) => g.type === PT_LOAD);
  const alloc = sections.filter(occupiesMemory);
  if (alloc.length > ELF_LIMITS.loadedSections) r.fail(`${alloc.length} loaded sections; an image may have at most ${ELF_LIMITS.loadedSections}`);
  for (const s of alloc) {
    const what = `section ${s.index} (${s.name})`;
    const seg = loads.find((g) => g.vaddr <= s.addr && s.addr + s.size <= g.vaddr + g.memsz);
    if (!seg) r.fail(`${what}: 0x${s.addr.toString(16)}..0x${(s.addr + s.size).toString(16)} lies in no loaded segment`);
    if (s.type === SHT_NOBITS) continue;
    if (s.addr + s.size > seg.vaddr + seg.filesz || s.offset - seg.offset !== s.addr - seg.vaddr) {
      r.fail(`${what}: its file bytes (offset ${s.offset}) are not the bytes its segment loads at 0x${s.addr.toString(16)}`);
    }
  }
  const sorted = [...alloc].sort((a, b) => a.addr - b.addr);
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1];
    const b = sorted[i];
    if (b.addr < a.addr + a.size) r.fail(`sections ${a.index} (${a.name}) and ${b.index} (${b.name}) overlap at 0x${b.addr.toString(16)}`);
  }
}

/**
 * What to parse beyond headers, segments and sections. `tables: false` skips the symbol table and
 * the relocations (left empty), for callers that look at sections only: an image's symbols are
 * most of the parsing work, and a set build reads thousands of images.
 */
export interface ElfReadOptions {
  tables?: boolean;
}

/** Parse ELF bytes; `file` names the input in error messages. */
export function parseElf(bytes: Uint8Array, file: string, options: ElfReadOptions = {}): ElfFile {
  const r = new Reader(file, bytes);
  const h = parseHeader(r);
  const segments = parseSegments(r, h);
  const sections = parseSections(r, h);
  if (h.type !== ET_REL) checkLayout(r, segments, sections);
  const tables = options.tables ?? true;
  const symbols = tables ? parseSymbols(r, sections) : [];
  const relocations = tables ? parseRelocations(r, sections) : [];
  return { file, bytes, type: h.type, machine: h.machine, entry: h.entry, segments, sections, symbols, relocations };
}

/** Read and parse an ELF file from disk. */
export function readElf(file: string, options: ElfReadOptions = {}): ElfFile {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new InputError(file, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseElf(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), file, options);
}

/**
 * Only the section table of an ELF file (names, addresses, sizes, flags), read from the headers
 * without reading the rest of the file: checks over thousands of linked images (demo.ts) need no
 * more. The same checks as `readElf` apply to what is read.
 */
export function readSections(file: string): ElfSection[] {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new InputError(file, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    // A buffer of the file's size holding only the parts read, so every offset is checked as usual.
    const bytes = new Uint8Array(fs.fstatSync(fd).size);
    const load = (offset: number, size: number): void => {
      fs.readSync(fd, bytes, offset, Math.max(0, Math.min(size, bytes.length - offset)), offset);
    };
    const r = new Reader(file, bytes);
    load(0, 64);
    const h = parseHeader(r);
    load(h.shoff, h.shnum * 64);
    if (h.shstrndx < h.shnum) {
      const o = h.shoff + h.shstrndx * 64;
      load(r.u64(o + 24, 'sh_offset'), r.u64(o + 32, 'sh_size'));
    }
    return parseSections(r, h);
  } finally {
    fs.closeSync(fd);
  }
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
