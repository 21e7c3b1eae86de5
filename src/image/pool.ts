/**
 * The library pool and per-image description files (dedup.md §1.5, after Spacer-SLT's
 * `lib_extractor.py`, `dump_sections.py` and `elf_minimizer.py`; the JSON format is ours).
 *
 *   POOL/pool.json                  {"magic":"unimem-pool","version":1}
 *   POOL/entries/<sha256>           shared read-only bytes, whole pages; named by content hash,
 *                                   never overwritten, verified when read
 *   POOL/images/<image>.json        description: shared sections (vaddr, size, entry hash, page
 *                                   fingerprints), private sections, segments, entry point
 *   POOL/images/<image>.private     the private remainder: private sections' bytes, concatenated
 *
 * Shared: what the loader maps read-only, decided by what a section holds (`loaderMapping`): code
 * (executable sections) is mapped read+execute and read-only data read-only, whatever the write flag
 * the link gave them (Unikraft's `--omagic` links mark .text writable, and its boot code maps
 * .text r-x and .rodata r-- by section); trampoline tables excepted. Grouped per library (a
 * section named `.<kind>.<lib>`) and widened to whole pages; groups that would share a page are
 * merged. Private: writable sections (data; bss as size only) and `.ind.<lib>` tables, which
 * differ per ASLR instance. A loader maps each shared entry at its vaddr and copies the private
 * remainder; the result equals the ELF's loaded memory byte for byte (see `loadDescription`).
 * The description schema is published as docs/schemas/description.schema.json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { InputError } from '../base/errors.ts';
import { fingerprintBytes } from '../base/hash.ts';
import { writeFileAtomic } from '../base/system.ts';
import { ELF_LIMITS, PT_LOAD, readElf, segmentFlags, SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE, SHT_NOBITS, type ElfSection } from './elf.ts';
import { sectionKind } from './attribution.ts';
import { loadPages } from './pages.ts';
import { PAGE, alignUp } from './planner.ts';
import { sha256 } from './toolchain.ts';

export const DESCRIPTION_MAGIC = 'unimem-image-description';
const POOL_MAGIC = 'unimem-pool';

const hashRe = /^[0-9a-f]{64}$/;
const descriptionSchema = z.object({
  magic: z.literal(DESCRIPTION_MAGIC),
  version: z.literal(1),
  image: z.string().min(1),
  source: z.string(),
  entry: z.number().int().nonnegative(),
  segments: z.array(z.object({ vaddr: z.number().int().nonnegative(), memsz: z.number().int().nonnegative(), flags: z.string().regex(/^[r-][w-][x-]$/) })),
  shared: z.array(
    z.object({
      name: z.string(),
      library: z.string().nullable(),
      vaddr: z.number().int().nonnegative().multipleOf(PAGE),
      size: z.number().int().positive().multipleOf(PAGE),
      entry: z.string().regex(hashRe),
      pages: z.array(z.number().int().nonnegative()),
    }),
  ),
  private: z.array(
    z.object({
      name: z.string(),
      kind: z.enum(['text', 'rodata', 'data', 'bss']),
      vaddr: z.number().int().nonnegative(),
      size: z.number().int().nonnegative(),
      /** Offset of its bytes in the private remainder; -1 for bss (zero, not stored). */
      offset: z.number().int().min(-1),
    }),
  ),
  privateFile: z.string(),
  privateSha256: z.string().regex(hashRe),
  /** Real libraries the image links, with their Debian source package and version (images of a set directory). */
  libraries: z.array(z.object({ name: z.string(), sourcePackage: z.string(), version: z.string() })).optional(),
});

export type ImageDescription = z.infer<typeof descriptionSchema>;
export type SharedSection = ImageDescription['shared'][number];
export type PrivateSection = ImageDescription['private'][number];

export interface PoolResult {
  pool: string;
  /** Entries referenced by the images. */
  entries: number;
  /** Entries written by this call (the others were already in the pool). */
  written: number;
  /** Bytes of the referenced entries (each counted once). */
  poolBytes: number;
  images: { elf: string; description: string; sharedBytes: number; privateBytes: number }[];
}

function initPool(poolDir: string): void {
  const marker = path.join(poolDir, 'pool.json');
  if (fs.existsSync(marker)) {
    let ok = false;
    try {
      ok = JSON.parse(fs.readFileSync(marker, 'utf8')).magic === POOL_MAGIC;
    } catch {
      ok = false;
    }
    if (!ok) throw new InputError(marker, 'not a unimem pool marker');
    return;
  }
  fs.mkdirSync(path.join(poolDir, 'entries'), { recursive: true });
  writeFileAtomic(marker, JSON.stringify({ magic: POOL_MAGIC, version: 1 }) + '\n');
}

/** Read and verify one pool entry: its content must hash to its name. */
export function readPoolEntry(poolDir: string, hash: string): Uint8Array {
  const file = path.join(poolDir, 'entries', hash);
  if (!hashRe.test(hash)) throw new InputError(file, 'not a pool entry name');
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new InputError(file, `pool entry missing (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const actual = sha256(bytes);
  if (actual !== hash) throw new InputError(file, `corrupt pool entry: content hash ${actual.slice(0, 16)}... does not match its name`);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Add bytes to the pool unless present (never overwritten; an existing entry is verified). */
function putPoolEntry(poolDir: string, bytes: Uint8Array): { hash: string; written: boolean } {
  const hash = sha256(bytes);
  const file = path.join(poolDir, 'entries', hash);
  if (fs.existsSync(file)) {
    readPoolEntry(poolDir, hash);
    return { hash, written: false };
  }
  writeFileAtomic(file, bytes);
  return { hash, written: true };
}

/** Library name of a per-library section `.<kind>.<lib>` (null for `.text`, `.data`, ...). */
const libraryOfSection = (name: string): string | null => {
  const m = /^\.(text|rodata|data|bss|ind)\.(.+)$/.exec(name);
  return m ? m[2] : null;
};

/**
 * How the pool loader maps a loaded section: executable code read+execute, data without the write
 * flag read-only, the rest private read-write. Code counts as code even when the link marked it
 * writable (`ld --omagic`, as Unikraft's images), because the loader maps it r-x; trampoline
 * tables are code too but per instance, so `buildPool` keeps them private.
 */
export function loaderMapping(s: ElfSection): 'r-x' | 'r--' | 'rw-' {
  if (s.flags & SHF_EXECINSTR) return 'r-x';
  if (!(s.flags & SHF_WRITE)) return 'r--';
  return 'rw-';
}

interface SetManifest {
  images: { elf: string; libraries: string[] }[];
  realLibraries?: { name: string; sourcePackage: string; version: string }[];
}

/**
 * The real libraries (name, Debian source package, version) an image of a set directory links,
 * from the set's manifest.json (`DIR/<variant>/<image>.elf`); nothing for other images.
 */
function librariesOf(file: string, cache: Map<string, SetManifest | null>): { libraries?: ImageDescription['libraries'] } {
  const setDir = path.dirname(path.dirname(path.resolve(file)));
  if (!cache.has(setDir)) {
    let m: SetManifest | null = null;
    try {
      m = JSON.parse(fs.readFileSync(path.join(setDir, 'manifest.json'), 'utf8')) as SetManifest;
    } catch {
      m = null;
    }
    cache.set(setDir, m);
  }
  const m = cache.get(setDir);
  const img = m?.images.find((i) => i.elf === path.relative(setDir, path.resolve(file)));
  if (!m?.realLibraries || !img) return {};
  const libs = m.realLibraries.filter((l) => img.libraries.includes(l.name)).map(({ name, sourcePackage, version }) => ({ name, sourcePackage, version }));
  return { libraries: libs };
}

/** A stable file name for an image: `<directory>-<file without .elf>`. */
export function imageKey(elf: string): string {
  return `${path.basename(path.dirname(path.resolve(elf)))}-${path.basename(elf).replace(/\.elf$/, '')}`;
}

interface SharedGroup {
  name: string;
  library: string | null;
  lo: number;
  hi: number;
}

/**
 * The shared part of an image: read-only loaded sections outside the trampoline tables, grouped per
 * library and widened to whole pages; groups that come to share a page are merged.
 */
function sharedGroups(alloc: readonly ElfSection[]): SharedGroup[] {
  const groups: SharedGroup[] = [];
  for (const s of alloc) {
    // Shared: what the loader maps read-only (code r-x, read-only data r--), not a trampoline
    // table; per library, widened to pages.
    if (loaderMapping(s) === 'rw-' || s.type === SHT_NOBITS || s.name.startsWith('.ind.')) continue;
    const lib = libraryOfSection(s.name);
    const lo = Math.floor(s.addr / PAGE) * PAGE;
    const hi = alignUp(s.addr + s.size, PAGE);
    const g = groups.find((x) => (lib !== null && x.library === lib) || (x.lo < hi && lo < x.hi));
    if (g) {
      g.lo = Math.min(g.lo, lo);
      g.hi = Math.max(g.hi, hi);
      if (g.library !== lib) g.library = null;
    } else groups.push({ name: lib ? `lib.${lib}` : s.name, library: lib, lo, hi });
  }
  groups.sort((a, b) => a.lo - b.lo);
  for (let i = 1; i < groups.length; i++) {
    if (groups[i].lo < groups[i - 1].hi) {
      groups[i - 1].hi = Math.max(groups[i - 1].hi, groups[i].hi);
      groups[i - 1].name += `+${groups[i].name}`;
      groups[i - 1].library = null;
      groups.splice(i--, 1);
    }
  }
  return groups;
}

/**
 * Put the shared sections of `images` into the pool at `poolDir` and write one description and
 * private remainder per image into `poolDir/images/`.
 */
export function buildPool(poolDir: string, images: string[]): PoolResult {
  // Every image is read before the pool changes, so a bad one leaves no half-built pool.
  for (const file of images) readElf(file);
  initPool(poolDir);
  const imagesDir = path.join(poolDir, 'images');
  fs.mkdirSync(imagesDir, { recursive: true });
  const result: PoolResult = { pool: poolDir, entries: 0, written: 0, poolBytes: 0, images: [] };
  const seen = new Set<string>();
  const manifests = new Map<string, SetManifest | null>();
  for (const file of images) {
    const elf = readElf(file);
    const memory = loadPages(elf);
    const alloc = elf.sections.filter((s) => s.flags & SHF_ALLOC && s.size > 0);
    const groups = sharedGroups(alloc);
    const shared: SharedSection[] = [];
    for (const g of groups) {
      const bytes = new Uint8Array(g.hi - g.lo);
      const pages: number[] = [];
      for (let p = g.lo; p < g.hi; p += PAGE) {
        const page = memory.get(p) ?? new Uint8Array(PAGE);
        bytes.set(page, p - g.lo);
        pages.push(fingerprintBytes(page));
      }
      const { hash, written } = putPoolEntry(poolDir, bytes);
      if (written) result.written++;
      if (!seen.has(hash)) {
        seen.add(hash);
        result.entries++;
        result.poolBytes += bytes.length;
      }
      shared.push({ name: g.name, library: g.library, vaddr: g.lo, size: g.hi - g.lo, entry: hash, pages });
    }
    const inShared = (lo: number, hi: number): boolean => groups.some((g) => g.lo <= lo && hi <= g.hi);
    const priv: PrivateSection[] = [];
    const chunks: Uint8Array[] = [];
    let offset = 0;
    for (const s of alloc) {
      if (inShared(s.addr, s.addr + s.size)) continue;
      const nobits = s.type === SHT_NOBITS;
      priv.push({ name: s.name, kind: sectionKind(s), vaddr: s.addr, size: s.size, offset: nobits ? -1 : offset });
      if (!nobits) {
        chunks.push(elf.bytes.subarray(s.offset, s.offset + s.size));
        offset += s.size;
      }
    }
    const remainder = Buffer.concat(chunks);
    const key = imageKey(file);
    const desc: ImageDescription = {
      magic: DESCRIPTION_MAGIC,
      version: 1,
      image: key,
      source: path.resolve(file),
      entry: elf.entry,
      segments: elf.segments.filter((s) => s.type === PT_LOAD).map((s) => ({ vaddr: s.vaddr, memsz: s.memsz, flags: segmentFlags(s.flags) })),
      shared,
      private: priv,
      privateFile: `${key}.private`,
      privateSha256: sha256(remainder),
      ...librariesOf(file, manifests),
    };
    const descFile = path.join(imagesDir, `${key}.json`);
    writeFileAtomic(path.join(imagesDir, desc.privateFile), remainder);
    writeFileAtomic(descFile, JSON.stringify(desc, null, 1) + '\n');
    result.images.push({ elf: path.resolve(file), description: descFile, sharedBytes: shared.reduce((n, s) => n + s.size, 0), privateBytes: remainder.length });
  }
  return result;
}

/** Read and validate a description file. */
export function readDescription(file: string): ImageDescription {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new InputError(file, `not a readable JSON description (${(e as Error).message.split('\n')[0]})`);
  }
  const parsed = descriptionSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InputError(file, `invalid description: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const d = parsed.data;
  checkDescriptionLayout(file, d);
  return d;
}

/**
 * What a loader would build from a description must be an image: bounded like an ELF's loaded
 * memory (ELF_LIMITS), and every shared and private section inside one of its segments, so that
 * rebuilding it allocates only the pages the segments describe.
 */
function checkDescriptionLayout(file: string, d: ImageDescription): void {
  let loaded = 0;
  for (const seg of d.segments) {
    loaded += seg.memsz;
    if (loaded > ELF_LIMITS.loadedBytes) throw new InputError(file, `segments: more than ${ELF_LIMITS.loadedBytes} bytes in all (the limit for an image)`);
  }
  const inSegment = (lo: number, hi: number): boolean => d.segments.some((g) => Math.floor(g.vaddr / PAGE) * PAGE <= lo && hi <= alignUp(g.vaddr + g.memsz, PAGE));
  for (const s of d.shared) {
    if (s.pages.length !== s.size / PAGE) throw new InputError(file, `shared section ${s.name}: ${s.pages.length} page fingerprints for ${s.size / PAGE} pages`);
    if (!inSegment(s.vaddr, s.vaddr + s.size)) throw new InputError(file, `shared section ${s.name}: 0x${s.vaddr.toString(16)}..0x${(s.vaddr + s.size).toString(16)} lies in no segment`);
  }
  for (const s of d.private) {
    if (!inSegment(s.vaddr, s.vaddr + s.size)) throw new InputError(file, `private section ${s.name}: 0x${s.vaddr.toString(16)}..0x${(s.vaddr + s.size).toString(16)} lies in no segment`);
  }
}

/**
 * Rebuild an image's loaded memory from its description, the pool and the private remainder, as a
 * pool loader would: page address -> 4096 bytes. Verifies every pool entry and the remainder.
 */
export function loadDescription(descFile: string, poolDir: string = path.dirname(path.dirname(descFile))): Map<number, Uint8Array> {
  const d = readDescription(descFile);
  const privFile = path.join(path.dirname(descFile), d.privateFile);
  let remainder: Buffer;
  try {
    remainder = fs.readFileSync(privFile);
  } catch (e) {
    throw new InputError(privFile, `private remainder missing (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (sha256(remainder) !== d.privateSha256) throw new InputError(privFile, 'corrupt private remainder: hash does not match its description');
  const memory = new Map<number, Uint8Array>();
  const page = (va: number): Uint8Array => {
    const p = Math.floor(va / PAGE) * PAGE;
    let b = memory.get(p);
    if (!b) memory.set(p, (b = new Uint8Array(PAGE)));
    return b;
  };
  for (const seg of d.segments) for (let p = Math.floor(seg.vaddr / PAGE) * PAGE; p < seg.vaddr + seg.memsz; p += PAGE) page(p);
  for (const s of d.shared) {
    const bytes = readPoolEntry(poolDir, s.entry);
    if (bytes.length !== s.size) throw new InputError(descFile, `shared section ${s.name}: pool entry has ${bytes.length} bytes, description says ${s.size}`);
    for (let off = 0; off < s.size; off += PAGE) page(s.vaddr + off).set(bytes.subarray(off, off + PAGE));
  }
  for (const s of d.private) {
    if (s.offset < 0) continue;
    if (s.offset + s.size > remainder.length) throw new InputError(privFile, `section ${s.name} lies beyond the remainder's end`);
    for (let off = 0; off < s.size; ) {
      const va = s.vaddr + off;
      const n = Math.min(PAGE - (va % PAGE), s.size - off);
      page(va).set(remainder.subarray(s.offset + off, s.offset + off + n), va % PAGE);
      off += n;
    }
  }
  return new Map([...memory].sort((a, b) => a[0] - b[0]));
}
