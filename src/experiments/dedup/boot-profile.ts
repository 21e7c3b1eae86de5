/**
 * A measured boot profile (`bssAtBoot: measured`, docs/realhost.md "Where the pages come from"):
 * per image and loader, the guest pages a real boot leaves written beyond what the loader put there,
 * each with what was measured over several instances of the image: zero, the same content in every
 * instance (with that content's fingerprint, so pages equal across images are equal here too), or
 * different per instance. Written by `unimem host profile` or measured by `--host both` from the
 * real VMs' memory snapshots (src/realhost/profile.ts); the simulated boot then writes exactly
 * these pages instead of the modelled convention (the VMM's three page-table pages, every bss page
 * zero-filled).
 *
 * The model's own boot work (`heapInitKiB + stackKiB` after the image) is not in the profile: the
 * simulated host writes it from the parameters, as the real guest does. A profile holds for the
 * guest memory size and boot work it was measured with (the application's heap and mappings move
 * with them), so a model with other values is refused.
 */
import * as fs from 'node:fs';
import { ConfigError, InputError, readInputText } from '../../base/errors.ts';
import { contentFingerprint, ZERO_FINGERPRINT } from '../../base/hash.ts';
import { PAGE_4K } from '../../base/units.ts';
import { sha256 } from '../../image/toolchain.ts';
import type { HostVm } from '../../host/index.ts';
import type { PreparedImage } from './images.ts';

export const BOOT_PROFILE_MAGIC = 'unimem-boot-profile';
/** The profile's format; a file of another version is refused rather than read differently. */
export const BOOT_PROFILE_VERSION = 1;

/** How a profiled page is written at boot: zero, one content for every instance, or per instance. */
export type ProfiledClass = 'zero' | 'shared' | 'instance';
export type ProfiledPage = [number, ProfiledClass, number] | [number, 'instance', number, number[]];

export interface BootProfileImage {
  name: string;
  variant: string;
  loader: 'copy' | 'pool';
  /** First 16 hex digits of the ELF file's SHA-256: a profile applies to these bytes only. */
  elfKey: string;
  /**
   * Guest page numbers, ascending; per page its class and (class `shared`) its fingerprint, else
   * 0; an `instance` page whose content other VMs held too has, per instance of the measurement
   * (in launch order), that content's fingerprint, 0 where no other VM held it (the Lua functions'
   * heap depends on the second they booted in: instances of one second hold the same bytes, with
   * aligned images across images too).
   */
  pages: ProfiledPage[];
}

export interface BootProfile {
  magic: typeof BOOT_PROFILE_MAGIC;
  version: typeof BOOT_PROFILE_VERSION;
  memMiB: number;
  bootWorkKiB: number;
  /** Instances per image the profile was measured from. */
  instances: number;
  images: BootProfileImage[];
}

/** Tag of per-instance boot contents (heap init uses 1, invocations 2 and up: never this). */
const BOOT_INSTANCE_TAG = -1;

export function elfKey(elf: string): string {
  return sha256(fs.readFileSync(elf)).slice(0, 16);
}

const CLASSES = new Set<string>(['zero', 'shared', 'instance']);

/** Check a parsed profile's shape; every problem names the file. */
export function checkBootProfile(value: unknown, file: string): BootProfile {
  const bad = (problem: string): never => {
    throw new InputError(file, problem);
  };
  const p = value as BootProfile;
  if (!p || typeof p !== 'object' || p.magic !== BOOT_PROFILE_MAGIC) bad(`not a boot profile (magic '${BOOT_PROFILE_MAGIC}' missing)`);
  if (p.version !== BOOT_PROFILE_VERSION) bad(`boot profile version ${String(p.version)}, this unimem reads version ${BOOT_PROFILE_VERSION}: measure it again (unimem host profile)`);
  for (const f of ['memMiB', 'bootWorkKiB', 'instances'] as const) if (!Number.isInteger(p[f]) || p[f] < 0) bad(`'${f}' is not a non-negative integer`);
  if (!Array.isArray(p.images)) bad(`'images' is not a list`);
  p.images.forEach((img, i) => {
    if (!img || typeof img.name !== 'string' || typeof img.variant !== 'string' || (img.loader !== 'copy' && img.loader !== 'pool') || !/^[0-9a-f]{16}$/.test(img.elfKey ?? '')) bad(`images[${i}]: needs name, variant, loader (copy or pool) and a 16-hex-digit elfKey`);
    if (!Array.isArray(img.pages)) bad(`images[${i}]: 'pages' is not a list`);
    let last = -1;
    img.pages.forEach((pg, k) => {
      const slots = pg.length === 4 ? pg[3] : null;
      const slotsOk = slots === null || (pg[1] === 'instance' && Array.isArray(slots) && slots.length >= 1 && slots.every((f) => Number.isSafeInteger(f) && f >= 0));
      const ok = Array.isArray(pg) && (pg.length === 3 || pg.length === 4) && Number.isInteger(pg[0]) && pg[0] > last && pg[0] < p.memMiB * 256 && CLASSES.has(pg[1]) && Number.isSafeInteger(pg[2]) && pg[2] >= 0 && slotsOk;
      if (!ok) bad(`images[${i}].pages[${k}]: expected [page number (ascending, inside ${p.memMiB} MiB), zero|shared|instance, fingerprint] or, for instance, [..., content per instance]`);
      last = pg[0];
    });
  });
  return p;
}

export function readBootProfile(file: string): BootProfile {
  const text = readInputText(file);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new InputError(file, `not JSON (${(e as Error).message})`);
  }
  return checkBootProfile(value, file);
}

/**
 * The profile's pages for each image a configuration boots (by ELF path), checked against the
 * model: same guest memory and boot work, an entry for every image's bytes under this loader.
 */
export function profileFor(profile: BootProfile, images: readonly PreparedImage[], loader: 'copy' | 'pool', model: { vmMemoryMiB: number; heapInitKiB: number; stackKiB: number }): Map<string, BootProfileImage> {
  const where = 'bootProfile';
  if (profile.memMiB !== model.vmMemoryMiB || profile.bootWorkKiB !== model.heapInitKiB + model.stackKiB) {
    throw new ConfigError('config', where, `measured with ${profile.memMiB} MiB of guest memory and ${profile.bootWorkKiB} KiB of boot work; this run has ${model.vmMemoryMiB} MiB and ${model.heapInitKiB + model.stackKiB} KiB (heapInitKiB + stackKiB): measure it again with these`);
  }
  const out = new Map<string, BootProfileImage>();
  for (const img of images) {
    const key = elfKey(img.elf);
    const entry = profile.images.find((e) => e.elfKey === key && e.loader === loader);
    if (!entry) throw new ConfigError('config', where, `no entry for ${img.elf} (${img.variant}, ${loader} loader, key ${key}): the profile was measured on other images`);
    out.set(img.elf, entry);
  }
  return out;
}

/**
 * Write a profiled boot into `vm`, the `slot`-th instance of its image (0 for the first): every
 * page of the profile outside the model's boot work [workStart, workEnd), zero, with its measured
 * content, with the content the measured instance of the same slot held (slot modulo the measured
 * instances) where other VMs held it too, or with content unique to the VM.
 */
export function applyBootProfile(vm: HostVm, entry: BootProfileImage, slot: number, workStart: number, workEnd: number, write: (gpa: number, fp: number) => void): void {
  for (const page of entry.pages) {
    const [gpn, cls, fp] = page;
    const gpa = gpn * PAGE_4K;
    if (gpa >= workStart && gpa < workEnd) continue;
    const measured = page.length === 4 ? page[3][slot % page[3].length] : 0;
    if (cls === 'zero') write(gpa, ZERO_FINGERPRINT);
    else if (cls === 'shared') write(gpa, fp);
    else write(gpa, measured !== 0 ? measured : contentFingerprint(vm.id + 1, gpn, BOOT_INSTANCE_TAG));
  }
}
