/** A transform expression that does not parse; `line`/`col` are 1-based positions in its source. */
export class StarlarkSyntaxError extends Error {
  /** What is wrong, without a position (callers place it in the file). */
  readonly reason: string;
  readonly line: number;
  readonly col: number;

  constructor(reason: string, line: number, col: number) {
    super(`line ${line}, column ${col}: ${reason}`);
    this.name = 'StarlarkSyntaxError';
    this.reason = reason;
    this.line = line;
    this.col = col;
  }
}
