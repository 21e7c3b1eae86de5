/**
 * `unimem trace capture | workload | info`: capture a real program's accesses and allocation calls
 * under valgrind lackey into a binary trace, get a server workload's trace (cached), and show what
 * a trace holds. A malformed or truncated trace
 * ends with one line naming the file and the byte offset, and exit code 2.
 */
import type { Command } from 'commander';
import { UserError } from '../../base/errors.ts';
import type { System } from '../../base/system.ts';
import { formatNumber, formatTable } from '../../base/table.ts';
import { toJson } from '../../report/results.ts';
import { capture } from '../../trace/capture.ts';
import { openTrace } from '../../trace/reader.ts';
import { summarizeTrace, type TraceSummary } from '../../trace/summary.ts';
import { captureWorkload, WORKLOAD_NAMES, type WorkloadName, type WorkloadSize } from '../../trace/workloads.ts';
import { terminalProgress } from '../progress.ts';

function parseSize(text: string): WorkloadSize {
  if (text !== 'small' && text !== 'standard') throw new UserError(`--size: '${text}' is not one of small, standard`);
  return text;
}

const mib = (n: number): string => `${(n / 1048576).toFixed(2)} MiB`;

function formatSummary(file: string, s: TraceSummary): string {
  const h = s.header;
  let out = `${file}: ${h.label}\n  command: ${h.command.join(' ')}\n  instructions recorded: ${h.withInstructions ? 'yes' : 'no'}\n`;
  const meta = Object.entries(h.meta);
  if (meta.length) out += '\nMeta\n' + formatTable(['key', 'value'], meta);
  const a = s.accesses;
  out +=
    '\nAccesses\n' +
    formatTable(
      ['kind', 'count'],
      [
        ['instr', a.instr],
        ['load', a.load],
        ['store', a.store],
        ['modify', a.modify],
        ['total', a.total],
        ['inside allocation calls', a.insideAllocator],
      ],
    );
  const calls = Object.entries(s.events).filter(([name]) => !['instr', 'load', 'store', 'modify', 'marker'].includes(name));
  out += '\nAllocation events\n' + formatTable(['call', 'count'], [...calls, ['total', s.allocationEvents]]);
  out += '\nMarkers\n' + formatTable(['kind', 'count'], [['connection accepted', s.markers.accept], ['reply sent', s.markers.reply], ['other', s.markers.other]]);
  out +=
    '\nMemory\n' +
    formatTable(
      ['figure', 'value'],
      [
        ['distinct 4 KiB pages touched', s.pages.all],
        ['  by data accesses', s.pages.data],
        ['  by instruction fetches', s.pages.instr],
        ['heap bytes allocated at peak', `${formatNumber(s.peakHeapBytes)} (${mib(s.peakHeapBytes)})`],
        ['heap bytes live at the end', s.finalHeapBytes],
        ['bytes mapped by the program at peak', s.peakMappedBytes],
        ['bytes mapped by allocators at peak', s.peakAllocatorMappedBytes],
        ['frees of unknown pointers', s.unknownFrees],
      ],
    );
  return out;
}

export function registerTrace(program: Command, sys: System): void {
  const trace = program.command('trace').description('capture real programs under valgrind lackey into binary traces, and inspect traces');

  trace
    .command('capture')
    .description('run a program under valgrind lackey with the allocation shim and write its trace')
    .requiredOption('--out <file>', 'trace file to write')
    .option('--with-instructions', 'record instruction fetches too (about two thirds of all lines)')
    .option('--label <text>', 'label of the trace (default: the program name)')
    .argument('<command...>', 'the program and its arguments (after --)')
    .action(async (command: string[], opts: { out: string; withInstructions?: boolean; label?: string }) => {
      const r = await capture({
        out: opts.out,
        command,
        label: opts.label,
        withInstructions: opts.withInstructions ?? false,
        onProgramOutput: (chunk) => sys.writeError(chunk.toString()),
        progress: terminalProgress(sys, false),
      });
      const s = r.stats;
      sys.write(
        `${r.file}: ${r.events} events (${s.dataAccesses} data accesses, ${s.instructions} instruction fetches${opts.withInstructions ? '' : ' not recorded'}), ` +
          `${r.bytes} bytes, ${(r.bytes / Math.max(1, r.events)).toFixed(2)} bytes per event; ${r.seconds.toFixed(1)} s, ` +
          `${(s.lines / r.seconds / 1e6).toFixed(2)} M lackey lines/s; exit ${r.exitCode ?? r.signal}\n`,
      );
    });

  trace
    .command('workload')
    .description(`the trace of a server workload (${WORKLOAD_NAMES.join(', ')}): from the cache, or captured now while a real client drives the server`)
    .argument('<name>', 'workload name')
    .option('--size <size>', 'window: small (tests, seconds) or standard (experiments, minutes)', parseSize, 'standard' as WorkloadSize)
    .option('--with-instructions', 'record instruction fetches too')
    .option('--refresh', 'capture again even if the cache holds the trace')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, opts: { size: WorkloadSize; withInstructions?: boolean; refresh?: boolean; json?: boolean }) => {
      const r = await captureWorkload(name as WorkloadName, {
        size: opts.size,
        withInstructions: opts.withInstructions ?? false,
        refresh: opts.refresh ?? false,
        progress: terminalProgress(sys, opts.json ?? false),
        log: opts.json ? undefined : (line) => sys.writeError(`${line}\n`),
      });
      sys.write(opts.json ? toJson(r) : `${r.file}\n  ${r.label}, ${r.requests} requests, captured in ${r.captureSeconds} s${r.fromCache ? ' (from the cache)' : ''}\n`);
    });

  trace
    .command('info')
    .description('show a trace header and counts: accesses by kind, allocation events, pages touched, peak allocated bytes')
    .argument('<file>', 'trace file')
    .option('--json', 'print the summary as JSON')
    .action((file: string, opts: { json?: boolean }) => {
      const s = summarizeTrace(openTrace(file));
      sys.write(opts.json ? toJson({ file, ...s }) : formatSummary(file, s));
    });
}
