/** The host back-end, re-exported in dependency order. */
export * from './frames.ts';
export * from './costs.ts';
export * from './memmap.ts';
export * from './vm.ts';
export * from './variants.ts';
export * from './accounting.ts';
export * from './backend.ts';
export * from './ksm.ts';
export * from './loader.ts';
