import { StepFailure, type STEP_ERROR_CODES } from '../../errors.js';

/** The step error codes an MCP failure carries (documented in src/errors.ts `STEP_ERROR_CODES`). */
export const MCP_FAILURE_CODES = [
  'STN_E_MCP_CONFIG',
  'STN_E_MCP_START',
  'STN_E_MCP_TIMEOUT',
  'STN_E_MCP_CRASHED',
  'STN_E_MCP_SECRET',
  'STN_E_ABORTED',
] as const satisfies ReadonlyArray<keyof typeof STEP_ERROR_CODES>;

export type McpFailureCode = (typeof MCP_FAILURE_CODES)[number];

/**
 * An infrastructure failure of a tool call or listing (the server cannot start, hangs, crashed twice, a secret is
 * missing): `ToolBox` rejects with it, the agent step fails with `code`. A tool's own error is not one of these: it
 * resolves `{ok: false}` and goes back to the model. `retryable` tells the engine whether the state's `retry` applies.
 */
export class McpFailure extends StepFailure {
  override readonly code: McpFailureCode;
  /** The server's name in mcp.yaml. */
  readonly server: string;

  constructor(code: McpFailureCode, server: string, message: string, options: { retryable: boolean; cause?: unknown }) {
    super(code, message, options.retryable, { details: { server }, ...(options.cause !== undefined ? { cause: options.cause } : {}) });
    this.name = 'McpFailure';
    this.code = code;
    this.server = server;
  }
}
