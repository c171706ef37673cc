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
}

export type State = OperationState | SwitchState | ParallelState | InjectState | ForeachState;
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
