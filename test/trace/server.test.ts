/**
 * Server captures: a short window of real memcached under lackey while real memslap drives it, and
 * our YCSB redis client against a real redis-server (natively: Redis's startup alone is about 30 M
 * lackey lines, too long for the test suite; `reproduce` captures it).
 */
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import { after, describe, it } from 'node:test';
import { Rng } from '../../src/base/rng.ts';
import { RespClient } from '../../src/trace/clients/resp.ts';
import { javaStringHash, runYcsbOnRedis, ycsbKeyName } from '../../src/trace/clients/ycsb-redis.ts';
import { openTrace } from '../../src/trace/reader.ts';
import { summarizeTrace } from '../../src/trace/summary.ts';
import { MarkerKind, TraceOp } from '../../src/trace/types.ts';
import { captureWorkload } from '../../src/trace/workloads.ts';
import { createYcsbWorkload } from '../../src/workload/ycsb.ts';
import { tempDir } from '../fixtures/cli.ts';
import { processesWith } from './processes.ts';

function portIsClosed(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => (s.destroy(), resolve(false)));
    s.once('error', () => resolve(true));
  });
}

describe('server captures', () => {
  const { dir, cleanup } = tempDir('unimem-server-test-');
  after(cleanup);

  it('captures memcached driven by memaslap: startup, slab pages, requests, then a clean shutdown', async () => {
    const w = await captureWorkload('memcached+memslap', { size: 'small', cacheDir: dir });
    assert.equal(w.fromCache, false);
    assert.match(w.label, /^memcached-\d+\.\d+\.\d+\+memcaslap$/);
    assert.equal(w.requests, 50);
    const s = summarizeTrace(openTrace(w.file));
    const meta = s.header.meta;
    // memaslap's own mix: 9 gets to 1 set, and every get finds its key
    assert.deepEqual([meta.requests, meta.gets, meta.sets, meta.getMisses], [50, 45, 5, 0]);
    assert.deepEqual([meta.loadRequests, meta.runRequests], [0, 50]);
    assert.equal(s.header.label, w.label);
    // A few million accesses: the server's start, memaslap's 50 requests, the shutdown.
    assert.ok(s.accesses.total > 500_000 && s.accesses.total < 20_000_000, `accesses ${s.accesses.total}`);
    assert.ok(s.accesses.insideAllocator > 0 && s.accesses.insideAllocator < s.accesses.total / 4);
    // our readiness probe and memslap's connection(s); at least one reply per phase
    assert.ok(s.markers.accept >= 2, `accepts ${s.markers.accept}`);
    assert.ok(s.markers.reply >= 2 && s.markers.reply <= 50, `replies ${s.markers.reply}`);
    // memcached carves items out of 1 MiB slab pages it mallocs once a class needs one
    const r = openTrace(w.file);
    let sawAccept = false;
    let slabPagesAfterAccept = 0;
    for (let b = r.next(); b !== null; b = r.next()) {
      for (let i = 0; i < b.length; i++) {
        if (b.op[i] === TraceOp.Marker && b.arg[i] === MarkerKind.Accept) sawAccept = true;
        if (sawAccept && b.op[i] === TraceOp.Malloc && b.size[i] === 1 << 20) slabPagesAfterAccept++;
      }
    }
    r.close();
    assert.ok(slabPagesAfterAccept >= 1, 'slab pages are malloced while requests arrive');
    assert.ok(s.events.malloc < 1000);
    assert.equal(s.unknownFrees, 0);
    // nothing left running
    const port = Number(s.header.command[s.header.command.indexOf('-p') + 1]);
    assert.ok(await portIsClosed(port));
    assert.deepEqual(processesWith(['-p', String(port)]), []);
    // a second request comes from the cache
    const again = await captureWorkload('memcached+memslap', { size: 'small', cacheDir: dir });
    assert.equal(again.fromCache, true);
    assert.equal(again.file, w.file);
  });

  it('drives a real redis-server with YCSB as the redis binding does', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
    try {
      let client: RespClient | null = null;
      for (let i = 0; i < 100 && client === null; i++) {
        client = await RespClient.connect(port).catch(() => null);
        if (client === null) await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(client, 'redis-server listens');
      const workload = createYcsbWorkload('A', new Rng(1).fork('ycsb'), { recordCount: 30, operationCount: 40 });
      const r = await runYcsbOnRedis(port, workload, 1);
      // each insert is HMSET + ZADD; each A operation (read or one-field update) is one command
      assert.deepEqual(r, { loadOperations: 30, runOperations: 40, loadRequests: 60, runRequests: 40 });
      assert.equal(await client.call('DBSIZE'), 31);
      assert.equal(await client.call('ZCARD', '_indices'), 30);
      const key = ycsbKeyName(0, true);
      const fields = (await client.call('HGETALL', key)) as Buffer[];
      assert.equal(fields.length, 20);
      assert.ok(fields.filter((_, i) => i % 2 === 1).every((v) => v.length === 100));
      assert.equal(await client.call('ZSCORE', '_indices', key).then(String), String(javaStringHash(key)));
      client.close();
    } finally {
      server.kill('SIGKILL');
    }
  });

  it('names keys and scores as YCSB does', () => {
    // YCSB: "user" + Utils.fnvhash64(0); Java: "user6284781860667377211".hashCode()
    assert.equal(ycsbKeyName(0, true), 'user6284781860667377211');
    assert.equal(ycsbKeyName(42, false), 'user42');
    assert.equal(javaStringHash('hello'), 99162322);
  });
});
