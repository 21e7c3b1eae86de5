/**
 * Page sharing across a set of loaded images: how many pages have identical content in more than
 * one place, i.e. what same-page merging (KSM) could merge if every image ran in its own VM.
 * Candidates are grouped by fingerprint and confirmed byte for byte, as KSM compares contents.
 * Zero pages are counted apart: they are only backed once touched (bss), and Linux KSM by default
 * (use_zero_pages=0) merges them like any other page.
 */
import { ZERO_FINGERPRINT } from '../base/hash.ts';
import type { LoadedImage } from './pages.ts';
import type { SectionKind } from './planner.ts';

export interface KindSharing {
  pages: number;
  /** Non-zero pages that duplicate an earlier identical page: what merging would save. */
  mergeable: number;
}

export interface SharingStats {
  images: number;
  /** All loaded pages of all images. */
  pages: number;
  zeroPages: number;
  /** Distinct non-zero page contents. */
  distinct: number;
  /** Non-zero pages minus distinct contents: pages merging would save. */
  mergeable: number;
  /** Non-zero pages whose content also appears in another image. */
  sharedAcrossImages: number;
  byKind: Record<SectionKind, KindSharing>;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

export function comparePages(images: LoadedImage[]): SharingStats {
  const stats: SharingStats = {
    images: images.length,
    pages: 0,
    zeroPages: 0,
    distinct: 0,
    mergeable: 0,
    sharedAcrossImages: 0,
    byKind: { text: { pages: 0, mergeable: 0 }, rodata: { pages: 0, mergeable: 0 }, data: { pages: 0, mergeable: 0 }, bss: { pages: 0, mergeable: 0 } },
  };
  // fingerprint -> groups of byte-identical pages (more than one group only on a hash collision)
  const groups = new Map<number, { bytes: Uint8Array; images: Set<number>; count: number }[]>();
  const members: { group: { images: Set<number>; count: number } }[] = [];
  images.forEach((img, idx) => {
    for (const p of img.pages) {
      stats.pages++;
      stats.byKind[p.kind].pages++;
      if (p.fingerprint === ZERO_FINGERPRINT) {
        stats.zeroPages++;
        continue;
      }
      const bytes = img.pageBytes(p.vaddr);
      const list = groups.get(p.fingerprint) ?? [];
      let g = list.find((x) => equalBytes(x.bytes, bytes));
      if (!g) {
        g = { bytes, images: new Set(), count: 0 };
        list.push(g);
        groups.set(p.fingerprint, list);
        stats.distinct++;
      } else {
        stats.mergeable++;
        stats.byKind[p.kind].mergeable++;
      }
      g.images.add(idx);
      g.count++;
      members.push({ group: g });
    }
  });
  for (const m of members) if (m.group.images.size > 1) stats.sharedAcrossImages++;
  return stats;
}
