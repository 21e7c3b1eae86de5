/**
 * The global library map and the alignment planner (dedup.md §1.3, after the authors' aligner:
 * `ukManager.py` in gaulthiergain/spacer and the refined layout of Spacer-SLT's `aligner/`).
 *
 * Inputs are the per-library relocatable objects (`build/lib<name>.o`) and, per image, the list of
 * libraries it links. The map keeps, per library, its size (the same object is used by every image,
 * as the authors' "copy_objs" step guarantees) and how many images use it, which classifies it:
 * `common` (all images), `subset` (more than one), `individual` (one: the application libraries).
 *
 * Address assignment (the "inflated" layout; one page = 4 KiB):
 *
 *   0x100000  | lib A text | A rodata |pad| lib B text | B rodata |pad| ...   common, map order
 *             | subset lib slots (a fixed slot each, left empty by images that do not link it)
 *             | individual area: each image packs its own individual libraries (its application
 *             | library among them) from the same start; sized to the largest image's
 *   +1 page   | .uk_inittab (max over images) | .data.<lib> at fixed offsets | (private)
 *   page      | .bss.<lib> at fixed offsets                                  | (private)
 *
 * Each library's text starts on a page boundary at the same address in every image, and its
 * rodata follows its text inside the same page-aligned region (Spacer-SLT's `.text.rodata.<lib>`),
 * so a library's read-only pages are identical wherever it is linked. Reconstructed choices, not
 * taken from the authors' code: subset libraries get one fixed slot each (the authors' v1 packs an
 * image's subset libraries from a common start; their SLT map also gives them fixed addresses), and
 * data and bss of each library sit at fixed offsets inside the fixed-start data and bss areas (the
 * authors fix only the area starts), which keeps code that addresses library data identical too.
 */
import { InputError } from '../base/errors.ts';
import { SHF_ALLOC, type ElfFile } from './elf.ts';

export const PAGE = 0x1000;
/** Unikraft's image base (plat/kvm/x86/link64.lds.S), also the authors' `.text` start. */
export const IMAGE_BASE = 0x100000;

export const alignUp = (v: number, a: number): number => (a <= 1 ? v : Math.ceil(v / a) * a);

export type SectionKind = 'text' | 'rodata' | 'data' | 'bss';

/** Name prefix of read-only data that holds addresses, as the default build separates it (demo.ts). */
export const RELRO_PREFIX = '.rodata_addr';

/**
 * Which kind an input section of a library object belongs to (null: not loaded). `relro` is
 * read-only data that holds addresses (`.rodata_addr*`, which the default build separates from the
 * rest of `.rodata`, demo.ts): the same bytes wherever the image places its libraries in a fixed
 * map, different bytes in every ASLR instance. (gcc's own `.data.rel.ro*` of position-independent
 * code is writable and stays with the data.)
 */
export function inputSectionKind(name: string): SectionKind | 'relro' | 'inittab' | null {
  if (name === '.uk_inittab') return 'inittab';
  if (name === RELRO_PREFIX || name.startsWith(`${RELRO_PREFIX}.`)) return 'relro';
  for (const k of ['text', 'rodata', 'data', 'bss'] as const) if (name === `.${k}` || name.startsWith(`.${k}.`)) return k;
  return null;
}

/** Upper bounds of what one object contributes to each kind (each section padded to its alignment). */
export interface ObjectSizes {
  text: number;
  rodata: number;
  relro: number;
  data: number;
  bss: number;
  inittab: number;
  align: Record<SectionKind | 'relro', number>;
}

export function objectSizes(obj: ElfFile): ObjectSizes {
  const sizes: ObjectSizes = { text: 0, rodata: 0, relro: 0, data: 0, bss: 0, inittab: 0, align: { text: 1, rodata: 1, relro: 1, data: 1, bss: 1 } };
  for (const s of obj.sections) {
    if (!(s.flags & SHF_ALLOC) || s.size === 0) continue;
    const k = inputSectionKind(s.name);
    if (k === null) continue;
    const a = Math.max(1, s.addralign);
    if (k === 'inittab') {
      sizes.inittab += s.size;
      continue;
    }
    sizes[k] += s.size + a - 1;
    sizes.align[k] = Math.max(sizes.align[k], a);
  }
  return sizes;
}

export type LibraryClass = 'common' | 'subset' | 'individual';

export interface PlannedLibrary {
  name: string;
  class: LibraryClass;
  /** Number of images of the set that link it. */
  occurrences: number;
  /** Start of its page-aligned text+rodata region (same in every image). */
  regionAddr: number;
  /** Region size, page-rounded (an upper bound of text + rodata). */
  regionSize: number;
  dataAddr: number;
  dataSize: number;
  bssAddr: number;
  bssSize: number;
}

export interface AlignmentPlan {
  base: number;
  /** The global library map, in address order. */
  libraries: PlannedLibrary[];
  textEnd: number;
  inittabAddr: number;
  inittabSize: number;
  dataEnd: number;
  bssAddr: number;
  bssEnd: number;
}

export interface PlanImage {
  name: string;
  /** Libraries in link order. */
  libraries: string[];
}

/**
 * Shared region of one library in the ASLR layout, page-rounded: text and address-free rodata.
 * Its read-only data that holds addresses goes to the library's private data there.
 */
export function aslrRegionSize(s: ObjectSizes): number {
  return alignUp(alignUp(s.text, s.align.rodata) + s.rodata, PAGE) || PAGE;
}

/** Shared region of one library in the aligned layout: text, rodata and relro (fixed addresses). */
export function regionSize(s: ObjectSizes): number {
  return alignUp(alignUp(alignUp(s.text, s.align.rodata) + s.rodata, s.align.relro) + s.relro, PAGE) || PAGE;
}

/** How many images use each library, and the libraries in order of first use. */
function libraryUse(images: PlanImage[], sizes: Map<string, ObjectSizes>): { count: Map<string, number>; order: string[] } {
  const count = new Map<string, number>();
  const order: string[] = [];
  for (const img of images) {
    for (const l of img.libraries) {
      if (!sizes.has(l)) throw new InputError(img.name, `library ${l} has no object`);
      if (!count.has(l)) order.push(l);
      count.set(l, (count.get(l) ?? 0) + 1);
    }
  }
  return { count, order };
}

export function planAlignment(images: PlanImage[], sizes: Map<string, ObjectSizes>, base = IMAGE_BASE): AlignmentPlan {
  if (images.length < 2) throw new InputError('alignment', `needs at least 2 images (the authors' aligner does too), got ${images.length}`);
  const { count, order } = libraryUse(images, sizes);
  const classOf = (l: string): LibraryClass => (count.get(l) === images.length ? 'common' : count.get(l)! > 1 ? 'subset' : 'individual');
  const byClass = (c: LibraryClass): string[] => order.filter((l) => classOf(l) === c);
  const planned = new Map<string, PlannedLibrary>();
  const place = (l: string, addr: number): void => {
    planned.set(l, {
      name: l,
      class: classOf(l),
      occurrences: count.get(l)!,
      regionAddr: addr,
      regionSize: regionSize(sizes.get(l)!),
      dataAddr: 0,
      dataSize: 0,
      bssAddr: 0,
      bssSize: 0,
    });
  };
  let cursor = base;
  for (const l of [...byClass('common'), ...byClass('subset')]) {
    place(l, cursor);
    cursor += regionSize(sizes.get(l)!);
  }
  // Individual libraries (used by one image each, the applications among them) share one area:
  // each image packs its own from the area's start, so the area is as large as the largest image's.
  const individualStart = cursor;
  let textEnd = cursor;
  for (const img of images) {
    let c = individualStart;
    for (const l of img.libraries.filter((x) => classOf(x) === 'individual')) {
      place(l, c);
      c += regionSize(sizes.get(l)!);
    }
    textEnd = Math.max(textEnd, c);
  }

  // One page of gap after the text, as the authors' map (`_etext`, then a page).
  const inittabAddr = textEnd + PAGE;
  const inittabSize = Math.max(8, ...images.map((img) => img.libraries.reduce((n, l) => n + sizes.get(l)!.inittab, 0)));
  const fixedOffsets = (kind: 'data' | 'bss', start: number): number => {
    const put = (l: string, addr: number): number => {
      const s = sizes.get(l)!;
      const p = planned.get(l)!;
      const a = alignUp(addr, s.align[kind]);
      if (kind === 'data') {
        p.dataAddr = a;
        p.dataSize = s.data;
      } else {
        p.bssAddr = a;
        p.bssSize = s.bss;
      }
      return a + s[kind];
    };
    let c = start;
    for (const l of [...byClass('common'), ...byClass('subset')]) c = put(l, c);
    let end = c;
    for (const img of images) {
      let ci = alignUp(c, 64);
      for (const l of img.libraries.filter((x) => classOf(x) === 'individual')) ci = put(l, ci);
      end = Math.max(end, ci);
    }
    return end;
  };
  const dataEnd = fixedOffsets('data', inittabAddr + inittabSize);
  const bssAddr = alignUp(dataEnd, PAGE);
  const bssEnd = fixedOffsets('bss', bssAddr);
  return {
    base,
    libraries: [...planned.values()].sort((a, b) => a.regionAddr - b.regionAddr || a.name.localeCompare(b.name)),
    textEnd,
    inittabAddr,
    inittabSize,
    dataEnd,
    bssAddr,
    bssEnd,
  };
}
