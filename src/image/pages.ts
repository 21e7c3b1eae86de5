/**
 * The loaded view of an image: what a loader (Linux's, Firecracker's) puts in memory from the
 * PT_LOAD segments, page by page, with a 53-bit content fingerprint per 4 KiB page
 * (`fingerprintBytes`: xxh64, zero pages map to 0), the page's kind (text, rodata, data, bss) and
 * the library owning most of its bytes.
 */
import { fingerprintBytes, ZERO_FINGERPRINT } from '../base/hash.ts';
import { InputError } from '../base/errors.ts';
import { PT_LOAD, readElf, segmentFlags, SHF_ALLOC, SHF_TLS, SHT_NOBITS, type ElfFile } from './elf.ts';
import { attributeLibraries, findObjectDir, readLibraryObjects, sectionKind, type LibraryRange } from './attribution.ts';
import { PAGE, type SectionKind } from './planner.ts';

export interface LoadedSegment {
  vaddr: number;
  memsz: number;
  filesz: number;
  offset: number;
  /** "r-x", "rw-", ... */
  flags: string;
}

export interface LoadedPage {
  /** Page-aligned virtual address. */
  vaddr: number;
  /** 53-bit fingerprint of the page's 4096 bytes (0 for a zero page). */
  fingerprint: number;
  kind: SectionKind;
  /** Library owning most of the page's bytes; null when unknown (no objects, or padding only). */
  library: string | null;
}

export interface LoadedImage {
  file: string;
  entry: number;
  /** Size of the ELF file in bytes. */
  fileBytes: number;
  /** Sum of PT_LOAD p_memsz. */
  virtualBytes: number;
  segments: LoadedSegment[];
  /** Every page covered by a PT_LOAD segment, in address order. */
  pages: LoadedPage[];
  /** Library ranges (empty without library objects). */
  libraries: LibraryRange[];
  /** The 4096 bytes of the page at `vaddr` as loaded (a copy-free view; do not modify). */
  pageBytes(vaddr: number): Uint8Array;
}

export interface LoadOptions {
  /** Directory of `lib*.o` objects for attribution; default: `build/` next to the image if present. */
  objDir?: string;
}

/**
 * The page that every page without file bytes (bss, holes) shares: a loaded image costs memory for
 * its file bytes only, however large its bss. Never written.
 */
const ZERO_PAGE = new Uint8Array(PAGE);

/** Build the loaded memory of an ELF: page address -> 4096 bytes (bss and holes are zero; do not modify). */
export function loadPages(elf: ElfFile): Map<number, Uint8Array> {
  const pages = new Map<number, Uint8Array>();
  for (const seg of elf.segments) {
    if (seg.type !== PT_LOAD || seg.memsz === 0) continue;
    const first = Math.floor(seg.vaddr / PAGE) * PAGE;
    for (let p = first; p < seg.vaddr + seg.memsz; p += PAGE) if (!pages.has(p)) pages.set(p, ZERO_PAGE);
    const bytes = elf.bytes.subarray(seg.offset, seg.offset + seg.filesz);
    for (let off = 0; off < bytes.length; ) {
      const va = seg.vaddr + off;
      const page = Math.floor(va / PAGE) * PAGE;
      const n = Math.min(PAGE - (va - page), bytes.length - off);
      let target = pages.get(page)!;
      if (target === ZERO_PAGE) pages.set(page, (target = new Uint8Array(PAGE)));
      target.set(bytes.subarray(off, off + n), va - page);
      off += n;
    }
  }
  return new Map([...pages].sort((a, b) => a[0] - b[0]));
}

/** The key with the most bytes; a tie goes to the key met first, or with `byName` to the first by name. */
function largest<K extends string>(bytes: Map<K, number>, byName: boolean): K | undefined {
  let best: K | undefined;
  for (const [k, n] of bytes) {
    const most = best === undefined ? -1 : bytes.get(best)!;
    if (n > most || (byName && n === most && k.localeCompare(best!) < 0)) best = k;
  }
  return best;
}

/**
 * Bytes per key over [vaddr, vaddr + PAGE) from address-sorted, non-overlapping ranges, walking them
 * with a cursor that only moves forward as pages do (pages come in address order): linear in pages
 * plus ranges, however many sections a crafted image has.
 */
class RangeSweep<K extends string> {
  private next = 0;
  constructor(private readonly ranges: readonly { start: number; end: number; key: K }[]) {}
  bytesIn(vaddr: number): Map<K, number> {
    const end = vaddr + PAGE;
    while (this.next < this.ranges.length && this.ranges[this.next].end <= vaddr) this.next++;
    const out = new Map<K, number>();
    for (let k = this.next; k < this.ranges.length && this.ranges[k].start < end; k++) {
      const n = Math.min(end, this.ranges[k].end) - Math.max(vaddr, this.ranges[k].start);
      if (n > 0) out.set(this.ranges[k].key, (out.get(this.ranges[k].key) ?? 0) + n);
    }
    return out;
  }
}

export function loadImage(elf: ElfFile, ranges: LibraryRange[]): LoadedImage {
  const loads = elf.segments.filter((s) => s.type === PT_LOAD);
  if (loads.length === 0) throw new InputError(elf.file, 'has no PT_LOAD segment (not a loadable image)');
  const memory = loadPages(elf);
  // parseElf checked that loaded sections do not overlap and libraries come from within sections.
  const kinds = new RangeSweep(
    elf.sections
      .filter((s) => s.flags & SHF_ALLOC && s.size > 0 && !(s.type === SHT_NOBITS && s.flags & SHF_TLS))
      .map((s) => ({ start: s.addr, end: s.addr + s.size, key: sectionKind(s) }))
      .sort((a, b) => a.start - b.start),
  );
  const libraries = new RangeSweep(ranges.map((r) => ({ start: r.start, end: r.end, key: r.library })).sort((a, b) => a.start - b.start));
  const pages: LoadedPage[] = [];
  const segments = [...loads].sort((a, b) => a.vaddr - b.vaddr);
  let seg = 0;
  for (const [vaddr, bytes] of memory) {
    // Kind: the section covering most of the page, else its segment's; library: the range covering most of it.
    while (segments[seg].vaddr + segments[seg].memsz <= vaddr) seg++;
    const segKind: SectionKind = segments[seg].flags & 1 ? 'text' : segments[seg].flags & 2 ? 'data' : 'rodata';
    const kind = largest(kinds.bytesIn(vaddr), false) ?? segKind;
    const library = largest(libraries.bytesIn(vaddr), true) ?? null;
    pages.push({ vaddr, fingerprint: bytes === ZERO_PAGE ? ZERO_FINGERPRINT : fingerprintBytes(bytes), kind, library });
  }
  return {
    file: elf.file,
    entry: elf.entry,
    fileBytes: elf.bytes.length,
    virtualBytes: loads.reduce((n, s) => n + s.memsz, 0),
    segments: loads.map((s) => ({ vaddr: s.vaddr, memsz: s.memsz, filesz: s.filesz, offset: s.offset, flags: segmentFlags(s.flags) })),
    pages,
    libraries: ranges,
    pageBytes: (va: number): Uint8Array => {
      const p = memory.get(va);
      if (!p) throw new RangeError(`${elf.file}: no loaded page at 0x${va.toString(16)}`);
      return p;
    },
  };
}

/** Read an ELF image and its loaded pages; libraries are attributed when objects are found. */
export function readLoadedImage(elfPath: string, options: LoadOptions = {}): LoadedImage {
  return loadedImageOf(readElf(elfPath), options);
}

/** The loaded pages of an ELF image already read (for callers that also read other parts of it). */
export function loadedImageOf(elf: ElfFile, options: LoadOptions = {}): LoadedImage {
  const objDir = options.objDir ?? findObjectDir(elf.file);
  const ranges = objDir ? attributeLibraries(elf, readLibraryObjects(objDir)) : [];
  return loadImage(elf, ranges);
}
