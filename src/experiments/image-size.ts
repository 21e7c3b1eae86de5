/**
 * `image-size`: file and memory size of compact, DCE, aligned and aligned-with-ASLR images of the
 * demo set (SoCC'22 "Want More Unikernels? Inflate Them!": alignment "does not introduce
 * significant overhead in terms of ELF size" [poster]; dedup.md §1.3 on where the inflation comes
 * from: page-rounded libraries, max-size slots, holes for libraries an image does not link).
 *
 * The images are real: built with gcc/ld by the image toolchain (cached under the OS temporary
 * directory by content hash, so a repeated run only reads them), then measured: ELF file bytes,
 * virtual bytes (sum of PT_LOAD p_memsz), loaded 4 KiB pages, and the pages same-page merging could
 * merge across the set. Deterministic: the images are byte-identical for a seed.
 */
import { z } from 'zod';
import { buildDemoSet, comparePages, readImageSet, readLoadedImage, IMAGE_VARIANTS, type DemoImage, type ImageVariant } from '../image/index.ts';
import type { Experiment, ExperimentResult } from './types.ts';

export const imageSizeSchema = z
  .object({
    applications: z.number().int().min(2).max(20).describe('demo applications (the first N of demo/demo.json)').meta({ source: 'SoCC\'22 poster: 20 heterogeneous unikernels' }),
    aslrInstances: z.number().int().min(1).max(8).describe('randomised ASLR instances per application').meta({ unit: 'instances', source: 'dedup.md §1.4: one image per instance' }),
    images: z.array(z.string().min(1)).min(1).optional().describe('image set to measure instead of the demo set: a set directory, a directory of ELF files (optionally in variant subdirectories) or ELF files').meta({ source: 'user input (docs/image-toolchain.md, "Image sets")' }),
  })
  .strict();

/**
 * Unikraft v0.4 image file sizes, bytes, default and DCE builds, from the EuroSys'21 artifacts
 * (github.com/unikraft/eurosys21-artifacts, experiments/fig_08_unikraft-image-size/results.csv,
 * commit d349ffe). SQLite's row equals nginx's in the published CSV (research/dedup.md §5).
 */
export const UNIKRAFT_IMAGE_BYTES: readonly { app: string; defaultBytes: number; dceBytes: number }[] = [
  { app: 'helloworld', defaultBytes: 262816, dceBytes: 197280 },
  { app: 'nginx', defaultBytes: 1639224, dceBytes: 852792 },
  { app: 'redis', defaultBytes: 1835832, dceBytes: 1114936 },
  { app: 'sqlite', defaultBytes: 1639224, dceBytes: 852792 },
];
const UNIKRAFT_SOURCE = 'Unikraft EuroSys\'21 artifacts, fig_08 results.csv';

export type ImageSizeConfig = z.infer<typeof imageSizeSchema>;

const growth = (after: number, before: number): number => (before === 0 ? 0 : after / before - 1);
const round = (v: number): number => Math.round(v * 1e6) / 1e6;

type VariantTotals = { file: number; virt: number; pages: number; nonZero: number; n: number };
type PageSharing = ReturnType<typeof comparePages>;

/** Each image's sizes (a row per image), and per variant the totals and page sharing of instance 0. */
function measureImages(images: readonly DemoImage[], progress: (done: number) => void): { rows: (string | number)[][]; totals: Map<ImageVariant, VariantTotals>; sharing: Map<ImageVariant, PageSharing> } {
  const rows: (string | number)[][] = [];
  const totals = new Map<ImageVariant, VariantTotals>();
  const loaded = new Map<ImageVariant, ReturnType<typeof readLoadedImage>[]>();
  images.forEach((img, i) => {
    const l = readLoadedImage(img.elf, { objDir: img.objDir });
    const nonZero = l.pages.filter((p) => p.fingerprint !== 0).length;
    rows.push([img.name, img.variant, img.instance, l.fileBytes, l.virtualBytes, l.pages.length, nonZero]);
    // Totals and sharing use instance 0 only, so every variant counts one image per application.
    if (img.instance === 0) {
      const t = totals.get(img.variant) ?? { file: 0, virt: 0, pages: 0, nonZero: 0, n: 0 };
      t.file += l.fileBytes;
      t.virt += l.virtualBytes;
      t.pages += l.pages.length;
      t.nonZero += nonZero;
      t.n++;
      totals.set(img.variant, t);
      loaded.set(img.variant, [...(loaded.get(img.variant) ?? []), l]);
    }
    progress(i + 1);
  });
  const sharing = new Map<ImageVariant, PageSharing>();
  for (const v of IMAGE_VARIANTS) if (loaded.has(v)) sharing.set(v, comparePages(loaded.get(v)!));
  return { rows, totals, sharing };
}

/** Our figures beside the poster's claims and Unikraft's published sizes. */
function sizeComparisons(summary: Record<string, number>, totals: Map<ImageVariant, VariantTotals>, sharing: Map<ImageVariant, PageSharing>, matched: ReturnType<typeof unikraftRows>['matched']) {
  const compact = totals.get('compact')!;
  const comparisons = [];
  if (totals.has('aligned')) {
    comparisons.push({ metric: 'ELF size growth of aligned images', paper: 'not significant (poster; no figure published)', ours: summary.alignedFileGrowth, unit: 'fraction', note: `sum over ${compact.n} images against compact: ${compact.file} to ${totals.get('aligned')!.file} bytes, including zero-filled holes of the aligned layout` });
    comparisons.push({ metric: 'memory after merging, compact / aligned', paper: 'up to 3x (paper abstract)', ours: summary.mergedMemoryRatio, unit: 'ratio', note: `distinct non-zero pages of the set, ${sharing.get('compact')!.distinct} compact against ${sharing.get('aligned')!.distinct} aligned; static image only (no run-time memory)` });
  }
  if (totals.has('dce')) comparisons.push({ metric: 'ELF size change with DCE', paper: '-25 % (helloworld) to -48 % (nginx), Unikraft EuroSys\'21 artifacts', ours: summary.dceFileGrowth, unit: 'fraction', note: `sum over ${compact.n} images: ${compact.file} to ${totals.get('dce')!.file} bytes` });
  for (const u of matched) {
    comparisons.push({ metric: `${u.app} image bytes, default build`, paper: `${u.unikraftDefault} (${UNIKRAFT_SOURCE})`, ours: u.oursCompact, unit: 'bytes', note: `ours / Unikraft ${round(u.oursCompact / u.unikraftDefault)}; DCE: ours ${u.oursDce ?? 'not built'}, Unikraft ${u.unikraftDce}` });
  }
  return comparisons;
}

export const imageSizeExperiment: Experiment<typeof imageSizeSchema> = {
  name: 'image-size',
  title: 'Image size: compact, DCE, aligned and aligned with ASLR',
  description:
    'Builds the demo unikernels (real gcc/ld images of real library code: musl, lwIP, zlib, SQLite, Lua, mbed TLS under our thin platform libraries; Unikraft-like compact layout, dead-code-eliminated, library-aligned, and aligned with per-instance trampoline tables), or reads a given image set, and measures ELF file bytes, virtual bytes of the PT_LOAD segments, pages, and pages identical across the set. ' +
    'Compares with the SoCC\'22 claim that alignment costs little ELF size while making library pages shareable, and with Unikraft\'s published image sizes (EuroSys\'21 artifacts).',
  schema: imageSizeSchema,
  defaults(quick: boolean): ImageSizeConfig {
    return { applications: 20, aslrInstances: quick ? 1 : 3 };
  },
  run(config, ctx): ExperimentResult {
    ctx.progress.phase('build demo images', 1);
    const manifest = config.images
      ? readImageSet(config.images)
      : buildDemoSet({ count: config.applications, aslrInstances: config.aslrInstances, seed: ctx.seed, variants: ['default', 'dce'] });
    ctx.progress.update(1);
    const images = manifest.images;
    ctx.progress.phase('measure images', images.length);
    const { rows, totals, sharing } = measureImages(images, (done) => ctx.progress.update(done));
    const compact = totals.get('compact')!;
    const variantRows: (string | number)[][] = [];
    for (const v of IMAGE_VARIANTS) {
      const t = totals.get(v);
      if (!t) continue;
      const s = sharing.get(v)!;
      variantRows.push([v, t.n, t.file, round(growth(t.file, compact.file)), t.virt, round(growth(t.virt, compact.virt)), t.pages, t.nonZero, s.distinct, s.mergeable]);
    }
    const has = (v: ImageVariant): boolean => totals.has(v);
    const g = (v: ImageVariant, k: 'file' | 'virt'): number => round(growth(totals.get(v)![k], compact[k]));
    const summary: Record<string, number> = {
      images: images.length,
      applications: new Set(images.map((i) => i.name)).size,
      compactFileBytes: compact.file,
      compactVirtualBytes: compact.virt,
      compactMergeablePages: sharing.get('compact')!.mergeable,
      compactDistinctPages: sharing.get('compact')!.distinct,
    };
    // A user's set may lack rebuilt variants; their fields are then absent, not invented.
    if (has('aligned')) {
      Object.assign(summary, {
        alignedFileGrowth: g('aligned', 'file'),
        alignedVirtualGrowth: g('aligned', 'virt'),
        alignedMergeablePages: sharing.get('aligned')!.mergeable,
        alignedDistinctPages: sharing.get('aligned')!.distinct,
        /** Non-zero physical pages after perfect merging, compact over aligned. */
        mergedMemoryRatio: round(sharing.get('compact')!.distinct / sharing.get('aligned')!.distinct),
      });
    }
    if (has('aligned-aslr')) Object.assign(summary, { aslrFileGrowth: g('aligned-aslr', 'file'), aslrVirtualGrowth: g('aligned-aslr', 'virt'), aslrMergeablePages: sharing.get('aligned-aslr')!.mergeable });
    if (has('dce')) Object.assign(summary, { dceFileGrowth: g('dce', 'file'), dceVirtualGrowth: g('dce', 'virt'), dceMergeablePages: sharing.get('dce')!.mergeable });
    const unikraft = unikraftRows(rows);
    const comparisons = sizeComparisons(summary, totals, sharing, unikraft.matched);
    return {
      experiment: 'image-size',
      title: this.title,
      seed: ctx.seed,
      quick: ctx.quick ?? false,
      config,
      summary,
      comparisons,
      tables: [
        { name: 'variants', title: 'Per variant (one image per application; growth against compact)', columns: ['variant', 'images', 'file bytes', 'file growth', 'virtual bytes', 'virtual growth', 'pages', 'non-zero pages', 'distinct pages', 'mergeable pages'], rows: variantRows },
        { name: 'images', title: 'Per image', columns: ['image', 'variant', 'instance', 'file bytes', 'virtual bytes', 'pages', 'non-zero pages'], rows },
        { name: 'unikraft', title: `Image file bytes beside Unikraft v0.4's (${UNIKRAFT_SOURCE})`, columns: ['application', 'Unikraft default', 'Unikraft DCE', 'ours compact', 'ours DCE'], rows: unikraft.rows },
      ],
      series: [
        {
          name: 'file-bytes',
          title: 'ELF file size per image and variant',
          x: 'image',
          y: 'file size',
          yUnit: 'KiB',
          kind: 'bar',
          points: rows.filter((r) => r[2] === 0).map((r) => ({ series: String(r[1]), x: String(r[0]), y: Math.round((Number(r[3]) / 1024) * 10) / 10 })),
        },
      ],
    };
  },
};

/** Unikraft's published sizes beside ours for the same application names ('-' where we have none). */
function unikraftRows(rows: (string | number)[][]): {
  rows: (string | number)[][];
  matched: { app: string; unikraftDefault: number; unikraftDce: number; oursCompact: number; oursDce?: number }[];
} {
  const ours = (app: string, variant: ImageVariant): number | undefined => {
    const r = rows.find((x) => x[0] === app && x[1] === variant && x[2] === 0);
    return r ? Number(r[3]) : undefined;
  };
  const matched = [];
  const out: (string | number)[][] = [];
  for (const u of UNIKRAFT_IMAGE_BYTES) {
    const c = ours(u.app, 'compact');
    const d = ours(u.app, 'dce');
    out.push([u.app, u.defaultBytes, u.dceBytes, c ?? '-', d ?? '-']);
    if (c !== undefined) matched.push({ app: u.app, unikraftDefault: u.defaultBytes, unikraftDce: u.dceBytes, oursCompact: c, oursDce: d });
  }
  return { rows: out, matched };
}
