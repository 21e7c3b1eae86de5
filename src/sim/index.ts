/** The simulation layer, re-exported in dependency order. */
export * from './vm.ts';
export * from './host.ts';
export * from './scheduler.ts';
