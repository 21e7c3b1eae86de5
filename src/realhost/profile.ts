/**
 * Boot profiles: real boots of the FaaS images under the VMM with memory snapshots (snapshot.ts),
 * every guest page classified over several instances of each image, attributed to its address
 * range (attribution.ts) beside the simulated boot of the same images and configuration, and the
 * profile the simulator's `bssAtBoot: measured` writes (src/experiments/dedup/boot-profile.ts).
 *
 *   unimem host profile [--instances N] [--out FILE] [--json]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HOST_CONSTANTS, type HostBackend, type HostVm } from '../host/index.ts';
import { PAGE_4K } from '../base/units.ts';
import { UserError } from '../base/errors.ts';
import { BOOT_PROFILE_MAGIC, BOOT_PROFILE_VERSION, elfKey, type BootProfile, type BootProfileImage, type ProfiledClass, type ProfiledPage } from '../experiments/dedup/boot-profile.ts';
import { bootedInstances, type FaasModel, type SharingConfig } from '../experiments/dedup/faas.ts';
import type { ResultTable } from '../experiments/types.ts';
import { attribute, attributionTable, imageLayout, type Attribution } from './attribution.ts';
import { planLoad, withRealHost, type FaasDescription } from './faas.ts';
import { configRng } from './schedule.ts';
import { classifyPages, readSnapshot, type ClassifiedPage, type InstanceSnapshots, type PageKind, type Snapshot } from './snapshot.ts';
import { TIMING_RE, vmmArgs, vmmBinary, type BootImage } from './vmm.ts';
import { spawn } from 'node:child_process';

const { FRAME_POOL } = HOST_CONSTANTS;

/** The command line of instance i, as the real run gives it (faas.ts). */
export function instanceCmdline(model: FaasModel, i: number): string {
  return `unimem.instance=${i + 1} unimem.init_kib=${model.heapInitKiB + model.stackKiB}`;
}

/** An instance's load and boot snapshots (PREFIX.load, PREFIX.boot), or null when the guest never finished booting. */
export function instanceSnapshots(image: string, prefix: string): InstanceSnapshots | null {
  if (!fs.existsSync(`${prefix}.load`) || !fs.existsSync(`${prefix}.boot`)) return null;
  return { image, load: readSnapshot(`${prefix}.load`), boot: readSnapshot(`${prefix}.boot`) };
}

/** Boot one VM to its exit (no schedule: it ends at its first invocation request); its status and standard error. */
function bootToExit(args: string[]): Promise<{ status: number; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(vmmBinary(), args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e) => resolve({ status: 125, stderr: e.message }));
    child.on('close', (code) => resolve({ status: code ?? 128, stderr: stderr.replace(TIMING_RE, '').trim() }));
  });
}

/**
 * Boot `perImage` instances of every image of a configuration with snapshots into `work`, keyed by
 * ELF path. The instances of one image start together, as the experiment starts its VMs back to
 * back: the Lua functions seed their string hash with the time in seconds (luai_makeseed), so
 * instances that boot in the same second hold the same heap and those a second apart do not.
 */
export async function bootWithSnapshots(desc: FaasDescription, config: SharingConfig, bootImages: BootImage[], perImage: number, work: string, cpuid: string): Promise<InstanceSnapshots[]> {
  const images = desc.set.byVariant.get(config.variant)!;
  const out: InstanceSnapshots[] = [];
  for (let k = 0; k < images.length; k++) {
    const ids = Array.from({ length: perImage }, (_, j) => j * images.length + k);
    const prefix = (i: number): string => path.join(work, `snap-${i}`);
    const runs = await Promise.all(ids.map((i) => bootToExit(vmmArgs({ image: bootImages[k], memMiB: desc.model.vmMemoryMiB, cmdline: instanceCmdline(desc.model, i), snapshot: prefix(i), cpuid }))));
    ids.forEach((i, j) => {
      const s = runs[j].status === 0 ? instanceSnapshots(images[k].elf, prefix(i)) : null;
      if (!s) throw new UserError(`${images[k].elf}: the ${config.loader} loader's boot under unimem-vmm failed (status ${runs[j].status}${runs[j].stderr ? `: ${runs[j].stderr.split('\n')[0]}` : ''})`);
      out.push(s);
    });
  }
  return out;
}

/** The profile's pages of one image: what boot wrote beyond the loader (present in every instance or some). */
export function profileImage(elf: string, name: string, config: SharingConfig, pages: readonly ClassifiedPage[]): BootProfileImage {
  const written: ProfiledPage[] = [];
  for (const p of pages) {
    if (p.cls === 'loaded' || p.cls === 'pool' || p.cls === 'absent') continue;
    // A page present in only some instances is written as per-instance content (none seen so far).
    const cls: ProfiledClass = p.cls === 'zero' ? 'zero' : p.cls === 'image' || p.cls === 'common' ? 'shared' : 'instance';
    written.push(p.slots ? [p.gpn, 'instance', 0, p.slots] : [p.gpn, cls, cls === 'shared' ? p.fingerprint! : 0]);
  }
  return { name, variant: config.variant, loader: config.loader, elfKey: elfKey(elf), pages: written };
}

/** The profile images of one configuration from its instances' snapshots. */
export function profileImages(desc: FaasDescription, config: SharingConfig, snaps: readonly InstanceSnapshots[]): { images: BootProfileImage[]; classified: Map<string, ClassifiedPage[]> } {
  const classified = classifyPages(snaps);
  const images = desc.set.byVariant.get(config.variant)!.filter((i) => classified.has(i.elf));
  return { images: images.map((i) => profileImage(i.elf, i.name, config, classified.get(i.elf)!)), classified };
}

export function bootProfileOf(model: FaasModel, perImage: number, images: BootProfileImage[]): BootProfile {
  return { magic: BOOT_PROFILE_MAGIC, version: BOOT_PROFILE_VERSION, memMiB: model.vmMemoryMiB, bootWorkKiB: model.heapInitKiB + model.stackKiB, instances: perImage, images };
}

/** A simulated VM's guest memory in the shape of a VMM snapshot (pool frames never written are `pool`). */
export function simSnapshot(vm: HostVm, backend: HostBackend, moment: string): Snapshot {
  const present = new Map<number, { kind: PageKind; fingerprint: number }>();
  vm.ept.forEachLeaf((addr, frame) => {
    const kind: PageKind = backend.memory.flags(frame) & FRAME_POOL ? 'pool' : 'private';
    present.set(addr / PAGE_4K, { kind, fingerprint: vm.contentOf(addr) });
  });
  return { moment, pages: vm.gpaBytes / PAGE_4K, present: new Map([...present].sort((a, b) => a[0] - b[0])) };
}

/** The simulated boot of `perImage` instances of each image of a configuration, as snapshots. */
export function simulatedSnapshots(desc: FaasDescription, config: SharingConfig, perImage: number, seed: number, experiment: string): InstanceSnapshots[] {
  const images = desc.set.byVariant.get(config.variant)!;
  const loads: Snapshot[] = [];
  const model = { ...desc.model, cores: null };
  const vms = bootedInstances(desc.set, config, model, configRng(seed, experiment, config), images.length * perImage, (vm, backend) => loads.push(simSnapshot(vm, backend, 'load')));
  return vms.map(({ vm, backend }, i) => ({ image: images[i % images.length].elf, load: loads[i], boot: simSnapshot(vm, backend, 'boot') }));
}

/** Attribution of classified pages of every image of a configuration, by range. */
export function attributionOf(desc: FaasDescription, config: SharingConfig, classified: Map<string, ClassifiedPage[]>): Attribution {
  const into: Attribution = new Map();
  const m = desc.model;
  for (const img of desc.set.byVariant.get(config.variant)!) {
    const pages = classified.get(img.elf);
    if (pages) attribute(imageLayout(img.elf, img.imageEnd, m.vmMemoryMiB, m.heapInitKiB + m.stackKiB), pages, into);
  }
  return into;
}

/** The attribution table of a configuration: real pages beside the simulated ones. */
export function configAttribution(desc: FaasDescription, config: SharingConfig, real: Map<string, ClassifiedPage[]>, sim: Map<string, ClassifiedPage[]>): ResultTable {
  const name = `boot-pages-${config.variant}-${config.loader}`;
  const title = `Guest pages after boot by range, ${config.variant} images, ${config.loader === 'pool' ? 'pool' : 'standard'} loader (${desc.set.byVariant.get(config.variant)!.length} images; pages summed over the images, each classified over its instances; real / simulated with bssAtBoot ${desc.model.bssAtBoot ?? 'all'})`;
  return attributionTable(name, title, attributionOf(desc, config, real), attributionOf(desc, config, sim));
}

/** Distinct non-zero contents held by more than one VM after boot: what KSM can make into KSM pages. */
export function sharedContents(snaps: readonly InstanceSnapshots[]): number {
  const holders = new Map<number, number>();
  for (const s of snaps) {
    const seen = new Set<number>();
    for (const p of s.boot.present.values()) if (p.kind === 'private' && p.fingerprint !== 0) seen.add(p.fingerprint);
    for (const fp of seen) holders.set(fp, (holders.get(fp) ?? 0) + 1);
  }
  let n = 0;
  for (const c of holders.values()) if (c > 1) n++;
  return n;
}

/** Private pages (frames of the VM's own) after boot, summed over the instances. */
export function privatePages(snaps: readonly InstanceSnapshots[]): number {
  let n = 0;
  for (const s of snaps) for (const p of s.boot.present.values()) if (p.kind === 'private') n++;
  return n;
}

export interface ProfileRun {
  profile: BootProfile;
  tables: ResultTable[];
  summary: Record<string, number>;
}

/**
 * Real boots with snapshots of every configuration's images, each variant and loader once:
 * `perImage` instances of each image, in `work` (a tmpfs directory the caller removes).
 */
async function realBoots(desc: FaasDescription, perImage: number, work: string, log?: (line: string) => void): Promise<{ config: SharingConfig; real: InstanceSnapshots[] }[]> {
  const out: { config: SharingConfig; real: InstanceSnapshots[] }[] = [];
  const done = new Set<string>();
  for (const config of desc.configs) {
    const key = `${config.variant}/${config.loader}`;
    if (done.has(key)) continue;
    done.add(key);
    log?.(`profiling ${config.name}`);
    const dir = fs.mkdtempSync(path.join(work, 'profile-'));
    const p = planLoad(config, desc.set.byVariant.get(config.variant)!, dir);
    out.push({ config, real: await bootWithSnapshots(desc, config, p.bootImages, perImage, dir, p.cpuid) });
  }
  return out;
}

/**
 * The boot profile of a description's images from real boots of their own (`perImage` instances
 * of each image), apart from any run it is compared with: what `run --host both` gives its
 * simulated side by default (docs/realhost.md).
 */
export async function separateBootProfile(desc: FaasDescription, perImage: number, work: string, log?: (line: string) => void): Promise<BootProfile> {
  const images: BootProfileImage[] = [];
  for (const { config, real } of await realBoots(desc, perImage, work, log)) images.push(...profileImages(desc, config, real).images);
  return bootProfileOf(desc.model, perImage, images);
}

/** Run `fn` with a fresh work directory on /dev/shm that is removed afterwards, also on failure, Ctrl-C and SIGTERM. */
export async function withRealWorkDir<T>(fn: (work: string) => Promise<T>, log?: (line: string) => void): Promise<T> {
  return withRealHost(async (state) => {
    const work = fs.mkdtempSync('/dev/shm/unimem-profile-');
    state.addDir(work);
    try {
      return await fn(work);
    } finally {
      state.removeDir(work);
    }
  }, log);
}

/**
 * The boot profile `run --host both` gives its simulated side by default: separate real boots of
 * the description's images, as many instances of each as its run boots (at least 2, to tell
 * per-instance pages from shared ones).
 */
export async function measureBootProfile(desc: FaasDescription, log?: (line: string) => void): Promise<BootProfile> {
  const imagesPerVariant = Math.max(...[...desc.set.byVariant.values()].map((i) => i.length));
  const perImage = Math.max(2, Math.floor(desc.model.instances / imagesPerVariant));
  return withRealWorkDir((work) => separateBootProfile(desc, perImage, work, log), log);
}

/**
 * Profile every configuration of a description (each variant and loader once): real boots with
 * snapshots in `work` (a tmpfs directory the caller removes), the simulated boots beside them.
 */
export async function runProfile(desc: FaasDescription, perImage: number, work: string, seed: number, experiment: string, log?: (line: string) => void): Promise<ProfileRun> {
  const images: BootProfileImage[] = [];
  const tables: ResultTable[] = [];
  const rows: (string | number)[][] = [];
  const summary: Record<string, number> = {};
  for (const { config, real } of await realBoots(desc, perImage, work, log)) {
    const sim = simulatedSnapshots(desc, config, perImage, seed, experiment);
    const r = profileImages(desc, config, real);
    images.push(...r.images);
    tables.push(configAttribution(desc, config, r.classified, classifyPages(sim)));
    const n = desc.set.byVariant.get(config.variant)!.length * perImage;
    const realPerVm = privatePages(real) / n;
    const simPerVm = privatePages(sim) / n;
    const realShared = sharedContents(real);
    const simShared = sharedContents(sim);
    rows.push([`${config.variant}, ${config.loader === 'pool' ? 'pool' : 'standard'} loader`, n, realPerVm, simPerVm, realShared, simShared]);
    const slug = `${config.variant}_${config.loader}`.replace(/[^a-z0-9_]+/gi, '_');
    summary[`${slug}.realPrivatePagesPerVm`] = Math.round(realPerVm * 10) / 10;
    summary[`${slug}.simPrivatePagesPerVm`] = Math.round(simPerVm * 10) / 10;
    summary[`${slug}.realSharedContents`] = realShared;
    summary[`${slug}.simSharedContents`] = simShared;
  }
  tables.unshift({
    name: 'boot-pages',
    title: `Guest memory after boot, real against simulated (bssAtBoot ${desc.model.bssAtBoot ?? 'all'}): private pages per VM, and distinct non-zero contents held by more than one VM (KSM's candidates for KSM pages)`,
    columns: ['images and loader', 'VMs', 'private pages per VM (real)', 'private pages per VM (sim)', 'shared contents (real)', 'shared contents (sim)'],
    rows: rows.map((r) => r.map((v) => (typeof v === 'number' ? Math.round(v * 10) / 10 : v))),
  });
  return { profile: bootProfileOf(desc.model, perImage, images), tables, summary };
}
