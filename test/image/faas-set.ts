/**
 * The FaaS set shared by the tests: 20 distinct functions, seed 1, built once per content hash
 * into the OS temporary directory (buildFaasSet's cache), so test files reuse one build.
 */
import { buildFaasSet, type DemoManifest } from '../../src/image/index.ts';

export const FAAS_TEST_COUNT = 20;

export function faasSet(): DemoManifest {
  return buildFaasSet({ count: FAAS_TEST_COUNT, seed: 1 });
}
