import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, stn, type StnResult } from '../helpers/cli.js';
import { spawnServe, type ServeProcess } from '../helpers/daemon-proc.js';
import { createGitRepo, createTempDir, type GitRepo } from '../helpers/git-repo.js';
import { workflowPath } from '../helpers/workflow.js';

/**
 * Every command that works both ways gives the same output in process (on the database) and with --server (through a
 * `stn serve` daemon on that same database): same stdout, stderr and exit code, ids, times and durations aside.
 */

const THREE = `id: three
version: "1"
name: Three
states:
  - {name: a, type: operation, action: noop, next: b}
  - {name: b, type: operation, action: shell.exec, input: {command: [sh, -c, "echo hi"]}, next: c}
  - {name: c, type: operation, action: noop, input: {done: true}, end: true}
`;
const FAILING = `id: failing
version: "1"
name: Failing
states:
  - {name: prep, type: operation, action: noop, compensation: {action: noop, input: {undo: true}}, next: boom}
  - {name: boom, type: operation, action: fail, input: {message: broken on purpose}, end: true}
`;
const GATED = `id: gated
version: "1"
name: Gated
inputSchema: {type: object, properties: {n: {type: integer}}, additionalProperties: false}
states:
  - {name: gate, type: operation, action: signal.wait, input: {name: go}, end: true}
`;
const DEPLOY = `id: deploy
version: "1"
name: Deploy
states:
  - {name: gate, type: operation, action: human.approval, input: {message: "Ship it?"}, end: true}
`;
const BROKEN = `id: broken
version: "1"
name: Broken
states:
  - {name: a, type: operation, action: no.such.action, end: true}
`;

const PARENT = `id: parent
version: "1"
name: Parent
states:
  - {name: call, type: operation, action: workflow.run, input: {workflow: three}, next: after}
  - {name: after, type: operation, action: noop, end: true}
`;

const ORPHANED = `id: orphaned
version: "1"
name: Orphaned
states:
  - {name: a, type: operation, action: noop, end: true}
  - {name: never, type: operation, action: noop, end: true}
`;

const TRIAGE_AGENT = `---
model: fixture/triage
input:
  schema:
    service: string
output:
  schema:
    summary: string
tools: [ops/*]
---
{{role "system"}}
Triage incidents of {{service}}.
{{role "user"}}
{{userInput}}
`;

/** An agent without tools whose fixture asks for one anyway: its transcript has a turn, a refused call and a reply. */
const HELPER_AGENT = `---
model: fixture/helper
---
{{userInput}}
`;
const HELPER_FIXTURE = `- turns:
    - content: Let me look.
      toolCalls: [{tool: ops/df, arguments: {path: /}}]
    - content: All quiet.
`;
const ASKS = `id: asks
version: "1"
name: Asks
states:
  - {name: ask, type: operation, action: agent.run, input: {agent: helper, task: anything wrong?}, end: true}
`;

const TOKEN = 'parity-operator-token';

let repo: GitRepo;
let daemon: ServeProcess;
let elsewhere: string;

/** Ids, times and durations differ between two runs of the same command; everything else must not. */
function normalize(text: string): string {
  return text
    .replace(/\br[0-9a-z]{9}[0-9a-f]{16}\b/g, '<run>')
    .replace(/\b[0-9a-f]{24}\b/g, '<step>')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>')
    .replace(/"(syncRunId|durationMs|signalId)": \d+/g, '"$1": <n>')
    .replace(/\b\d+ ms\b|\b\d+\.\d s\b|\b\d+m \d\ds\b/g, '<duration>');
}

const local = (args: string[]): StnResult => stn(['--repo', repo.dir, ...args], repo.dir);
const remote = (args: string[]): StnResult => stn(['--server', daemon.url, ...args], elsewhere, { STN_TOKEN: TOKEN });

/** Runs the command both ways and expects the same answer; returns the local one. */
function same(args: string[]): StnResult {
  const l = local(args);
  const r = remote(args);
  const shown = (x: StnResult) => ({ status: x.status, stdout: normalize(x.stdout), stderr: normalize(x.stderr) });
  expect(shown(r), `stn ${args.join(' ')}`).toEqual(shown(l));
  return l;
}

function json<T>(r: StnResult): T {
  return JSON.parse(r.stdout) as T;
}

async function until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const statusOf = (id: string) => json<{ status: string }>(local(['--json', 'runs', 'show', id])).status;

let done: string;
let failed: string;
let waiting: string;
let asked: string;

beforeAll(async () => {
  ensureBuilt();
  repo = createGitRepo('stn-parity-');
  repo.write('.gitignore', '.station/\n');
  repo.write('station.yaml', 'server:\n  tokens:\n    - {name: ci, role: admin, env: PARITY_TOKEN}\n');
  for (const [id, text] of [['three', THREE], ['failing', FAILING], ['gated', GATED], ['deploy', DEPLOY], ['broken', BROKEN], ['parent', PARENT]] as const) {
    repo.write(workflowPath('default', id), text);
  }
  repo.write('environments/default/agents/triage.prompt', TRIAGE_AGENT);
  repo.write('environments/default/agents/helper.prompt', HELPER_AGENT);
  repo.write('environments/default/agents/fixtures/helper.yaml', HELPER_FIXTURE);
  repo.write(workflowPath('default', 'asks'), ASKS);
  repo.write('environments/default/agents/garbled.prompt', '---\nmodel: a\nmodel: b\n---\nhi\n');
  repo.commit('fixtures');
  daemon = await spawnServe(repo.dir, ['--no-watch'], { PARITY_TOKEN: TOKEN });
  elsewhere = createTempDir('stn-parity-cwd-');
  // Runs in every state the views show: completed, failed with compensation, paused while waiting, waiting on people.
  done = remote(['run', 'three', '--detach']).stdout.trim();
  failed = remote(['run', 'failing', '--detach']).stdout.trim();
  waiting = local(['run', 'gated', '--detach', '--input', '{"n": 1}']).stdout.trim();
  const approval = remote(['run', 'deploy', '--detach']).stdout.trim();
  const tree = remote(['run', 'parent', '--detach']).stdout.trim();
  asked = remote(['run', 'asks', '--detach']).stdout.trim();
  await until('the runs to settle', () =>
    statusOf(asked) === 'COMPLETED' && statusOf(done) === 'COMPLETED' && statusOf(failed) === 'FAILED' && statusOf(waiting) === 'WAITING_SIGNAL' && statusOf(approval) === 'WAITING_APPROVAL' && statusOf(tree) === 'COMPLETED',
  );
  expect(local(['runs', 'pause', waiting]).status).toBe(0);
}, 60_000);
afterAll(async () => {
  await daemon?.stop();
  repo?.cleanup();
  if (elsewhere) fs.rmSync(elsewhere, { recursive: true, force: true });
});

describe('local and --server output are the same', () => {
  // Each command runs twice, as a new process: slow on a busy machine.
  const SLOW = 120_000;

  it('workflows list, show, versions and diff', () => {
    expect(same(['workflows', 'list']).stdout).toMatch(/broken.*invalid/);
    same(['--json', 'workflows', 'list']);
    expect(same(['workflows', 'list', '--status', 'disabled']).stdout).toBe('no workflow definitions match\n');
    expect(same(['workflows', 'show', 'three']).stdout).toContain(THREE.trimEnd());
    same(['--json', 'workflows', 'show', 'three']);
    same(['workflows', 'versions', 'three']);
    same(['--json', 'workflows', 'diff', 'three', '1', '1']);
  }, SLOW);

  it('sync: the report, its warnings and invalid files, and its exit code', () => {
    // A new file with a warning: a dry run reports it both ways (and writes nothing), then one real sync takes it.
    repo.write(workflowPath('default', 'orphaned'), ORPHANED);
    repo.commit('a workflow with an unreachable state');
    expect(same(['sync', '--dry-run']).stdout).toMatch(/warning +environments\/default\/.*STN_W_UNREACHABLE_STATE/);
    same(['--json', 'sync', '--dry-run']);
    expect(local(['sync']).stdout).toMatch(/added +orphaned/);
    const text = same(['sync']);
    expect(text.status).toBe(1);
    expect(text.stdout).toMatch(/invalid +environments\/default\/.*broken/);
    same(['--json', 'sync']);
  }, SLOW);

  it('agents list, show and versions', () => {
    const list = same(['agents', 'list']).stdout;
    expect(list).toMatch(/default +triage +- +active +v1 +fixture\/triage/);
    expect(list).toMatch(/garbled\.prompt:3:1: STN_E_YAML_DUPLICATE_KEY/);
    same(['--json', 'agents', 'list']);
    expect(same(['agents', 'list', '--status', 'disabled']).stdout).toBe('no agents match\n');
    expect(same(['agents', 'show', 'triage']).stdout).toContain(TRIAGE_AGENT.trimEnd());
    same(['--json', 'agents', 'show', 'triage', '--env', 'default']);
    expect(same(['agents', 'versions', 'triage']).stdout).toMatch(/v1 +\d+ +\S+ +clean/);
    same(['--json', 'agents', 'versions', 'triage']);
  }, SLOW);

  it('runs list and show: paused, waiting, compensated and trigger lines included', () => {
    same(['runs', 'list']);
    same(['--json', 'runs', 'list', '--workflow', 'gated']);
    same(['runs', 'list', '--limit', '2', '--status', 'completed']);
    const manual = same(['--json', 'runs', 'list', '--trigger', 'manual', '--since', '2020-01-01', '--until', '2100-01-01T00:00:00Z']);
    expect((JSON.parse(manual.stdout) as unknown[]).length).toBeGreaterThan(0);
    const paused = same(['runs', 'show', waiting]);
    expect(paused.stdout).toMatch(/status +PAUSED/);
    expect(paused.stdout).toMatch(/waiting: /);
    expect(same(['runs', 'show', failed]).stdout).toMatch(/compensated +yes/);
    expect(same(['runs', 'show', done]).stdout).toMatch(/trigger +manual via api by api:ci/);
    const child = json<Array<{ id: string; parentRunId: string | null }>>(local(['--json', 'runs', 'list', '--workflow', 'three'])).find((r) => r.parentRunId);
    expect(same(['runs', 'show', child?.id ?? '-']).stdout).toMatch(/trigger +workflow .*\(parent r/);
    same(['--json', 'runs', 'show', failed]);
  }, SLOW);

  it('runs show --step: one step, an agent step with its transcript', () => {
    const transcript = same(['runs', 'show', asked, '--step', 'ask']).stdout;
    expect(transcript).toMatch(/transcript, attempt 1 \(agent helper\): 2 turns/);
    expect(transcript).toMatch(/tool ops\/df {2}error .*\n.*\n +result: +STN_E_AGENT_UNKNOWN_TOOL/);
    expect(transcript).toContain('reply: All quiet.');
    same(['--json', 'runs', 'show', asked, '--step', 'ask']);
    same(['runs', 'show', done, '--step', 'b']);
    expect(same(['runs', 'show', done, '--step', 'nope']).status).toBe(2);
  }, SLOW);

  it('runs events, with and without --follow', () => {
    same(['runs', 'events', done]);
    same(['--json', 'runs', 'events', failed]);
    expect(same(['runs', 'events', '--follow', done]).stdout.trimEnd().split('\n').at(-1)).toMatch(/run:completed/);
  }, SLOW);

  it('approvals list', () => {
    expect(same(['approvals', 'list']).stdout).toMatch(/default\/deploy +gate +PENDING/);
    same(['--json', 'approvals', 'list', '--status', 'pending']);
    expect(same(['approvals', 'list', '--status', 'approved']).stdout).toBe('no approved approvals\n');
  }, SLOW);

  it('run: progress, the end of the run and its exit code', () => {
    const ok = same(['run', 'three']);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/^ {2}ok +b +shell\.exec +attempt 1/m);
    expect(same(['run', 'failing']).status).toBe(1);
    // The child run's steps come between the parent's "wait" and "ok" lines, named after the child's workflow.
    const tree = same(['run', 'parent']).stdout;
    const steps = [...tree.matchAll(/^ {2}(ok|wait) +((?:\S+: )?\S+)/gm)].map((m) => `${m[1]} ${m[2]}`);
    expect(steps).toEqual(['wait call', 'ok three: a', 'ok three: b', 'ok three: c', 'ok call', 'ok after']);
    same(['--json', 'run', 'three', '--detach']);
    same(['run', 'gated', '--input', '{"n": "x"}']);
  }, SLOW);

  it('errors: unknown ids, bad options, --limit over 500', () => {
    for (const args of [
      ['runs', 'show', 'nope'],
      ['--json', 'runs', 'events', 'nope'],
      ['workflows', 'show', 'nope'],
      ['agents', 'show', 'nope'],
      ['agents', 'list', '--status', 'bogus'],
      ['run', 'nope'],
      ['runs', 'list', '--status', 'bogus'],
      ['runs', 'list', '--limit', '501'],
      ['runs', 'list', '--trigger', 'slack'],
      ['runs', 'list', '--since', 'yesterday'],
      ['approvals', 'list', '--limit', '0'],
      ['runs', 'signal', 'nope', 'go'],
    ]) {
      expect(same(args).status, args.join(' ')).toBe(2);
    }
  }, 90_000); // twenty CLI processes: over 30 s on a loaded 2-core machine
});
