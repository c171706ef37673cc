import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { JsonValue } from '../../src/definitions/types.js';
import { DEFAULT_EXEC_POLICY } from '../../src/executors/policy.js';
import { shellExec } from '../../src/executors/shell-exec.js';
import type { ExecContext, ExecResult } from '../../src/executors/types.js';
import { ensureBuilt } from '../helpers/cli.js';
import { createGitRepo, type GitRepo } from '../helpers/git-repo.js';
import { startServe, until, type ServeProc } from '../helpers/serve-proc.js';

/**
 * Issue #10 item 16: a step's processes die with the step, those that left its process group with setsid included,
 * whether the step ends, times out or is cancelled.
 */

let out: string;
const spawned: number[] = [];

beforeAll(() => {
  out = fs.mkdtempSync(path.join(os.tmpdir(), 'stn-tree-'));
});
afterEach(() => {
  // Whatever a failed assertion left behind.
  for (const pid of spawned.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

/** Alive and not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

async function readPid(file: string): Promise<number> {
  const pid = await until(() => {
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : '';
    return /^\d+$/.test(text) ? Number(text) : undefined;
  }, 10_000, `pid in ${file}`);
  spawned.push(pid);
  return pid;
}

/** A script that leaves a `setsid` grandchild writing its pid to `file`, then does `rest`. */
const escapee = (file: string, body = 'exec sleep 1000') => `setsid sh -c 'echo $$ > "${file}"; ${body}' > /dev/null 2>&1 < /dev/null &
while [ ! -s "${file}" ]; do sleep 0.05; done
`;

function ctx(cgroups: boolean, input: JsonValue, overrides: Partial<ExecContext> = {}): ExecContext {
  return {
    runId: 'run-1',
    stepId: 'step-1',
    attempt: 1,
    idempotencyKey: 'run-1:step-1:1',
    input,
    signal: new AbortController().signal,
    startedAt: Date.now(),
    timeoutMs: undefined,
    repo: out,
    now: () => Date.now(),
    logger: pino({ level: 'silent' }),
    policy: { ...DEFAULT_EXEC_POLICY, cgroups },
    ...overrides,
  };
}

const code = (r: ExecResult) => (r.kind === 'error' ? r.error.code : r.kind);

// With a cgroup per step where this machine allows it, and with the marker scan (steps.cgroups: false, or no cgroup v2).
describe.each([
  ['a cgroup per step where possible', true],
  ['the marker scan', false],
])('shell.exec process trees, with %s', (_how, cgroups) => {
  it('a setsid grandchild is gone once the step has ended', async () => {
    const file = path.join(out, `ended-${cgroups}.pid`);
    const result = await shellExec.run(ctx(cgroups, { shell: true, script: `${escapee(file)}echo done` }));
    expect(code(result)).toBe('ok');
    const pid = await readPid(file);
    await until(() => (alive(pid) ? undefined : true), 5_000, 'the grandchild to be gone');
  });

  it('on a timeout, and one that ignores SIGTERM gets SIGKILL after the grace', async () => {
    const file = path.join(out, `timeout-${cgroups}.pid`);
    const started = Date.now();
    const result = await shellExec.run(ctx(cgroups, { shell: true, script: `${escapee(file, `trap "" TERM; while :; do sleep 0.2; done`)}sleep 1000`, timeoutSeconds: 1 }));
    expect(code(result)).toBe('STN_E_SHELL_TIMEOUT');
    const pid = await readPid(file);
    await until(() => (alive(pid) ? undefined : true), 10_000, 'the stubborn grandchild to be killed');
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('on cancel (the abort signal)', async () => {
    const file = path.join(out, `cancel-${cgroups}.pid`);
    const controller = new AbortController();
    const running = shellExec.run(ctx(cgroups, { shell: true, script: `${escapee(file)}sleep 1000` }, { signal: controller.signal }));
    const pid = await readPid(file);
    controller.abort(new Error('run cancelled'));
    expect(code(await running)).toBe('STN_E_ABORTED');
    await until(() => (alive(pid) ? undefined : true), 5_000, 'the grandchild to be gone');
  });
});

describe('through a real daemon', () => {
  let repo: GitRepo;
  let daemon: ServeProc;

  beforeAll(async () => {
    ensureBuilt();
    repo = createGitRepo('stn-tree-daemon-');
    repo.write('.gitignore', '.station/\n');
    const step = (name: string, file: string, rest: string, next: string) => `
  - name: ${name}
    type: operation
    action: shell.exec
    input:
      shell: true
      script: |
${(escapee(path.join(out, file)) + rest).split('\n').map((l) => `        ${l}`).join('\n')}
    ${next}`;
    repo.write('environments/default/workflows/tree.workflow.yaml', `id: tree
version: "1"
name: Tree
states:${step('leave', 'd-ended.pid', 'echo left one behind', 'next: hang')}${step('hang', 'd-cancel.pid', 'sleep 1000', 'end: true')}
`);
    repo.commit('fixtures');
    daemon = await startServe(repo.dir, {}, ['--no-watch']);
  });
  afterAll(async () => {
    await daemon?.stop();
    repo?.cleanup();
  });

  it('a step that ends and a step that is cancelled leave no setsid grandchild', async () => {
    const res = await fetch(`${daemon.url}/api/v1/workflow-runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ workflowId: 'tree' }) });
    const { id } = (await res.json()) as { id: string };
    const first = await readPid(path.join(out, 'd-ended.pid'));
    const second = await readPid(path.join(out, 'd-cancel.pid'));
    await until(() => (alive(first) ? undefined : true), 5_000, 'the first step\'s grandchild to be gone');
    expect(alive(second)).toBe(true);
    const cancel = await fetch(`${daemon.url}/api/v1/workflow-runs/${id}/cancel`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(cancel.status).toBeLessThan(300);
    await until(async () => {
      const run = (await (await fetch(`${daemon.url}/api/v1/workflow-runs/${id}`)).json()) as { status: string };
      return run.status === 'CANCELLED' ? true : undefined;
    }, 15_000, 'the run to be cancelled');
    await until(() => (alive(second) ? undefined : true), 5_000, 'the cancelled step\'s grandchild to be gone');
  });
});
