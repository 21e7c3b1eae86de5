/**
 * Generated GNU ld scripts for the three layouts.
 *
 * - compact: Unikraft's (plat/kvm/x86/link64.lds.S, adapted to a static Linux executable): all
 *   libraries' text packed back to back in link order, then rodata, data, bss, each area starting
 *   on a page. This is what makes the same library land at a different offset in every image.
 * - aligned: one output section per library and kind at the planner's fixed addresses
 *   (the authors' `link64_out.lds`: `.text.<lib> 0xADDR : { <lib>.o(.text) }`).
 * - aslr: libraries in an instance-specific random order, each region followed by its trampoline
 *   table `.ind.<lib>` at a fixed distance (dedup.md §1.4); data and bss packed after them. A
 *   library's read-only data that holds addresses (`.rodata_addr*`) goes with its private data,
 *   so its shared region is byte-identical in every instance (the authors' `--aslr_map` step).
 *
 * Segments are explicit (PHDRS) so the kernel maps text r-x and data rw-; file headers are not
 * loaded, so every loaded page holds image content only.
 */
import { PAGE, alignUp, RELRO_PREFIX, type AlignmentPlan, type ObjectSizes } from './planner.ts';

const pat = (lib: string): string => `*/lib${lib}.o`;
/** Read-only data that holds addresses (planner.ts `inputSectionKind`: relro). */
const RELRO = `${RELRO_PREFIX} ${RELRO_PREFIX}.*`;
const HEADER = ['ENTRY(_start)', 'PHDRS', '{', '  text PT_LOAD FLAGS(5);', '  rodata PT_LOAD FLAGS(4);', '  data PT_LOAD FLAGS(6);', '}'];
/** Aligned layouts keep each library's rodata beside its text, so they have no rodata segment. */
const HEADER_ALIGNED = ['ENTRY(_start)', 'PHDRS', '{', '  text PT_LOAD FLAGS(5);', '  data PT_LOAD FLAGS(6);', '}'];
const DISCARD = '  /DISCARD/ : { *(.comment) *(.note*) *(.eh_frame*) }';
const INITTAB = (addr: string): string =>
  `  .uk_inittab ${addr} : { __uk_inittab_start = .; KEEP(*(.uk_inittab)) __uk_inittab_end = .; } :data`;

function textInputs(lib: string): string {
  // The platform's entry section goes first in its library (Unikraft's `*(.text.boot)`), and an
  // application's app_main first in its own (ukboot calls it at the same address in every image).
  return `KEEP(${pat(lib)}(.text.boot)) ${pat(lib)}(.text.app_main) ${pat(lib)}(.text .text.*)`;
}

export function compactScript(base: number): string {
  return [
    ...HEADER,
    'SECTIONS',
    '{',
    `  . = 0x${base.toString(16)};`,
    '  .text : { KEEP(*(.text.boot)) *(.text) *(.text.*) } :text',
    '  . = ALIGN(0x1000);',
    `  .rodata : { *(.rodata) *(.rodata.*) *(${RELRO}) } :rodata`,
    '  . = ALIGN(0x1000);',
    INITTAB(''),
    '  .data : { *(.data) *(.data.*) } :data',
    '  . = ALIGN(0x1000);',
    '  .bss (NOLOAD) : { *(.bss) *(.bss.*) *(COMMON) } :data',
    DISCARD,
    '}',
    '',
  ].join('\n');
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/** One image's script in the aligned layout: only its own libraries, at their global addresses. */
export function alignedScript(plan: AlignmentPlan, libraries: string[]): string {
  const mine = plan.libraries.filter((p) => libraries.includes(p.name));
  const out = [...HEADER_ALIGNED, 'SECTIONS', '{'];
  for (const p of mine) {
    out.push(`  .text.${p.name} ${hex(p.regionAddr)} : { ${textInputs(p.name)} } :text`);
    out.push(`  .rodata.${p.name} : { ${pat(p.name)}(.rodata .rodata.*) ${pat(p.name)}(${RELRO}) } :text`);
  }
  out.push(INITTAB(hex(plan.inittabAddr)));
  for (const p of mine) out.push(`  .data.${p.name} ${hex(p.dataAddr)} : { ${pat(p.name)}(.data .data.*) } :data`);
  for (const p of mine) out.push(`  .bss.${p.name} ${hex(p.bssAddr)} (NOLOAD) : { ${pat(p.name)}(.bss .bss.* COMMON) } :data`);
  out.push(DISCARD, '}', '');
  return out.join('\n');
}

export interface AslrLibrary {
  name: string;
  sizes: ObjectSizes;
  /** Size of its trampoline table, page-rounded. */
  tableSize: number;
}

/**
 * One ASLR instance: libraries in the given (shuffled) order from `base`, each region page-aligned
 * and followed by its `.ind.<lib>` table (filled with int3 until the rewriter writes slots).
 */
export function aslrScript(base: number, order: AslrLibrary[], regionSize: (s: ObjectSizes) => number): string {
  const out = [...HEADER_ALIGNED, 'SECTIONS', '{'];
  let cursor = base;
  for (const l of order) {
    const r = regionSize(l.sizes);
    out.push(`  .text.${l.name} ${hex(cursor)} : { ${textInputs(l.name)} } :text`);
    out.push(`  .rodata.${l.name} : { ${pat(l.name)}(.rodata .rodata.*) } :text`);
    out.push(`  .ind.${l.name} ${hex(cursor + r)} : { BYTE(0xcc); . = ${hex(l.tableSize)}; } :text =0xcc`);
    cursor += r + l.tableSize;
  }
  const dataStart = alignUp(cursor, PAGE) + PAGE;
  out.push(INITTAB(hex(dataStart)));
  // Read-only data that holds addresses differs per instance: private, beside the library's data.
  for (const l of order) out.push(`  .data.${l.name} : { ${pat(l.name)}(${RELRO}) ${pat(l.name)}(.data .data.*) } :data`);
  out.push('  . = ALIGN(0x1000);');
  for (const l of order) out.push(`  .bss.${l.name} (NOLOAD) : { ${pat(l.name)}(.bss .bss.* COMMON) } :data`);
  out.push(DISCARD, '}', '');
  return out.join('\n');
}
