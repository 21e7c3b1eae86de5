export * from './cost.ts';
export * from './app.ts';
export * from './btree.ts';
export * from './memcached.ts';
export * from './docstore.ts';
export * from './driver.ts';
