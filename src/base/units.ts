/**
 * Units: byte sizes and page sizes.
 *
 * Addresses and frame numbers are plain numbers (a 48-bit address fits a double exactly). Branded
 * address types were declared here once, but nothing used them; they come back when a seam needs
 * the compiler to tell guest-physical from host-physical addresses.
 */

export const KiB = (n: number): number => n * 1024;
export const MiB = (n: number): number => n * 1024 * 1024;
export const GiB = (n: number): number => n * 1024 * 1024 * 1024;

export const PAGE_4K = 4096;
export const PAGE_2M = 2 * 1024 * 1024;

/** Page sizes as small integer ids, used as array indices on hot paths. */
export const enum PageSize {
  Size4K = 0,
  Size2M = 1,
  Size1G = 2,
}
export const PAGE_SIZE_BYTES: readonly number[] = [PAGE_4K, PAGE_2M, 1024 * 1024 * 1024];
export const PAGE_SIZE_SHIFT: readonly number[] = [12, 21, 30];
export const PAGE_SIZE_NAMES: readonly string[] = ['4K', '2M', '1G'];

/** Round `n` up to a multiple of `align` (a power of two or any positive integer). */
export function alignUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
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
