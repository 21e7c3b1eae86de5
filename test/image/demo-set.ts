/**
 * The demo set shared by the image tests: built once per content hash into the OS temporary
 * directory (buildDemoSet's cache), so test files running in parallel reuse one build.
 */
import { buildDemoSet, type DemoManifest } from '../../src/image/index.ts';

export const TEST_SEED = 7;
export const TEST_ASLR_INSTANCES = 3;

export function demoSet(): DemoManifest {
  return buildDemoSet({ aslrInstances: TEST_ASLR_INSTANCES, seed: TEST_SEED, variants: ['default', 'dce'] });
}
