/**
 * Image sets prepared for the page-sharing experiments (the FaaS set, the demo set or a user's set): for each image, the pages the standard
 * loader copies (file-backed PT_LOAD pages with their real fingerprints), the pages zero-filled
 * on demand (bss beyond p_filesz), where the heap starts, and, for pool configurations, the image
 * resolved against a library pool built from real description files (src/image buildPool).
 *
 * Fingerprints are confirmed by bytes once per set: every pair of image pages with equal
 * fingerprints across all images prepared is compared byte for byte (`byteConfirmedPages`), so
 * KSM's and the pool's fingerprint comparisons stand for byte comparisons on image pages.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InvariantError } from '../../base/assert.ts';
import { alignUp, PAGE_4K } from '../../base/units.ts';
import { LibraryPool, pageList, poolImage, type HostMemory, type PageList, type PoolImage } from '../../host/index.ts';
import { buildDemoSet, buildPool, imageKey, loadedImageOf, readDescription, readElf, type DemoImage, type DemoManifest, type ImageVariant, type LoadedImage } from '../../image/index.ts';
import { markUsed, pruneUnused } from '../../base/tempcache.ts';
import { invocationStack, type InvocationStack } from './invocation-stack.ts';

export interface PreparedImage {
  name: string;
  variant: ImageVariant;
  instance: number;
  elf: string;
  /** File-backed pages, copied by the standard loader. */
  copyPages: PageList;
  /** Pages beyond p_filesz (bss), zero-filled on demand when boot touches them. */
  zeroPages: Float64Array;
  /** First guest-physical address after the image (the heap follows it). */
  imageEnd: number;
  /** The CPL0 stack pages every invocation writes, and their content under the modelled boot conventions (src/experiments/dedup/invocation-stack.ts); empty without the KVM platform library. */
  invocationStack: InvocationStack;
  /** Description file (pool configurations). */
  description?: string;
}

export interface ImageSet {
  manifest: DemoManifest;
  byVariant: Map<ImageVariant, PreparedImage[]>;
  /** Image pages whose bytes were compared against another page with the same fingerprint. */
  byteConfirmedPages: number;
}

/** Build (or reuse the cached) demo set and prepare the images of `variants`. */
export function prepareImages(apps: number, aslrInstances: number, seed: number, variants: readonly ImageVariant[]): ImageSet {
  const manifest = buildDemoSet({ count: apps, aslrInstances, seed, variants: variants.includes('dce') ? ['default', 'dce'] : ['default'] });
  return prepareSet(manifest, variants);
}

/** The first `limit` distinct images (by name, in manifest order) of a set, in every variant they have. */
export function firstImages(manifest: DemoManifest, limit: number): DemoManifest {
  const names = [...new Set(manifest.images.map((i) => i.name))].slice(0, limit);
  const keep = new Set(names);
  return { ...manifest, images: manifest.images.filter((i: DemoImage) => keep.has(i.name)) };
}

/** Prepare the images of `variants` of any set (a set directory's manifest or a user's files). */
export function prepareSet(manifest: DemoManifest, variants: readonly ImageVariant[]): ImageSet {
  const byVariant = new Map<ImageVariant, PreparedImage[]>();
  const firstBytes = new Map<number, Uint8Array>();
  let confirmed = 0;
  for (const img of manifest.images) {
    if (!variants.includes(img.variant)) continue;
    // Read once: the loaded pages and the invocation's stack pages both come from it.
    const elf = readElf(img.elf);
    const loaded = loadedImageOf(elf, { objDir: img.objDir });
    confirmed += confirmBytes(loaded, firstBytes);
    const list = byVariant.get(img.variant) ?? [];
    list.push({ name: img.name, variant: img.variant, instance: img.instance, elf: img.elf, ...pagesOf(loaded), invocationStack: invocationStack(elf) });
    byVariant.set(img.variant, list);
  }
  return { manifest, byVariant, byteConfirmedPages: confirmed };
}

/** Compare every page's bytes with the first page seen with the same fingerprint. */
function confirmBytes(l: LoadedImage, first: Map<number, Uint8Array>): number {
  let n = 0;
  for (const p of l.pages) {
    if (p.fingerprint === 0) continue;
    const bytes = l.pageBytes(p.vaddr);
    const f = first.get(p.fingerprint);
    if (f === undefined) {
      first.set(p.fingerprint, bytes.slice());
      continue;
    }
    if (Buffer.compare(Buffer.from(f.buffer, f.byteOffset, f.byteLength), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) !== 0) {
      throw new InvariantError(`${l.file}: page 0x${p.vaddr.toString(16)} has the fingerprint of a page with different bytes`);
    }
    n++;
  }
  return n;
}

function pagesOf(l: LoadedImage): Pick<PreparedImage, 'copyPages' | 'zeroPages' | 'imageEnd'> {
  const copy: { gpa: number; fingerprint: number }[] = [];
  const zero: number[] = [];
  let end = 0;
  for (const p of l.pages) {
    const seg = l.segments.find((s) => p.vaddr + PAGE_4K > s.vaddr && p.vaddr < s.vaddr + s.memsz);
    if (!seg) continue;
    if (p.vaddr < seg.vaddr + seg.filesz) copy.push({ gpa: p.vaddr, fingerprint: p.fingerprint });
    else zero.push(p.vaddr);
    end = Math.max(end, p.vaddr + PAGE_4K);
  }
  return { copyPages: pageList(copy), zeroPages: Float64Array.from(zero), imageEnd: alignUp(end, PAGE_4K) };
}

/**
 * Build the library pool of a set of images (real description files under the demo cache
 * directory), allocate its frames in `memory` (resident, as files copied to /dev/shm) and resolve
 * each image against it.
 */
export function preparePool(set: ImageSet, variant: ImageVariant, memory: HostMemory): { pool: LibraryPool; images: PoolImage[]; sharedPages: number } {
  const imgs = set.byVariant.get(variant);
  if (!imgs) throw new InvariantError(`no ${variant} images prepared`);
  // The pool lives in the temporary directory, keyed by the images it holds, never in a user's set.
  const key = createHash('sha256');
  for (const i of imgs) {
    const st = fs.statSync(i.elf);
    key.update(`${i.elf}\0${st.size}\0${st.mtimeMs}\0`);
  }
  const poolDir = path.join(os.tmpdir(), `unimem-pool-${variant}-${key.digest('hex').slice(0, 16)}`);
  buildPool(poolDir, imgs.map((i) => i.elf));
  markUsed(poolDir);
  pruneUnused(os.tmpdir(), /^unimem-pool-[a-z-]+-[0-9a-f]{16}$/, poolDir);
  const pool = new LibraryPool(memory);
  const images: PoolImage[] = [];
  for (const img of imgs) {
    const desc = readDescription(path.join(poolDir, 'images', `${imageKey(img.elf)}.json`));
    for (const s of desc.shared) pool.addEntry(s.entry, s.pages);
    const fpAt = new Map<number, number>();
    for (let i = 0; i < img.copyPages.gpa.length; i++) fpAt.set(img.copyPages.gpa[i], img.copyPages.fingerprint[i]);
    const priv: { gpa: number; fingerprint: number }[] = [];
    for (const s of desc.private) {
      if (s.kind === 'bss' || s.offset < 0) continue;
      const first = s.vaddr - (s.vaddr % PAGE_4K);
      for (let a = first; a < s.vaddr + s.size; a += PAGE_4K) if (!priv.some((p) => p.gpa === a)) priv.push({ gpa: a, fingerprint: fpAt.get(a) ?? 0 });
    }
    images.push(poolImage(pool, desc.shared.map((s) => ({ gpa: s.vaddr, entry: s.entry })), pageList(priv)));
  }
  return { pool, images, sharedPages: pool.frames };
}
