export * from './types.js';
export * from './reasons.js';
export { compile, createCompiler, type Compiler } from './compile.js';
export { GENERATED_SECRET_KEY, generatedSecretName } from './keys.js';
