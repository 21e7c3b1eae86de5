/**
 * The loaded view of an image: what a loader (Linux's, Firecracker's) puts in memory from the
 * PT_LOAD segments, page by page, with a 53-bit content fingerprint per 4 KiB page
 * (`fingerprintBytes`: xxh64, zero pages map to 0), the page's kind (text, rodata, data, bss) and
 * the library owning most of its bytes.
 */
import { fingerprintBytes } from '../base/hash.ts';
import { InputError } from '../base/errors.ts';
import { PT_LOAD, readElf, segmentFlags, type ElfFile } from './elf.ts';
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

/** Build the loaded memory of an ELF: page address -> 4096 bytes (bss and holes are zero). */
export function loadPages(elf: ElfFile): Map<number, Uint8Array> {
  const pages = new Map<number, Uint8Array>();
  for (const seg of elf.segments) {
    if (seg.type !== PT_LOAD || seg.memsz === 0) continue;
    const first = Math.floor(seg.vaddr / PAGE) * PAGE;
    for (let p = first; p < seg.vaddr + seg.memsz; p += PAGE) if (!pages.has(p)) pages.set(p, new Uint8Array(PAGE));
    const bytes = elf.bytes.subarray(seg.offset, seg.offset + seg.filesz);
    for (let off = 0; off < bytes.length; ) {
      const va = seg.vaddr + off;
      const page = Math.floor(va / PAGE) * PAGE;
      const n = Math.min(PAGE - (va - page), bytes.length - off);
      pages.get(page)!.set(bytes.subarray(off, off + n), va - page);
      off += n;
    }
  }
  return new Map([...pages].sort((a, b) => a[0] - b[0]));
}

export function loadImage(elf: ElfFile, ranges: LibraryRange[]): LoadedImage {
  const loads = elf.segments.filter((s) => s.type === PT_LOAD);
  if (loads.length === 0) throw new InputError(elf.file, 'has no PT_LOAD segment (not a loadable image)');
  const memory = loadPages(elf);
  const alloc = elf.sections.filter((s) => s.flags & 2 && s.size > 0);
  const pages: LoadedPage[] = [];
  let r = 0;
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  for (const [vaddr, bytes] of memory) {
    const end = vaddr + PAGE;
    // Kind: the section covering most of the page; library: the range covering most of it.
    const kindBytes = new Map<SectionKind, number>();
    for (const s of alloc) {
      const n = Math.min(end, s.addr + s.size) - Math.max(vaddr, s.addr);
      if (n > 0) kindBytes.set(sectionKind(s), (kindBytes.get(sectionKind(s)) ?? 0) + n);
    }
    const seg = loads.find((s) => s.vaddr < end && s.vaddr + s.memsz > vaddr)!;
    const segKind: SectionKind = seg.flags & 1 ? 'text' : seg.flags & 2 ? 'data' : 'rodata';
    const kind = kindBytes.size ? [...kindBytes].sort((a, b) => b[1] - a[1])[0][0] : segKind;
    while (r < sorted.length && sorted[r].end <= vaddr) r++;
    const libBytes = new Map<string, number>();
    for (let k = r; k < sorted.length && sorted[k].start < end; k++) {
      const n = Math.min(end, sorted[k].end) - Math.max(vaddr, sorted[k].start);
      if (n > 0) libBytes.set(sorted[k].library, (libBytes.get(sorted[k].library) ?? 0) + n);
    }
    const library = libBytes.size ? [...libBytes].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0][0] : null;
    pages.push({ vaddr, fingerprint: fingerprintBytes(bytes), kind, library });
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
  const elf = readElf(elfPath);
  const objDir = options.objDir ?? findObjectDir(elfPath);
  const ranges = objDir ? attributeLibraries(elf, readLibraryObjects(objDir)) : [];
  return loadImage(elf, ranges);
}
