import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JsonValue } from '../../src/definitions/types.js';
import { DEFAULT_EXEC_POLICY } from '../../src/executors/policy.js';
import { SHELL_OUTPUT_LIMIT, shellExec } from '../../src/executors/shell-exec.js';
import type { ExecContext, ExecResult } from '../../src/executors/types.js';

let repo: string;

beforeEach(() => {
  repo = fs.mkdtempSync(path.join(os.tmpdir(), 'stn-shell-'));
});

afterEach(() => {
  fs.rmSync(repo, { recursive: true, force: true });
});

function makeCtx(input: JsonValue, overrides: Partial<ExecContext> = {}): ExecContext {
  return {
    runId: 'run-1',
    stepId: 'step-1',
    attempt: 2,
    idempotencyKey: 'run-1:step-1:2',
    input,
    signal: new AbortController().signal,
    startedAt: Date.now(),
    timeoutMs: undefined,
    repo,
    now: () => Date.now(),
    logger: pino({ level: 'silent' }),
    ...overrides,
  };
}

function output(result: ExecResult): Record<string, JsonValue> {
  if (result.kind !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(result)}`);
  return result.output as Record<string, JsonValue>;
}

function error(result: ExecResult) {
  if (result.kind !== 'error') throw new Error(`expected an error, got ${JSON.stringify(result)}`);
  return result.error;
}

/**
 * True once `pid` no longer runs. A zombie counts as gone: under an init that does not reap orphans (some containers),
 * a killed grandchild stays a zombie whose pid still answers kill(pid, 0).
 */
function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return true;
    throw err;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

async function waitFor(check: () => boolean, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Waits until the script has written the background pid into `file`, and returns it. */
async function readPid(file: string): Promise<number> {
  await waitFor(() => fs.existsSync(file) && /^\d+\n/.test(fs.readFileSync(file, 'utf8')));
  return Number(fs.readFileSync(file, 'utf8').trim());
}

/** A script that starts a grandchild, writes its pid to $1 and waits: `sh` leads the group, `sleep` is in it. */
const GRANDCHILD = ['sh', '-c', 'sleep 30 & echo $! > "$1"; wait', 'sh'];

describe('shell.exec', () => {
  it('passes argv literally, without a shell', async () => {
    const nasty = 'a; rm -rf / $(whoami) `id` "q" | cat && echo pwned';
    const result = await shellExec.run(makeCtx({ command: ['printf', '%s', nasty] }));
    expect(output(result)).toEqual({ exitCode: 0, stdout: nasty, stderr: '', truncated: false });
  });

  it('runs a script through /bin/sh with shell: true', async () => {
    const result = await shellExec.run(makeCtx({ script: 'echo hello | tr a-z A-Z; echo $((1 + 2))', shell: true }));
    expect(output(result).stdout).toBe('HELLO\n3\n');
  });

  it('starts from the allowlisted variables only, adds env, and always sets the STN_ variables', async () => {
    process.env.STN_TEST_INHERITED = 'not-allowlisted';
    process.env.LC_STN_TEST = 'allowlisted-by-prefix';
    try {
      const script = 'printf "%s|" "$FOO" "$STN_TEST_INHERITED" "$LC_STN_TEST" "$STN_IDEMPOTENCY_KEY" "$STN_RUN_ID" "$STN_STEP_ID" "$STN_ATTEMPT"';
      const env = { FOO: 'bar $(whoami)', STN_IDEMPOTENCY_KEY: 'forged' };
      const result = await shellExec.run(makeCtx({ command: ['sh', '-c', script], env }));
      expect(output(result).stdout).toBe('bar $(whoami)||allowlisted-by-prefix|run-1:step-1:2|run-1|step-1|2|');
      const own = await shellExec.run(makeCtx({ command: ['sh', '-c', 'printf "%s|" "$STN_TEST_INHERITED" "$HOME"'] }, { policy: { ...DEFAULT_EXEC_POLICY, envAllowlist: ['STN_TEST_INHERITED'] } }));
      expect(output(own).stdout).toBe('not-allowlisted||');
    } finally {
      delete process.env.STN_TEST_INHERITED;
      delete process.env.LC_STN_TEST;
    }
  });

  it('resolves a relative cwd against the repository, and defaults to the repository', async () => {
    fs.mkdirSync(path.join(repo, 'sub', 'dir'), { recursive: true });
    const inSub = await shellExec.run(makeCtx({ command: ['pwd'], cwd: 'sub/dir' }));
    expect(output(inSub).stdout).toBe(`${fs.realpathSync(path.join(repo, 'sub', 'dir'))}\n`);
    const inRepo = await shellExec.run(makeCtx({ command: ['pwd'] }));
    expect(output(inRepo).stdout).toBe(`${fs.realpathSync(repo)}\n`);
  });

  it('refuses a missing cwd without blaming the command', async () => {
    const err = error(await shellExec.run(makeCtx({ command: ['pwd'], cwd: 'nope' })));
    expect(err).toMatchObject({ code: 'STN_E_SHELL_SPAWN', retryable: false });
    expect(err.message).toContain('working directory');
  });

  it('writes stdin and closes it; without stdin the input is empty', async () => {
    const fed = await shellExec.run(makeCtx({ command: ['cat'], stdin: 'hello\nworld' }));
    expect(output(fed).stdout).toBe('hello\nworld');
    const empty = await shellExec.run(makeCtx({ command: ['cat'] }));
    expect(output(empty).stdout).toBe('');
  });

  it('does not fail when the command ignores a large stdin', async () => {
    const result = await shellExec.run(makeCtx({ command: ['true'], stdin: 'x'.repeat(1_000_000) }));
    expect(output(result).exitCode).toBe(0);
  });

  it('parses stdout as JSON when it is JSON', async () => {
    const json = await shellExec.run(makeCtx({ command: ['printf', '%s', ' {"a":[1,2],"b":null}\n'] }));
    expect(output(json).json).toEqual({ a: [1, 2], b: null });
    const text = await shellExec.run(makeCtx({ command: ['echo', 'not json'] }));
    expect(output(text)).not.toHaveProperty('json');
    const empty = await shellExec.run(makeCtx({ command: ['true'] }));
    expect(output(empty)).not.toHaveProperty('json');
  });

  it('fails on a non-zero exit with the last stderr line in the message', async () => {
    const script = 'echo partial; echo first >&2; echo "boom happened" >&2; exit 3';
    const err = error(await shellExec.run(makeCtx({ script, shell: true })));
    expect(err).toMatchObject({
      code: 'STN_E_SHELL_EXIT',
      message: 'command exited with code 3: boom happened',
      retryable: true,
      details: { exitCode: 3, stdout: 'partial\n', stderr: 'first\nboom happened\n' },
    });
  });

  it('names the signal when the command is killed by one', async () => {
    const err = error(await shellExec.run(makeCtx({ script: 'kill -9 $$', shell: true })));
    expect(err.code).toBe('STN_E_SHELL_EXIT');
    expect(err.message).toContain('SIGKILL');
    expect(err.details).toMatchObject({ exitCode: null, signal: 'SIGKILL' });
  });

  it('reports a command that does not exist as a spawn failure that retries cannot fix', async () => {
    const err = error(await shellExec.run(makeCtx({ command: ['stn-no-such-command-xyz', '--help'] })));
    expect(err).toMatchObject({ code: 'STN_E_SHELL_SPAWN', retryable: false });
    expect(err.message).toContain('command not found');
  });

  it('kills the whole process group on timeout and settles quickly', async () => {
    const pidFile = path.join(repo, 'pid');
    const started = Date.now();
    const result = await shellExec.run(makeCtx({ command: [...GRANDCHILD, pidFile] }, { timeoutMs: 300 }));
    const elapsed = Date.now() - started;
    expect(error(result)).toMatchObject({ code: 'STN_E_SHELL_TIMEOUT', retryable: true });
    expect(elapsed).toBeGreaterThanOrEqual(280);
    expect(elapsed).toBeLessThan(1_500);
    const grandchild = await readPid(pidFile);
    await waitFor(() => isGone(grandchild), 1_000);
  });

  it('uses the input timeoutSeconds when it is shorter than the step timeout', async () => {
    const started = Date.now();
    const result = await shellExec.run(makeCtx({ command: ['sleep', '30'], timeoutSeconds: 1 }, { timeoutMs: 60_000 }));
    expect(error(result)).toMatchObject({ code: 'STN_E_SHELL_TIMEOUT', message: 'command timed out after 1s' });
    expect(Date.now() - started).toBeLessThan(2_500);
  });

  it('sends SIGKILL after the grace when the group ignores SIGTERM', async () => {
    const pidFile = path.join(repo, 'pid');
    const script = 'trap "" TERM; sleep 30 & echo $! > "$1"; wait';
    const started = Date.now();
    const result = await shellExec.run(makeCtx({ command: ['sh', '-c', script, 'sh', pidFile] }, { timeoutMs: 200 }));
    expect(error(result).code).toBe('STN_E_SHELL_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(4_000);
    const grandchild = await readPid(pidFile);
    await waitFor(() => isGone(grandchild), 1_000);
  });

  it('stops the group when ctx.signal aborts, as STN_E_ABORTED', async () => {
    const pidFile = path.join(repo, 'pid');
    const controller = new AbortController();
    const running = shellExec.run(makeCtx({ command: [...GRANDCHILD, pidFile] }, { signal: controller.signal }));
    const grandchild = await readPid(pidFile);
    const started = Date.now();
    controller.abort(new Error('run cancelled'));
    const err = error(await running);
    expect(err).toMatchObject({ code: 'STN_E_ABORTED', message: 'command aborted: run cancelled', retryable: false });
    expect(Date.now() - started).toBeLessThan(1_000);
    await waitFor(() => isGone(grandchild), 1_000);
  });

  it('treats an abort whose reason is a TimeoutError as a timeout', async () => {
    const result = await shellExec.run(makeCtx({ command: ['sleep', '30'] }, { signal: AbortSignal.timeout(200) }));
    expect(error(result).code).toBe('STN_E_SHELL_TIMEOUT');
  });

  it('does not start anything when ctx.signal is already aborted', async () => {
    const marker = path.join(repo, 'ran');
    const controller = new AbortController();
    controller.abort();
    const result = await shellExec.run(makeCtx({ command: ['touch', marker] }, { signal: controller.signal }));
    expect(error(result).code).toBe('STN_E_ABORTED');
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('stops processes the command leaves behind, even those holding stdout', async () => {
    const pidFile = path.join(repo, 'pid');
    const started = Date.now();
    // The background sleep keeps stdout open: the executor must not wait 30 s for it.
    const result = await shellExec.run(makeCtx({ command: ['sh', '-c', 'sleep 30 & echo $! > "$1"; echo done', 'sh', pidFile] }));
    expect(output(result).stdout).toBe('done\n');
    expect(Date.now() - started).toBeLessThan(1_500);
    const grandchild = await readPid(pidFile);
    await waitFor(() => isGone(grandchild), 1_000);
  });

  it('keeps the last 64 KiB of output and flags the truncation', async () => {
    const script = "head -c 100000 /dev/zero | tr '\\0' a; printf END; head -c 70000 /dev/zero >&2";
    const result = output(await shellExec.run(makeCtx({ script, shell: true })));
    expect(result.truncated).toBe(true);
    expect(result.stdout).toHaveLength(SHELL_OUTPUT_LIMIT);
    expect(result.stdout).toMatch(/^a+END$/);
    expect(result.stderr).toHaveLength(SHELL_OUTPUT_LIMIT);
  });

  it('cuts truncated output at a character boundary', async () => {
    // 'x' then 70 001 bytes of "é\n" (3 bytes each) then 6 bytes: the kept 65 536 bytes start inside an é.
    const script = "printf x; yes é | head -c 70001; printf '\\n12345'";
    const result = output(await shellExec.run(makeCtx({ script, shell: true })));
    expect(result.truncated).toBe(true);
    expect(result.stdout).not.toContain('\uFFFD');
    expect(String(result.stdout).startsWith('\né\n')).toBe(true);
    expect(String(result.stdout).endsWith('é\n12345')).toBe(true);
  });

  it('does not parse a truncated stdout as JSON', async () => {
    // The whole output is not JSON, but its last 64 KiB would parse as the number 12345.
    const script = "printf '\"'; head -c 70000 /dev/zero | tr '\\0' ' '; printf 12345";
    const result = output(await shellExec.run(makeCtx({ script, shell: true })));
    expect(result.truncated).toBe(true);
    expect(result).not.toHaveProperty('json');
  });

  it('keeps the truncated output in the failure details', async () => {
    const script = "head -c 70000 /dev/zero | tr '\\0' e >&2; echo >&2; echo fatal >&2; exit 1";
    const err = error(await shellExec.run(makeCtx({ script, shell: true })));
    expect(err.message).toBe('command exited with code 1: fatal');
    expect(err.details).toMatchObject({ truncated: true });
    expect((err.details as { stderr: string }).stderr).toHaveLength(SHELL_OUTPUT_LIMIT);
  });
});
