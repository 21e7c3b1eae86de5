/**
 * Page fingerprints. A page's content is represented by a 53-bit number (xxh64 of its bytes,
 * truncated so it fits a double exactly and a Float64Array slot). Image pages are hashed from real
 * bytes and confirmed by byte comparison where merged; run-time pages get fingerprints from a
 * content model (zero, unique per instance, shared), see `contentFingerprint`.
 */
import { xxh64 } from '@node-rs/xxhash';

const MASK53 = (1n << 53n) - 1n;

/**
 * Twelve hex digits of xxh64 of `bytes`: the name of a build of those inputs (sources and flags),
 * so that an edited input builds anew and a stale build is never used (src/base/asc.ts, the trace
 * shim, the huge-page addon, the benchmarks' C programs).
 */
export function contentHash(bytes: Uint8Array): string {
  return xxh64(bytes).toString(16).padStart(16, '0').slice(0, 12);
}

/** Fingerprint of the zero-filled page. */
export const ZERO_FINGERPRINT = 0;

/** Fingerprint of real bytes (any length; pages are 4096). All-zero input maps to ZERO_FINGERPRINT. */
export function fingerprintBytes(bytes: Uint8Array): number {
  let allZero = true;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== 0) {
      allZero = false;
      break;
    }
  }
  if (allZero) return ZERO_FINGERPRINT;
  const v = Number(xxh64(bytes) & MASK53);
  return v === ZERO_FINGERPRINT ? 1 : v;
}

/**
 * Fingerprint for modelled (not real) content: a deterministic 53-bit mix of up to three integers,
 * e.g. (kind, owner, version). Never equal to ZERO_FINGERPRINT.
 */
export function contentFingerprint(a: number, b: number, c = 0): number {
  let h1 = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b ^ 0xc2b2ae35, 0x27d4eb2f);
  h1 ^= h1 >>> 15;
  h1 = Math.imul(h1 ^ c, 0x165667b1);
  h1 ^= h1 >>> 13;
  let h2 = Math.imul(b ^ 0x7f4a7c15, 0x9e3779b1) ^ Math.imul(c ^ 0x94d049bb, 0x2545f491) ^ a;
  h2 ^= h2 >>> 16;
  h2 = Math.imul(h2, 0x85ebca77);
  h2 ^= h2 >>> 13;
  const v = ((h1 >>> 0) & 0x1fffff) * 4294967296 + (h2 >>> 0);
  return v === ZERO_FINGERPRINT ? 1 : v;
}
