import { DEFAULTS } from '../config/defaults.js';

/** The limits of the CEL cost budget (docs/security.md, "Expressions (CEL) cost budget"). */
export interface ExpressionLimits {
  /** Cost units one evaluation may spend: about one per AST node evaluated, plus sizes (see SIZE_PER_UNIT). */
  readonly maxCost: number;
  /** Longest string (in UTF-16 code units) an operator or function may build. */
  readonly maxStringLength: number;
  /** Longest list an operator or function may build. */
  readonly maxListLength: number;
  /** Wall-clock guard: an evaluation running longer is stopped even within its cost budget. */
  readonly maxMillis: number;
  /** Deepest nesting of comprehensions a definition may use (checked at validation). */
  readonly maxNesting: number;
}

/** Characters, bytes or list elements per cost unit when a value is handed to a call, `+`, `in` or a comparison. */
export const SIZE_PER_UNIT = 10;

/**
 * List length the static estimate assumes when it cannot know it (a list from the context): expressions whose
 * worst-case cost for lists this long is over the budget get a warning at validation.
 */
export const ASSUMED_LIST_LENGTH = 1000;

let current: ExpressionLimits = Object.freeze({ ...DEFAULTS.expressions });

/** The limits in force in this process. */
export function expressionLimits(): ExpressionLimits {
  return current;
}

/** Overrides some limits for this process (from station.yaml `expressions:`); the others keep their defaults. */
export function setExpressionLimits(overrides: Partial<ExpressionLimits>): void {
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  current = Object.freeze({ ...DEFAULTS.expressions, ...defined });
}
