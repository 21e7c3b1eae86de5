/**
 * Aligning a set of images (dedup.md §1.3-§1.4): plan the global library map over the set, write
 * one linker script per image and relink it with ld in the aligned layout; optionally link
 * randomised ASLR instances and rewrite them through trampoline tables.
 *
 * Inputs are Unikraft-style build directories: an image plus `build/lib*.o`. The libraries an
 * image links are found by attribution (in address order, which is the compact link order). When
 * the same library comes from several build directories, the first one's object is used for every
 * image (the authors' "copy_objs" step, which makes a library byte-identical everywhere).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../base/errors.ts';
import { Rng } from '../base/rng.ts';
import { readElf } from './elf.ts';
import { attributeLibraries, findObjectDir, readLibraryObjects } from './attribution.ts';
import { aslrScript, alignedScript } from './linker-script.ts';
import { aslrRegionSize, IMAGE_BASE, objectSizes, planAlignment, type AlignmentPlan, type ObjectSizes } from './planner.ts';
import { JobFailedError, LDFLAGS, runJobs, toolComplaint, type Job } from './toolchain.ts';
import { rewriteForAslr, trampolineTableSize, type RewriteStats, type SiteCache } from './trampoline.ts';

export interface AlignInput {
  name: string;
  /** Libraries in link order (the application library last). */
  libraries: string[];
}

export interface LinkedImage {
  name: string;
  elf: string;
  instance: number;
  /** Libraries in layout order. */
  libraries: string[];
  trampolines?: RewriteStats;
}

const objPaths = (objDir: string, libs: string[]): string[] => libs.map((l) => path.join(objDir, `lib${l}.o`));

/** What the layouts need of each library object: its sizes and, for ASLR, its trampoline table size. */
export interface LibraryInfo {
  sizes: ObjectSizes;
  tableSize: number;
}

/** Read every library object of `libs` once (a set build shares the result between its layouts). */
export function readLibraries(objDir: string, libs: Iterable<string>): Map<string, LibraryInfo> {
  const info = new Map<string, LibraryInfo>();
  for (const l of libs) {
    const obj = readElf(path.join(objDir, `lib${l}.o`));
    info.set(l, { sizes: objectSizes(obj), tableSize: trampolineTableSize(obj) });
  }
  return info;
}

/** Links still to run (ld commands) and the images they make. */
export interface LinkPlan {
  images: LinkedImage[];
  jobs: Job[];
}

/** Plan the aligned layout of `inputs` and their links into `outDir/<name>.elf`; objects from `objDir`. */
export function alignedLinks(inputs: AlignInput[], objDir: string, outDir: string, libs?: Map<string, LibraryInfo>): LinkPlan & { plan: AlignmentPlan } {
  fs.mkdirSync(outDir, { recursive: true });
  const info = libs ?? readLibraries(objDir, new Set(inputs.flatMap((i) => i.libraries)));
  const plan = planAlignment(inputs, new Map([...info].map(([l, i]) => [l, i.sizes])));
  const images: LinkedImage[] = [];
  const jobs = inputs.map((a) => {
    const elf = path.join(outDir, `${a.name}.elf`);
    const lds = path.join(outDir, `${a.name}.lds`);
    fs.writeFileSync(lds, alignedScript(plan, a.libraries));
    images.push({ name: a.name, elf, instance: 0, libraries: a.libraries });
    return { output: elf, argv: ['ld', ...LDFLAGS, '-T', lds, '-o', elf, ...objPaths(objDir, a.libraries)] };
  });
  return { plan, images, jobs };
}

/** Link every input in the aligned layout into `outDir/<name>.elf`; objects come from `objDir`. */
export function linkAligned(inputs: AlignInput[], objDir: string, outDir: string): { plan: AlignmentPlan; images: LinkedImage[] } {
  const { plan, images, jobs } = alignedLinks(inputs, objDir, outDir);
  runJobs(jobs, outDir);
  return { plan, images };
}

/**
 * Plan `instances` randomised ASLR instances of every input, `outDir/<name>.<i>.elf`: their scripts
 * and links; `rewrite` then sends them through trampoline tables once the links ran. The library
 * order of instance i of image n comes from `seed` forked by "aslr/<n>/<i>"; the last library (the
 * application) stays last, as the authors do.
 */
export function aslrLinks(
  inputs: AlignInput[],
  objDir: string,
  outDir: string,
  instances: number,
  seed: number,
  libs?: Map<string, LibraryInfo>,
): LinkPlan & { rewrite(onDone?: (done: number, total: number) => void): void } {
  fs.mkdirSync(outDir, { recursive: true });
  const info = libs ?? readLibraries(objDir, new Set(inputs.flatMap((i) => i.libraries)));
  const rng = new Rng(seed);
  const images: LinkedImage[] = [];
  const jobs: Job[] = [];
  // Sites of a library are found once, in the first instance that has it (linked a second time
  // with --emit-relocs, which keeps the relocations marking absolute addresses), and reused.
  const analysed = new Set<string>();
  const withRelocs = new Set<string>();
  for (const a of inputs) {
    for (let i = 0; i < instances; i++) {
      const order = rng.fork(`aslr/${a.name}/${i}`).shuffle(a.libraries.slice(0, -1));
      order.push(a.libraries[a.libraries.length - 1]);
      const elf = path.join(outDir, `${a.name}.${i}.elf`);
      const lds = path.join(outDir, `${a.name}.${i}.lds`);
      fs.writeFileSync(lds, aslrScript(IMAGE_BASE, order.map((l) => ({ name: l, sizes: info.get(l)!.sizes, tableSize: info.get(l)!.tableSize })), aslrRegionSize));
      images.push({ name: a.name, elf, instance: i, libraries: order });
      const shared = order.slice(0, -1);
      if (shared.some((l) => !analysed.has(l))) {
        shared.forEach((l) => analysed.add(l));
        withRelocs.add(elf);
        jobs.push({ output: `${elf}.rel`, argv: ['ld', ...LDFLAGS, '--emit-relocs', '-T', lds, '-o', `${elf}.rel`, ...objPaths(objDir, order)] });
      }
      jobs.push({ output: elf, argv: ['ld', ...LDFLAGS, '-T', lds, '-o', elf, ...objPaths(objDir, order)] });
    }
  }
  const rewrite = (onDone?: (done: number, total: number) => void): void => {
    const cache: SiteCache = new Map();
    images.forEach((img, k) => {
      const rel = withRelocs.has(img.elf) ? `${img.elf}.rel` : null;
      // The application (last) is private to its image: it keeps the addresses ld gave it.
      img.trampolines = rewriteForAslr(rel, img.elf, img.libraries.slice(0, -1), cache);
      if (rel) fs.rmSync(rel);
      onDone?.(k + 1, images.length);
    });
  };
  return { images, jobs, rewrite };
}

/** Link `instances` randomised ASLR instances of every input and rewrite them (`aslrLinks`). */
export function linkAslr(inputs: AlignInput[], objDir: string, outDir: string, instances: number, seed: number): LinkedImage[] {
  const { images, jobs, rewrite } = aslrLinks(inputs, objDir, outDir, instances, seed);
  runJobs(jobs, outDir);
  rewrite();
  return images;
}

export interface AlignedResult {
  source: string;
  elf: string;
  instance: number;
  variant: 'aligned' | 'aligned-aslr';
  before: { fileBytes: number; virtualBytes: number };
  after: { fileBytes: number; virtualBytes: number };
}

function sizesOf(file: string): { fileBytes: number; virtualBytes: number } {
  const elf = readElf(file);
  return { fileBytes: elf.bytes.length, virtualBytes: elf.segments.filter((s) => s.type === 1).reduce((n, s) => n + s.memsz, 0) };
}

/** The image name a link of alignImages produces: `<out>/<name>.elf` or `<out>/aslr/<name>.<i>.elf[.rel]`. */
function imageOfLink(output: string, outDir: string): string | undefined {
  const base = path.basename(output);
  if (path.dirname(output) === outDir) return /^(.+)\.elf$/.exec(base)?.[1];
  if (path.dirname(output) === path.join(outDir, 'aslr')) return /^(.+)\.\d+\.elf(\.rel)?$/.exec(base)?.[1];
  return undefined;
}

/**
 * Align existing images (each with a `build/lib*.o` next to it, or one shared `objDir`) into
 * `outDir`, which receives `build/` (the objects used), the aligned images and their scripts.
 */
export function alignImages(
  elfs: string[],
  options: { outDir: string; objDir?: string; aslrInstances?: number; seed?: number },
): { plan: AlignmentPlan; images: AlignedResult[] } {
  const outDir = path.resolve(options.outDir);
  const build = path.join(outDir, 'build');
  // Every input is checked before anything is written, and a refused run removes the folder it
  // created, so a refusal leaves no empty output folder behind.
  const inputs: AlignInput[] = [];
  const sources: { objDir: string; order: string[] }[] = [];
  const names = new Set<string>();
  for (const elfPath of elfs) {
    const objDir = options.objDir ?? findObjectDir(elfPath);
    if (!objDir) throw new InputError(elfPath, 'no build/lib*.o next to the image (give --objs DIR)');
    const ranges = attributeLibraries(readElf(elfPath), readLibraryObjects(objDir));
    const order: string[] = [];
    for (const r of [...ranges].sort((a, b) => a.start - b.start)) if (r.kind === 'text' && !order.includes(r.library)) order.push(r.library);
    if (order.length === 0) throw new InputError(elfPath, `no library of ${objDir} found in the image's symbols`);
    sources.push({ objDir, order });
    let name = path.basename(elfPath).replace(/\.elf$/, '');
    while (names.has(name)) name += '_';
    names.add(name);
    inputs.push({ name, libraries: order });
  }
  if (inputs.length < 2) throw new InputError(elfs[0] ?? 'align', `alignment needs at least 2 images (the authors' aligner does too), got ${inputs.length}`);
  const created = !fs.existsSync(outDir);
  let plan: AlignmentPlan;
  let images: LinkedImage[];
  let aslr: LinkedImage[];
  try {
    fs.mkdirSync(build, { recursive: true });
    for (const { objDir, order } of sources) {
      for (const l of order) {
        const dst = path.join(build, `lib${l}.o`);
        if (!fs.existsSync(dst)) fs.copyFileSync(path.join(objDir, `lib${l}.o`), dst);
      }
    }
    ({ plan, images } = linkAligned(inputs, build, outDir));
    aslr = options.aslrInstances ? linkAslr(inputs, build, path.join(outDir, 'aslr'), options.aslrInstances, options.seed ?? 1) : [];
  } catch (e) {
    if (created) fs.rmSync(outDir, { recursive: true, force: true });
    if (!(e instanceof JobFailedError)) throw e;
    // The objects are the user's, so ld refusing them is the user's to fix: name the image.
    const failed = inputs.findIndex((i) => imageOfLink(e.job.output, outDir) === i.name);
    const source = failed >= 0 ? sources[failed].objDir : build;
    // ld names the copies in the removed output folder; point at the user's objects instead.
    const complaint = toolComplaint(e).split(`${build}${path.sep}`).join(`${source}${path.sep}`);
    throw new InputError(failed >= 0 ? elfs[failed] : elfs[0], `ld could not relink it from the objects of ${source}: ${complaint}`);
  }
  const sourceOf = (name: string): string => elfs[inputs.findIndex((i) => i.name === name)];
  const results: AlignedResult[] = [...images, ...aslr].map((img) => ({
    source: sourceOf(img.name),
    elf: img.elf,
    instance: img.instance,
    variant: img.trampolines ? 'aligned-aslr' : 'aligned',
    before: sizesOf(sourceOf(img.name)),
    after: sizesOf(img.elf),
  }));
  return { plan, images: results };
}
