/**
 * The demo images link real library code: every real library of the cache (musl, libgcc's helpers,
 * zlib, SQLite, Lua, mbed TLS, lwIP) is linked into at least one image, that image runs in every
 * variant and prints its expected line, and the manifest records the library's Debian source
 * package and version.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readElf, realLibraries } from '../../src/image/index.ts';
import { demoSet } from './demo-set.ts';

/** A symbol each library defines, and an application that calls into it. */
const EVIDENCE: Record<string, { symbol: string; app: string }> = {
  musl: { symbol: '__libc_start_main', app: 'helloworld' },
  gcc: { symbol: '__udivti3', app: 'nginx' },
  zlib: { symbol: 'deflate', app: 'zlib-perf' },
  sqlite: { symbol: 'sqlite3_open', app: 'sqlite' },
  lua: { symbol: 'luaL_newstate', app: 'lambda-perf' },
  mbedtls: { symbol: 'mbedtls_sha256_ret', app: 'nginx' },
  lwip: { symbol: 'lwip_init', app: 'dns' },
};

describe('real libraries', () => {
  const m = demoSet();
  const real = realLibraries();

  it('every real library is linked into an image that runs and prints its result in every variant', () => {
    assert.deepEqual([...real.libraries.keys()].sort(), Object.keys(EVIDENCE).sort());
    for (const [lib, { symbol, app }] of Object.entries(EVIDENCE)) {
      const imgs = m.images.filter((i) => i.name === app);
      assert.equal(new Set(imgs.map((i) => i.variant)).size, 4, `${app} is built in every variant`);
      for (const img of imgs) {
        assert.ok(img.libraries.includes(lib), `${img.elf} links ${lib}`);
        assert.ok(readElf(img.elf).symbols.some((s) => s.name === symbol && s.shndx !== 0), `${img.elf} defines ${symbol} (from ${lib})`);
        assert.match(img.output, new RegExp(`^(Hello world!\\n)?${app}: result 0x[0-9a-f]{16} inits \\d+\\n$`));
      }
    }
  });

  it('helloworld prints its greeting through musl, and printf\'s count as its result', () => {
    const hello = m.images.filter((i) => i.name === 'helloworld');
    // printf returns 13 for "Hello world!\n"; the allocator and the vfs register no initialiser here.
    for (const img of hello) assert.equal(img.output, 'Hello world!\nhelloworld: result 0x000000000000000d inits 1\n');
  });

  it('the manifest records each real library\'s source package and version', () => {
    for (const l of m.realLibraries) {
      const cached = real.libraries.get(l.name)!;
      assert.equal(l.version, cached.version);
      assert.ok(l.sourcePackage.length > 0);
    }
    assert.deepEqual(m.realLibraries.map((l) => l.name).sort(), Object.keys(EVIDENCE).sort());
  });
});
