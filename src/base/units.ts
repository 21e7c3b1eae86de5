/**
 * Units and branded address types.
 *
 * Addresses and frame numbers are plain numbers (a 48-bit address fits a double exactly); the brands
 * exist only for the compiler, so a guest-physical address passed where a host-physical one belongs
 * fails to compile while costing nothing at run time.
 */

declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

/** Guest-virtual address. */
export type Gva = Brand<number, 'Gva'>;
/** Guest-physical address. */
export type Gpa = Brand<number, 'Gpa'>;
/** Host-physical address. */
export type Hpa = Brand<number, 'Hpa'>;
/** Host frame number (host-physical address >> 12). */
export type Hfn = Brand<number, 'Hfn'>;
/** Guest frame number (guest-physical address >> 12). */
export type Gfn = Brand<number, 'Gfn'>;
/** CPU cycles. */
export type Cycles = Brand<number, 'Cycles'>;
/** A size in bytes. */
export type Bytes = number;

export const asGva = (n: number): Gva => n as Gva;
export const asGpa = (n: number): Gpa => n as Gpa;
export const asHpa = (n: number): Hpa => n as Hpa;
export const asCycles = (n: number): Cycles => n as Cycles;

export const KiB = (n: number): Bytes => n * 1024;
export const MiB = (n: number): Bytes => n * 1024 * 1024;
export const GiB = (n: number): Bytes => n * 1024 * 1024 * 1024;

export const PAGE_SHIFT = 12;
export const PAGE_4K = 4096;
export const PAGE_2M = 2 * 1024 * 1024;
export const PAGE_1G = 1024 * 1024 * 1024;

/** Page sizes as small integer ids, used as array indices on hot paths. */
export const enum PageSize {
  Size4K = 0,
  Size2M = 1,
  Size1G = 2,
}
export const PAGE_SIZE_COUNT = 3;
export const PAGE_SIZE_BYTES: readonly number[] = [PAGE_4K, PAGE_2M, PAGE_1G];
export const PAGE_SIZE_SHIFT: readonly number[] = [12, 21, 30];
export const PAGE_SIZE_NAMES: readonly string[] = ['4K', '2M', '1G'];

export function pageSizeFromName(name: string): PageSize {
  const i = PAGE_SIZE_NAMES.indexOf(name);
  if (i < 0) throw new Error(`unknown page size '${name}' (expected 4K, 2M or 1G)`);
  return i as PageSize;
}

/** Round `n` up to a multiple of `align` (a power of two or any positive integer). */
export function alignUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}

/** Round `n` down to a multiple of `align`. */
export function alignDown(n: number, align: number): number {
  return Math.floor(n / align) * align;
}

export function isAligned(n: number, align: number): boolean {
  return n % align === 0;
}

/** Integer division by a power of two for values beyond 2^31 (bit operators truncate to 32 bits). */
export function shiftRight(n: number, shift: number): number {
  return Math.floor(n / 2 ** shift);
}

/** Human-readable size: 1536 -> "1.5 KiB". */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v.toFixed(0) : v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[u]}`;
}

/** Parse "64GiB", "2M", "4096", "1.5 KiB" into bytes. */
export function parseBytes(text: string): Bytes {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]i?B?|B)?\s*$/i.exec(text);
  if (!m) throw new Error(`'${text}' is not a size (expected e.g. 4096, 64KiB, 2MiB, 32GiB)`);
  const value = Number(m[1]);
  const unit = (m[2] ?? 'B').toUpperCase()[0];
  const scale = unit === 'K' ? 1024 : unit === 'M' ? 1024 ** 2 : unit === 'G' ? 1024 ** 3 : unit === 'T' ? 1024 ** 4 : 1;
  return Math.round(value * scale);
}
