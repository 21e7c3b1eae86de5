/**
 * Library attribution: which bytes of a linked image belong to which library, from the image's
 * symbol table and the per-library objects of a Unikraft-style build directory (`build/lib*.o`).
 *
 * - A global symbol belongs to the library object that defines it.
 * - A local symbol belongs to the library of the source file it follows: the linker keeps each
 *   input file's `STT_FILE` symbol in front of its locals, and every object lists its files.
 * - Bytes between symbols (padding, string literals, anonymous constants) belong to the library of
 *   the symbol before them, within one section; a section's leading bytes to its first symbol's.
 * - Trampoline tables `.ind.<lib>` have no symbols and belong to `<lib>` by name.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../base/errors.ts';
import {
  readElf,
  SHF_ALLOC,
  SHF_EXECINSTR,
  SHF_WRITE,
  SHN_UNDEF,
  SHT_NOBITS,
  STB_LOCAL,
  STT_FILE,
  STT_FUNC,
  STT_OBJECT,
  type ElfFile,
  type ElfSection,
} from './elf.ts';
import type { SectionKind } from './planner.ts';

export interface LibraryObject {
  library: string;
  object: ElfFile;
}

export interface LibraryRange {
  library: string;
  kind: SectionKind;
  /** Section name in the image. */
  section: string;
  start: number;
  end: number;
}

const objectCache = new Map<string, LibraryObject[]>();

/**
 * The `lib<name>.o` objects of a build directory, in name order. Parsed objects are memoised per
 * directory, keyed by the files' names, sizes and modification times, so a changed object is re-read.
 */
export function readLibraryObjects(objDir: string): LibraryObject[] {
  let names: string[];
  try {
    names = fs.readdirSync(objDir).filter((f) => /^lib.+\.o$/.test(f)).sort();
  } catch (e) {
    throw new InputError(objDir, `cannot list the library objects (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const stamp = names.map((f) => {
    const st = fs.statSync(path.join(objDir, f));
    return `${f}:${st.size}:${st.mtimeMs}`;
  });
  const key = `${fs.realpathSync(objDir)}|${stamp.join('|')}`;
  const hit = objectCache.get(key);
  if (hit) return hit;
  const objects = names.map((f) => ({ library: f.slice(3, -2), object: readElf(path.join(objDir, f)) }));
  objectCache.set(key, objects);
  return objects;
}

/** The build directory next to an image (`<dir>/build`), if it holds library objects. */
export function findObjectDir(elfPath: string): string | undefined {
  const dir = path.join(path.dirname(elfPath), 'build');
  try {
    return fs.readdirSync(dir).some((f) => /^lib.+\.o$/.test(f)) ? dir : undefined;
  } catch {
    return undefined;
  }
}

export function sectionKind(s: ElfSection): SectionKind {
  // Trampoline tables are code even though ld gives a data-only output section no exec flag.
  if (s.flags & SHF_EXECINSTR || s.name.startsWith('.ind.')) return 'text';
  if (s.flags & SHF_WRITE) return s.type === SHT_NOBITS ? 'bss' : 'data';
  return 'rodata';
}

export function attributeLibraries(image: ElfFile, objects: LibraryObject[]): LibraryRange[] {
  // A global defined by several objects (every application defines `app_main`) says nothing about
  // which one was linked: such names are skipped and their bytes go to the symbol before them.
  const byGlobal = new Map<string, string | null>();
  const byFile = new Map<string, string | null>();
  for (const { library, object } of objects) {
    for (const s of object.symbols) {
      if (s.type === STT_FILE) byFile.set(s.name, byFile.has(s.name) && byFile.get(s.name) !== library ? null : library);
      else if (s.bind !== STB_LOCAL && s.shndx !== SHN_UNDEF && s.name) {
        byGlobal.set(s.name, byGlobal.has(s.name) && byGlobal.get(s.name) !== library ? null : library);
      }
    }
  }
  // Symbol starts per section, with their library.
  const starts = new Map<number, { addr: number; library: string }[]>();
  let fileLib: string | null = null;
  for (const s of image.symbols) {
    if (s.type === STT_FILE) {
      fileLib = byFile.get(s.name) ?? null;
      continue;
    }
    if ((s.type !== STT_FUNC && s.type !== STT_OBJECT) || s.shndx === SHN_UNDEF || s.shndx >= image.sections.length) continue;
    const lib = s.bind === STB_LOCAL ? fileLib : byGlobal.get(s.name);
    if (!lib) continue;
    const list = starts.get(s.shndx) ?? [];
    list.push({ addr: s.value, library: lib });
    starts.set(s.shndx, list);
  }
  const ranges: LibraryRange[] = [];
  for (const sec of image.sections) {
    if (!(sec.flags & SHF_ALLOC) || sec.size === 0) continue;
    const kind = sectionKind(sec);
    const end = sec.addr + sec.size;
    if (sec.name.startsWith('.ind.')) {
      ranges.push({ library: sec.name.slice(5), kind, section: sec.name, start: sec.addr, end });
      continue;
    }
    // A symbol outside its section's bounds (only in a crafted file) would attribute bytes elsewhere.
    const list = (starts.get(sec.index) ?? []).filter((x) => x.addr >= sec.addr && x.addr < end).sort((a, b) => a.addr - b.addr);
    for (let i = 0; i < list.length; i++) {
      const start = i === 0 ? sec.addr : list[i].addr;
      const stop = i + 1 < list.length ? list[i + 1].addr : end;
      const last = ranges[ranges.length - 1];
      if (last && last.section === sec.name && last.library === list[i].library && last.end === start) last.end = stop;
      else if (stop > start) ranges.push({ library: list[i].library, kind, section: sec.name, start, end: stop });
    }
  }
  return ranges;
}
