/**
 * Every error Station reports has a stable code from this file. Codes are never reused or renamed; `docs/errors.md`
 * lists them all (a test keeps the two in step). Match errors by `code`, never by message text.
 */

export interface ErrorCodeInfo {
  /** Process exit code when this error ends a CLI command. */
  readonly exit: number;
  /** HTTP status when this error answers an API request. */
  readonly http: number;
  readonly summary: string;
}

/** Errors thrown by Station's own code (CLI, store, sync, config). */
export const ERROR_CODES = {
  STN_E_USAGE: { exit: 2, http: 400, summary: 'The command line or request is malformed.' },
  STN_E_CONFIG: { exit: 2, http: 500, summary: 'station.yaml or an STN_* variable is invalid.' },
  STN_E_NOT_FOUND: { exit: 2, http: 404, summary: 'The named workflow, version, environment or run does not exist.' },
  STN_E_STORE: { exit: 2, http: 500, summary: 'The SQLite database could not be opened or migrated.' },
  STN_E_STORE_NEWER: { exit: 2, http: 500, summary: 'The database was migrated by a newer Station than this one.' },
  STN_E_STORE_MISSING: {
    exit: 2,
    http: 500,
    summary: 'The database this checkout used before is gone; Station will not start with an empty one unless STN_ALLOW_NEW_DATABASE=1.',
  },
  STN_E_STORE_VANISHED: {
    exit: 2,
    http: 503,
    summary: "The daemon's database file was deleted or replaced while it ran; it saved what it had and stopped.",
  },
  STN_E_STORE_UNAVAILABLE: {
    exit: 2,
    http: 503,
    summary: 'The database cannot take writes now (disk full, read-only, I/O errors); try again later.',
  },
  STN_E_SYNC_EMPTY: {
    exit: 2,
    http: 409,
    summary: 'A sync would disable every definition of an environment; refused without --allow-empty.',
  },
  STN_E_BUNDLE_INVALID: { exit: 2, http: 422, summary: "A bundle's template.json, one of its workflows or its file layout is invalid." },
  STN_E_BUNDLE_PATH: { exit: 2, http: 422, summary: 'A bundle archive entry has an absolute path, a ".." segment, a duplicate or an unusable name.' },
  STN_E_BUNDLE_LINK: { exit: 2, http: 422, summary: 'A bundle (archive or folder) holds a symbolic or hard link.' },
  STN_E_BUNDLE_ENTRY_TYPE: { exit: 2, http: 422, summary: 'A bundle archive holds a device file, FIFO or another entry that is not a plain file or folder.' },
  STN_E_BUNDLE_TOO_LARGE: { exit: 2, http: 413, summary: 'A bundle archive is over the size limit, expands beyond it (zip-bomb guard) or holds too many files.' },
  STN_E_BUNDLE_TRUNCATED: { exit: 2, http: 422, summary: 'A bundle archive ends early (an interrupted download or copy).' },
  STN_E_BUNDLE_CORRUPT: { exit: 2, http: 422, summary: "A bundle archive is not a valid gzip'd tar (bad gzip data or tar header checksum)." },
  STN_E_BUNDLE_CHECKSUM: { exit: 2, http: 422, summary: 'A bundle file does not match its SHA-256 in the file list, or the archive does not match --sha256.' },
  STN_E_BUNDLE_INCOMPATIBLE: { exit: 2, http: 422, summary: "This Station's version is outside the bundle's compatible range (template.json station)." },
  STN_E_BUNDLE_CONFLICT: { exit: 2, http: 409, summary: "A bundle workflow id collides with a workflow of the environment or of another bundle it installs." },
  STN_E_BUNDLE_UPGRADE: { exit: 2, http: 409, summary: 'A different version (or content) of the bundle is installed; refused without --upgrade.' },
  STN_E_BUNDLE_VARIABLES: { exit: 2, http: 422, summary: 'A bundle variable is required but unset, unknown, of the wrong type, or a secret that is not a name.' },
  STN_E_BUNDLE_DOWNLOAD: { exit: 2, http: 502, summary: 'A bundle URL could not be downloaded (network error, non-2xx status, not https).' },
  STN_E_BUNDLE_REDIRECT: { exit: 2, http: 502, summary: 'A bundle URL redirected to another host or scheme (or too often); the download is refused.' },
  STN_E_CHECKOUT_LINK: { exit: 2, http: 422, summary: 'bundles/, a bundle folder, environments/ or an environment folder is a symbolic link; stn does not write through it.' },
  STN_E_ENVIRONMENT_INVALID: { exit: 2, http: 422, summary: "An environment's environment.yaml is invalid, so a bundle command will not edit it." },
  STN_E_EXPR_SYNTAX: { exit: 1, http: 422, summary: 'A CEL expression or {{ }} template does not parse.' },
  STN_E_EXPR_EVAL: { exit: 1, http: 422, summary: 'A CEL expression failed while evaluating (type error, bad call).' },
  STN_E_EXPR_MISSING_KEY: { exit: 1, http: 422, summary: 'An expression read a key that is not in the context.' },
  STN_E_EXPR_BUDGET: { exit: 1, http: 422, summary: 'A CEL expression went over its cost budget (iterations, string or list size, time); not retried.' },
  STN_E_TRANSFORM_LIMIT: {
    exit: 1,
    http: 422,
    summary: 'A transform (Starlark) evaluation went over its budget (evaluation steps, collection or string size, nesting); not retried.',
  },
  STN_E_INPUT_INVALID: { exit: 2, http: 422, summary: "A run's input does not match the workflow's inputSchema." },
  STN_E_WORKFLOW_UNAVAILABLE: { exit: 2, http: 409, summary: 'The workflow is disabled or has no valid version to run.' },
  STN_E_RUN_FINISHED: { exit: 2, http: 409, summary: 'The run already ended; it cannot be paused, resumed, cancelled or signalled.' },
  STN_E_RUN_FAILED: { exit: 1, http: 200, summary: 'A run ended FAILED, CANCELLED or TIMED_OUT (stn run in the foreground).' },
  STN_E_INTERNAL: { exit: 2, http: 500, summary: 'An unexpected internal error (a bug: please report it).' },
  STN_E_WEBHOOK_SIGNATURE: { exit: 2, http: 401, summary: 'A webhook request has no valid HMAC-SHA256 signature of its body.' },
  STN_E_APPROVAL_DECIDED: { exit: 2, http: 409, summary: 'The approval was already decided or closed; the first decision stands.' },
  STN_E_APPROVAL_FORBIDDEN: { exit: 2, http: 403, summary: 'This person may not decide this approval (not an approver, self-approval, or a second vote).' },
  STN_E_UNAUTHENTICATED: { exit: 2, http: 401, summary: 'The API request has no bearer token, or one that is not configured.' },
  STN_E_FORBIDDEN: { exit: 2, http: 403, summary: "The API token's role may not do this (viewer < operator < approver < admin)." },
  STN_E_BODY_TOO_LARGE: { exit: 2, http: 413, summary: 'The request body is larger than server.maxBodyBytes.' },
  STN_E_BODY_TOO_DEEP: { exit: 2, http: 400, summary: 'A JSON request or webhook body nests objects/arrays deeper than 64 levels.' },
  STN_E_SERVER: { exit: 2, http: 502, summary: 'The CLI could not reach the Station server given by --server / STN_SERVER.' },
  STN_E_VERSION_PIN_FORBIDDEN: { exit: 2, http: 403, summary: 'Running a version other than the active one needs the admin role.' },
  STN_E_WEBHOOK_STALE: { exit: 2, http: 401, summary: 'An X-Station-Signature timestamp is more than 5 minutes from the server clock (a replay, or a skewed clock).' },
  STN_E_WEBHOOK_DELIVERY_ID: { exit: 2, http: 400, summary: 'A webhook trigger with requireDeliveryId got a request without a delivery id header.' },
  STN_E_RATE_LIMITED: { exit: 2, http: 429, summary: 'Too many failed token authentications, or webhook requests, from this client address; Retry-After says when to try again.' },
  STN_E_CLIENT_LIMIT: { exit: 2, http: 429, summary: 'This client already has server.limits.maxBodiesPerClient bodies being received, maxConnectionsPerClient connections or maxStreamsPerClient event streams open.' },
  STN_E_SERVER_BUSY: { exit: 2, http: 503, summary: 'The server already has server.limits.maxStreams event streams open; Retry-After says when to try again.' },
  STN_E_REQUEST_TIMEOUT: { exit: 2, http: 408, summary: "The request's headers or body did not arrive within server.limits.headersTimeoutSeconds / requestTimeoutSeconds; the connection is closed." },
  STN_E_HOST_REFUSED: { exit: 2, http: 403, summary: 'A daemon without API tokens only answers requests whose Host is localhost, 127.0.0.1 or [::1] (DNS-rebinding guard).' },
  STN_E_ORIGIN_REFUSED: { exit: 2, http: 403, summary: 'A daemon without API tokens refuses requests with an Origin header (sent by web browsers: cross-site request guard).' },
  STN_E_GIT: { exit: 2, http: 500, summary: 'A git command failed on the checkout (a damaged repository, a missing commit); its stderr says why.' },
  STN_E_GIT_MISSING: { exit: 2, http: 503, summary: 'git is not on PATH: syncs go on without dirty/untracked flags, polling and the push webhook cannot fetch.' },
  STN_E_GIT_DIVERGED: {
    exit: 2,
    http: 409,
    summary: 'The checkout has commits its remote does not (the remote history was rewritten, e.g. force-pushed): not merged.',
  },
  STN_E_SYNC_INTERRUPTED: { exit: 2, http: 500, summary: 'The process running a sync ended during it (killed); marked at the next start.' },
  STN_E_STORED_PAYLOAD: {
    exit: 2,
    http: 500,
    summary: 'A stored run payload (a task, a step wait) has a version or a wake reason this Station does not know (written by a newer release, or damaged): refused, never guessed.',
  },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * Codes of the diagnostics found in definition files (errors, warnings and notes). They are reported, not thrown:
 * one bad file never stops the others.
 */
export const DIAGNOSTIC_CODES = {
  STN_E_FILE_READ: 'The file could not be read.',
  STN_E_FILE_TOO_LARGE: 'The file is larger than the 1 MiB limit.',
  STN_E_FILE_ENCODING: 'The file is not valid UTF-8.',
  STN_E_YAML_SYNTAX: 'The YAML (or JSON) is malformed.',
  STN_E_YAML_DUPLICATE_KEY: 'A mapping has the same key twice.',
  STN_E_YAML_ALIAS_LIMIT: 'YAML aliases expand beyond the limit (alias bomb).',
  STN_E_YAML_MULTI_DOC: 'A workflow file holds more than one YAML document.',
  STN_E_NESTING_TOO_DEEP: 'Mappings and lists are nested deeper than 64 levels (directly or through aliases).',
  STN_E_SCHEMA_UNKNOWN_FIELD: 'A key that the format does not define.',
  STN_E_SCHEMA_REQUIRED: 'A required field is missing.',
  STN_E_SCHEMA_TYPE: 'A field has the wrong type.',
  STN_E_SCHEMA_VALUE: 'A field has a value the format does not allow.',
  STN_E_DUPLICATE_NAME: 'Two states in one scope share a name.',
  STN_E_UNKNOWN_TARGET: 'A transition (start, next, defaultNext, condition next, onError) names no state in scope.',
  STN_E_NO_TRANSITION: 'A state has neither next nor end: true.',
  STN_E_CEL_SYNTAX: 'A CEL expression does not parse.',
  STN_E_CEL_COST: 'A CEL expression nests comprehensions too deeply, or goes over the cost budget whatever the data.',
  STN_E_TEMPLATE_SYNTAX: 'A {{ }} template is malformed.',
  STN_E_CRON_INVALID: 'A cron schedule is not a valid 5- or 6-field expression.',
  STN_E_TIMEZONE_INVALID: 'A time zone is not a known IANA zone.',
  STN_E_UNKNOWN_ACTION: 'An operation names an action that is not in the executor catalog.',
  STN_E_ACTION_INPUT: "A literal input does not match the action's input schema.",
  STN_E_INPUT_SCHEMA: 'inputSchema is not a valid JSON Schema.',
  STN_E_OUTPUT_SCHEMA: 'outputSchema is not a valid JSON Schema.',
  STN_E_STARLARK_SYNTAX: 'A transform expression is not valid in the Starlark subset Station evaluates.',
  STN_E_UNSUPPORTED_SPELLING: "A Station (Go) spelling that has no equivalent here (try and tool states, await without an approval, input.agent_id, several output mappings on a state that is not an operation): the message says what to write instead.",
  STN_E_TRIGGER_NAME: 'Two triggers share a name.',
  STN_E_DUPLICATE_ID: 'Two files in one environment declare the same workflow id.',
  STN_E_BUNDLE_MISSING: 'environment.yaml lists a bundle that is not under bundles/.',
  STN_E_ENVIRONMENT_FILE: 'environment.yaml is invalid.',
  STN_E_PATH_RESERVED: 'A context path (resultPath, dataPath, itemsPath) or itemName uses __proto__, constructor or prototype.',
  STN_E_MCP_CONFIG: "An environment's mcp.yaml is invalid (unknown field, a server that is neither command nor url, a {{ }} that is not secrets.NAME).",
  STN_E_AGENT_FRONTMATTER: 'An agent file (.prompt) has a frontmatter that is not closed or not a mapping, or a bad file name.',
  STN_E_AGENT_SCHEMA: "An agent file's input.schema or output.schema is not valid Picoschema or JSON Schema.",
  STN_E_AGENT_TEMPLATE: "An agent file's body is empty or does not compile (Handlebars syntax, unknown helper, partial or role).",
  STN_W_AGENT_UNKNOWN: 'An agent.run step names an agent that its environment (or bundle) does not have.',
  STN_W_AGENT_INPUT: "An agent.run step's literal variables do not match the agent's input schema.",
  STN_W_VARIABLE:
    "A bundle variable an environment gives is unset though required, of the wrong type, or a secret variable's value is not a secret name (that value is not stored).",
  STN_W_UNREACHABLE_STATE: 'A state can never be reached from the start state.',
  STN_W_CEL_COST: 'A CEL expression goes over the cost budget when its lists are long (the warning says how long).',
  STN_N_NORMALIZED: 'A Station spelling was rewritten into the canonical format.',
} as const;

export type DiagnosticCode = keyof typeof DIAGNOSTIC_CODES;

/**
 * Codes of the errors recorded on failed steps and runs (`error.code` in `stn runs show`, the API and events). A
 * step's error is retried per its `retry` policy unless noted.
 */
export const STEP_ERROR_CODES = {
  STN_E_SHELL_EXIT: 'shell.exec: the command exited with a non-zero code.',
  STN_E_SHELL_SPAWN: 'shell.exec: the command could not be started (not found, not executable, bad cwd); not retried.',
  STN_E_SHELL_TIMEOUT: "shell.exec: the input's own timeoutSeconds passed; the process group was killed.",
  STN_E_HTTP_STATUS: 'http.request: the status was not expected (5xx, 408 and 429 are retried, other 4xx not).',
  STN_E_HTTP_REQUEST: 'http.request: the request failed (connection refused, DNS, TLS).',
  STN_E_HTTP_TIMEOUT: 'http.request: no answer within timeoutSeconds.',
  STN_E_ABORTED: 'The executor was stopped by a cancel or shutdown; not retried.',
  STN_E_STEP_TIMEOUT: "The step's timeoutSeconds passed; its work was killed. The step ends TIMED_OUT after the last attempt.",
  STN_E_RUN_TIMEOUT: "The workflow's timeoutSeconds passed; the run ends TIMED_OUT.",
  STN_E_SIGNAL_TIMEOUT: 'signal.wait: no signal of that name arrived within timeoutSeconds.',
  STN_E_CHILD_RUN_FAILED: 'workflow.run: the child run ended FAILED, CANCELLED or TIMED_OUT (retry starts a new child; a CANCELLED child is not retried).',
  STN_E_CHILD_RUN: 'workflow.run: the child run could not be started (unknown workflow, invalid input); not retried.',
  STN_E_EXECUTOR_MISSING: 'The action is in the catalog but this version of Station has no executor for it; not retried.',
  STN_E_EXECUTOR: 'The executor threw an unexpected error.',
  STN_E_FAIL: 'The fail action (without its own input.code).',
  STN_E_SWITCH_NO_MATCH: 'A switch matched no condition and has no defaultNext.',
  STN_E_FOREACH_ITEMS: "A foreach's itemsPath is missing or not a list.",
  STN_E_INLINE_LIMIT: 'A switch, inject or transform state was entered over 1000 times in one go without an operation in between (an endless switch loop?).',
  STN_E_APPROVAL_REJECTED: 'human.approval: an approver rejected (or the timeout rejected, onTimeout: reject); not retried.',
  STN_E_APPROVAL_TIMEOUT: 'human.approval: no decision within timeoutSeconds (onTimeout: fail); not retried.',
  STN_E_SLACK_NOT_CONFIGURED: 'slack.post: station.yaml has no slack section, no channel applies, or the bot token variable is unset; not retried.',
  STN_E_SLACK_POST: 'slack.post: the Slack Web API refused or could not be reached (after its own bounded retries).',
  STN_E_SLACK_AUTH: 'slack.post: Slack refused the bot token (invalid_auth, not_authed, account_inactive, token_revoked, missing_scope, ...); not retried.',
  STN_E_HTTP_EGRESS: 'http.request: the egress policy refused the host, an address it resolves to (link-local/metadata, or private with http.denyPrivateNetworks) or a redirect (too many, or to another scheme); not retried.',
  STN_E_SECRET_MISSING: "A step needs a secret (secrets.NAME in its input) that no running engine has; not retried. An engine lacking it leaves the step to one that has it.",
  STN_E_OUTPUT_INVALID: "The run's final output does not match the workflow's outputSchema (compat mode records a warning event instead).",
  STN_E_INJECT_NOT_OBJECT: 'An inject without resultPath produced a value that is not an object (it would replace the context).',
  STN_E_CONTEXT_PATH: 'A context path met at run time (e.g. a templated summaryPath) uses __proto__, constructor or prototype; not retried.',
  STN_E_MCP_CONFIG: "agent.run: the environment's mcp.yaml is invalid, so its tools cannot be used; not retried.",
  STN_E_MCP_START: 'agent.run: an MCP server could not be started (command not found, exited or refused before answering initialize, HTTP endpoint unreachable).',
  STN_E_MCP_TIMEOUT: 'agent.run: an MCP server did not answer initialize, tools/list or a tool call within its timeout; a stdio server\'s process group was killed.',
  STN_E_MCP_CRASHED: 'agent.run: an MCP server exited (or its connection broke) during a tool call, again after one restart.',
  STN_E_MCP_SECRET: 'agent.run: an MCP server needs a secret (secrets.NAME in mcp.yaml env or headers) that this daemon does not have; not retried.',
  STN_E_AGENT_PROVIDER: "agent.run: the model provider could not be reached, timed out, or answered 408, 429 or 5xx; retried per the state's retry, not before the provider's Retry-After.",
  STN_E_AGENT_REQUEST: 'agent.run: the model provider refused the request with another 4xx (unknown model, bad API key, a request it cannot take); not retried.',
  STN_E_AGENT_MODEL: 'agent.run: no model to ask: the prompt names none and its provider has no defaultModel; not retried.',
  STN_E_AGENT_OUTPUT: "agent.run: the final reply does not match the agent's output schema, also after one repair turn (the schema error is in the message); not retried.",
  STN_E_AGENT_MAX_STEPS: 'agent.run: the agent used its max_steps model turns without a final reply; not retried.',
  STN_E_AGENT_TOKENS: "agent.run: the step's model turns used more tokens than the provider's maxTokensPerStep; not retried.",
  STN_E_AGENT_TOOL_ARGS: 'agent.run: the model sent tool-call arguments that are not a JSON object. Given back to the model as the tool result (and recorded); the step goes on.',
  STN_E_AGENT_UNKNOWN_TOOL: 'agent.run: the model called a tool the agent does not have. Given back to the model as the tool result (and recorded); the step goes on.',
  STN_E_AGENT_NOT_FOUND: "agent.run: the run's environment (or the workflow's bundle) has no runnable agent of that name (no file, disabled, or never valid); not retried.",
  STN_E_AGENT_INPUT: "agent.run: the step's variables do not match the agent's input schema; not retried.",
  STN_E_AGENT_FIXTURE: 'agent.run with the fixture provider: the fixture file is missing or invalid, no case matches the task, or the case has no reply for the turn; not retried.',
} as const;

export type StepErrorCodeName = keyof typeof STEP_ERROR_CODES;

/**
 * An error an executor's own code throws to fail its step with a step error code: the executor turns it into the
 * step's error (`toExecError()`), retried per the state's `retry` unless `retryable` is false.
 */
export class StepFailure extends Error {
  constructor(
    readonly code: StepErrorCodeName,
    message: string,
    readonly retryable: boolean,
    readonly extra: { details?: Record<string, string | number | boolean | null>; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = 'StepFailure';
  }

  /** The executor's error shape (ExecError in src/executors/types.ts). */
  toExecError(): { code: string; message: string; retryable: boolean; details?: Record<string, string | number | boolean | null>; retryAfterMs?: number } {
    return {
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      ...(this.extra.details ? { details: this.extra.details } : {}),
      ...(this.extra.retryAfterMs !== undefined ? { retryAfterMs: this.extra.retryAfterMs } : {}),
    };
  }
}

/** Base class of every error Station throws on purpose. */
export class StationError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StationError';
    this.code = code;
    this.details = details;
  }

  get exitCode(): number {
    return ERROR_CODES[this.code].exit;
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].http;
  }
}

export class UsageError extends StationError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('STN_E_USAGE', message, details);
    this.name = 'UsageError';
  }
}

export class ConfigError extends StationError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('STN_E_CONFIG', message, details);
    this.name = 'ConfigError';
  }
}

export class NotFoundError extends StationError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('STN_E_NOT_FOUND', message, details);
    this.name = 'NotFoundError';
  }
}

/** Wraps anything thrown into a StationError so callers can rely on `code`. */
export function toStationError(err: unknown): StationError {
  if (err instanceof StationError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new StationError('STN_E_INTERNAL', message, undefined, { cause: err });
}
