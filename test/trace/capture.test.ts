/**
 * Capture of a real program: a small C program (compiled here with gcc) makes a known sequence of
 * allocation calls and prints the pointers it got; `unimem trace capture` must report exactly those
 * calls, in order, with its own accesses between them in program order.
 */
import * as assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openTrace } from '../../src/trace/reader.ts';
import { KERNEL_CALL_INSIDE_ALLOCATOR, TraceOp } from '../../src/trace/types.ts';
import { cli, tempDir } from '../fixtures/cli.ts';
import { processesWith } from './processes.ts';

const PROGRAM = String.raw`
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Print a pointer in hex without stdio (whose buffer would be one more malloc). */
static void put(const char *tag, uintptr_t v) {
    char b[40];
    int n = 0;
    while (*tag) b[n++] = *tag++;
    b[n++] = ' ';
    char d[20];
    int k = 0;
    do { d[k++] = "0123456789abcdef"[v & 15]; v >>= 4; } while (v);
    while (k) b[n++] = d[--k];
    b[n++] = '\n';
    write(1, b, n);
}

int main(void) {
    char *a = malloc(40);
    put("malloc", (uintptr_t)a);
    *(volatile uint64_t *)a = 1;
    char *b = calloc(3, 100);
    put("calloc", (uintptr_t)b);
    char *a2 = realloc(a, 4000);
    put("realloc", (uintptr_t)a2);
    void *c = NULL;
    if (posix_memalign(&c, 64, 256) != 0) return 1;
    put("posix_memalign", (uintptr_t)c);
    void *d = aligned_alloc(4096, 8192);
    put("aligned_alloc", (uintptr_t)d);
    char *m = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    put("mmap", (uintptr_t)m);
    *(volatile char *)(m + 100) = 3;
    munmap(m, 65536);
    char *brk0 = sbrk(0);
    put("sbrk", (uintptr_t)brk0);
    sbrk(4096);
    brk(brk0);
    free(a2);
    free(b);
    free(c);
    free(d);
    void *volatile none = NULL;
    free(none);
    return 0;
}
`;

interface Ev {
  op: number;
  addr: number;
  size: number;
  arg: number;
}

describe('trace capture of a small C program', () => {
  const { dir, cleanup } = tempDir('unimem-capture-');
  after(cleanup);
  let events: Ev[] = [];
  let pointers: Record<string, number> = {};
  let capture: { code: number; stdout: string; stderr: string };
  const out = path.join(dir, 'prog.umt');

  before(async () => {
    fs.writeFileSync(path.join(dir, 'prog.c'), PROGRAM);
    execFileSync('gcc', ['-O1', '-o', path.join(dir, 'prog'), path.join(dir, 'prog.c')]);
    capture = await cli(['trace', 'capture', '--out', out, '--', path.join(dir, 'prog')]);
    // The program's own output goes to standard error, unimem's summary to standard output.
    pointers = Object.fromEntries(
      capture.stderr
        .split('\n')
        .filter((l) => /^[a-z_]+ [0-9a-f]+$/.test(l))
        .map((l) => [l.split(' ')[0], parseInt(l.split(' ')[1], 16)]),
    );
    if (capture.code === 0) {
      const r = openTrace(out);
      for (let b = r.next(); b !== null; b = r.next()) {
        for (let i = 0; i < b.length; i++) events.push({ op: b.op[i], addr: b.addr[i], size: b.size[i], arg: b.arg[i] });
      }
      r.close();
    }
  });

  it('exits 0 and prints one summary line', () => {
    assert.equal(capture.code, 0, capture.stderr);
    assert.match(capture.stdout, /^.*prog\.umt: \d+ events \(\d+ data accesses, \d+ instruction fetches not recorded\), \d+ bytes, .* exit 0\n$/);
  });

  it('reports exactly the allocation calls the program made, in order, with arguments and results', () => {
    const calls = events.filter((e) => e.op >= 16);
    const p = pointers;
    const brk0 = p.sbrk;
    assert.deepEqual(calls, [
      { op: TraceOp.Malloc, addr: p.malloc, size: 40, arg: 0 },
      { op: TraceOp.Calloc, addr: p.calloc, size: 300, arg: 0 },
      { op: TraceOp.Realloc, addr: p.realloc, size: 4000, arg: p.malloc },
      { op: TraceOp.PosixMemalign, addr: p.posix_memalign, size: 256, arg: 64 },
      { op: TraceOp.AlignedAlloc, addr: p.aligned_alloc, size: 8192, arg: 4096 },
      // PROT_READ|PROT_WRITE = 3, MAP_PRIVATE|MAP_ANONYMOUS = 0x22
      { op: TraceOp.Mmap, addr: p.mmap, size: 65536, arg: 3 | (0x22 << 8) },
      { op: TraceOp.Munmap, addr: p.mmap, size: 65536, arg: 0 },
      { op: TraceOp.Brk, addr: brk0, size: 0, arg: 0 },
      { op: TraceOp.Brk, addr: brk0 + 4096, size: 0, arg: brk0 + 4096 },
      { op: TraceOp.Brk, addr: brk0, size: 0, arg: brk0 },
      { op: TraceOp.Free, addr: p.realloc, size: 0, arg: 0 },
      { op: TraceOp.Free, addr: p.calloc, size: 0, arg: 0 },
      { op: TraceOp.Free, addr: p.posix_memalign, size: 0, arg: 0 },
      { op: TraceOp.Free, addr: p.aligned_alloc, size: 0, arg: 0 },
      { op: TraceOp.Free, addr: 0, size: 0, arg: 0 },
    ]);
    assert.ok(calls.every((e) => e.op === TraceOp.Marker || e.arg < KERNEL_CALL_INSIDE_ALLOCATOR), 'no call made inside an allocator');
  });

  it("puts the program's own accesses between the calls in program order", () => {
    const index = (op: TraceOp, nth = 0): number => events.map((e, i) => (e.op === op ? i : -1)).filter((i) => i >= 0)[nth];
    const store8 = events.findIndex((e) => e.op === TraceOp.Store && e.addr === pointers.malloc && e.size === 8);
    assert.ok(index(TraceOp.Malloc) < store8 && store8 < index(TraceOp.Calloc), 'the 8-byte store to the malloc block sits between malloc and calloc');
    assert.equal(events[store8].arg, 0, 'the program\'s store is not inside an allocation call');
    const mapped = events.findIndex((e) => e.op === TraceOp.Store && e.addr === pointers.mmap + 100 && e.size === 1);
    assert.ok(index(TraceOp.Mmap) < mapped && mapped < index(TraceOp.Munmap), 'the store into the mapping sits between mmap and munmap');
    assert.ok(events.some((e) => e.op < 16 && e.arg === 1), 'the C library allocator\'s own accesses are flagged');
  });

  it('writes a header that trace info shows', async () => {
    const r = await cli(['trace', 'info', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    assert.equal(info.header.label, 'prog');
    assert.equal(info.header.withInstructions, false);
    assert.equal(info.events.free, 5);
    assert.equal(info.allocationEvents, 15);
    assert.equal(info.accesses.instr, 0);
    assert.ok(info.header.meta.instructions > 0);
    // malloc 40 -> realloc 4000, calloc 300, posix_memalign 256, aligned_alloc 8192 live at once
    assert.equal(info.peakHeapBytes, 4000 + 300 + 256 + 8192);
    assert.equal(info.finalHeapBytes, 0);
    assert.equal(info.peakMappedBytes, 65536);
    assert.equal(info.unknownFrees, 0);
  });

  it('records instruction fetches with --with-instructions', async () => {
    const file = path.join(dir, 'prog-i.umt');
    const r = await cli(['trace', 'capture', '--with-instructions', '--out', file, '--', path.join(dir, 'prog')]);
    assert.equal(r.code, 0, r.stderr);
    const h = openTrace(file).header;
    assert.equal(h.withInstructions, true);
    assert.equal(h.counts[TraceOp.Instr], h.meta.instructions);
    assert.ok(h.counts[TraceOp.Instr] > h.counts[TraceOp.Load]);
  });

  it('leaves no process and no file behind when interrupted with Ctrl-C', async () => {
    const sleeper = path.join(dir, 'sleeper');
    fs.writeFileSync(`${sleeper}.c`, '#include <stdlib.h>\n#include <unistd.h>\nint main(void) { free(malloc(64)); sleep(600); return 0; }\n');
    execFileSync('gcc', ['-o', sleeper, `${sleeper}.c`]);
    const file = path.join(dir, 'interrupted.umt');
    const bin = path.resolve(import.meta.dirname, '../../bin/unimem.js');
    const child = spawn(process.execPath, [bin, 'trace', 'capture', '--out', file, '--', sleeper], { stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal === 'SIGINT' ? 130 : null))));
    const running = (): number[] => processesWith([sleeper]);
    for (let i = 0; i < 600 && running().length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(running().length > 0, 'the program runs under valgrind');
    await new Promise((r) => setTimeout(r, 500));
    child.kill('SIGINT');
    assert.equal(await exited, 130);
    assert.deepEqual(running(), []);
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('interrupted')), []);
  });

  it('refuses a missing program with a one-line error and exit 2, leaving no trace', async () => {
    const file = path.join(dir, 'none.umt');
    const r = await cli(['trace', 'capture', '--out', file, '--', path.join(dir, 'no-such-program')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^unimem: valgrind did not run .*no-such-program/m);
    assert.equal(fs.existsSync(file), false);
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
  });
});
