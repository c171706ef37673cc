/**
 * The normalized workflow definition. Field names follow schemas/workflow.schema.json, which is the source
 * of truth; these types describe what a definition looks like after parsing, normalization and validation.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface RetryPolicy {
  maxAttempts?: number;
  backoffSeconds?: number;
  backoff?: 'fixed' | 'exponential';
  maxBackoffSeconds?: number;
}

export interface Compensation {
  action: string;
  input?: JsonValue;
  retry?: RetryPolicy;
  timeoutSeconds?: number;
}

interface StateBase {
  name: string;
  description?: string;
  next?: string;
  end?: boolean;
}

export interface OperationState extends StateBase {
  type: 'operation';
  action: string;
  input?: JsonValue;
  timeoutSeconds?: number;
  retry?: RetryPolicy;
  resultPath?: string;
  /**
   * After the step: context key (in the step's scope) ← the value at a path into the step's output, e.g.
   * `{summary: "result.summary"}`; a path `""` is the whole output. Station's `output:` mappings.
   */
  output?: Record<string, string>;
  onError?: string;
  compensation?: Compensation;
}

export interface SwitchCondition {
  if: string;
  next: string;
}

export interface SwitchState {
  name: string;
  description?: string;
  type: 'switch';
  dataPath?: string;
  conditions: SwitchCondition[];
  defaultNext?: string;
}

export interface Branch {
  name: string;
  start?: string;
  states: State[];
}

export interface ParallelState extends StateBase {
  type: 'parallel';
  branches: Branch[];
  join?: { mode: 'all' };
  resultPath?: string;
  /** merge (default): `{branch: scope}`; array: the branch results in branch order; first: the first branch to end. */
  outputAggregation?: 'merge' | 'array' | 'first';
}

export interface InjectState extends StateBase {
  type: 'inject';
  data: JsonValue;
  resultPath?: string;
}

export interface ForeachState extends StateBase {
  type: 'foreach';
  itemsPath: string;
  itemName?: string;
  maxConcurrency?: number;
  iterator: { start?: string; states: State[] };
  resultPath?: string;
  /** array: `[{item, index, output}]` in item order; absent: the list of iteration scopes. */
  outputAggregation?: 'array';
}

/**
 * transform: a Starlark-subset `expression` (a single expression or a small program) evaluated inline over the
 * previous output (`input`) and the context (`ctx`); a dict result is the output, anything else `{result: v}`.
 * Written to resultPath, default `steps.<name>` (never merged into the scope root).
 */
export interface TransformState extends StateBase {
  type: 'transform';
  expression: string;
  resultPath?: string;
}

export type State = OperationState | SwitchState | ParallelState | InjectState | ForeachState | TransformState;
export type StateType = State['type'];

export interface CronTrigger {
  type: 'cron';
  name: string;
  schedule: string;
  timezone?: string;
  input?: JsonValue;
  enabled?: boolean;
  catchUp?: 'none' | 'latest' | 'all';
  concurrency?: 'allow' | 'forbid' | 'replace';
}

export interface WebhookTrigger {
  type: 'webhook';
  name: string;
  secretEnv?: string;
  /** During a secret rotation: a second variable whose secret is accepted too. */
  previousSecretEnv?: string;
  /** Accept only the timestamped, path-bound `X-Station-Signature` scheme (no body-only signatures). */
  requireTimestamp?: boolean;
  dedupeHeader?: string;
  /** Refuse requests without a delivery id (400 STN_E_WEBHOOK_DELIVERY_ID). */
  requireDeliveryId?: boolean;
  input?: JsonValue;
  enabled?: boolean;
}

export type Trigger = CronTrigger | WebhookTrigger;

export interface WorkflowSpec {
  id: string;
  version: string;
  name: string;
  description?: string;
  inputSchema?: JsonObject;
  timeoutSeconds?: number;
  triggers?: Trigger[];
  start?: string;
  states: State[];
  output?: JsonValue;
  /** A JSON Schema for the run's final output: checked at the end (a failure, or a warning in compat mode). */
  outputSchema?: JsonObject;
  /** Set by the normalizer when a Station spelling was rewritten (or by hand): Station-compatible run semantics. */
  compat?: 'station';
}

export type Severity = 'error' | 'warning' | 'note';

/** A finding about a definition file, with its source position (1-based line and column). */
export interface Diagnostic {
  severity: Severity;
  code: string;
  message: string;
  line: number;
  col: number;
  /** JSON pointer-ish path of the offending value inside the document, e.g. /states/2/next. */
  pointer?: string;
}
