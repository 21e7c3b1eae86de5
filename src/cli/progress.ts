/**
 * Terminal progress: one line redrawn in place (phase, step, detail, ETA). Drawn only when standard
 * output is a terminal and --json is off; otherwise the silent implementation is used, so piped and
 * JSON output stay clean.
 */
import cliProgress from 'cli-progress';
import { silentProgress, type Progress } from '../base/progress.ts';
import type { System } from '../base/system.ts';

export function terminalProgress(sys: System, json: boolean): Progress {
  if (!sys.isTerminal || json) return silentProgress;
  const bar = new cliProgress.SingleBar(
    {
      format: '{label} [{bar}] {value}/{total} {detail} | ETA {eta_formatted}',
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 20,
      stream: process.stderr,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    phase(label, total) {
      if (started) bar.stop();
      bar.start(Math.max(1, total), 0, { label, detail: '' });
      started = true;
    },
    update(done, detail = '') {
      if (started) bar.update(done, { detail });
    },
    finish() {
      if (started) bar.stop();
      started = false;
    },
  };
}

/**
 * A free-text status line redrawn in place (the real host's phases, which have no step count):
 * `log` is undefined unless standard output is a terminal and --json is off; `clear` erases it.
 */
export function terminalStatus(sys: System, json: boolean): { log: ((line: string) => void) | undefined; clear(): void } {
  const log = sys.isTerminal && !json ? (line: string) => sys.writeError(`\r${line.slice(0, 100)}\x1b[K`) : undefined;
  return {
    log,
    clear() {
      if (log) sys.writeError('\r\x1b[K');
    },
  };
}
