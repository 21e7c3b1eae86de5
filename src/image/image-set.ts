/**
 * Image sets given by the user (`--images DIR|FILE...`, config key `images`): the experiments take
 * any set of ELF images, not only the sets this toolchain builds.
 *
 * - a set directory written by `image demo` or `image faas` (it has a manifest.json): its images
 *   in every variant it holds;
 * - a directory with variant subdirectories (`compact/`, `dce/`, `aligned/`, `aligned-aslr/`) of
 *   ELF files: each subdirectory is that variant;
 * - otherwise a directory of ELF files, or ELF files listed one by one: one flat set, used as it is
 *   by the configurations that need no rebuilt variant (variant `compact`, and `aligned` for the
 *   pool loader, which needs no particular layout to share what the images have in common).
 *
 * What an image needs: PT_LOAD segments (what the loaders copy or map) and, for attribution of
 * pages to libraries, symbols or a `build/lib*.o` directory next to it. ELF files are recognised by
 * their magic bytes; anything else in a directory is ignored, a listed file that is not an ELF is
 * refused with an InputError naming it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../base/errors.ts';
import { IMAGE_VARIANTS, readManifest, type DemoImage, type DemoManifest, type ImageVariant } from './demo.ts';
import { PT_LOAD, readElf } from './elf.ts';

const isElfFile = (file: string): boolean => {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const b = Buffer.alloc(4);
      return fs.readSync(fd, b, 0, 4, 0) === 4 && b[0] === 0x7f && b.toString('latin1', 1, 4) === 'ELF';
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return false;
  }
};

const elfsIn = (dir: string): string[] =>
  fs
    .readdirSync(dir)
    .sort()
    .map((f) => path.join(dir, f))
    .filter((f) => fs.statSync(f).isFile() && isElfFile(f));

function userImage(file: string, variant: ImageVariant, names: Set<string>): DemoImage {
  const elf = readElf(file);
  if (!elf.segments.some((s) => s.type === PT_LOAD && s.memsz > 0)) throw new InputError(file, 'no PT_LOAD segment: nothing a loader could load');
  let name = path.basename(file).replace(/\.(elf|dbg)$/, '');
  while (names.has(`${variant}/${name}`)) name += '_';
  names.add(`${variant}/${name}`);
  const build = path.join(path.dirname(path.resolve(file)), 'build');
  return { name, variant, instance: 0, elf: path.resolve(file), objDir: fs.existsSync(build) ? build : '', libraries: [], output: '' };
}

/** Read an image set from a set directory, a directory of (variant directories of) ELF files, or ELF files. */
export function readImageSet(inputs: readonly string[]): DemoManifest {
  if (inputs.length === 0) throw new InputError('--images', 'no image given');
  for (const i of inputs) if (!fs.existsSync(i)) throw new InputError(i, 'no such file or directory');
  if (inputs.length === 1 && fs.statSync(inputs[0]).isDirectory() && fs.existsSync(path.join(inputs[0], 'manifest.json'))) return readManifest(inputs[0]);
  const names = new Set<string>();
  const images: DemoImage[] = [];
  const flat: string[] = [];
  for (const input of inputs) {
    if (!fs.statSync(input).isDirectory()) {
      if (!isElfFile(input)) throw new InputError(input, 'not an ELF file');
      flat.push(input);
      continue;
    }
    const variants = IMAGE_VARIANTS.filter((v) => fs.existsSync(path.join(input, v)) && fs.statSync(path.join(input, v)).isDirectory());
    if (variants.length > 0) {
      for (const v of variants) for (const f of elfsIn(path.join(input, v))) images.push(userImage(f, v, names));
      continue;
    }
    const found = elfsIn(input);
    if (found.length === 0) throw new InputError(input, 'no ELF file in this directory');
    flat.push(...found);
  }
  for (const v of ['compact', 'aligned'] as const) for (const f of flat) images.push(userImage(f, v, names));
  if (images.length === 0) throw new InputError(inputs[0], 'no ELF image found');
  return { magic: 'unimem-demo-manifest', version: 1, key: 'user', dir: path.resolve(path.dirname(inputs[0])), seed: 0, images, realLibraries: [] };
}
