/** The Starlark subset of transform states, and the rewrite of Station's Python-style conditions into CEL. */
export { parseStarlark, compileStarlark } from './program.js';
export type { StarlarkProgram } from './program.js';
export { StarlarkSyntaxError } from './errors.js';
export { rewriteStationExpression, rewriteStationTemplate } from './rewrite.js';
export type { StationRewriteOptions } from './rewrite.js';
export { evaluateStarlark, DEFAULT_STARLARK_LIMITS } from './evaluator.js';
export type { StarlarkLimits, JsonValue } from './evaluator.js';
