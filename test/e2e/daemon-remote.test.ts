import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, stn } from '../helpers/cli.js';
import { spawnServe, type ServeProcess } from '../helpers/daemon-proc.js';
import { createGitRepo, createTempDir, type GitRepo } from '../helpers/git-repo.js';
import { workflowPath } from '../helpers/workflow.js';

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
  - {name: boom, type: operation, action: fail, input: {message: broken on purpose}, end: true}
`;
const GATED = `id: gated
version: "1"
name: Gated
inputSchema: {type: object, properties: {n: {type: integer}}, additionalProperties: false}
states:
  - {name: gate, type: operation, action: signal.wait, input: {name: go}, end: true}
`;

const OPERATOR = 'operator-token-x';
const VIEWER = 'viewer-token-y';

let repo: GitRepo;
let daemon: ServeProcess;
/** The CLI runs from an empty folder: remote commands must not need (or create) a local database. */
let elsewhere: string;

beforeAll(async () => {
  ensureBuilt();
  repo = createGitRepo('stn-remote-');
  repo.write('.gitignore', '.station/\n');
  repo.write('station.yaml', `server:\n  tokens:\n    - {name: ci, role: operator, env: OP_TOKEN}\n    - {name: dash, role: viewer, sha256: ${createHash('sha256').update(VIEWER).digest('hex')}}\n`);
  repo.write(workflowPath('default', 'three'), THREE);
  repo.write(workflowPath('default', 'failing'), FAILING);
  repo.write(workflowPath('default', 'gated'), GATED);
  repo.commit('fixtures');
  daemon = await spawnServe(repo.dir, [], { OP_TOKEN: OPERATOR });
  elsewhere = createTempDir('stn-remote-cwd-');
});
afterAll(async () => {
  await daemon?.stop();
  repo?.cleanup();
  if (elsewhere) fs.rmSync(elsewhere, { recursive: true, force: true });
});

/** `stn --server <daemon> ...` with STN_TOKEN set to `token` ('' for none). */
const remote = (args: string[], token = OPERATOR) => stn(['--server', daemon.url, ...args], elsewhere, token ? { STN_TOKEN: token } : {});

describe('the CLI against a running daemon (--server / STN_SERVER, STN_TOKEN)', () => {
  it('lists and shows workflows', () => {
    const list = remote(['workflows', 'list'], VIEWER);
    expect(list.status, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^ENV\s+ID\s+STATUS/);
    expect(list.stdout).toMatch(/default\s+three\s+active\s+v1/);
    const json = JSON.parse(remote(['--json', 'workflows', 'list'], VIEWER).stdout) as Array<{ id: string }>;
    expect(json.map((d) => d.id)).toEqual(['failing', 'gated', 'three']);
    const show = remote(['workflows', 'show', 'three'], VIEWER);
    expect(show.status).toBe(0);
    expect(show.stdout).toContain(THREE.trimEnd());
    expect(fs.readdirSync(elsewhere)).toEqual([]);
  });

  it('runs a workflow in the daemon, printing progress, exit 0 on COMPLETED and 1 on FAILED', () => {
    const ok = remote(['run', 'three']);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^run \S+: default\/three v1/);
    expect(ok.stdout.match(/^ {2}ok +\S+/gm)?.map((l) => l.trim().split(/\s+/)[1])).toEqual(['a', 'b', 'c']);
    expect(ok.stdout).toMatch(/COMPLETED/);
    const failed = remote(['run', 'failing']);
    expect(failed.status).toBe(1);
    expect(failed.stdout).toMatch(/FAILED/);
    expect(failed.stdout).toMatch(/broken on purpose/);
  });

  it('detaches, signals, follows events to the end and shows the run, through STN_SERVER too', () => {
    const detached = remote(['run', 'gated', '--detach', '--input', '{"n": 1}']);
    expect(detached.status, detached.stderr).toBe(0);
    const id = detached.stdout.trim();
    expect(id).toMatch(/\S/);
    const signal = stn(['runs', 'signal', id, 'go', '--payload', '{"ok": true}'], elsewhere, { STN_SERVER: `${daemon.url}/api/v1`, STN_TOKEN: OPERATOR });
    expect(signal.status, signal.stderr).toBe(0);
    const events = remote(['runs', 'events', '--follow', id], VIEWER);
    expect(events.status).toBe(0);
    expect(events.stdout.trim().split('\n').at(-1)).toMatch(/run:completed/);
    const shown = JSON.parse(remote(['--json', 'runs', 'show', id], VIEWER).stdout) as { status: string; steps: Array<{ output: unknown }> };
    expect(shown.status).toBe('COMPLETED');
    expect(shown.steps[0]?.output).toEqual({ ok: true });
    const list = JSON.parse(remote(['--json', 'runs', 'list', '--workflow', 'gated'], VIEWER).stdout) as Array<{ id: string }>;
    expect(list.map((r) => r.id)).toContain(id);
  });

  it('pauses, resumes and cancels', () => {
    const id = remote(['run', 'gated', '--detach']).stdout.trim();
    expect(remote(['runs', 'pause', id]).stdout).toMatch(/paused/);
    expect(remote(['runs', 'resume', id]).stdout).toMatch(/resumed/);
    const cancelled = remote(['runs', 'cancel', id]);
    expect(cancelled.status).toBe(0);
    expect(cancelled.stdout).toMatch(/cancel requested/);
  });

  it('syncs the daemon checkout with the exit codes of stn sync', () => {
    const ok = remote(['sync']);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/environment default/);
  });

  it('reports API errors with their codes and exit codes', () => {
    const invalid = remote(['run', 'gated', '--input', '{"n": "x"}']);
    expect(invalid.status).toBe(2);
    expect(invalid.stderr).toMatch(/STN_E_INPUT_INVALID/);
    const forbidden = remote(['run', 'three'], VIEWER);
    expect(forbidden.status).toBe(2);
    expect(forbidden.stderr).toMatch(/STN_E_FORBIDDEN: token "dash" has role viewer/);
    const noToken = remote(['runs', 'list'], '');
    expect(noToken.status).toBe(2);
    expect(noToken.stderr).toMatch(/STN_E_UNAUTHENTICATED/);
    const missing = remote(['runs', 'show', 'nope'], VIEWER);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/STN_E_NOT_FOUND: no run "nope"/);
    const json = remote(['--json', 'runs', 'show', 'nope'], VIEWER);
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'STN_E_NOT_FOUND' } });
  });

  it('says when the server cannot be reached, and refuses a malformed URL', () => {
    const down = stn(['--server', 'http://127.0.0.1:9', 'runs', 'list'], elsewhere);
    expect(down.status).toBe(2);
    expect(down.stderr).toMatch(/STN_E_SERVER: cannot reach the Station server at http:\/\/127\.0\.0\.1:9/);
    const bad = stn(['--server', 'not a url', 'runs', 'list'], elsewhere);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/STN_E_USAGE: --server \/ STN_SERVER must be a URL/);
  });
});

describe('without a server the CLI still works on the database', () => {
  it('reads the local database while the daemon runs', () => {
    const r = stn(['--repo', repo.dir, 'workflows', 'show', 'three'], repo.dir);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/default\/three\s+active/);
  });
});
