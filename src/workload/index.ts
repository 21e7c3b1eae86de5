export * from './op.ts';
export * from './fnv.ts';
export * from './zipfian.ts';
export * from './ycsb.ts';
export * from './memslap.ts';
export * from './faas.ts';
