/**
 * Progress reporting for long runs. The library only calls this interface; the command line decides
 * whether anything is drawn (a terminal without --json) or nothing at all (--json, pipes, CI).
 */
export interface Progress {
  /** A new phase: experiment and configuration name, and the number of steps it will take. */
  phase(label: string, total: number): void;
  /** Steps done in the current phase, with an optional detail (VMs started, simulated time). */
  update(done: number, detail?: string): void;
  /** The run is over: clear the display. */
  finish(): void;
}

export const silentProgress: Progress = {
  phase: () => {},
  update: () => {},
  finish: () => {},
};
