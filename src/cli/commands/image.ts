/**
 * `unimem image demo | inspect | align | pool | compare`: the image toolchain on the command line.
 * Every sub-command prints a table, or JSON on standard output with --json; bad inputs (garbage
 * ELF, corrupt pool entry, malformed description) end with one line on standard error and exit 2.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../base/errors.ts';
import { checkOutputDir, OUTPUT_MARKER } from '../../base/output.ts';
import type { System } from '../../base/system.ts';
import { formatPercent, formatTable } from '../../base/table.ts';
import {
  alignImages,
  buildDemoSet,
  buildFaasSet,
  buildPool,
  comparePages,
  IMAGE_VARIANTS,
  readLoadedImage,
  readManifest,
  type BuildVariant,
  type LoadedImage,
} from '../../image/index.ts';
import { readElf } from '../../image/elf.ts';
import { isAlignedSetFolder, isPoolFolder } from '../../image/output-folders.ts';
import { toJson } from '../../report/results.ts';
import { parsePositiveInt, parseSeed } from '../options.ts';
import { terminalProgress } from '../progress.ts';

const kib = (n: number): string => `${(n / 1024).toFixed(1)} KiB`;
const hex = (n: number): string => `0x${n.toString(16)}`;

function parseVariants(text: string): BuildVariant[] {
  const list = text.split(',').map((s) => s.trim());
  for (const v of list) if (v !== 'default' && v !== 'dce') throw new UserError(`--variants: '${v}' is not one of default, dce`);
  return list as BuildVariant[];
}

function parseCount(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new UserError(`--aslr: '${text}' is not a non-negative integer`);
  return n;
}

function inspectSummary(img: LoadedImage) {
  const libs = new Map<string, { bytes: number; pages: number }>();
  for (const r of img.libraries) {
    const e = libs.get(r.library) ?? { bytes: 0, pages: 0 };
    e.bytes += r.end - r.start;
    libs.set(r.library, e);
  }
  for (const p of img.pages) if (p.library) libs.get(p.library)!.pages++;
  const kinds: Record<string, number> = { text: 0, rodata: 0, data: 0, bss: 0 };
  let zero = 0;
  for (const p of img.pages) {
    kinds[p.kind]++;
    if (p.fingerprint === 0) zero++;
  }
  return { libs, kinds, zero };
}

function registerDemo(image: Command, sys: System): void {
  image
    .command('faas')
    .description('generate N distinct FaaS function unikernels (Lua on musl and lwIP) in every variant, one ASLR image each, and run them')
    .requiredOption('--count <n>', 'number of distinct functions', parsePositiveInt('--count'))
    .requiredOption('--out <dir>', 'output directory (a set directory; an existing directory that is not one is refused)')
    .option('--seed <n>', 'seed of the functions and of the ASLR library orders', parseSeed)
    .option('--json', 'print the manifest as JSON')
    .action((opts: { count: number; out: string; seed?: number; json?: boolean }) => {
      const progress = terminalProgress(sys, opts.json ?? false);
      let m;
      try {
        m = buildFaasSet({ outDir: opts.out, count: opts.count, seed: opts.seed, progress });
      } finally {
        progress.finish();
      }
      if (opts.json) return sys.write(toJson(m));
      const rows = IMAGE_VARIANTS.map((v) => [v, m.images.filter((i) => i.variant === v).length]).filter((r) => (r[1] as number) > 0);
      const libs = m.realLibraries.map((l) => `${l.name} (${l.sourcePackage} ${l.version})`).join(', ');
      sys.write(`FaaS set of ${opts.count} functions in ${m.dir}\nreal libraries: ${libs}\n` + formatTable(['variant', 'images'], rows));
    });

  image
    .command('demo')
    .description('build the demo unikernel images (compact, DCE, aligned, aligned with ASLR) and run them')
    .requiredOption('--out <dir>', 'output directory')
    .option('--count <n>', 'number of applications (default: all)', parsePositiveInt('--count'))
    .option('--aslr <n>', 'randomised ASLR instances per application', parseCount, 1)
    .option('--variants <list>', 'builds: default,dce', parseVariants)
    .option('--seed <n>', 'seed of the ASLR library orders', parseSeed)
    .option('--json', 'print the manifest as JSON')
    .action((opts: { out: string; count?: number; aslr: number; variants?: BuildVariant[]; seed?: number; json?: boolean }) => {
      const progress = terminalProgress(sys, opts.json ?? false);
      let m;
      try {
        m = buildDemoSet({ outDir: opts.out, count: opts.count, aslrInstances: opts.aslr, variants: opts.variants, seed: opts.seed, progress });
      } finally {
        progress.finish();
      }
      if (opts.json) return sys.write(toJson(m));
      const rows = IMAGE_VARIANTS.map((v) => {
        const list = m.images.filter((i) => i.variant === v);
        return [v, list.length, new Set(list.map((i) => i.name)).size];
      }).filter((r) => (r[1] as number) > 0);
      sys.write(`demo set in ${m.dir}\n` + formatTable(['variant', 'images', 'applications'], rows));
    });
}

function registerInspect(image: Command, sys: System): void {
  image
    .command('inspect')
    .description('show the libraries, sections, segments and pages of an ELF image')
    .argument('<elf>', 'ELF image')
    .option('--objs <dir>', 'directory of lib*.o objects (default: build/ next to the image)')
    .option('--json', 'print everything, every page included, as JSON')
    .action((file: string, opts: { objs?: string; json?: boolean }) => {
      const img = readLoadedImage(file, { objDir: opts.objs });
      const elf = readElf(file);
      const sections = elf.sections.filter((s) => s.flags & 2 && s.size > 0);
      const { libs, kinds, zero } = inspectSummary(img);
      if (opts.json) {
        return sys.write(
          toJson({
            file: img.file,
            entry: img.entry,
            fileBytes: img.fileBytes,
            virtualBytes: img.virtualBytes,
            segments: img.segments,
            sections: sections.map((s) => ({ name: s.name, addr: s.addr, size: s.size, flags: s.flags })),
            libraries: [...libs].map(([name, v]) => ({ name, ...v })),
            ranges: img.libraries,
            pages: img.pages,
          }),
        );
      }
      let out = `${file}: entry ${hex(img.entry)}, ${img.fileBytes} file bytes, ${img.virtualBytes} virtual bytes, ${img.pages.length} pages (${zero} zero)\n`;
      out += '\nSegments\n' + formatTable(['vaddr', 'memsz', 'filesz', 'flags'], img.segments.map((s) => [hex(s.vaddr), s.memsz, s.filesz, s.flags]));
      out += '\nSections\n' + formatTable(['name', 'addr', 'size'], sections.map((s) => [s.name, hex(s.addr), s.size]));
      out += '\nLibraries\n' + (libs.size ? formatTable(['library', 'bytes', 'pages'], [...libs].map(([n, v]) => [n, v.bytes, v.pages])) : '(no lib*.o objects found; give --objs)\n');
      out += '\nPages by kind\n' + formatTable(['kind', 'pages'], Object.entries(kinds));
      sys.write(out);
    });
}

function registerAlign(image: Command, sys: System): void {
  image
    .command('align')
    .description('relink images in the aligned layout (global library map), optionally with ASLR instances')
    .argument('<elf...>', 'images, each with build/lib*.o next to it (at least 2)')
    .requiredOption('--out <dir>', 'output directory')
    .option('--objs <dir>', 'one directory of lib*.o objects for every image')
    .option('--aslr <n>', 'randomised ASLR instances per image', parseCount, 0)
    .option('--seed <n>', 'seed of the ASLR library orders', parseSeed)
    .option('--json', 'print the plan and sizes as JSON')
    .action((files: string[], opts: { out: string; objs?: string; aslr: number; seed?: number; json?: boolean }) => {
      const out = checkOutputDir('--out', opts.out, isAlignedSetFolder);
      for (const f of files) readElf(f);
      const created = !fs.existsSync(out);
      fs.mkdirSync(out, { recursive: true });
      fs.writeFileSync(path.join(out, OUTPUT_MARKER), 'Written by unimem image align: a later align into this folder overwrites its files.\n');
      let r: ReturnType<typeof alignImages>;
      try {
        r = alignImages(files, { outDir: opts.out, objDir: opts.objs, aslrInstances: opts.aslr, seed: opts.seed });
      } catch (e) {
        // A refused input leaves no folder behind that this command made.
        if (created) fs.rmSync(out, { recursive: true, force: true });
        throw e;
      }
      if (opts.json) return sys.write(toJson(r));
      const rows = r.images.map((i) => [
        path.basename(i.elf),
        i.variant,
        i.before.fileBytes,
        i.after.fileBytes,
        formatPercent(i.after.fileBytes / i.before.fileBytes - 1, true),
        i.before.virtualBytes,
        i.after.virtualBytes,
        formatPercent(i.after.virtualBytes / i.before.virtualBytes - 1, true),
      ]);
      sys.write(
        formatTable(['image', 'variant', 'file before', 'file after', 'file growth', 'virtual before', 'virtual after', 'virtual growth'], rows) +
          '\nGlobal library map\n' +
          formatTable(['library', 'class', 'images', 'text at', 'region'], r.plan.libraries.map((l) => [l.name, l.class, l.occurrences, hex(l.regionAddr), kib(l.regionSize)])),
      );
    });
}

function registerPool(image: Command, sys: System): void {
  image
    .command('pool')
    .description('put the shared sections of images into a content-addressed pool and write description files')
    .argument('<elf...>', 'images (aligned ones share the most)')
    .requiredOption('--pool <dir>', 'pool directory (created if missing; entries are never overwritten)')
    .option('--json', 'print the result as JSON')
    .action((files: string[], opts: { pool: string; json?: boolean }) => {
      checkOutputDir('--pool', opts.pool, isPoolFolder);
      const r = buildPool(opts.pool, files);
      if (opts.json) return sys.write(toJson(r));
      sys.write(
        `pool ${r.pool}: ${r.entries} entries (${r.written} new), ${kib(r.poolBytes)}\n` +
          formatTable(['image', 'shared', 'private', 'description'], r.images.map((i) => [path.basename(i.elf), i.sharedBytes, i.privateBytes, i.description])),
      );
    });
}

function registerCompare(image: Command, sys: System): void {
  image
    .command('compare')
    .description('count pages identical across images (what KSM could merge)')
    .argument('[elf...]', 'images to compare')
    .option('--manifest <dir>', 'compare each variant of a demo set (compact, dce, aligned, aligned-aslr)')
    .option('--json', 'print the statistics as JSON')
    .action((files: string[], opts: { manifest?: string; json?: boolean }) => {
      const sets: { name: string; files: string[] }[] = [];
      if (opts.manifest) {
        const m = readManifest(opts.manifest);
        for (const v of IMAGE_VARIANTS) {
          // One instance per application, so every variant compares the same number of images.
          const list = m.images.filter((i) => i.variant === v && i.instance === 0).map((i) => i.elf);
          if (list.length) sets.push({ name: v, files: list });
        }
      }
      if (files.length) sets.push({ name: 'given', files });
      if (sets.length === 0) throw new UserError('image compare: give ELF files or --manifest DIR');
      const results = sets.map((s) => ({ set: s.name, ...comparePages(s.files.map((f) => readLoadedImage(f))) }));
      if (opts.json) return sys.write(toJson(results));
      sys.write(
        formatTable(
          ['set', 'images', 'pages', 'zero', 'distinct', 'mergeable', 'text merg.', 'rodata merg.', 'shared across images'],
          results.map((r) => [r.set, r.images, r.pages, r.zeroPages, r.distinct, r.mergeable, r.byKind.text.mergeable, r.byKind.rodata.mergeable, r.sharedAcrossImages]),
        ),
      );
    });
}

export function registerImage(program: Command, sys: System): void {
  const image = program.command('image').description('the image toolchain: demo images, inspection, alignment, pool, page comparison');
  registerDemo(image, sys);
  registerInspect(image, sys);
  registerAlign(image, sys);
  registerPool(image, sys);
  registerCompare(image, sys);
}
