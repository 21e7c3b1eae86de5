/**
 * The image toolchain's public API (after SoCC'22 "Want More Unikernels? Inflate Them!":
 * library-aligned images, trampoline tables for ASLR, a library pool with description files).
 * Other layers (KSM, the pool loader, experiments) use only what is exported here.
 *
 * Contract:
 * - `buildDemoSet(options)` builds (or returns the cached) demo set and its manifest: every image
 *   with its name, variant ('compact' | 'dce' | 'aligned' | 'aligned-aslr'), ASLR instance, absolute
 *   ELF path, object directory, libraries in layout order, and the line it prints when run. Same
 *   options and sources give byte-identical images; a cached set is reused only under the same
 *   content hash. Synchronous; the first build takes seconds.
 * - `buildFaasSet({count, seed})` builds (or returns the cached) FaaS set: `count` distinct function
 *   unikernels on one runtime (musl, lwIP, Lua, our platform libraries) in every variant, one
 *   ASLR image per function; same manifest shape as the demo set.
 * - `readImageSet(inputs)` reads a user's image set: a set directory (manifest), a directory of
 *   ELF files (optionally with variant subdirectories) or a list of ELF files.
 * - `realLibraries()` builds (once, cached outside the repository) and describes the real libraries.
 * - `readLoadedImage(elfPath, {objDir?})` gives the loaded view: PT_LOAD segments (vaddr, memsz,
 *   filesz, flags "r-x"), every 4 KiB page in address order with its 53-bit fingerprint
 *   (`fingerprintBytes`, 0 = zero page), kind ('text' | 'rodata' | 'data' | 'bss') and owning
 *   library (null if unknown), and `pageBytes(vaddr)` for byte confirmation. Pure function of the
 *   files read.
 * - `comparePages(images)` counts pages identical across a set (what KSM could merge).
 * - `buildPool(poolDir, elfPaths)` writes shared sections into a content-addressed pool and a
 *   description + private remainder per image into `poolDir/images/`; `readDescription(file)`
 *   validates one (shared sections: vaddr, size, pool entry hash, page fingerprints; private
 *   sections: vaddr, size, offset in the remainder), `loadDescription(file)` rebuilds the loaded
 *   memory from pool and remainder, `readPoolEntry(poolDir, hash)` verifies an entry.
 * - Bad input (garbage or truncated ELF, corrupt pool entry, malformed description) throws
 *   `InputError(file, problem)`; anything else thrown is a bug.
 */
export { buildDemoSet, defaultDemoDir, readManifest, IMAGE_VARIANTS } from './demo.ts';
export type { BuildVariant, DemoImage, DemoManifest, DemoOptions, ImageVariant } from './demo.ts';
export { buildFaasSet, defaultFaasDir, functionShape, FAAS_RUNTIME } from './faas.ts';
export { realLibraries } from './libs.ts';
export { readImageSet } from './image-set.ts';
export type { RealLibrary, RealLibraries } from './libs.ts';
export { loadedImageOf, readLoadedImage } from './pages.ts';
export type { LoadedImage, LoadedPage, LoadedSegment, LoadOptions } from './pages.ts';
export type { LibraryRange } from './attribution.ts';
export { comparePages } from './compare.ts';
export type { SharingStats, KindSharing } from './compare.ts';
export { buildPool, readDescription, loadDescription, readPoolEntry, imageKey, loaderMapping } from './pool.ts';
export type { ImageDescription, SharedSection, PrivateSection, PoolResult } from './pool.ts';
export { alignImages } from './align.ts';
export type { AlignedResult } from './align.ts';
export type { AlignmentPlan, PlannedLibrary, SectionKind } from './planner.ts';
export type { RewriteStats } from './trampoline.ts';
export { readElf } from './elf.ts';
export type { ElfFile, ElfSection, ElfSegment, ElfSymbol } from './elf.ts';
