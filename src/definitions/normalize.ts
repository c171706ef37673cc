import { normalizeCondition } from '../expressions/station.js';

/**
 * Rewrites Station's older spellings (Python-flavoured conditions, `$.a.b` paths, ...) into the canonical format before
 * schema validation. Every rewrite is reported as a note, and `origin` maps a pointer in the normalized document back
 * to where it was written, so errors found later still name the right line.
 */
export interface Normalized {
  value: unknown;
  notes: Array<{ pointer: string; message: string }>;
  origin(pointer: string): string;
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

class Normalizer {
  readonly notes: Array<{ pointer: string; message: string }> = [];
  /** Normalized pointer prefix → original pointer prefix, for everything that moved. */
  readonly moves = new Map<string, string>();

  note(pointer: string, message: string): void {
    this.notes.push({ pointer, message });
  }

  move(to: string, from: string): void {
    if (to !== from) this.moves.set(to, from);
  }

  workflow(raw: unknown): unknown {
    if (!isObj(raw)) return raw;
    const wf: Obj = { ...raw };
    // Editors put a "$schema" key in JSON files to find the schema; it is not part of the definition.
    delete wf.$schema;
    if (Array.isArray(wf.states)) {
      wf.states = this.cronStartState(wf, wf.states);
      wf.states = this.states(wf.states as unknown[], '/states', '/states');
    }
    return wf;
  }

  /** A start state of `type: cron` is Station's way of declaring a schedule: it becomes a cron trigger. */
  private cronStartState(wf: Obj, states: unknown[]): unknown[] {
    const startName = typeof wf.start === 'string' ? wf.start : undefined;
    const index = states.findIndex(
      (s, i) => isObj(s) && s.type === 'cron' && (startName === undefined ? i === 0 : (s.name ?? s.id) === startName),
    );
    const cron = states[index];
    if (index < 0 || !isObj(cron)) return states;
    const { type: _type, name, id, cron: schedule, schedule: schedule2, timezone, enabled, input, next, transition, ...rest } =
      cron;
    const label = String(name ?? id ?? 'cron')
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
    this.note(`/states/${index}`, `start state "${String(name ?? id)}" of type cron became a cron trigger`);
    const kept = states.filter((_, i) => i !== index);
    for (let i = index; i < kept.length; i++) this.move(`/states/${i}`, `/states/${i + 1}`);
    return kept;
  }

  private states(list: unknown[], at: string, from: string): unknown[] {
    return list.map((s, i) => this.state(s, `${at}/${i}`, this.moves.get(`${at}/${i}`) ?? `${from}/${i}`));
  }

  private rename(s: Obj, from: string, to: string, at: string, origin: string, what: string): void {
    if (!(from in s) || to in s) return;
    s[to] = s[from];
    delete s[from];
    this.move(`${at}/${to}`, `${origin}/${from}`);
    this.note(`${origin}/${from}`, `${what} "${from}" is written "${to}"`);
  }

  private state(raw: unknown, at: string, origin: string): unknown {
    if (!isObj(raw)) return raw;
    let s: Obj = { ...raw };
    this.rename(s, 'id', 'name', at, origin, 'state field');
    this.rename(s, 'transition', 'next', at, origin, 'state field');
    if (s.type === 'agent') s = this.agentState(s, at, origin);
    else if (s.type === 'human_approval') s = this.approvalState(s, at, origin);
    else if (s.type === 'operation' && s.action === undefined) this.taskOperation(s, at, origin);
    for (const key of ['resultPath', 'dataPath', 'itemsPath'] as const) {
      const v = s[key];
      if (typeof v === 'string' && v.startsWith('$.')) {
        s[key] = v.slice(2);
        this.note(`${origin}/${key}`, `path "${v}" is written "${v.slice(2)}"`);
      }
    }
    if (Array.isArray(s.conditions)) s.conditions = this.conditions(s.conditions, `${origin}/conditions`);
    if (Array.isArray(s.branches)) {
      s.branches = s.branches.map((b, i) => {
        if (!isObj(b) || !Array.isArray(b.states)) return b;
        const p = `/branches/${i}/states`;
        return { ...b, states: this.states(b.states, at + p, origin + p) };
      });
    }
    if (isObj(s.iterator) && Array.isArray(s.iterator.states)) {
      const p = '/iterator/states';
      s.iterator = { ...s.iterator, states: this.states(s.iterator.states, at + p, origin + p) };
    }
    return s;
  }

  private conditions(list: unknown[], origin: string): unknown[] {
    return list.map((c, i) => {
      if (!isObj(c) || typeof c.if !== 'string') return c;
      const { expr, changed } = normalizeCondition(c.if);
      if (!changed) return c;
      this.note(`${origin}/${i}/if`, `condition "${c.if}" is written "${expr}" in CEL`);
      return { ...c, if: expr };
    });
  }

  /** Moves the named fields of a Station state into `input`, leaving the rest for the schema to judge. */
  private toOperation(s: Obj, action: string, fields: Record<string, string>, at: string, origin: string): Obj {
    const out: Obj = {};
    const input: Obj = isObj(s.input) ? { ...s.input } : {};
    for (const [key, value] of Object.entries(s)) {
      if (key === 'type' || key === 'input') continue;
      const target = fields[key];
      if (target !== undefined) {
        if (!(target in input)) input[target] = value;
        this.move(`${at}/input/${target}`, `${origin}/${key}`);
      } else if (key === 'timeout_seconds') {
        out.timeoutSeconds = value;
        this.move(`${at}/timeoutSeconds`, `${origin}/timeout_seconds`);
      } else {
        out[key] = value;
      }
    }
    return { ...out, type: 'operation', action, input };
  }

  private agentState(s: Obj, at: string, origin: string): Obj {
    this.note(`${origin}/type`, 'state of type "agent" is written as an operation with action agent.run');
    return this.toOperation(s, 'agent.run', { agent: 'agent', task: 'task', prompt: 'task', variables: 'variables' }, at, origin);
  }

  private approvalState(s: Obj, at: string, origin: string): Obj {
    this.note(`${origin}/type`, 'state of type "human_approval" is written as an operation with action human.approval');
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
    return this.toOperation(s, 'human.approval', fields, at, origin);
  }

  /** `type: operation` with `input.task: agent.run|human.approval` and no `action`. */
  private taskOperation(s: Obj, at: string, origin: string): void {
    if (!isObj(s.input)) return;
    const task = s.input.task;
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
    s.action = task;
    s.input = input;
    this.move(`${at}/action`, `${origin}/input/task`);
    this.note(`${origin}/input/task`, `operation with input.task "${task}" is written with action: ${task}`);
  }
}

export function normalizeWorkflow(raw: unknown): Normalized {
  const n = new Normalizer();
  const value = n.workflow(raw);
  const moves = n.moves;
  return {
    value,
    notes: n.notes,
    origin(pointer: string): string {
      if (moves.size === 0) return pointer;
      // Longest moved prefix wins; the rest of the pointer is carried over unchanged.
      for (let end = pointer.length; end > 0; end = pointer.lastIndexOf('/', end - 1)) {
        const prefix = pointer.slice(0, end);
        const from = moves.get(prefix);
        if (from !== undefined) return from + pointer.slice(end);
      }
      return pointer;
    },
  };
}
