/**
 * Guest memory snapshots of the VMM (`unimem-vmm --snapshot PREFIX`, native/vmm/snapshot.c) and
 * the page-by-page classification of several instances of the same images: which guest pages a
 * boot leaves present, and whether their content is zero, the same in every instance of an image,
 * the same across images, or different per instance. The page hash is XXH64, the function the
 * simulator fingerprints image pages with (src/base/hash.ts), so a real page and a simulated page
 * at the same address compare by fingerprint.
 */
import { xxh64 } from '@node-rs/xxhash';
import { InputError, readInputText } from '../base/errors.ts';
import { ZERO_FINGERPRINT } from '../base/hash.ts';

/** How a present page is backed (snapshot.c): private, a pool file page never written, the kernel's zero page. */
export type PageKind = 'private' | 'pool' | 'read';
const KINDS: Record<string, PageKind> = { a: 'private', f: 'pool', r: 'read' };

export interface Snapshot {
  moment: string;
  /** Guest pages (memory size / 4096). */
  pages: number;
  /** Present pages, by guest page number: kind and fingerprint (the simulator's: 53 bits of XXH64, 0 for a zero page). */
  present: Map<number, { kind: PageKind; fingerprint: number }>;
}

const MASK53 = (1n << 53n) - 1n;
const ZERO_PAGE_HASH = xxh64(new Uint8Array(4096));

/** The simulator's fingerprint of a page whose XXH64 is `hash` (fingerprintBytes in src/base/hash.ts). */
export function fingerprintOfHash(hash: bigint): number {
  if (hash === ZERO_PAGE_HASH) return ZERO_FINGERPRINT;
  const v = Number(hash & MASK53);
  return v === ZERO_FINGERPRINT ? 1 : v;
}

const HEADER_RE = /^unimem-vmm snapshot moment=(\w+) pages=(\d+) present=(\d+)$/;
const LINE_RE = /^([0-9a-f]+) ([afr]) ([0-9a-f]{16})$/;

/** Parse a snapshot file's text; a malformed one is an InputError naming the file and line. */
export function parseSnapshot(text: string, file: string): Snapshot {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const h = HEADER_RE.exec(lines[0] ?? '');
  if (!h) throw new InputError(file, `line 1: not a unimem-vmm snapshot header`);
  const pages = Number(h[2]);
  if (lines.length - 1 !== Number(h[3])) throw new InputError(file, `the header says ${h[3]} present pages, the file lists ${lines.length - 1}`);
  const present = new Map<number, { kind: PageKind; fingerprint: number }>();
  let last = -1;
  for (let i = 1; i < lines.length; i++) {
    const m = LINE_RE.exec(lines[i]);
    if (!m) throw new InputError(file, `line ${i + 1}: expected '<page hex> <a|f|r> <16 hex digits>'`);
    const gpn = parseInt(m[1], 16);
    if (gpn <= last || gpn >= pages) throw new InputError(file, `line ${i + 1}: page 0x${m[1]} out of order or beyond ${pages} pages`);
    last = gpn;
    present.set(gpn, { kind: KINDS[m[2]], fingerprint: fingerprintOfHash(BigInt(`0x${m[3]}`)) });
  }
  return { moment: h[1], pages, present };
}

export function readSnapshot(file: string): Snapshot {
  return parseSnapshot(readInputText(file), file);
}

/**
 * What a guest page holds after boot, over the instances of one image:
 * - `absent`: present in no instance (or only as the kernel's zero page: read, never written);
 * - `loaded`: the loader's content, unchanged by boot in every instance (the simulator loads it too);
 * - `pool`: a pool page mapped and never written (the pool loader's, shared through the page cache);
 * - `zero`: zero in every instance;
 * - `image`: the same non-zero content in every instance, found in no other image;
 * - `common`: the same in every instance, and that content also in another image (any address);
 * - `instance`: content that differs between instances;
 * - `partial`: present in some instances only.
 */
export type PageClass = 'absent' | 'loaded' | 'pool' | 'zero' | 'image' | 'common' | 'instance' | 'partial';
export const PAGE_CLASSES: readonly PageClass[] = ['absent', 'loaded', 'pool', 'zero', 'image', 'common', 'instance', 'partial'];

/** One instance's snapshots: the image as loaded and after boot. */
export interface InstanceSnapshots {
  image: string;
  load: Snapshot;
  boot: Snapshot;
}

export interface ClassifiedPage {
  gpn: number;
  cls: PageClass;
  /** The content shared by every instance (`zero`, `image`, `common`, `loaded` when equal), else null. */
  fingerprint: number | null;
  /**
   * `instance` pages whose content other VMs also hold (instances of this image, or of another,
   * anywhere): per instance (in the order given) its content, 0 where no other VM holds it; null
   * when no instance's content is held by another VM.
   */
  slots?: number[] | null;
}

/** Per instance its content where another VM holds it too (`vmsHolding(fp) > 1`), else 0; null when none is. */
export function sharedSlots(fps: readonly number[], vmsHolding: (fp: number) => number): number[] | null {
  const slots = fps.map((f) => (vmsHolding(f) > 1 ? f : 0));
  return slots.some((f) => f !== 0) ? slots : null;
}

/** Present pages of a snapshot that cost memory (the kernel's zero page does not). */
function written(s: Snapshot, gpn: number): { kind: PageKind; fingerprint: number } | undefined {
  const p = s.present.get(gpn);
  return p && p.kind !== 'read' ? p : undefined;
}

/** One image's pages classified over its instances; `elsewhere(fp)` says whether another image holds that content. */
function classifyImage(insts: InstanceSnapshots[], elsewhere: (fp: number) => boolean, vmsHolding: (fp: number) => number): ClassifiedPage[] {
  const gpns = new Set<number>();
  for (const s of insts) for (const [gpn, p] of s.boot.present) if (p.kind !== 'read') gpns.add(gpn);
  const out: ClassifiedPage[] = [];
  for (const gpn of [...gpns].sort((a, b) => a - b)) {
    const pages = insts.map((s) => written(s.boot, gpn));
    if (pages.some((p) => p === undefined)) {
      out.push({ gpn, cls: 'partial', fingerprint: null });
      continue;
    }
    const fps = pages.map((p) => p!.fingerprint);
    const same = fps.every((f) => f === fps[0]);
    if (pages.every((p) => p!.kind === 'pool')) out.push({ gpn, cls: 'pool', fingerprint: same ? fps[0] : null });
    else if (insts.every((s, i) => written(s.load, gpn)?.fingerprint === fps[i])) out.push({ gpn, cls: 'loaded', fingerprint: same ? fps[0] : null });
    else if (!same) out.push({ gpn, cls: 'instance', fingerprint: null, slots: sharedSlots(fps, vmsHolding) });
    else if (fps[0] === ZERO_FINGERPRINT) out.push({ gpn, cls: 'zero', fingerprint: ZERO_FINGERPRINT });
    else out.push({ gpn, cls: elsewhere(fps[0]) ? 'common' : 'image', fingerprint: fps[0] });
  }
  return out;
}

/**
 * Classify every present guest page of every image over its instances (at least two per image,
 * or `instance` cannot be told from `image`). Pages absent in every instance are left out.
 */
export function classifyPages(snapshots: readonly InstanceSnapshots[]): Map<string, ClassifiedPage[]> {
  const byImage = new Map<string, InstanceSnapshots[]>();
  for (const s of snapshots) byImage.set(s.image, [...(byImage.get(s.image) ?? []), s]);
  // Which images, and how many VMs, hold each non-zero content after boot (any address).
  const holders = new Map<number, Set<string>>();
  const vms = new Map<number, number>();
  for (const s of snapshots) {
    const seen = new Set<number>();
    for (const p of s.boot.present.values()) {
      if (p.kind === 'read' || p.fingerprint === ZERO_FINGERPRINT) continue;
      const set = holders.get(p.fingerprint) ?? new Set<string>();
      set.add(s.image);
      holders.set(p.fingerprint, set);
      seen.add(p.fingerprint);
    }
    for (const fp of seen) vms.set(fp, (vms.get(fp) ?? 0) + 1);
  }
  const out = new Map<string, ClassifiedPage[]>();
  for (const [image, insts] of byImage) out.set(image, classifyImage(insts, (fp) => (holders.get(fp)?.size ?? 0) > 1, (fp) => vms.get(fp) ?? 0));
  return out;
}

/** A count of 0 for every class. */
export function noPages(): Record<PageClass, number> {
  return Object.fromEntries(PAGE_CLASSES.map((c) => [c, 0])) as Record<PageClass, number>;
}

/** Pages per class (absent not counted: it is everything else). */
export function countClasses(pages: readonly ClassifiedPage[]): Record<PageClass, number> {
  const n = noPages();
  for (const p of pages) n[p.cls]++;
  return n;
}
