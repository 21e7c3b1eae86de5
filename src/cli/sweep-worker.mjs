// Entry of sweep worker threads. Worker threads do not inherit loader hooks registered at run time
// (bin/unimem.js registers tsx that way), so each worker registers tsx itself before importing the
// TypeScript worker. Under `node --import tsx` the hooks are already there and this is harmless.
import { register } from 'tsx/esm/api';

register();
const worker = await import('./sweep-worker.ts');
export default worker.default;
