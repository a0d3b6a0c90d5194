export * from './common.js';
export * from './model-route.js';
export * from './api-key.js';
export * from './quota-policy.js';
export * from './kinds.js';
export * from './validate.js';
