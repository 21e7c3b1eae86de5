/**
 * The real host on the command line:
 *   unimem host check [--json]                       what this machine offers, each with its reason
 *   unimem host profile [--instances N] [--out FILE] [--json]   boot pages, real against simulated
 *   unimem run <experiment> --host real|sim|both     (option of `run`, handled here for real/both)
 * Without root, /dev/kvm or a writable KSM, a real run says why in one line and exits 2.
 */
import type { Command } from 'commander';
import { UserError } from '../../base/errors.ts';
import { median, round } from '../../base/stats.ts';
import type { System } from '../../base/system.ts';
import type { ExperimentResult, ResultTable } from '../../experiments/types.ts';
import { hostCheck } from '../../realhost/check.ts';
import { compareRuns } from '../../realhost/compare.ts';
import { HOSTED, simulate, type HostedExperiment } from '../../realhost/experiments.ts';
import { runRealFaas, type RealConfigRun } from '../../realhost/faas.ts';
import { requireRealHost } from '../../realhost/check.ts';
import { renderHtmlReport } from '../../report/html.ts';
import { resultFiles, toJson, writeFiles } from '../../report/results.ts';
import { renderText } from '../../report/text.ts';
import { findExperiment } from '../../experiments/index.ts';
import { DEFAULT_SEED, parsePositiveInt, parseSeed } from '../options.ts';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkOutputFile } from '../../base/output.ts';
import { terminalStatus } from '../progress.ts';
import { formatTable } from '../../base/table.ts';
import { bootProfileOf, measureBootProfile, runProfile, withRealWorkDir } from '../../realhost/profile.ts';
import type { BootProfile } from '../../experiments/dedup/boot-profile.ts';
import type { FaasModel, SharingConfig } from '../../experiments/dedup/faas.ts';

export type HostChoice = 'sim' | 'real' | 'both';

export function parseHost(text: string): HostChoice {
  if (text !== 'sim' && text !== 'real' && text !== 'both') throw new UserError(`--host: '${text}' is not one of sim, real, both`);
  return text;
}

export function registerHost(program: Command, sys: System): void {
  const host = program.command('host').description('the real host: KVM micro-VMs, Linux KSM, perf (docs/realhost.md)');
  host
    .command('check')
    .description('what this machine offers the real host (KVM, KSM and its settings, THP, perf tracepoints, limits), each with the reason when unusable')
    .option('--json', 'print the checks as JSON')
    .action((opts: { json?: boolean }) => {
      const items = hostCheck();
      if (opts.json) {
        sys.write(toJson({ usable: items.filter((i) => ['root', 'kvm', 'vmm', 'ksm'].includes(i.name)).every((i) => i.ok), checks: items }));
        return;
      }
      const width = Math.max(...items.map((i) => i.name.length));
      for (const i of items) sys.write(`${i.name.padEnd(width)}  ${i.ok ? 'ok  ' : 'NO  '}  ${i.value}${i.ok ? '' : `  (${i.reason})`}\n`);
    });
  host
    .command('profile')
    .description('boot the images of `run dedup-faas --host real --quick` several times each under unimem-vmm with memory snapshots, classify every guest page after boot (zero, same in every instance, same across images, per instance) by address range beside the simulated boot, and write the boot profile that bssAtBoot measured uses')
    .option('--instances <n>', 'instances per image (at least 2)', parsePositiveInt('--instances'), 3)
    .option('--seed <n>', 'seed of the image set and the simulated side', parseSeed)
    .option('--out <file>', 'write the boot profile (JSON) to this file')
    .option('--json', 'print the tables and the summary as JSON')
    .action(async (opts: { instances: number; seed?: number; out?: string; json?: boolean }) => {
      if (opts.instances < 2) throw new UserError(`--instances: ${opts.instances} instances cannot tell per-instance pages from shared ones; give at least 2`);
      const outDir = opts.out ? path.dirname(path.resolve(opts.out)) : '';
      if (opts.out && !fs.statSync(outDir, { throwIfNoEntry: false })?.isDirectory()) throw new UserError(`--out: ${outDir} is not a folder`);
      if (opts.out) checkOutputFile('--out', opts.out);
      requireRealHost(['root', 'kvm', 'vmm', 'tmpfs /dev/shm']);
      const seed = opts.seed ?? DEFAULT_SEED;
      const hosted = HOSTED['dedup-faas'];
      const cfg = hosted.quickReal(hosted.experiment.defaults(true) as Parameters<HostedExperiment['quickReal']>[0]);
      const { log, clear } = terminalStatus(sys, Boolean(opts.json));
      log?.('building the images');
      const description = hosted.describe(cfg, seed);
      const r = await withRealWorkDir((work) => runProfile(description, opts.instances, work, seed, 'dedup-faas', log), log);
      clear();
      if (opts.out) sys.writeFileAtomic(opts.out, toJson(r.profile));
      if (opts.json) sys.write(toJson({ summary: r.summary, tables: r.tables }));
      else for (const t of r.tables) sys.write(`\n${t.title}\n${formatTable(t.columns, t.rows)}`);
    });
}

const kib = (b: number): number => round(b / 1024, 1);

function realHostTable(runs: RealConfigRun[]): ResultTable {
  return {
    name: 'real-host',
    title:
      'This machine: VMs, boot, invocations served, VMM memory (medians over the VMMs), pool pages mapped, KSM from its tracepoints (new KSM pages, merges) and ksmd CPU, real TLB flushes by task (tlb:tlb_flush; explicit / on task switch)',
    columns: ['configuration', 'VMs', 'boot failures', 'invocations', 'start to guest entry µs', 'VMM own Pss KiB', 'VMM private KiB', 'pool Rss KiB (sum)', 'pool Pss KiB (sum)', 'new KSM pages', 'KSM merges', 'ksmd CPU ms', 'flushes ksmd', 'flushes VMM', 'flushes vCPU', 'flushes other', 'task-switch flushes (ours)'],
    rows: runs.map((r) => {
      const k = r.converged?.ksm;
      return [
        r.config.name,
        r.started,
        r.bootFailures,
        r.invocations,
        round(r.setupMicros, 1),
        kib(r.vmmPssBytes),
        kib(r.vmmPrivateBytes),
        kib(r.poolRssBytes),
        kib(r.poolPssBytes),
        r.ksmEvents ? r.ksmEvents.converged.newKsmPage : '-',
        k ? k.merges : '-',
        k ? round(k.cpuNs / 1e6, 1) : '-',
        r.flushes ? r.flushes.explicit.ksmd : '-',
        r.flushes ? r.flushes.explicit.vmm : '-',
        r.flushes ? r.flushes.explicit.vcpu : '-',
        r.flushes ? r.flushes.explicit.other : '-',
        r.flushes ? r.flushes.taskSwitch.ksmd + r.flushes.taskSwitch.vmm + r.flushes.taskSwitch.vcpu : '-',
      ];
    }),
  };
}

export interface HostedRunOptions {
  host: HostChoice;
  quick?: boolean;
  json?: boolean;
  seed?: number;
  out?: string;
}


/** `unimem run <experiment> --host real|both`. */
export async function runHosted(sys: System, name: string, config: unknown, opts: HostedRunOptions): Promise<void> {
  const hosted = HOSTED[name];
  if (!hosted) throw new UserError(`${name} runs only on the simulated host (--host real and both: ${Object.keys(HOSTED).join(', ')})`);
  requireRealHost(['root', 'kvm', 'vmm', 'ksm', 'smaps_rollup', 'tmpfs /dev/shm', 'perf ksm:*', ...(hosted.countFlushes ? ['perf tlb:tlb_flush'] : [])]);
  const seed = opts.seed ?? DEFAULT_SEED;
  const base = hosted.experiment.schema.parse(config) as Parameters<HostedExperiment['quickReal']>[0];
  const cfg = opts.quick ? hosted.quickReal(base) : base;
  const { log, clear } = terminalStatus(sys, Boolean(opts.json));
  log?.('building the images');
  const description = hosted.describe(cfg, seed);
  // bssAtBoot measured: the real VMs' memory snapshots give the simulated side its boot profile.
  const bssAtBoot = (cfg as { bssAtBoot?: string }).bssAtBoot;
  const measured = bssAtBoot === 'measured' && opts.host === 'both';
  // Unset under --host both: the boot contents of separate real boots of the same images, not of the VMs compared.
  const separate = bssAtBoot === undefined && opts.host === 'both' ? await measureBootProfile(description, log) : null;
  const realRuns = await runRealFaas(description, { seed, experiment: name, countFlushes: hosted.countFlushes, log, snapshots: measured });
  clear();
  const real = hosted.result(cfg, seed, Boolean(opts.quick), realRuns, description);
  const realTables = [...real.tables.map((t) => ({ ...t, name: `real-${t.name}`, title: `This machine: ${t.title}` })), realHostTable(realRuns)];
  let result: ExperimentResult;
  let json: unknown;
  // The measured boot profile (bssAtBoot measured under --host both), saved beside the results.
  let profileFile: { name: string; content: string }[] = [];
  if (opts.host === 'real') {
    result = { ...real, title: `${real.title} (this machine)`, tables: realTables };
    json = result;
  } else {
    // The simulated host gets this run's measured VMM memory instead of its default.
    const vmmOverheadMiB = round(median(realRuns.map((r) => r.vmmPssBytes)) / 1048576, 3);
    const simCfg = { ...cfg, vmmOverheadMiB, ...(separate ? { bssAtBoot: 'measured' as const } : {}) };
    const simDescription = hosted.describe(simCfg, seed);
    // Each configuration's simulated boots write what its own real VMs' boots wrote (which
    // instances share the Lua heap depends on the second each booted in, so runs differ).
    const profileOf = (r: RealConfigRun): BootProfile => {
      const perImage = Math.floor(r.started / Math.max(1, description.set.byVariant.get(r.config.variant)?.length ?? 1));
      return bootProfileOf(simDescription.model, perImage, r.bootProfile ?? []);
    };
    const modelOf = (c: SharingConfig): FaasModel => (measured ? { ...simDescription.model, bootProfile: profileOf(realRuns.find((r) => r.config.name === c.name)!) } : separate ? { ...simDescription.model, bootProfile: separate } : simDescription.model);
    if (measured) profileFile = realRuns.map((r) => ({ name: `boot-profile-${r.config.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.json`, content: toJson(profileOf(r)) }));
    if (separate) profileFile = [{ name: 'boot-profile.json', content: toJson(separate) }];
    const simRuns = simulate(name, simDescription, seed, modelOf);
    const sim = hosted.result(simCfg, seed, Boolean(opts.quick), simRuns, simDescription);
    const cmp = compareRuns(simRuns, realRuns, { flushes: hosted.countFlushes });
    const flat: Record<string, number> = {};
    for (const [k, v] of Object.entries(cmp.summary)) flat[`simVsReal.${k}`] = v;
    result = {
      ...sim,
      title: `${sim.title}: simulated${separate ? ' (boot contents measured from separate boots)' : ''} and this machine`,
      summary: { ...sim.summary, measuredVmmOverheadMiB: vmmOverheadMiB, ...flat },
      tables: [cmp.table, ...sim.tables.map((t) => ({ ...t, name: `sim-${t.name}`, title: `Simulated: ${t.title}` })), ...realTables],
      series: [...cmp.series, ...sim.series],
    };
    json = { ...result, summary: { ...sim.summary, measuredVmmOverheadMiB: vmmOverheadMiB, simVsReal: cmp.summary } };
  }
  if (opts.out) {
    const html = await renderHtmlReport([result], { findExperiment });
    writeFiles(sys, opts.out, resultFiles(result, [{ name: 'report.html', content: html }, ...profileFile]));
  }
  sys.write(opts.json ? toJson(json) : renderText(result));
}
