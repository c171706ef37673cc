/** CEL expressions, `{{ }}` templates and Station's legacy spellings (Python-flavoured conditions, `$.a.b` paths). */
export { compileExpression, checkExpressionSyntax, checkExpressionCost } from './cel.js';
export type { CostVerdict } from './cost.js';
export type { CompiledExpression } from './cel.js';
export { Meter } from './budget.js';
export { expressionLimits, setExpressionLimits } from './limits.js';
export type { ExpressionLimits } from './limits.js';
export { ExpressionError } from './errors.js';
export type { ExpressionErrorCode, ExpressionErrorInfo } from './errors.js';
export { parseTemplate, hasTemplate, renderTemplate, collectTemplateExpressions, escapePointer } from './template.js';
export type { TemplatePart, TemplateLocation, CollectedExpression } from './template.js';
export { normalizeCondition, normalizePath, splitPath } from './station.js';
export { parseStarlark, compileStarlark, StarlarkSyntaxError, rewriteStationExpression, rewriteStationTemplate } from './starlark/index.js';
export { evaluateStarlark, DEFAULT_STARLARK_LIMITS } from './starlark/index.js';
export type { StarlarkProgram, StarlarkLimits, StationRewriteOptions } from './starlark/index.js';
