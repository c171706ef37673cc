import type { DiagnosticCode } from '../errors.js';
import { escapePointer, ExpressionError, parseTemplate, rewriteStationExpression, rewriteStationTemplate } from '../expressions/index.js';
import { normalizePath } from '../expressions/station.js';

/**
 * Rewrites Station's older spellings (Python-flavoured conditions, `$.a.b` paths, the Go engine's field names and
 * shorthands, ...) into the canonical format before schema validation. Every rewrite is reported as a note, and
 * `origin` maps a pointer in the normalized document back to where it was written, so errors found later still name
 * the right line. A spelling that has no canonical equivalent is an error with a hint. A file in which anything was
 * rewritten runs in compat mode (`compat: station`).
 */
export interface Normalized {
  value: unknown;
  /** Pointers are into the document as written. */
  notes: Array<{ pointer: string; message: string }>;
  /** Spellings that cannot be rewritten. Pointers are into the document as written. */
  errors: NormalizeError[];
  origin(pointer: string): string;
}

export interface NormalizeError {
  pointer: string;
  message: string;
  code: DiagnosticCode;
  /** Reported at the key (a field that cannot be rewritten) or at the value (an expression). */
  at: 'key' | 'value';
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);


/** Go's `time.ParseDuration` units that make sense for a timeout. */
const DURATION_UNITS: Readonly<Record<string, number>> = { h: 3600, m: 60, s: 1, ms: 0.001 };
const DURATION = /^(?:\d+(?:\.\d+)?(?:h|ms|m|s))+$/;

/** "5m", "1h30m", "30s", "90" or 90 → seconds (at least 1); undefined when it is not a duration. */
export function durationSeconds(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value > 0 ? Math.max(1, Math.ceil(value)) : undefined;
  if (typeof value !== 'string') return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Math.max(1, Number(v));
  if (!DURATION.test(v)) return undefined;
  let total = 0;
  for (const m of v.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s)/g)) total += Number(m[1]) * (DURATION_UNITS[m[2] as string] ?? 0);
  return total > 0 ? Math.max(1, Math.ceil(total)) : undefined;
}

/** Station's snake_case retry fields. */
const RETRY_FIELDS: Readonly<Record<string, string>> = {
  max_attempts: 'maxAttempts',
  backoff_seconds: 'backoffSeconds',
  max_backoff_seconds: 'maxBackoffSeconds',
  initial_delay_seconds: 'backoffSeconds',
  max_delay_seconds: 'maxBackoffSeconds',
};

/** Fields of an agent state or agent.run input that hold the task (first one written wins). */
const AGENT_TASK_FIELDS = ['task', 'prompt', 'agentTask', 'agent_task', 'userInput'] as const;

/** A whole string that is a `$.a.b` path: Station resolved it against the context. */
const JSON_PATH_VALUE = /^\$\.[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*|\[\d+\])*$/;

/** Paths of `output:` mappings that name a non-operation state's whole output. */
const WHOLE_OUTPUT: Readonly<Record<string, readonly string[]>> = {
  inject: ['$', '$.data'],
  transform: ['$', '$.result'],
  parallel: ['$', '$.branches'],
  foreach: ['$', '$.iterations'],
};

/** Names a condition or template may use as a root in a scope (besides the state aliases of compat mode). */
const BASE_ROOTS = ['input', 'run', 'vars', 'secrets', 'ctx', 'steps'];

/** The variables of a trigger's `input` template (webhook request, cron fire); no step aliases there. */
const TRIGGER_ROOTS = ['body', 'headers', 'query', 'trigger', 'run', 'vars'];

/** Where a condition or `{{ }}` template sits in the normalized document, with what it may refer to. */
interface ExpressionSite {
  holder: Obj | unknown[];
  key: string | number;
  pointer: string;
  source: string;
  kind: 'condition' | 'template';
  roots: ReadonlySet<string>;
  dataAliases: boolean;
  /** False where step outputs are not in scope (trigger inputs). */
  aliases: boolean;
}

class Normalizer {
  readonly notes: Array<{ pointer: string; message: string }> = [];
  readonly errors: NormalizeError[] = [];
  /** Normalized pointer prefix → original pointer prefix, for everything that moved. */
  readonly moves = new Map<string, string>();
  readonly sites: ExpressionSite[] = [];
  /** Context paths that read: in compat mode their first segment may be a step alias too. */
  readonly paths: Array<{ holder: Obj; key: 'dataPath' | 'itemsPath'; pointer: string }> = [];
  /**
   * Names of states whose output lands at steps.<name> (no resultPath, or that one), in every scope: Go also
   * aliased each step's output at the top level under its state id. A state with another resultPath is left out:
   * its output is only where that resultPath says.
   */
  readonly stateNames = new Set<string>();
  /** Top-level keys written by injects without resultPath, resultPaths and output mappings. */
  readonly writtenKeys = new Set<string>();

  note(pointer: string, message: string): void {
    this.notes.push({ pointer, message });
  }

  error(pointer: string, message: string, code: DiagnosticCode = 'STN_E_SCHEMA_VALUE', at: 'key' | 'value' = 'key'): void {
    this.errors.push({ pointer, message, code, at });
  }

  move(to: string, from: string): void {
    if (to !== from) this.moves.set(to, from);
  }

  origin(pointer: string): string {
    for (let end = pointer.length; end > 0; end = pointer.lastIndexOf('/', end - 1)) {
      const from = this.moves.get(pointer.slice(0, end));
      if (from !== undefined) return from + pointer.slice(end);
    }
    return pointer;
  }

  workflow(raw: unknown): unknown {
    if (!isObj(raw)) return raw;
    const wf: Obj = { ...raw };
    // Editors put a "$schema" key in JSON files to find the schema; it is not part of the definition.
    delete wf.$schema;
    this.timeout(wf, '', '', 'workflow');
    if (Array.isArray(wf.states)) {
      wf.states = this.cronStartState(wf, wf.states);
      wf.states = this.states(wf.states as unknown[], '/states', '/states', new Set(BASE_ROOTS));
    }
    this.templates(wf, 'output', '/output', new Set(BASE_ROOTS));
    if (Array.isArray(wf.triggers)) {
      wf.triggers = wf.triggers.map((t, i) => {
        if (!isObj(t)) return t;
        const trigger = { ...t };
        this.templates(trigger, 'input', `/triggers/${i}/input`, new Set(TRIGGER_ROOTS), false);
        return trigger;
      });
    }
    return wf;
  }

  /** A start state of `type: cron` is Station's way of declaring a schedule: it becomes a cron trigger. */
  private cronStartState(wf: Obj, states: unknown[]): unknown[] {
    const startName = typeof wf.start === 'string' ? wf.start : undefined;
    const index = states.findIndex(
      (s, i) => isObj(s) && s.type === 'cron' && (startName === undefined ? i === 0 : (s.id ?? s.name) === startName),
    );
    const cron = states[index];
    if (index < 0 || !isObj(cron)) return states;
    const { type: _type, name, id, cron: schedule, schedule: schedule2, timezone, enabled, input, next, transition, ...rest } =
      cron;
    const label = String(id ?? name ?? 'cron')
      .toLowerCase()
      .replace(/[^a-z0-9_-]+/g, '-')
      .replace(/^[^a-z0-9]+/, '')
      .slice(0, 64);
    const trigger: Obj = { type: 'cron', name: label || 'cron', schedule: schedule ?? schedule2, ...rest };
    if (timezone !== undefined) trigger.timezone = timezone;
    if (enabled !== undefined) trigger.enabled = enabled;
    if (input !== undefined) trigger.input = input;
    const triggers = Array.isArray(wf.triggers) ? [...(wf.triggers as unknown[])] : [];
    const t = `/triggers/${triggers.length}`;
    this.move(t, `/states/${index}`);
    this.move(`${t}/schedule`, `/states/${index}/${schedule !== undefined ? 'cron' : 'schedule'}`);
    triggers.push(trigger);
    wf.triggers = triggers;
    const after = next ?? transition;
    if (typeof after === 'string') wf.start = after;
    else delete wf.start;
    this.note(`/states/${index}`, `start state "${String(id ?? name)}" of type cron became a cron trigger`);
    const kept = states.filter((_, i) => i !== index);
    for (let i = index; i < kept.length; i++) this.move(`/states/${i}`, `/states/${i + 1}`);
    return kept;
  }

  private states(list: unknown[], at: string, from: string, roots: ReadonlySet<string>): unknown[] {
    return list.map((s, i) => this.state(s, `${at}/${i}`, this.moves.get(`${at}/${i}`) ?? `${from}/${i}`, roots));
  }

  private rename(s: Obj, from: string, to: string, at: string, origin: string, what: string): void {
    if (!(from in s) || to in s) return;
    s[to] = s[from];
    delete s[from];
    this.move(`${at}/${to}`, `${origin}/${from}`);
    this.note(`${origin}/${from}`, `${what} "${from}" is written "${to}"`);
  }

  private state(raw: unknown, at: string, origin: string, roots: ReadonlySet<string>, shorthand = false): unknown {
    if (!isObj(raw)) return raw;
    let s: Obj = { ...raw };
    this.move(at, origin);
    if ('id' in s && 'name' in s) {
      // Station identifies a state by its id when it has one; its name is then only a label.
      const label = s.name;
      delete s.name;
      if (!('description' in s) && typeof label === 'string') {
        s.description = label;
        this.move(`${at}/description`, `${origin}/name`);
        this.note(`${origin}/name`, `state name ${JSON.stringify(label)} next to an id is written as the description`);
      } else {
        this.note(`${origin}/name`, `state name ${JSON.stringify(label)} next to an id is dropped (the id names the state)`);
      }
    }
    this.rename(s, 'id', 'name', at, origin, 'state field');
    this.rename(s, 'transition', 'next', at, origin, 'state field');
    this.typeAlias(s, origin);
    this.timeout(s, at, origin, 'state');
    // An operation written with its action is Station-TS's own spelling; anything else came from Station's files.
    const stationSpelled = s.type !== 'operation' || s.action === undefined;
    if (s.type === 'agent') s = this.agentState(s, at, origin, shorthand);
    else if (s.type === 'human_approval') s = this.approvalState(s, at, origin);
    else if (s.type === 'sleep' || s.type === 'delay' || s.type === 'timer') s = this.sleepState(s, at, origin);
    else if (s.type === 'operation' && s.action === undefined) {
      this.rename(s, 'operation', 'action', at, origin, 'operation field');
      if (s.action === undefined) this.taskOperation(s, at, origin);
    }
    if (s.type === 'operation' && s.action === 'agent.hierarchy.run') {
      s.action = 'agent.run';
      this.note(this.origin(`${at}/action`), 'action "agent.hierarchy.run" is written "agent.run"');
    }
    if (s.type === 'operation' && s.action === 'agent.run') {
      this.agentInput(s, at);
      if (stationSpelled) this.pathVariables(s, at);
    }
    for (const key of ['resultPath', 'dataPath', 'itemsPath'] as const) {
      const v = s[key];
      if (typeof v === 'string' && v.startsWith('$.')) {
        s[key] = v.slice(2);
        this.note(`${origin}/${key}`, `path "${v}" is written "${v.slice(2)}"`);
      }
    }
    if (s.type === 'inject' && s.resultPath === 'ctx') {
      delete s.resultPath;
      this.note(`${origin}/resultPath`, 'inject resultPath "ctx" is dropped: the data is merged into the context root');
    }
    this.retry(s, at, origin);
    if (isObj(s.compensation)) {
      s.compensation = { ...s.compensation };
      this.retry(s.compensation as Obj, `${at}/compensation`, `${origin}/compensation`);
    }
    this.outputMappings(s, at, origin);
    this.recordWrites(s);
    if (typeof s.name === 'string' && (s.resultPath === undefined || normalizePath(String(s.resultPath)) === `steps.${s.name}`)) {
      this.stateNames.add(s.name);
    }

    if (Array.isArray(s.conditions)) {
      const dataAliases = typeof s.dataPath === 'string';
      const scope = dataAliases ? new Set([...roots, 'data']) : roots;
      s.conditions = s.conditions.map((c, j) => {
        if (!isObj(c) || typeof c.if !== 'string') return c;
        const cond = { ...c };
        const pointer = `${at}/conditions/${j}/if`;
        this.sites.push({ holder: cond, key: 'if', pointer, source: c.if, kind: 'condition', roots: scope, dataAliases, aliases: true });
        return cond;
      });
    }
    if (s.type === 'operation') {
      this.templates(s, 'input', `${at}/input`, roots);
      if (isObj(s.compensation)) {
        // A compensation's templates also see `result`, the step's own output.
        this.templates(s.compensation as Obj, 'input', `${at}/compensation/input`, new Set([...roots, 'result']));
      }
    }
    if (s.type === 'inject') this.templates(s, 'data', `${at}/data`, roots);
    if (Array.isArray(s.branches)) {
      s.branches = s.branches.map((b, i) => this.branch(b, `${at}/branches/${i}`, `${origin}/branches/${i}`, roots));
    }
    if (s.type === 'foreach') s = this.foreach(s, at, origin, roots);
    for (const key of ['dataPath', 'itemsPath'] as const) {
      if (typeof s[key] === 'string') this.paths.push({ holder: s, key, pointer: `${at}/${key}` });
    }
    return s;
  }

  /** Station's other names for state types. */
  private typeAlias(s: Obj, origin: string): void {
    const type = s.type;
    if (type === 'set' || type === 'context') {
      s.type = 'inject';
      this.note(`${origin}/type`, `state type "${type}" is written "inject"`);
    } else if (type === 'action' || type === 'function') {
      s.type = 'operation';
      this.note(`${origin}/type`, `state type "${type}" is written "operation"`);
    } else if (type === 'await' || type === 'await.signal' || type === 'await.event') {
      const task = isObj(s.input) ? s.input.task : undefined;
      if (task === 'human.approval') {
        s.type = 'operation';
        this.note(`${origin}/type`, `state type "${type}" with input.task "human.approval" is written "operation"`);
      } else {
        this.error(
          `${origin}/type`,
          `state type "${type}" has no equivalent (Station's engine completed it at once, without waiting): ` +
            'to wait for a signal write type: operation with action: signal.wait and input: {name: <signal>}; ' +
            'for an approval, action: human.approval',
          'STN_E_UNSUPPORTED_SPELLING',
        );
      }
    } else if (type === 'tool') {
      this.error(
        `${origin}/type`,
        'state type "tool" (one MCP tool call) has no equivalent: give the tool to an agent (its .prompt names the MCP ' +
          'servers) and run that agent with action: agent.run, or call an HTTP API with action: http.request',
        'STN_E_UNSUPPORTED_SPELLING',
      );
    } else if (type === 'try') {
      this.error(
        `${origin}/type`,
        'state type "try" (try/catch/finally blocks) has no equivalent: put onError: <state> on the operation that may ' +
          'fail (the failure is in `error` there), and compensation on steps whose work must be undone',
        'STN_E_UNSUPPORTED_SPELLING',
      );
    }
  }

  /** `timeout: "5m"` (Go durations, or seconds) → timeoutSeconds. */
  private timeout(s: Obj, at: string, origin: string, what: string): void {
    if (!('timeout' in s) || 'timeoutSeconds' in s || s.type === 'sleep' || s.type === 'delay' || s.type === 'timer') return;
    const seconds = durationSeconds(s.timeout);
    if (seconds === undefined) {
      this.error(
        `${origin}/timeout`,
        `${what} timeout ${JSON.stringify(s.timeout)} is not a duration: write timeoutSeconds: <seconds>, or a duration such as "30s", "5m" or "1h30m"`,
      );
      delete s.timeout;
      return;
    }
    const written = s.timeout;
    delete s.timeout;
    s.timeoutSeconds = seconds;
    this.move(`${at}/timeoutSeconds`, `${origin}/timeout`);
    this.note(`${origin}/timeout`, `timeout ${JSON.stringify(written)} is written timeoutSeconds: ${seconds}`);
  }

  /** snake_case retry fields, and Go's `backoff` given as a duration. */
  private retry(s: Obj, at: string, origin: string): void {
    if (!isObj(s.retry)) return;
    const retry: Obj = { ...s.retry };
    for (const [from, to] of Object.entries(RETRY_FIELDS)) {
      if (!(from in retry) || to in retry) continue;
      retry[to] = retry[from];
      delete retry[from];
      this.move(`${at}/retry/${to}`, `${origin}/retry/${from}`);
      this.note(`${origin}/retry/${from}`, `retry field "${from}" is written "${to}"`);
    }
    if (typeof retry.backoff === 'string' && retry.backoff !== 'fixed' && retry.backoff !== 'exponential') {
      const seconds = durationSeconds(retry.backoff);
      if (retry.backoff === 'constant') {
        retry.backoff = 'fixed';
        this.note(`${origin}/retry/backoff`, 'retry backoff "constant" is written "fixed"');
      } else if (seconds !== undefined && !('backoffSeconds' in retry)) {
        this.note(`${origin}/retry/backoff`, `retry backoff ${JSON.stringify(retry.backoff)} is written backoffSeconds: ${seconds}`);
        delete retry.backoff;
        retry.backoffSeconds = seconds;
        this.move(`${at}/retry/backoffSeconds`, `${origin}/retry/backoff`);
      }
    }
    if ('retry_on' in retry) {
      delete retry.retry_on;
      this.note(`${origin}/retry/retry_on`, 'retry field "retry_on" is dropped (Station never applied it): every retryable failure is retried');
    }
    s.retry = retry;
  }

  /** `output: {key: "$.result.x"}` mappings: canonical on operations; the whole output of other states → resultPath. */
  private outputMappings(s: Obj, at: string, origin: string): void {
    if (!isObj(s.output)) return;
    const entries = Object.entries(s.output);
    if (s.type === 'operation') {
      const output: Obj = {};
      let changed = false;
      for (const [key, path] of entries) {
        if (typeof path === 'string' && (path === '$' || path.startsWith('$.'))) {
          output[key] = path === '$' ? '' : path.slice(2);
          changed = true;
        } else output[key] = path;
      }
      if (changed) {
        s.output = output;
        this.note(`${origin}/output`, 'output mappings "$.path" are written "path" (a path into the step output)');
      }
      return;
    }
    const whole = WHOLE_OUTPUT[String(s.type)];
    const [first] = entries;
    if (whole && entries.length === 1 && first && typeof first[1] === 'string' && whole.includes(first[1]) && s.resultPath === undefined) {
      s.resultPath = first[0];
      delete s.output;
      this.move(`${at}/resultPath`, `${origin}/output/${escapePointer(first[0])}`);
      this.note(`${origin}/output`, `output mapping ${first[0]}: "${first[1]}" is written resultPath: ${first[0]}`);
      return;
    }
    this.error(
      `${origin}/output`,
      `output mappings on a ${String(s.type)} state can only store its whole output under one key` +
        (whole ? ` (${whole.map((w) => `"${w}"`).join(' or ')})` : '') +
        ': write resultPath: <key> instead, and read parts of it from there',
      'STN_E_UNSUPPORTED_SPELLING',
    );
    delete s.output;
  }

  /** Keys that steps write at the top of the context: a condition's root with such a name is that key, not a step alias. */
  private recordWrites(s: Obj): void {
    if (typeof s.resultPath === 'string') {
      const first = normalizePath(s.resultPath).split(/[.[]/)[0];
      if (first) this.writtenKeys.add(first);
    } else if (s.type === 'inject' && isObj(s.data)) {
      for (const k of Object.keys(s.data)) this.writtenKeys.add(k);
    }
    if (isObj(s.output)) for (const k of Object.keys(s.output)) this.writtenKeys.add(k);
  }

  /** Collects the `{{ }}` templates under holder[key]. */
  private templates(holder: Obj | unknown[], key: string | number, pointer: string, roots: ReadonlySet<string>, aliases = true): void {
    const value = (holder as Record<string | number, unknown>)[key];
    if (typeof value === 'string') {
      if (value.includes('{{')) this.sites.push({ holder, key, pointer, source: value, kind: 'template', roots, dataAliases: false, aliases });
    } else if (Array.isArray(value)) {
      const copy = [...value];
      (holder as Record<string | number, unknown>)[key] = copy;
      copy.forEach((_, i) => this.templates(copy, i, `${pointer}/${i}`, roots, aliases));
    } else if (isObj(value)) {
      const copy = { ...value };
      (holder as Record<string | number, unknown>)[key] = copy;
      for (const k of Object.keys(copy)) this.templates(copy, k, `${pointer}/${escapePointer(k)}`, roots, aliases);
    }
  }

  private branch(raw: unknown, at: string, origin: string, roots: ReadonlySet<string>): unknown {
    if (!isObj(raw)) return raw;
    const b: Obj = { ...raw };
    this.rename(b, 'id', 'name', at, origin, 'branch field');
    if (!Array.isArray(b.states) && typeof b.agent === 'string') {
      // The branch shorthand {name, agent, task}: one agent.run state whose output is the branch's result.
      const { name, agent, input, ...rest } = b;
      const state: Obj = { name, type: 'agent', agent, ...rest, resultPath: '$', end: true };
      if (input !== undefined) state.input = input;
      const converted = this.state(state, `${at}/states/0`, origin, roots, true) as Obj;
      this.note(`${origin}/agent`, `branch "${String(name)}" written with agent: is a branch of one agent.run state`);
      return { name, states: [converted] };
    }
    if (Array.isArray(b.states)) {
      b.states = this.states(b.states, `${at}/states`, `${origin}/states`, roots);
    }
    return b;
  }

  private foreach(s: Obj, at: string, origin: string, roots: ReadonlySet<string>): Obj {
    this.rename(s, 'itemVariable', 'itemName', at, origin, 'foreach field');
    const itemName = typeof s.itemName === 'string' ? s.itemName : 'item';
    const inner = new Set([...roots, itemName, 'index']);
    if (s.iterator === undefined && typeof s.agent === 'string') {
      // The foreach shorthand: one agent.run state per item, whose output is the iteration's result.
      const out: Obj = {};
      const agentFields: Obj = {};
      for (const [k, v] of Object.entries(s)) {
        if (k === 'agent' || k === 'input' || (AGENT_TASK_FIELDS as readonly string[]).includes(k)) agentFields[k] = v;
        else out[k] = v;
      }
      const name = s.name;
      const shorthand = { name, type: 'agent', ...agentFields, resultPath: '$', end: true };
      const state = this.state(shorthand, `${at}/iterator/states/0`, origin, inner, true) as Obj;
      out.iterator = { start: name, states: [state] };
      this.note(`${origin}/agent`, `foreach "${String(name)}" written with agent: iterates one agent.run state`);
      return out;
    }
    if (isObj(s.iterator) && Array.isArray(s.iterator.states)) {
      const p = '/iterator/states';
      s.iterator = { ...s.iterator, states: this.states(s.iterator.states, at + p, origin + p, inner) };
    }
    return s;
  }

  /** Moves the named fields of a Station state into `input`, leaving the rest for the schema to judge. */
  private toOperation(s: Obj, action: string, fields: Record<string, string>, at: string): Obj {
    const out: Obj = {};
    const input: Obj = isObj(s.input) ? { ...s.input } : {};
    for (const [key, value] of Object.entries(s)) {
      if (key === 'type' || key === 'input') continue;
      const target = fields[key];
      if (target !== undefined) {
        if (!(target in input)) {
          input[target] = value;
          this.move(`${at}/input/${target}`, this.origin(`${at}/${key}`));
        }
      } else if (key === 'timeout_seconds') {
        out.timeoutSeconds = value;
        this.move(`${at}/timeoutSeconds`, this.origin(`${at}/timeout_seconds`));
      } else {
        out[key] = value;
      }
    }
    return { ...out, type: 'operation', action, input };
  }

  private agentState(s: Obj, at: string, origin: string, shorthand: boolean): Obj {
    if (!shorthand) this.note(`${origin}/type`, 'state of type "agent" is written as an operation with action agent.run');
    const fields: Record<string, string> = { agent: 'agent', agent_id: 'agent_id', variables: 'variables' };
    for (const f of AGENT_TASK_FIELDS) fields[f] = 'task';
    for (const f of AGENT_TASK_FIELDS.slice(2)) {
      if (f in s) this.note(`${origin}/${f}`, `agent state field "${f}" is written input.task`);
    }
    const op = this.toOperation(s, 'agent.run', fields, at);
    // Station ignored other input keys of an agent state; they are what the agent's prompt variables are for.
    const input = op.input as Obj;
    const extra = Object.keys(input).filter((k) => !['agent', 'task', 'variables', 'agent_id', ...AGENT_TASK_FIELDS].includes(k));
    if (extra.length > 0) {
      const variables: Obj = isObj(input.variables) ? { ...input.variables } : {};
      for (const k of extra) {
        if (!(k in variables)) {
          variables[k] = input[k];
          this.move(`${at}/input/variables/${escapePointer(k)}`, `${origin}/input/${escapePointer(k)}`);
        }
        delete input[k];
      }
      input.variables = variables;
      this.note(`${origin}/input`, `agent input ${extra.map((k) => `"${k}"`).join(', ')} ${extra.length === 1 ? 'is' : 'are'} passed as input.variables`);
    }
    return op;
  }

  /** Station resolved a variable that is a whole `$.a.b` string against the context: here that is a template. */
  private pathVariables(s: Obj, at: string): void {
    if (!isObj(s.input) || !isObj(s.input.variables)) return;
    const variables: Obj = { ...s.input.variables };
    for (const [k, v] of Object.entries(variables)) {
      if (typeof v === 'string' && JSON_PATH_VALUE.test(v)) {
        variables[k] = `{{ ${v.slice(2)} }}`;
        this.note(this.origin(`${at}/input/variables/${escapePointer(k)}`), `value "${v}" is written "{{ ${v.slice(2)} }}"`);
      }
    }
    s.input = { ...s.input, variables };
  }

  /** agent.run input spellings: agent_task / userInput / prompt → task; agent_id cannot be mapped. */
  private agentInput(s: Obj, at: string): void {
    if (!isObj(s.input)) return;
    const input: Obj = { ...s.input };
    for (const f of ['agent_task', 'userInput', 'prompt', 'agentTask'] as const) {
      if (!(f in input)) continue;
      const from = this.origin(`${at}/input/${f}`);
      if (!('task' in input)) {
        input.task = input[f];
        this.move(`${at}/input/task`, from);
        this.note(from, `agent.run input "${f}" is written "task"`);
      } else {
        this.note(from, `agent.run input "${f}" is dropped: the task is given by "task"`);
      }
      delete input[f];
    }
    if ('agent_id' in input) {
      this.error(
        this.origin(`${at}/input/agent_id`),
        'agent.run input "agent_id" (a database id in Station\'s engine) cannot be resolved here: name the agent with ' +
          'agent: <name>, the file name of environments/<env>/agents/<name>.prompt',
        'STN_E_UNSUPPORTED_SPELLING',
      );
      delete input.agent_id;
    }
    s.input = input;
  }

  private approvalState(s: Obj, at: string, origin: string): Obj {
    this.note(`${origin}/type`, 'state of type "human_approval" is written as an operation with action human.approval');
    if (typeof s.approval_title === 'string') {
      // human.approval has no title: it becomes the message's first line, in bold.
      const title = `*${s.approval_title}*`;
      const body = s.message ?? s.prompt;
      const key = s.message !== undefined ? 'message' : 'prompt';
      s[key] = typeof body === 'string' ? `${title}\n\n${body}` : title;
      if (body === undefined) this.move(`${at}/input/message`, `${origin}/approval_title`);
      delete s.approval_title;
      this.note(`${origin}/approval_title`, 'approval_title is written as the first line of the message, in bold');
    }
    const fields = {
      message: 'message',
      prompt: 'message',
      approvers: 'approvers',
      timeout_seconds: 'timeoutSeconds',
      timeoutSeconds: 'timeoutSeconds',
      required_approvals: 'requiredApprovals',
      requiredApprovals: 'requiredApprovals',
      on_timeout: 'onTimeout',
      onTimeout: 'onTimeout',
      summaryPath: 'summaryPath',
      channel: 'channel',
      allowSelfApproval: 'allowSelfApproval',
    };
    return this.toOperation(s, 'human.approval', fields, at);
  }

  /** `type: sleep|delay|timer` with a Go duration → the sleep action. */
  private sleepState(s: Obj, at: string, origin: string): Obj {
    const written = String(s.type);
    const input = isObj(s.input) ? s.input : {};
    const key = ['duration', 'seconds', 'timeout'].find((k) => k in s) ?? ['duration', 'seconds'].find((k) => k in input);
    const from = key === undefined ? `${origin}/type` : key in s ? `${origin}/${key}` : `${origin}/input/${key}`;
    const value = key === undefined ? undefined : key in s ? s[key] : input[key];
    const seconds = durationSeconds(value);
    if (seconds === undefined) {
      this.error(from, `a ${written} state needs duration: a Go duration such as "30s", "5m" or "1h30m" (got ${JSON.stringify(value ?? null)})`);
    }
    const out: Obj = {};
    for (const [k, v] of Object.entries(s)) if (k !== 'type' && k !== 'input' && k !== key) out[k] = v;
    this.move(`${at}/input/seconds`, from);
    this.note(`${origin}/type`, `state of type "${written}" is written as an operation with action sleep`);
    return { ...out, type: 'operation', action: 'sleep', input: { seconds: seconds ?? 0 } };
  }

  /** `type: operation` with `input.task: agent.run|human.approval` and no `action`. */
  private taskOperation(s: Obj, at: string, origin: string): void {
    if (!isObj(s.input)) return;
    let task = s.input.task;
    if (task === 'agent.hierarchy.run') {
      task = 'agent.run';
      this.note(`${origin}/input/task`, 'input.task "agent.hierarchy.run" is written "agent.run"');
    }
    if (task !== 'agent.run' && task !== 'human.approval') return;
    const input: Obj = { ...s.input };
    delete input.task;
    const carried = input.agent_task ?? input.userInput;
    const carriedKey = input.agent_task !== undefined ? 'agent_task' : 'userInput';
    delete input.agent_task;
    delete input.userInput;
    const target = task === 'agent.run' ? 'task' : 'message';
    if (carried !== undefined && !(target in input)) {
      input[target] = carried;
      this.move(`${at}/input/${target}`, `${origin}/input/${carriedKey}`);
    }
    if (task === 'human.approval') {
      for (const [from, to] of [['timeout_seconds', 'timeoutSeconds'], ['required_approvals', 'requiredApprovals'], ['on_timeout', 'onTimeout']] as const) {
        if (!(from in input) || to in input) continue;
        input[to] = input[from];
        delete input[from];
        this.move(`${at}/input/${to}`, `${origin}/input/${from}`);
        this.note(`${origin}/input/${from}`, `human.approval input "${from}" is written "${to}"`);
      }
    }
    s.action = task;
    s.input = input;
    this.move(`${at}/action`, `${origin}/input/task`);
    this.note(`${origin}/input/task`, `operation with input.task "${task}" is written with action: ${task}`);
  }

  /**
   * Conditions and templates, once the structure is final. Plain CEL stays as written; Station's Python-style
   * spellings are rewritten into CEL (one note per expression, saying what was rewritten), and what has no CEL
   * equivalent is an error with a hint. A file in compat mode also reads Go's aliases of step outputs under their
   * state names: those are rewritten from the source in a second pass, once it is known the file is compat.
   */
  expressions(wf: unknown): void {
    if (!isObj(wf)) return;
    const first = this.sites.map((site) => rewriteSite(site, undefined));
    const compat = this.notes.length > 0 || wf.compat === 'station' || first.some((r) => 'rewrites' in r && r.rewrites.length > 0);
    const aliases = compat ? this.aliasNames() : new Set<string>();
    this.sites.forEach((site, i) => {
      const r = aliases.size > 0 && site.aliases ? rewriteSite(site, aliases) : (first[i] as SiteRewrite);
      const where = this.origin(site.pointer);
      const what = site.kind === 'condition' ? `condition "${site.source}"` : `template ${JSON.stringify(site.source)}`;
      if ('error' in r) {
        // In a Station file the author wrote Python: say what has no CEL equivalent. In a Station-TS file an
        // expression that is not CEL is reported by the semantic checks, as always.
        if (compat) this.error(where, `${what} cannot be rewritten into CEL: ${r.error}`, 'STN_E_CEL_SYNTAX', 'value');
        return;
      }
      if (r.rewrites.length === 0) return;
      (site.holder as Record<string | number, unknown>)[site.key] = r.text;
      const shown = site.kind === 'condition' ? `"${r.text}"` : JSON.stringify(r.text);
      this.note(where, `${what} is written ${shown} in CEL (${r.rewrites.join('; ')})`);
    });
    for (const { holder, key, pointer } of this.paths) {
      const path = holder[key] as string;
      const head = /^[A-Za-z_][A-Za-z0-9_]*/.exec(normalizePath(path))?.[0];
      if (head === undefined || !aliases.has(head)) continue;
      holder[key] = `steps.${normalizePath(path)}`;
      this.note(this.origin(pointer), `${key} "${path}" reads the output of state "${head}": it is written "steps.${normalizePath(path)}"`);
    }
    if (compat) wf.compat = 'station';
  }

  /** State names that Go also made top-level keys, minus the names that are real top-level keys of this file. */
  private aliasNames(): Set<string> {
    const names = new Set<string>();
    for (const name of this.stateNames) {
      if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !this.writtenKeys.has(name) && !BASE_ROOTS.includes(name)) names.add(name);
    }
    return names;
  }
}

type SiteRewrite = { text: string; rewrites: string[] } | { error: string };

function rewriteSite(site: ExpressionSite, stateAliases: ReadonlySet<string> | undefined): SiteRewrite {
  const opts = { localRoots: site.roots, dataAliases: site.dataAliases, ...(stateAliases ? { stateAliases } : {}) };
  try {
    if (site.kind === 'template') {
      // A malformed template ({{ never closed) is the semantic checks' to report.
      try {
        parseTemplate(site.source);
      } catch {
        return { text: site.source, rewrites: [] };
      }
      return rewriteStationTemplate(site.source, opts);
    }
    const r = rewriteStationExpression(site.source, opts);
    return { text: r.expr, rewrites: r.rewrites };
  } catch (err) {
    if (err instanceof ExpressionError) return { error: err.message };
    // Anything else is a fault of the rewrite, not of the file: the expression stays as written and is checked as CEL.
    return { text: site.source, rewrites: [] };
  }
}

export function normalizeWorkflow(rawDoc: unknown): Normalized {
  const n = new Normalizer();
  const value = n.workflow(rawDoc);
  n.expressions(value);
  return {
    value,
    notes: n.notes,
    errors: n.errors,
    origin: (pointer: string) => (n.moves.size === 0 ? pointer : n.origin(pointer)),
  };
}
