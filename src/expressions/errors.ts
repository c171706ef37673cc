import { StationError } from '../errors.js';
import type { ErrorCode } from '../errors.js';

/** The codes an expression or template can fail with. */
export type ExpressionErrorCode = Extract<ErrorCode, 'STN_E_EXPR_SYNTAX' | 'STN_E_EXPR_EVAL' | 'STN_E_EXPR_MISSING_KEY' | 'STN_E_EXPR_BUDGET' | 'STN_E_TRANSFORM_LIMIT'>;

export interface ExpressionErrorInfo {
  /** The CEL source (or the whole template string for template-level syntax errors). */
  expression: string;
  /** What went wrong, without the expression or location: `no such key "pods"`. Used to re-wrap the message. */
  reason: string;
  /** Character offset of the problem, in `expression` (or in the template string once a template re-wraps it). */
  offset?: number;
  /** The missing key or variable, for `STN_E_EXPR_MISSING_KEY`. */
  key?: string;
}

/** A CEL expression or `{{ }}` template that does not parse or fails to evaluate. */
export class ExpressionError extends StationError {
  declare readonly code: ExpressionErrorCode;
  readonly expression: string;
  readonly reason: string;
  readonly offset: number | undefined;
  readonly key: string | undefined;

  constructor(code: ExpressionErrorCode, message: string, info: ExpressionErrorInfo, options?: { cause?: unknown }) {
    const details: Record<string, unknown> = { expression: info.expression };
    if (info.offset !== undefined) details.offset = info.offset;
    if (info.key !== undefined) details.key = info.key;
    super(code, message, details, options);
    this.name = 'ExpressionError';
    this.expression = info.expression;
    this.reason = info.reason;
    this.offset = info.offset;
    this.key = info.key;
  }
}
