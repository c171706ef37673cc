import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/cli.js';
import { createGitRepo, type GitRepo } from '../helpers/git-repo.js';
import { eventOf, eventsOf, runStatus, runsOf, stepsOf } from '../helpers/runs-cli-db.js';
import { StnCli, waitFor, type WorkerProcess } from '../helpers/runs-cli-procs.js';

/**
 * `stn run`, `stn worker` and `stn runs …` as a user sees them: the built CLI spawned on a temp Git repository, real
 * SQLite, real child processes. Control actions are written by one CLI process and carried out by a separate
 * `stn worker` process; the database is read directly (read-only) to check timestamps and what was committed.
 */

/** README "Running workflows": a cancel, signal or resume written by the CLI reaches a running worker within this. */
const PICKUP_MS = 250;

let repo: GitRepo;
let cli: StnCli;
let db: string;
const workers: WorkerProcess[] = [];

const HELLO = `
id: hello
version: "1"
name: Hello
inputSchema:
  type: object
  required: [name, count]
  additionalProperties: false
  properties:
    name: {type: string, minLength: 1}
    count: {type: integer, minimum: 1}
states:
  - name: greet
    type: operation
    action: shell.exec
    input: {command: [sh, -c, 'printf "hello %s" "$1"', sh, "{{ input.name }}"]}
    next: nap
  - name: nap
    type: operation
    action: sleep
    input: {seconds: 0.05}
    next: done
  - name: done
    type: inject
    data: {greeting: "{{ steps.greet.stdout }}"}
    end: true
output: {greeting: "{{ greeting }}", count: "{{ input.count }}"}
`;

const BOOM = `
id: boom
version: "1"
name: Boom
states:
  - {name: first, type: operation, action: noop, input: {a: 1}, next: bad}
  - name: bad
    type: operation
    action: shell.exec
    retry: {maxAttempts: 2, backoffSeconds: 0.05}
    input: {command: [sh, -c, 'echo "disk full" >&2; exit 3']}
    end: true
`;

/** Fails its first attempt, then prints 600 characters: a retried step with a long output for `stn runs show`. */
const FLAKY = `
id: flaky
version: "1"
name: Flaky
states:
  - name: try
    type: operation
    action: shell.exec
    retry: {maxAttempts: 3, backoffSeconds: 0.05}
    input:
      command: [sh, -c, 'if [ -e "$1" ]; then printf "%0600d" 7; else touch "$1"; echo "first try fails" >&2; exit 1; fi', sh, "{{ input.marker }}"]
    end: true
`;

/** In two environments: runs need --env, and the list filters by it. */
const PING = (env: string) => `
id: ping
version: "1"
name: Ping
states:
  - {name: only, type: operation, action: noop, input: {env: "${env}"}, end: true}
`;

/** Waits for a signal, then runs a slow step and a last step that shows the signal's payload. */
const GATE = `
id: gate
version: "1"
name: Gate
states:
  - {name: before, type: operation, action: noop, next: wait}
  - {name: wait, type: operation, action: signal.wait, input: {name: go}, next: after}
  - {name: after, type: operation, action: noop, input: {got: "{{ steps.wait }}"}, end: true}
output: "{{ steps.after }}"
`;

/** A slow step (to pause during), then a quick one. */
const TWO = `
id: two
version: "1"
name: Two
states:
  - name: slow
    type: operation
    action: shell.exec
    # The marker says the process runs (in its own process group): a signal to the worker's group cannot reach it.
    input: {command: [sh, -c, 'touch ".station/slow-$STN_RUN_ID"; sleep 2.5']}
    next: quick
  - {name: quick, type: operation, action: noop, input: {done: true}, end: true}
`;

/** Durable timers and a child run: after each timer, the worker or the foreground `stn run` may carry the run on. */
const RELAY = `
id: relay
version: "1"
name: Relay
states:
  - {name: a, type: operation, action: sleep, input: {seconds: 0.2}, next: b}
  - {name: b, type: operation, action: shell.exec, input: {command: [echo, b]}, next: kid}
  - {name: kid, type: operation, action: workflow.run, input: {workflow: nap}, next: c}
  - {name: c, type: operation, action: sleep, input: {seconds: 0.2}, next: d}
  - {name: d, type: operation, action: noop, input: {kid: "{{ steps.kid }}"}, end: true}
output: "{{ steps.d.kid }}"
`;

const NAP = `
id: nap
version: "1"
name: Nap
states:
  - {name: x, type: operation, action: sleep, input: {seconds: 0.2}, next: y}
  - {name: y, type: operation, action: shell.exec, input: {command: [echo, y]}, end: true}
output: {y: "{{ steps.y.stdout }}"}
`;

/** A step that records its pid and hangs, after a step with a compensation. */
const HANG = `
id: hang
version: "1"
name: Hang
states:
  - name: prep
    type: operation
    action: noop
    input: {prepared: true}
    compensation: {action: noop, input: {undo: "{{ result.prepared }}"}}
    next: hang
  - name: hang
    type: operation
    action: shell.exec
    input: {command: [sh, -c, 'echo $$ > "$1"; exec sleep 60', sh, "{{ input.pidFile }}"]}
    end: true
`;

beforeAll(() => {
  ensureBuilt();
  repo = createGitRepo('stn-runs-cli-');
  repo.write('.gitignore', '.station/\n');
  repo.write('environments/default/workflows/hello.workflow.yaml', HELLO);
  repo.write('environments/default/workflows/boom.workflow.yaml', BOOM);
  repo.write('environments/default/workflows/flaky.workflow.yaml', FLAKY);
  repo.write('environments/default/workflows/ping.workflow.yaml', PING('default'));
  repo.write('environments/staging/workflows/ping.workflow.yaml', PING('staging'));
  repo.write('environments/default/workflows/gate.workflow.yaml', GATE);
  repo.write('environments/default/workflows/two.workflow.yaml', TWO);
  repo.write('environments/default/workflows/hang.workflow.yaml', HANG);
  repo.write('environments/default/workflows/relay.workflow.yaml', RELAY);
  repo.write('environments/default/workflows/nap.workflow.yaml', NAP);
  repo.commit('workflows');
  db = path.join(repo.dir, '.station', 'station.db');
  cli = new StnCli(repo.dir, db);
  const sync = cli.run(['sync']);
  expect(sync.status, sync.stdout + sync.stderr).toBe(0);
});

afterAll(async () => {
  // No worker outlives the tests, whatever happened in them.
  for (const w of workers) await w.killHard();
  repo.cleanup();
});

async function startWorker(): Promise<WorkerProcess> {
  const w = await cli.startWorker(path.join(repo.dir, 'worker.log'));
  workers.push(w);
  return w;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface RunJson {
  id: string;
  status: string;
  output: unknown;
  error: { code: string; message: string; state?: string } | null;
  workflowId: string;
  environment: string;
  version: number;
  steps: Array<{ path: string; state: string; type: string; action: string | null; status: string; attempt: number; deliveries: number; durationMs: number | null; input: unknown; output: unknown; error: unknown }>;
}

interface SummaryJson {
  id: string;
  workflowId: string;
  environment: string;
  status: string;
  cancelRequested: boolean;
  paused: boolean;
}

describe('stn run in the foreground', () => {
  it('prints one progress line per step (state, action, attempt, duration, status) and exits 0 on COMPLETED', () => {
    const r = cli.run(['run', 'hello', '--input', '{"name":"ada","count":2}']);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^run r[0-9a-z]+: default\/hello v1$/);
    // Each step ends with exactly one status line; the durable sleep also says until when it waits.
    expect(lines.filter((l) => /^\s+ok\s/.test(l))).toHaveLength(3);
    expect(r.stdout).toMatch(/^ {2}ok {4}greet {2}shell\.exec {2}attempt 1 {2}(\d+ ms|\d+\.\d s) {2}SUCCEEDED$/m);
    expect(r.stdout).toMatch(/^ {2}wait {2}nap {2}sleep {2}attempt 1 {2}waiting until \d{4}-\d\d-\d\dT[\d:.]+Z$/m);
    expect(r.stdout).toMatch(/^ {2}ok {4}nap {2}sleep {2}attempt 1 {2}(\d+ ms|\d+\.\d s) {2}SUCCEEDED$/m);
    expect(r.stdout).toMatch(/^ {2}ok {4}done {2}inject {2}attempt 1 {2}(\d+ ms|\d+\.\d s) {2}SUCCEEDED$/m);
    expect(lines.findIndex((l) => l.includes(' greet '))).toBeLessThan(lines.findIndex((l) => l.includes(' done ')));
    const id = /^run (r[0-9a-z]+):/.exec(lines[0] ?? '')?.[1] as string;
    expect(r.stdout).toMatch(new RegExp(`^run ${id} COMPLETED in (\\d+ ms|\\d+\\.\\d s)$`, 'm'));
    expect(JSON.parse(r.stdout.slice(r.stdout.indexOf('output:\n') + 8))).toEqual({ greeting: 'hello ada', count: 2 });
    expect(runStatus(db, id)).toBe('COMPLETED');
  });

  it('exits 1 on FAILED and shows the failing step, the retry and the error', () => {
    const r = cli.run(['run', 'boom']);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^ {2}ok {4}first {2}noop {2}attempt 1 {2}(\d+ ms|\d+\.\d s) {2}SUCCEEDED$/m);
    expect(r.stdout).toMatch(/^ {2}retry bad {2}shell\.exec {2}attempt 1 {2}failed: STN_E_SHELL_EXIT: .*disk full; attempt 2 in \d+ ms$/m);
    expect(r.stdout).toMatch(/^ {2}FAIL {2}bad {2}shell\.exec {2}attempt 2 {2}(\d+ ms|\d+\.\d s) {2}FAILED: STN_E_SHELL_EXIT: command exited with code 3: disk full$/m);
    expect(r.stdout).toMatch(/^run r[0-9a-z]+ FAILED in (\d+ ms|\d+\.\d s)$/m);
    expect(r.stdout).toContain('error: STN_E_SHELL_EXIT: command exited with code 3: disk full (at bad)');
    // The progress lines are the report: no engine log lines repeat them on stderr.
    expect(r.stderr).toBe('');
  });

  it('--json prints the final run {id, status, output, error, steps}', () => {
    const ok = cli.json<RunJson>(['run', 'hello', '--input', '{"name":"bo","count":1}']);
    expect(ok.status).toBe(0);
    expect(Object.keys(ok.json).slice(0, 5)).toEqual(['id', 'status', 'output', 'error', 'workflowId']);
    expect(ok.json).toMatchObject({ status: 'COMPLETED', output: { greeting: 'hello bo', count: 1 }, error: null, workflowId: 'hello', version: 1 });
    expect(ok.json.steps.map((s) => [s.path, s.type, s.action, s.status, s.attempt])).toEqual([
      ['greet', 'operation', 'shell.exec', 'SUCCEEDED', 1],
      ['nap', 'operation', 'sleep', 'SUCCEEDED', 1],
      ['done', 'inject', null, 'SUCCEEDED', 1],
    ]);
    expect(ok.json.steps[0]?.output).toMatchObject({ exitCode: 0, stdout: 'hello bo' });
    expect(ok.json.steps[1]?.durationMs).toBeGreaterThanOrEqual(50);

    const failed = cli.json<RunJson>(['run', 'boom']);
    expect(failed.status).toBe(1);
    expect(failed.json).toMatchObject({ status: 'FAILED', output: null, error: { code: 'STN_E_SHELL_EXIT', state: 'bad' } });
    expect(failed.json.steps.map((s) => [s.path, s.status, s.attempt])).toEqual([
      ['first', 'SUCCEEDED', 1],
      ['bad', 'FAILED', 2],
    ]);
  });

  it('takes --input as JSON text or @file.json (relative to the current folder); bad JSON is a usage error', () => {
    repo.write('inputs/ada.json', '{"name": "from-file", "count": 3}\n');
    const fromFile = cli.json<RunJson>(['run', 'hello', '--input', '@ada.json'], { cwd: path.join(repo.dir, 'inputs') });
    expect(fromFile.status).toBe(0);
    expect(fromFile.json.output).toEqual({ greeting: 'hello from-file', count: 3 });

    const before = runsOf(db).length;
    const missing = cli.run(['run', 'hello', '--input', '@nope.json']);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/STN_E_USAGE: --input: cannot read .*nope\.json: ENOENT/);
    const bad = cli.run(['run', 'hello', '--input', '{"name": ']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('STN_E_USAGE: --input is not valid JSON');
    repo.write('inputs/broken.json', '{name: 1}');
    const badFile = cli.run(['run', 'hello', '--input', '@inputs/broken.json']);
    expect(badFile.status).toBe(2);
    expect(badFile.stderr).toMatch(/--input file .*broken\.json is not valid JSON/);
    expect(runsOf(db)).toHaveLength(before);
  });

  it('lists every inputSchema violation, exits 2 and creates no run', () => {
    const before = runsOf(db).length;
    const r = cli.run(['run', 'hello', '--input', '{"name":"","count":0,"colour":"red"}']);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain("STN_E_INPUT_INVALID: the input does not match the workflow's inputSchema (3 problems):");
    expect(r.stderr).toMatch(/^ {2}\/: must NOT have additional properties \(colour\)$/m);
    expect(r.stderr).toMatch(/^ {2}\/name: must NOT have fewer than 1 characters$/m);
    expect(r.stderr).toMatch(/^ {2}\/count: must be >= 1$/m);

    const missing = cli.json<{ error: { code: string; details: { errors: Array<{ path: string; missing?: string }> } } }>(['run', 'hello', '--input', '{}']);
    expect(missing.status).toBe(2);
    expect(missing.json.error.code).toBe('STN_E_INPUT_INVALID');
    expect(missing.json.error.details.errors.map((e) => e.missing).sort()).toEqual(['count', 'name']);
    expect(runsOf(db)).toHaveLength(before);
  });

  it('--idempotency-key twice returns the same run, executed once', () => {
    const first = cli.json<RunJson>(['run', 'hello', '--idempotency-key', 'deploy-42', '--input', '{"name":"once","count":1}']);
    expect(first.status).toBe(0);
    const again = cli.run(['run', 'hello', '--idempotency-key', 'deploy-42', '--input', '{"name":"twice","count":9}']);
    expect(again.status).toBe(0);
    expect(again.stdout).toContain(`run ${first.json.id} already exists for idempotency key "deploy-42" (COMPLETED)`);
    expect(again.stdout).toContain(`run ${first.json.id} COMPLETED`);
    expect(again.stdout).toContain('"greeting": "hello once"');
    const detached = cli.run(['run', 'hello', '--detach', '--idempotency-key', 'deploy-42', '--input', '{"name":"x","count":1}']);
    expect(detached.stdout).toBe(`${first.json.id}\n`);
    expect(detached.stderr).toContain('existing run for idempotency key "deploy-42" (COMPLETED)');
    expect(runsOf(db).filter((r) => r.id === first.json.id)).toHaveLength(1);
    expect(stepsOf(db, first.json.id).map((s) => s.deliveries)).toEqual([1, 1, 0]);
  });

  it('needs --env when the workflow is in several environments; unknown workflows exit 2', () => {
    const ambiguous = cli.run(['run', 'ping']);
    expect(ambiguous.status).toBe(2);
    expect(ambiguous.stderr).toContain('workflow "ping" exists in default, staging: name the environment');
    const staging = cli.json<RunJson>(['run', 'ping', '--env', 'staging']);
    expect(staging.status).toBe(0);
    expect(staging.json).toMatchObject({ environment: 'staging', output: { steps: { only: { env: 'staging' } } } });
    const unknown = cli.run(['run', 'nosuch']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('STN_E_NOT_FOUND: no workflow "nosuch"');
  });

  it('--version runs an older version of the definition', () => {
    repo.write('environments/default/workflows/ping.workflow.yaml', PING('default-v2'));
    expect(cli.run(['sync', '--env', 'default']).status).toBe(0);
    const latest = cli.json<RunJson>(['run', 'ping', '--env', 'default']);
    expect(latest.json).toMatchObject({ version: 2, output: { steps: { only: { env: 'default-v2' } } } });
    const old = cli.json<RunJson>(['run', 'ping', '--env', 'default', '--version', '1']);
    expect(old.status).toBe(0);
    expect(old.json).toMatchObject({ version: 1, output: { steps: { only: { env: 'default' } } } });
  });
});

describe('stn runs list, show, events', () => {
  it('lists runs newest first, filtered by --workflow, --status and --env', () => {
    const all = cli.json<SummaryJson[]>(['runs', 'list', '--limit', '500']);
    expect(all.status).toBe(0);
    expect(all.json.length).toBe(runsOf(db).length);
    expect(all.json.length).toBeGreaterThan(5);

    const hello = cli.json<SummaryJson[]>(['runs', 'list', '--workflow', 'hello']);
    expect(hello.json.length).toBeGreaterThan(0);
    expect(new Set(hello.json.map((r) => r.workflowId))).toEqual(new Set(['hello']));

    const failed = cli.json<SummaryJson[]>(['runs', 'list', '--status', 'failed']);
    expect(failed.json.length).toBeGreaterThanOrEqual(2);
    expect(new Set(failed.json.map((r) => [r.workflowId, r.status].join(' ')))).toEqual(new Set(['boom FAILED']));

    const staging = cli.json<SummaryJson[]>(['runs', 'list', '--env', 'staging']);
    expect(staging.json.map((r) => [r.workflowId, r.environment, r.status])).toEqual([['ping', 'staging', 'COMPLETED']]);
    expect(cli.json<SummaryJson[]>(['runs', 'list', '--env', 'staging', '--status', 'FAILED']).json).toEqual([]);

    const text = cli.run(['runs', 'list', '--workflow', 'boom']);
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+WORKFLOW\s+ENV\s+VERSION\s+STATUS\s+CREATED\s+DURATION$/);
    expect(lines.slice(1)).toHaveLength(failed.json.length);
    for (const l of lines.slice(1)) expect(l).toMatch(/^r[0-9a-z]+\s+boom\s+default\s+v1\s+FAILED\s+\S+Z\s+(\d+ ms|\d+\.\d s)$/);
    // Newest first.
    expect(lines[1]?.split(/\s+/)[0]).toBe(failed.json[0]?.id);

    const wrong = cli.run(['runs', 'list', '--status', 'DONE']);
    expect(wrong.status).toBe(2);
    expect(wrong.stderr).toContain('--status must be one of PENDING, RUNNING');
  });

  it('shows a timeline: every step with its attempts, deliveries, duration, truncated input and output', () => {
    const run = cli.json<RunJson>(['run', 'flaky', '--input', JSON.stringify({ marker: path.join(repo.dir, 'flaky.marker') })]);
    expect(run.status).toBe(0);
    const r = cli.run(['runs', 'show', run.json.id]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`run ${run.json.id}\n  workflow  default/flaky v1\n  status    COMPLETED\n`);
    expect(r.stdout).toMatch(/^ {2}trigger {3}manual via cli/m);
    expect(r.stdout).toMatch(/^ {2}finished {2}\S+Z {2}\((\d+ ms|\d+\.\d s)\)$/m);
    expect(r.stdout).toMatch(/^ {2}1\. try {2}operation shell\.exec {2}SUCCEEDED {2}attempt 2 \(1 delivery\) {2}\d+ ms$/m);
    expect(r.stdout).toContain(`       input:  {"command":["sh","-c",`);
    // 600 digits of output are cut at 200 characters, saying how much was left out.
    expect(r.stdout).toMatch(/^ {7}output: \{"exitCode":0,"stdout":"0{100,}… \(\d+ more characters\)$/m);
    expect(r.stdout).toMatch(/^ {7}earlier error: {2}STN_E_SHELL_EXIT: command exited with code 1: first try fails$/m);

    const json = cli.json<RunJson>(['runs', 'show', run.json.id]);
    expect(json.json.steps).toHaveLength(1);
    expect(json.json.steps[0]).toMatchObject({ attempt: 2, deliveries: 1, status: 'SUCCEEDED' });
    expect((json.json.steps[0]?.output as { stdout: string }).stdout).toHaveLength(600);

    const missing = cli.run(['runs', 'show', 'r-nope']);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('STN_E_NOT_FOUND: no run "r-nope"');
  });

  it('prints the event log as lines or JSON lines, in sequence', () => {
    const run = cli.json<RunJson>(['run', 'boom']);
    const stored = eventsOf(db, run.json.id);
    const text = cli.run(['runs', 'events', run.json.id]);
    expect(text.status).toBe(0);
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(stored.length);
    expect(lines[0]).toMatch(/^ {3}1 {2}\S+Z {2}run:created {11}- {2}workflowId=boom environment=default version=1 trigger=\{"type":"manual","via":"cli"\}$/);
    expect(lines.at(-1)).toMatch(/run:failed/);
    expect(text.stdout).toMatch(/step:retrying {9}bad {2}attempt=2 delayMs=\d+ error=\{"code":"STN_E_SHELL_EXIT"/);

    const json = cli.run(['--json', 'runs', 'events', run.json.id]);
    expect(json.status, json.stderr).toBe(0);
    const events = json.stdout.trimEnd().split('\n').map((l) => {
      try {
        return JSON.parse(l) as { runId: string; seq: number; type: string; stepId: string | null; data: unknown; at: string };
      } catch {
        throw new Error(`not a JSON line: ${l}\n--- stdout:\n${json.stdout}\n--- stderr:\n${json.stderr}`);
      }
    });
    expect(events.map((e) => e.seq)).toEqual(stored.map((_, i) => i + 1));
    expect(events.map((e) => e.type)).toEqual(stored.map((e) => e.type));
    expect(events[0]).toMatchObject({ runId: run.json.id, type: 'run:created', stepId: null, data: { workflowId: 'boom' } });
  });
});

describe('a separately started stn worker', () => {
  it('executes a run enqueued with --detach, and exits 0 on SIGTERM', async () => {
    const r = cli.run(['run', 'hello', '--detach', '--input', '{"name":"later","count":5}']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^r[0-9a-z]+\n$/);
    const id = r.stdout.trim();
    expect(runStatus(db, id)).toBe('PENDING');
    const json = cli.json<{ id: string; created: boolean; status: string }>(['run', 'hello', '--detach', '--input', '{"name":"later2","count":6}']);
    expect(json.json).toMatchObject({ created: true, status: 'PENDING' });

    const worker = await startWorker();
    await waitFor('both detached runs to complete', () => runStatus(db, id) === 'COMPLETED' && runStatus(db, json.json.id) === 'COMPLETED');
    const shown = cli.json<RunJson>(['runs', 'show', id]);
    expect(shown.json.output).toEqual({ greeting: 'hello later', count: 5 });

    worker.kill('SIGTERM');
    expect(await worker.waitExit()).toEqual({ code: 0, signal: null });
    expect(worker.log()).toContain('"worker stopping: running steps get a grace period"');
  });
});

describe('stopping stn worker', () => {
  it('SIGTERM lets the running step finish, starts nothing new, exits 0; the next worker continues the run', async () => {
    const first = await startWorker();
    const r = cli.run(['run', 'two', '--detach']);
    const id = r.stdout.trim();
    // Not just RUNNING in the database: the step's process must have started, or the group signal below could reach
    // it in the instant between fork and its own setsid (seen once under load).
    await waitFor('the slow step to run', () => fs.existsSync(path.join(repo.dir, '.station', `slow-${id}`)));
    first.kill('SIGTERM');
    expect(await first.waitExit()).toEqual({ code: 0, signal: null });
    expect(stepsOf(db, id).map((s) => [s.stateName, s.status, s.deliveries])).toEqual([
      ['slow', 'SUCCEEDED', 1],
      ['quick', 'PENDING', 0],
    ]);
    expect(runStatus(db, id)).toBe('RUNNING');

    const second = await startWorker();
    await waitFor('the run to complete', () => runStatus(db, id) === 'COMPLETED');
    second.kill('SIGINT');
    expect(await second.waitExit()).toEqual({ code: 0, signal: null });
    expect(stepsOf(db, id).map((s) => [s.stateName, s.status, s.deliveries])).toEqual([
      ['slow', 'SUCCEEDED', 1],
      ['quick', 'SUCCEEDED', 1],
    ]);
  });
});

describe('acting on runs that a running stn worker executes', () => {
  let worker: WorkerProcess;
  const pickups: Record<string, number> = {};

  beforeAll(async () => {
    worker = await startWorker();
  });

  afterAll(async () => {
    worker.kill('SIGTERM');
    expect(await worker.waitExit()).toEqual({ code: 0, signal: null });
    // The measured pickup times, for the record (exit of the CLI command → the worker's event).
    process.stdout.write(`runs-cli pickup after the CLI exited (ms): ${JSON.stringify(pickups)}\n`);
  });

  /** Starts a detached run and waits until the worker has it in the given state. */
  async function detached(workflow: string, input: object, until: (id: string) => boolean, what: string): Promise<string> {
    const r = cli.run(['run', workflow, '--detach', '--input', JSON.stringify(input)]);
    expect(r.status, r.stderr).toBe(0);
    const id = r.stdout.trim();
    await waitFor(what, () => until(id));
    return id;
  }

  const waiting = (id: string) => stepsOf(db, id).some((s) => s.stateName === 'wait' && s.status === 'WAITING_SIGNAL');

  it('a run whose step waits for a signal is WAITING_SIGNAL (runs show, runs list --status)', async () => {
    const id = await detached('gate', {}, waiting, 'the gate run to wait for its signal');
    try {
      expect(cli.run(['runs', 'show', id]).stdout).toMatch(/^ {2}status {4}WAITING_SIGNAL$/m);
      const listed = cli.json<SummaryJson[]>(['runs', 'list', '--status', 'waiting_signal']);
      expect(listed.json.map((r) => r.id)).toContain(id);
    } finally {
      expect(cli.run(['runs', 'cancel', id]).status).toBe(0);
      await waitFor('the gate run to be cancelled', () => runStatus(db, id) === 'CANCELLED');
    }
  });

  it('signal: the waiting step gets the payload within 250 ms; events --follow streams until the run ends', async () => {
    const id = await detached('gate', {}, waiting, 'the gate run to wait for its signal');
    const follow = cli.spawn(['runs', 'events', id, '--follow']);
    await waitFor('--follow to print the waiting step', () => follow.output().includes('step:waiting'));
    expect(follow.child.exitCode).toBeNull();

    repo.write('payload.json', '{"approved": true, "by": "ops"}');
    const sent = cli.run(['runs', 'signal', id, 'go', '--payload', '@payload.json']);
    expect(sent.status, sent.stderr).toBe(0);
    expect(sent.stdout).toMatch(new RegExp(`^signal "go" sent to run ${id} \\(signal \\d+\\)\\n$`));
    const received = await waitFor('signal:received', () => eventOf(db, id, 'signal:received'));
    pickups.signal = received.at - sent.exitedAt;
    expect(received.at - sent.exitedAt).toBeLessThanOrEqual(PICKUP_MS);

    const ended = await follow.done;
    expect(ended.status).toBe(0);
    const lines = ended.stdout.trimEnd().split('\n');
    expect(lines.map((l) => Number(l.trim().split(/\s+/)[0]))).toEqual(eventsOf(db, id).map((e) => e.seq));
    expect(lines.at(-1)).toMatch(/run:completed/);
    expect(ended.stdout).toMatch(/signal:received {7}- {2}name=go signalId=\d+ stepId=/);
    const run = cli.json<RunJson>(['runs', 'show', id]);
    expect(run.json).toMatchObject({ status: 'COMPLETED', output: { got: { approved: true, by: 'ops' } } });

    // --json; a finished run takes no more signals.
    const late = cli.json<{ error: { code: string } }>(['runs', 'signal', id, 'go']);
    expect(late.status).toBe(2);
    expect(late.json.error.code).toBe('STN_E_RUN_FINISHED');
    const id2 = await detached('gate', {}, waiting, 'a second gate run to wait');
    const sent2 = cli.json<{ signalId: number }>(['runs', 'signal', id2, 'go', '--payload', '[1,2]']);
    expect(sent2.json.signalId).toBeGreaterThan(0);
    const received2 = await waitFor('signal:received', () => eventOf(db, id2, 'signal:received'));
    expect(received2.at - sent2.exitedAt).toBeLessThanOrEqual(PICKUP_MS);
    await waitFor('the second gate run to complete', () => runStatus(db, id2) === 'COMPLETED');
  });

  it('a foreground stn run shows every step in order, also those the worker executes (and those of child runs)', () => {
    for (let i = 0; i < 2; i++) {
      const r = cli.run(['run', 'relay']);
      expect(r.status, r.stdout + r.stderr).toBe(0);
      const lines = r.stdout.split('\n').filter((l) => /^ {2}(ok|wait) /.test(l)).map((l) => l.trim().split(/ {2,}/).slice(0, 2).join(' '));
      expect(lines).toEqual([
        'wait a', 'ok a', 'ok b', 'wait kid', 'wait nap: x', 'ok nap: x', 'ok nap: y', 'ok kid', 'wait c', 'ok c', 'ok d',
      ]);
      // The duration's unit follows its size (ms below a second, s above): a loaded machine may take a second.
      expect(r.stdout).toMatch(/COMPLETED in (\d+ ms|\d+\.\d s)\noutput:\n\{\n {2}"y": "y\\n"\n\}\n$/);
    }
  });

  it('pause: the running step finishes and no new step starts; resume starts the next step within 250 ms', async () => {
    const id = await detached('two', {}, (id) => stepsOf(db, id)[0]?.status === 'RUNNING', 'the slow step to run');
    const paused = cli.run(['runs', 'pause', id]);
    expect(paused.status, paused.stderr).toBe(0);
    expect(paused.stdout).toBe(`run ${id} paused: no new steps start until "stn runs resume ${id}"\n`);
    expect(runStatus(db, id)).toBe('PAUSED');

    const slowDone = await waitFor('the slow step to finish', () => eventOf(db, id, 'step:succeeded'));
    expect(slowDone.at).toBeGreaterThan(eventOf(db, id, 'run:paused')?.at ?? Infinity);
    // Give the worker several polls: the next step must not start while the run is paused.
    await new Promise((r) => setTimeout(r, 500));
    expect(stepsOf(db, id).filter((s) => s.stateName === 'quick' && s.deliveries > 0)).toEqual([]);
    const show = cli.run(['runs', 'show', id]);
    expect(show.stdout).toMatch(/^ {2}status {4}PAUSED$/m);

    const resumed = cli.json<SummaryJson>(['runs', 'resume', id]);
    expect(resumed.status).toBe(0);
    expect(resumed.json).toMatchObject({ id, paused: false, status: 'RUNNING' });
    const resumedSeq = eventOf(db, id, 'run:resumed')?.seq ?? 0;
    const next = await waitFor('the quick step to start', () => eventOf(db, id, 'step:started', resumedSeq));
    pickups.resume = next.at - resumed.exitedAt;
    expect(next.at - resumed.exitedAt).toBeLessThanOrEqual(PICKUP_MS);
    await waitFor('the run to complete', () => runStatus(db, id) === 'COMPLETED');
    expect(eventsOf(db, id).map((e) => e.type)).toEqual([
      'run:created', 'run:started', 'state:entered', 'step:started', 'run:paused', 'step:succeeded', 'state:entered',
      'run:resumed', 'step:started', 'step:succeeded', 'run:completed',
    ]);
  });

  it('cancel: the worker stops the running step and kills its process, the run ends CANCELLED within 250 ms', async () => {
    const pidFile = path.join(repo.dir, 'hang-1.pid');
    const id = await detached('hang', { pidFile }, () => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').endsWith('\n'), 'the hanging process to start');
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    expect(alive(pid)).toBe(true);

    const r = cli.run(['runs', 'cancel', id]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(`cancel requested for run ${id}: running steps are stopped and the run ends CANCELLED\n`);
    const cancelled = await waitFor('run:cancelled', () => eventOf(db, id, 'run:cancelled'));
    pickups.cancel = cancelled.at - r.exitedAt;
    expect(cancelled.at - r.exitedAt).toBeLessThanOrEqual(PICKUP_MS);
    expect(runStatus(db, id)).toBe('CANCELLED');
    await waitFor(`process ${pid} to be killed`, () => !alive(pid), 10_000);
    expect(stepsOf(db, id).map((s) => [s.stateName, s.status])).toEqual([
      ['prep', 'SUCCEEDED'],
      ['hang', 'CANCELLED'],
    ]);

    const again = cli.run(['runs', 'cancel', id]);
    expect(again.status).toBe(2);
    expect(again.stderr).toContain(`STN_E_RUN_FINISHED: run ${id} already ended CANCELLED`);
  });

  it('cancel --compensate --json: the compensations run, then the run ends CANCELLED', async () => {
    const pidFile = path.join(repo.dir, 'hang-2.pid');
    const id = await detached('hang', { pidFile }, () => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').endsWith('\n'), 'the hanging process to start');
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));

    const r = cli.json<SummaryJson>(['runs', 'cancel', id, '--compensate']);
    expect(r.status).toBe(0);
    expect(r.json).toMatchObject({ id, workflowId: 'hang', cancelRequested: true });
    const started = await waitFor('compensation:started', () => eventOf(db, id, 'compensation:started'));
    pickups.cancelCompensate = started.at - r.exitedAt;
    expect(started.at - r.exitedAt).toBeLessThanOrEqual(PICKUP_MS);
    await waitFor('run:cancelled', () => eventOf(db, id, 'run:cancelled'));
    await waitFor(`process ${pid} to be killed`, () => !alive(pid), 10_000);

    const shown = cli.json<RunJson & { compensated: boolean | null }>(['runs', 'show', id]);
    expect(shown.json).toMatchObject({ status: 'CANCELLED', compensated: true });
    const undo = shown.json.steps.find((s) => s.type === 'compensation');
    expect(undo).toMatchObject({ state: 'prep', action: 'noop', status: 'SUCCEEDED', output: { undo: true } });
    expect(cli.run(['runs', 'show', id]).stdout).toMatch(/COMPENSATION noop {2}SUCCEEDED/);
  });
});
