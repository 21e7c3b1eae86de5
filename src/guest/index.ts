/** The guest front-end, in dependency order. */
export * from './allocator.ts';
export * from './memmap.ts';
export * from './layout.ts';
export * from './pagerange.ts';
export * from './tier.ts';
export * from './kernel.ts';
export * from './classes.ts';
export * from './slab.ts';
export * from './malloc/base.ts';
export * from './malloc/osv.ts';
export * from './malloc/ucat.ts';
export * from './registry.ts';
