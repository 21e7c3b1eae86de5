export * from './units.ts';
export * from './rng.ts';
export * from './errors.ts';
export * from './assert.ts';
export * from './stats.ts';
export * from './system.ts';
export * from './table.ts';
export * from './hash.ts';
