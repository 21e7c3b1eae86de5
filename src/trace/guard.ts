/**
 * Nothing a capture starts outlives it: every child process (valgrind with the traced program, a
 * server, a load client) and every temporary path is registered here and removed when the capture
 * ends, fails, or when this process gets SIGINT or SIGTERM (the handlers are installed only while
 * something is registered, and re-raise the signal's usual exit afterwards).
 */
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';

type Cleanup = () => void;

const live = new Set<Cleanup>();
let handlersInstalled = false;

function runAll(): void {
  for (const c of [...live]) {
    live.delete(c);
    try {
      c();
    } catch {
      // best effort: one failed cleanup must not stop the others
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  runAll();
  uninstall();
  process.exitCode = signal === 'SIGINT' ? 130 : 143;
  process.kill(process.pid, signal);
}

function install(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', runAll);
}

function uninstall(): void {
  if (!handlersInstalled) return;
  handlersInstalled = false;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.off('exit', runAll);
}

/** Register a cleanup; returns the function that runs it now (once) and unregisters it. */
export function onCleanup(cleanup: Cleanup): () => void {
  install();
  live.add(cleanup);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    live.delete(cleanup);
    if (live.size === 0) uninstall();
    cleanup();
  };
}

/** Kill a child (SIGKILL) unless it has exited; registered until it exits. */
export function guardChild(child: ChildProcess): () => void {
  const release = onCleanup(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  child.once('exit', () => release());
  return release;
}

/** Remove a temporary directory at cleanup. */
export function guardDir(dir: string): () => void {
  return onCleanup(() => fs.rmSync(dir, { recursive: true, force: true }));
}
