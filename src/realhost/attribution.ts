/**
 * Where a guest page comes from: the address ranges of a FaaS unikernel's guest memory (the VMM's
 * boot structures, the image's sections, the platform's CPL0 stack, the model's boot work, the
 * application's heap and mappings, the initial user stack), and the table of classified pages
 * (snapshot.ts) per range, real beside simulated. Ranges from native/vmm/vmm.c (boot structures),
 * the image's ELF sections and symbols, demo/libs/ukplat/kvm.c (user stack, heap, mmap).
 */
import { alignUp, PAGE_4K } from '../base/units.ts';
import { readElf, SHF_ALLOC, SHF_WRITE, SHT_NOBITS } from '../image/elf.ts';
import type { ResultTable } from '../experiments/types.ts';
import { noPages, PAGE_CLASSES, type ClassifiedPage, type PageClass } from './snapshot.ts';
import { KSTACK_SYMBOL } from '../experiments/dedup/invocation-stack.ts';

/** The platform library's initial user stack below the top of RAM (kvm.c USER_STACK_BYTES). */
const USER_STACK_BYTES = 256 * 1024;

/** The VMM's boot structures (vmm.c: GDT_ADDR and IDT_ADDR in page 0, ZERO_PAGE_ADDR, PML4..PDE, CMDLINE_ADDR). */
const LOW_RANGES: { from: number; to: number; name: string }[] = [
  { from: 0x0, to: 0x1000, name: 'VMM: GDT and IDT' },
  { from: 0x7000, to: 0x8000, name: 'VMM: boot parameters (zero page)' },
  { from: 0x9000, to: 0xc000, name: 'VMM: page tables' },
  { from: 0x20000, to: 0x30000, name: 'VMM: command line' },
];

export const REGIONS = [
  ...LOW_RANGES.map((r) => r.name),
  'low memory, other',
  'image: text and read-only data',
  'image: data',
  'platform: CPL0 stack (bss)',
  'image: bss, other',
  'model: boot work (heapInitKiB + stackKiB)',
  'application: heap (brk)',
  'application: anonymous mmap (C library malloc)',
  'platform: initial user stack',
] as const;
export type Region = (typeof REGIONS)[number];

export interface ImageLayout {
  /** Page-aligned ranges [from, to) of the image's loaded sections: read-only, data (file bytes), bss. */
  readOnly: [number, number][];
  data: [number, number][];
  bss: [number, number][];
  kstack: [number, number] | null;
  /** The model's boot work, right after the image (kvm.c ukplat_kvm_user_init). */
  bootWork: [number, number];
  /** Where anonymous mmap grows down from (below the user stack) and the top of RAM. */
  mmapLow: number;
  memTop: number;
}

/** The layout of an image booted with `memMiB` of RAM and `bootWorkKiB` of boot work. */
export function imageLayout(elf: string, imageEnd: number, memMiB: number, bootWorkKiB: number): ImageLayout {
  const e = readElf(elf);
  const pages = (from: number, size: number): [number, number] => [from - (from % PAGE_4K), alignUp(from + size, PAGE_4K)];
  const alloc = e.sections.filter((s) => s.flags & SHF_ALLOC && s.size > 0);
  const ks = e.symbols.find((s) => s.name === KSTACK_SYMBOL);
  const start = alignUp(imageEnd, PAGE_4K);
  const memTop = memMiB * 1048576;
  return {
    readOnly: alloc.filter((s) => !(s.flags & SHF_WRITE)).map((s) => pages(s.addr, s.size)),
    data: alloc.filter((s) => s.flags & SHF_WRITE && s.type !== SHT_NOBITS).map((s) => pages(s.addr, s.size)),
    bss: alloc.filter((s) => s.type === SHT_NOBITS).map((s) => pages(s.addr, s.size)),
    kstack: ks ? pages(ks.value, ks.size) : null,
    bootWork: [start, start + alignUp(bootWorkKiB * 1024, PAGE_4K)],
    mmapLow: memTop - USER_STACK_BYTES,
    memTop,
  };
}

const within = (ranges: [number, number][], gpa: number): boolean => ranges.some(([a, b]) => gpa >= a && gpa < b);

/** The range a guest page belongs to. Data wins over bss where a page holds both (the loader copies it). */
export function regionOf(l: ImageLayout, gpa: number): Region {
  for (const r of LOW_RANGES) if (gpa >= r.from && gpa < r.to) return r.name as Region;
  if (gpa < 0x100000) return 'low memory, other';
  if (within(l.data, gpa)) return 'image: data';
  if (l.kstack && gpa >= l.kstack[0] && gpa < l.kstack[1]) return 'platform: CPL0 stack (bss)';
  if (within(l.bss, gpa)) return 'image: bss, other';
  if (within(l.readOnly, gpa)) return 'image: text and read-only data';
  if (gpa >= l.bootWork[0] && gpa < l.bootWork[1]) return 'model: boot work (heapInitKiB + stackKiB)';
  if (gpa >= l.mmapLow) return 'platform: initial user stack';
  // brk grows up from the boot work, mmap down from below the user stack: the nearer end owns a page.
  return gpa - l.bootWork[1] < l.mmapLow - gpa ? 'application: heap (brk)' : 'application: anonymous mmap (C library malloc)';
}

/** Pages per range and class. */
export type Attribution = Map<Region, Record<PageClass, number>>;

export function attribute(layout: ImageLayout, pages: readonly ClassifiedPage[], into: Attribution = new Map()): Attribution {
  for (const p of pages) {
    const r = regionOf(layout, p.gpn * PAGE_4K);
    const row = into.get(r) ?? noPages();
    row[p.cls]++;
    into.set(r, row);
  }
  return into;
}

/** Classes shown (absent pages are not listed; `pool` and `loaded` are both the loader's content). */
const SHOWN: PageClass[] = ['loaded', 'pool', 'zero', 'image', 'common', 'instance', 'partial'];

/** The attribution table of one configuration: per range, real / simulated pages per class. */
export function attributionTable(name: string, title: string, real: Attribution, sim: Attribution): ResultTable {
  const zero = noPages();
  const regions = REGIONS.filter((r) => real.has(r) || sim.has(r));
  const total = (a: Attribution): Record<PageClass, number> => {
    const t = { ...zero };
    for (const row of a.values()) for (const c of PAGE_CLASSES) t[c] += row[c];
    return t;
  };
  const cell = (r: Record<PageClass, number>, s: Record<PageClass, number>, c: PageClass): string => `${r[c]} / ${s[c]}`;
  const rows = regions.map((g) => [g, ...SHOWN.map((c) => cell(real.get(g) ?? zero, sim.get(g) ?? zero, c))]);
  rows.push(['all', ...SHOWN.map((c) => cell(total(real), total(sim), c))]);
  return { name, title, columns: ['range', ...SHOWN.map((c) => `${c} (real / sim)`)], rows };
}
