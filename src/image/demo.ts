/**
 * The demo image set builder (`unimem image demo`, `buildDemoSet`).
 *
 * 1. Compile our platform libraries and the applications, Unikraft-style, into one relocatable
 *    object `build/lib<name>.o` each (gcc per source file, then `ld -r`; applications with
 *    musl-gcc against the real libraries' headers), in the default build and in the DCE build
 *    (-ffunction-sections -fdata-sections). The real libraries' objects (musl, zlib, SQLite, Lua,
 *    mbed TLS, lwIP) come from the library cache (libs.ts, scripts/build-libs.sh), the same object
 *    in both builds (they are compiled with function and data sections). Objects are cached under
 *    the OS temporary directory, keyed by the content hash of everything they depend on.
 * 2. Link every application image with ld: compact (Unikraft's layout), DCE (compact + --gc-sections),
 *    aligned (global library map, one generated script per image) and aligned-with-ASLR instances
 *    (shuffled library order, trampoline tables written by the rewriter).
 * 3. Run every image (each is a static Linux executable) and check all variants print the same line.
 *
 * Directory layout (Unikraft-like: each variant directory holds its images and a build/ of objects):
 *
 *   DIR/manifest.json
 *   DIR/compact/build/lib<name>.o   default-build objects     DIR/compact/<app>.elf
 *   DIR/dce/build/lib<name>.o       DCE-build objects         DIR/dce/<app>.elf
 *   DIR/aligned/build -> ../compact/build                     DIR/aligned/<app>.elf, <app>.lds
 *   DIR/aligned-aslr/build -> ../compact/build                DIR/aligned-aslr/<app>.<i>.elf, .lds
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InputError } from '../base/errors.ts';
import { readElf, readSections, SHF_ALLOC } from './elf.ts';
import { DEMO_ROOT, loadDemoSpec, type DemoSpec } from './demo-spec.ts';
import { realLibraries, realObject, type RealLibrary } from './libs.ts';
import { compactScript } from './linker-script.ts';
import { IMAGE_BASE, RELRO_PREFIX, type AlignmentPlan } from './planner.ts';
import { buildKey, CFLAGS, DCE_CFLAGS, LDFLAGS, runJobs, runTool, type Job } from './toolchain.ts';
import { alignedLinks, aslrLinks, readLibraries } from './align.ts';
import { silentProgress, type Progress } from '../base/progress.ts';
import { relroSections, type RewriteStats } from './trampoline.ts';
import { buildIntoFolder } from './output-folders.ts';
import { checkManifestShape } from './manifest-check.ts';
import { markUsed, pruneUnused } from '../base/tempcache.ts';

export type BuildVariant = 'default' | 'dce';
export type ImageVariant = 'compact' | 'dce' | 'aligned' | 'aligned-aslr';
export const IMAGE_VARIANTS: ImageVariant[] = ['compact', 'dce', 'aligned', 'aligned-aslr'];

export interface DemoOptions {
  /** Where to put the set; default: a cache directory under the OS temporary directory. */
  outDir?: string;
  /** Builds to produce: 'default' gives compact, aligned and ASLR images; 'dce' the DCE images. */
  variants?: BuildVariant[];
  /** Number of applications (the first N of demo/demo.json); at least 2. Default: all. */
  count?: number;
  /** Randomised ASLR instances per application (0: none). Default 1. */
  aslrInstances?: number;
  /** Seed of the ASLR library orders. */
  seed?: number;
  /** Progress of the build (link, trampolines, run); silent by default. */
  progress?: Progress;
}

export interface DemoImage {
  /** Application name. */
  name: string;
  variant: ImageVariant;
  /** ASLR instance number (aligned-aslr only), else 0. */
  instance: number;
  /** Absolute path of the ELF executable. */
  elf: string;
  /** Directory of the per-library objects it was linked from. */
  objDir: string;
  /** Libraries in the order they are laid out in the image (link order; shuffled for ASLR). */
  libraries: string[];
  /** What the image prints when run (the same for every variant of one application). */
  output: string;
  /** Trampoline statistics (aligned-aslr only). */
  trampolines?: RewriteStats;
}

export interface DemoManifest {
  magic: 'unimem-demo-manifest';
  version: 1;
  /** Content hash of the inputs and options; a directory is reused only under the same key. */
  key: string;
  dir: string;
  seed: number;
  images: DemoImage[];
  /** The global library map of the aligned images (absent without the default build). */
  plan?: AlignmentPlan;
  /** Source package and version of every real library the images link. */
  realLibraries: RealLibrary[];
}

const MANIFEST = 'manifest.json';

function resolveOptions(o: DemoOptions, spec: DemoSpec): Required<Omit<DemoOptions, 'outDir' | 'progress'>> {
  const count = o.count ?? spec.apps.length;
  if (!Number.isInteger(count) || count < 2 || count > spec.apps.length) {
    throw new InputError('demo', `count must be an integer in 2..${spec.apps.length}, got ${o.count}`);
  }
  return {
    variants: (['default', 'dce'] as BuildVariant[]).filter((v) => (o.variants ?? ['default', 'dce']).includes(v)),
    count,
    aslrInstances: o.aslrInstances ?? 1,
    seed: o.seed ?? 1,
  };
}

/** Where `buildDemoSet` caches a set built with these options when no outDir is given. */
export function defaultDemoDir(options: DemoOptions = {}): string {
  const spec = loadDemoSpec();
  return path.join(os.tmpdir(), `unimem-demo-${buildKey(DEMO_ROOT, { images: resolveOptions(options, spec), realLibraries: realLibraries().dir })}`);
}

/** Read a manifest written by `buildDemoSet`, with absolute paths. */
export function readManifest(dir: string): DemoManifest {
  const file = path.join(dir, MANIFEST);
  let m: DemoManifest;
  try {
    m = JSON.parse(fs.readFileSync(file, 'utf8')) as DemoManifest;
  } catch (e) {
    throw new InputError(file, `cannot read the demo manifest (${(e as Error).message})`);
  }
  if (m?.magic !== 'unimem-demo-manifest' || m.version !== 1) throw new InputError(file, 'not a unimem demo manifest (bad magic or version)');
  checkManifestShape(file, m);
  const abs = path.resolve(dir);
  return { ...m, dir: abs, images: m.images.map((i) => ({ ...i, elf: path.join(abs, i.elf), objDir: path.join(abs, i.objDir) })) };
}

export function cachedManifest(dir: string, key: string): DemoManifest | undefined {
  if (!fs.existsSync(path.join(dir, MANIFEST))) return undefined;
  try {
    const m = readManifest(dir);
    if (m.key === key && m.images.every((i) => fs.existsSync(i.elf))) return m;
  } catch {
    // an unreadable old manifest is rebuilt
  }
  return undefined;
}

/** `ld -r` script that merges function and data sections into one section per kind. */
const MERGE_SCRIPT = [
  'SECTIONS',
  '{',
  '  .text : { *(.text .text.*) }',
  '  .rodata : { *(.rodata .rodata.*) }',
  `  ${RELRO_PREFIX} : { *(${RELRO_PREFIX} ${RELRO_PREFIX}.*) }`,
  '  .data : { *(.data .data.*) }',
  '  .bss : { *(.bss .bss.*) }',
  '}',
  '',
].join('\n');

/** Flags for code compiled against the real libraries' headers (mbed TLS needs its configuration named). */
export function appCompileFlags(): string[] {
  const real = realLibraries();
  return ['-I', path.join(DEMO_ROOT, 'include'), ...real.includes.flatMap((d) => ['-I', d]), '-DMBEDTLS_CONFIG_FILE="unimem_config.h"'];
}

/** Compile every library in one build variant into `lib<name>.o` files (cached by content). */
function buildObjects(spec: DemoSpec, variant: BuildVariant): string {
  const real = realLibraries();
  const key = buildKey(DEMO_ROOT, { objects: variant, realLibraries: real.dir });
  const dir = path.join(os.tmpdir(), `unimem-objs-${variant}-${key}`);
  if (fs.existsSync(path.join(dir, 'done'))) {
    markUsed(dir);
    return dir;
  }
  pruneUnused(os.tmpdir(), /^unimem-objs-[a-z]+-[0-9a-f]{16}$/, dir);
  buildIntoFolder(dir, false, (tmp) => {
    const parts = compilePlatform(spec, variant, tmp);
    const build = path.join(tmp, 'build');
    fs.mkdirSync(build);
    runJobs(
      [...parts].map(([name, objs]) => ({ output: '', argv: ['ld', '-r', '-o', path.join(build, `lib${name}.o`), ...objs] })),
      tmp,
    );
    if (variant === 'default') for (const name of parts.keys()) separateRelro(path.join(build, `lib${name}.o`), path.join(build, `lib${name}.o`));
    // The real libraries are compiled with function and data sections (for DCE). The default build
    // merges them into one section per kind, as a build without those flags would give, which also
    // keeps every link of the default build fast (musl alone has 3,600 sections); read-only data
    // that holds addresses is kept apart first (separateRelro).
    const merge = variant === 'default' ? writeText(path.join(tmp, 'merge.lds'), MERGE_SCRIPT) : '';
    const reals = [...spec.libraries.values()].filter((l) => l.real);
    if (variant === 'default') for (const l of reals) separateRelro(realObject(real, l.name), path.join(tmp, `relro-${l.name}.o`));
    runJobs(
      reals.map((l) => ({
        output: '',
        argv: variant === 'default' ? ['ld', '-r', '-T', merge, '-o', path.join(build, `lib${l.name}.o`), path.join(tmp, `relro-${l.name}.o`)] : ['cp', realObject(real, l.name), path.join(build, `lib${l.name}.o`)],
      })),
      tmp,
    );
    fs.writeFileSync(path.join(tmp, 'done'), '');
  });
  return dir;
}

/** Compile our platform libraries and the applications, one object per source file; by library. */
function compilePlatform(spec: DemoSpec, variant: BuildVariant, tmp: string): Map<string, string[]> {
  const jobs: Job[] = [];
  const parts = new Map<string, string[]>();
  // Sources are compiled from inside src/ by relative name (`<lib>/<file>.c`), so the file symbol in
  // each object names its library and no build path leaks into the objects.
  const srcRoot = path.join(tmp, 'src');
  const appFlags = appCompileFlags();
  for (const lib of spec.libraries.values()) {
    if (lib.real) continue;
    const srcDir = path.join(srcRoot, lib.name);
    fs.mkdirSync(srcDir, { recursive: true });
    const sources: string[] = [];
    for (const f of lib.sources) sources.push(writeText(path.join(srcDir, path.basename(f)), fs.readFileSync(f, 'utf8')));
    const objs: string[] = [];
    sources.forEach((src, i) => {
      const o = path.join(srcDir, `${i}.o`);
      objs.push(o);
      // Applications always get function sections, so app_main is a section of its own that the
      // layouts can put first (faas.ts compiles functions the same way).
      const flags = variant === 'dce' || lib.isApp ? [...CFLAGS, ...DCE_CFLAGS] : CFLAGS;
      const rel = path.relative(srcRoot, src);
      // Platform libraries are freestanding (no headers); applications use musl's and the libraries' headers.
      const cc = lib.isApp ? ['musl-gcc', ...flags, ...appFlags] : ['gcc', ...flags, '-I', path.join(DEMO_ROOT, 'include')];
      jobs.push({ output: o, argv: [...cc, `-frandom-seed=${rel}`, '-c', rel, '-o', o] });
    });
    parts.set(lib.name, objs);
  }
  // Largest first, so the parallel build is not left waiting on one big file at the end.
  const weight = (j: Job): number => fs.statSync(path.join(srcRoot, j.argv[j.argv.length - 3])).size;
  jobs.sort((a, b) => weight(b) - weight(a));
  runJobs(jobs, srcRoot);
  return parts;
}

/**
 * Rename the read-only data sections of `input` that hold addresses (`relroSections`) from
 * `.rodata*` to `.rodata_addr*` into `output` (which may be `input`), as position-independent code
 * keeps such data apart (gcc's `.data.rel.ro`). The layouts then place it: with rodata where
 * libraries sit at fixed addresses, private in an ASLR instance (linker-script.ts).
 */
function separateRelro(input: string, output: string): void {
  const names = [...new Set(relroSections(readElf(input)).map((s) => s.name))].sort();
  if (names.length === 0) {
    if (input !== output) linkOrCopy(input, output);
    return;
  }
  runTool('objcopy', [...names.flatMap((n) => ['--rename-section', `${n}=${RELRO_PREFIX}${n.slice('.rodata'.length)}`]), input, output]);
}

export function linkOrCopy(src: string, dst: string): void {
  try {
    fs.linkSync(src, dst);
  } catch {
    fs.copyFileSync(src, dst);
  }
}

export function writeText(file: string, text: string): string {
  fs.writeFileSync(file, text);
  return file;
}

/** Every loaded section must be one the layout names: anything else would be an orphan placed by ld. */
function checkNoOrphans(elf: string, allowed: RegExp): void {
  for (const s of readSections(elf)) {
    if (s.flags & SHF_ALLOC && !allowed.test(s.name)) throw new Error(`${elf}: unexpected loaded section ${s.name}`);
  }
}

/** One image of a set to link: its name and its libraries in link order (the application last). */
export interface SetApp {
  name: string;
  linkOrder: string[];
}

/**
 * Link `apps` in every variant of `variants` into `tmp/<variant>/`, run every image and check that
 * all variants of an application print the same line, then write the manifest (`key`) into `tmp`.
 * `objectsOf(variant)` lists the objects (library name -> lib<name>.o path) of that build; they are
 * hard-linked into `tmp/<variant>/build/`, Unikraft's layout. `aslrInstances` per application.
 * Every link of every variant is one batch on the job pool; progress in three phases (link,
 * trampolines, run).
 */
export function linkSet(
  tmp: string,
  apps: SetApp[],
  objectsOf: (variant: BuildVariant) => Map<string, string>,
  opts: { variants: BuildVariant[]; aslrInstances: number; seed: number; key: string; progress?: Progress },
): DemoManifest {
  const progress = opts.progress ?? silentProgress;
  const images: DemoImage[] = [];
  const jobs: Job[] = [];
  const relImage = (img: DemoImage): DemoImage => ({ ...img, elf: path.relative(tmp, img.elf), objDir: path.relative(tmp, img.objDir) });
  const objPaths = (objDir: string, libs: string[]): string[] => libs.map((l) => path.join(objDir, `lib${l}.o`));
  let plan: AlignmentPlan | undefined;
  let rewrite: ((onDone?: (done: number, total: number) => void) => void) | undefined;

  for (const variant of opts.variants) {
    const imgVariant: ImageVariant = variant === 'default' ? 'compact' : 'dce';
    const vdir = path.join(tmp, imgVariant);
    const objDir = path.join(vdir, 'build');
    fs.mkdirSync(objDir, { recursive: true });
    for (const [name, file] of objectsOf(variant)) linkOrCopy(file, path.join(objDir, `lib${name}.o`));
    const script = writeText(path.join(vdir, 'link.lds'), compactScript(IMAGE_BASE));
    for (const a of apps) {
      const elf = path.join(vdir, `${a.name}.elf`);
      const gc = variant === 'dce' ? ['--gc-sections'] : [];
      images.push({ name: a.name, variant: imgVariant, instance: 0, elf, objDir, libraries: a.linkOrder, output: '' });
      jobs.push({ output: elf, argv: ['ld', ...LDFLAGS, ...gc, '-T', script, '-o', elf, ...objPaths(objDir, a.linkOrder)] });
    }
    if (variant !== 'default') continue;

    // The aligned layout and the ASLR instances use the default-build objects, each read once.
    progress.phase('plan layouts', 1);
    const inputs = apps.map((a) => ({ name: a.name, libraries: a.linkOrder }));
    const libs = readLibraries(objDir, new Set(inputs.flatMap((i) => i.libraries)));
    const adir = path.join(tmp, 'aligned');
    fs.mkdirSync(adir);
    fs.symlinkSync('../compact/build', path.join(adir, 'build'));
    const aligned = alignedLinks(inputs, objDir, adir, libs);
    plan = aligned.plan;
    jobs.push(...aligned.jobs);
    for (const img of aligned.images) images.push({ ...img, variant: 'aligned', objDir: path.join(adir, 'build'), output: '' });
    if (opts.aslrInstances > 0) {
      const sdir = path.join(tmp, 'aligned-aslr');
      fs.mkdirSync(sdir);
      fs.symlinkSync('../compact/build', path.join(sdir, 'build'));
      const aslr = aslrLinks(inputs, objDir, sdir, opts.aslrInstances, opts.seed, libs);
      jobs.push(...aslr.jobs);
      rewrite = aslr.rewrite;
      // The ASLR images are filled in by the rewrite, after the links: the manifest takes them then.
      for (const img of aslr.images) images.push(Object.assign(img, { variant: 'aligned-aslr' as const, objDir: path.join(sdir, 'build'), output: '' }) as DemoImage);
    }
  }

  progress.phase('link images', jobs.length);
  runJobs(jobs, tmp, (done) => progress.update(done));
  if (rewrite) {
    progress.phase('trampolines (ASLR images)', opts.aslrInstances * apps.length);
    rewrite((done) => progress.update(done));
  }
  for (const img of images) checkNoOrphans(img.elf, /^(\.text|\.rodata|\.data|\.bss|\.ind)(\..+)?$|^\.uk_inittab$/);
  progress.phase('run images', images.length);
  runImages(tmp, images, (done) => progress.update(done));
  progress.finish();
  const first = new Map<string, DemoImage>();
  for (const img of images) {
    const ref = first.get(img.name) ?? img;
    first.set(img.name, ref);
    if (img.output !== ref.output) throw new Error(`${img.elf} printed ${JSON.stringify(img.output)}, ${ref.elf} printed ${JSON.stringify(ref.output)}`);
  }
  const used = new Set(images.flatMap((i) => i.libraries));
  const realLibs = [...realLibraries().libraries.values()].filter((l) => used.has(l.name));
  const manifest: DemoManifest = { magic: 'unimem-demo-manifest', version: 1, key: opts.key, dir: '.', seed: opts.seed, images: images.map(relImage), plan, realLibraries: realLibs };
  fs.writeFileSync(path.join(tmp, MANIFEST), JSON.stringify(manifest) + '\n');
  return manifest;
}

/** Run every image (in parallel, each with a time limit) and record what it printed. */
function runImages(dir: string, images: DemoImage[], onDone?: (done: number) => void): void {
  const outputs = runJobs(
    images.map((img) => ({ output: '', argv: [img.elf], capture: true, timeoutMs: 20000 })),
    dir,
    onDone,
  );
  images.forEach((img, i) => (img.output = outputs[i]));
}

/**
 * Build (or reuse) the demo set. Synchronous; the first build takes seconds (compiles), later calls
 * with the same inputs return the cached manifest at once.
 */
export function buildDemoSet(options: DemoOptions = {}): DemoManifest {
  const spec = loadDemoSpec();
  const opts = resolveOptions(options, spec);
  const key = buildKey(DEMO_ROOT, { images: opts, realLibraries: realLibraries().dir });
  const dir = path.resolve(options.outDir ?? defaultDemoDir(options));
  const cached = cachedManifest(dir, key);
  if (cached) {
    if (!options.outDir) markUsed(dir);
    return cached;
  }
  if (!options.outDir) pruneUnused(path.dirname(dir), /^unimem-demo-[0-9a-f]{16}$/, dir);

  // Only an earlier demo set is replaced: a folder or file of the user's is refused, never deleted.
  buildIntoFolder(dir, Boolean(options.outDir), (tmp) => linkSet(tmp, spec.apps.slice(0, opts.count), (v) => libraryObjects(spec, v), { ...opts, key, progress: options.progress }));
  return readManifest(dir);
}

/** Every library object of one build of the demo specification, by library name. */
export function libraryObjects(spec: DemoSpec, variant: BuildVariant): Map<string, string> {
  const root = buildObjects(spec, variant);
  return new Map([...spec.libraries.keys()].map((l) => [l, path.join(root, 'build', `lib${l}.o`)]));
}
