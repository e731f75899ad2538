export * from './options.js';
export * from './errors.js';
export * from './defaults.js';
export * from './resolve.js';
export * from './env.js';
export * from './image-policy.js';
export type { TunnelPort } from './validate.js';
