import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, ensureBuilt, STN, stn } from '../helpers/cli.js';
import { dedent } from '../helpers/engine-harness.js';
import { FakeSlack } from '../helpers/fake-slack.js';
import { blockText, buttons } from '../helpers/fake-slack-station.js';
import { createTempDir } from '../helpers/git-repo.js';
import { startServe, until, type ServeProc } from '../helpers/serve-proc.js';

/** The approval outbox outlives its processes: a notification not delivered when a process is SIGKILLed is delivered after. */

const CHANNEL = 'C0OUTBOX';
const ENV = { SLACK_BOT_TOKEN: 'xoxb-outbox', SLACK_SIGNING_SECRET: 'outbox-signing-secret' };

let dir: string;
let fake: FakeSlack;
let serve: ServeProc | undefined;

beforeAll(() => ensureBuilt());
afterEach(async () => {
  await serve?.stop();
  serve = undefined;
  await fake.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

function query<T>(sql: string, ...params: unknown[]): T | undefined {
  const d = new Database(path.join(dir, '.station', 'station.db'), { readonly: true });
  try {
    return d.prepare(sql).get(...params) as T | undefined;
  } finally {
    d.close();
  }
}

/** SIGKILLs a child process and waits until it is gone. */
async function kill(proc: ChildProcess): Promise<void> {
  const closed = new Promise<void>((resolve) => proc.once('close', () => resolve()));
  proc.kill('SIGKILL');
  await closed;
}

const requestsOf = (approvalId: string) => fake.of('chat.postMessage').filter((c) => buttons(c.args.blocks).some((b) => b.value === approvalId));

describe('approval outbox across crashes', () => {
  it('approvals not yet announced when a process is SIGKILLed (the daemon with Slack down; a CLI run, still queued) are posted once by the next daemon', async () => {
    dir = createTempDir('stn-slack-outbox-');
    fake = new FakeSlack();
    await fake.start();
    const write = (rel: string, text: string) => {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), dedent(text));
    };
    write('station.yaml', `
      slack:
        mode: http
        botTokenEnv: SLACK_BOT_TOKEN
        signingSecretEnv: SLACK_SIGNING_SECRET
        defaultChannel: ${CHANNEL}
        apiUrl: ${fake.url}
    `);
    write('environments/default/workflows/deploy.workflow.yaml', `
      id: deploy
      version: "1"
      name: Deploy
      states:
        - {name: gate, type: operation, action: human.approval, input: {message: "Ship it?", timeoutSeconds: 3600}, end: true}
    `);
    serve = await startServe(dir, ENV, ['--no-watch']);
    fake.down = true;
    const started = stn(['run', 'deploy', '--detach'], dir, ENV);
    expect(started.status, started.stderr).toBe(0);
    const runId = started.stdout.trim();
    const approvalId = await until(
      () => query<{ id: string }>("SELECT id FROM workflow_approvals WHERE run_id = ? AND status = 'PENDING'", runId)?.id,
      15_000,
      'the pending approval',
    );
    // The daemon took the notification and tried Slack, which is down: nothing was delivered. Killed between two
    // attempts: a delivery in flight keeps its lease (a minute) after a crash, which is another matter.
    const idle = (nextAt: number | undefined) => nextAt !== undefined && nextAt < Date.now() + 30_000;
    await until(
      () => {
        const thread = query<{ attempts: number; next_at: number }>('SELECT attempts, next_at FROM slack_threads WHERE run_id = ?', runId);
        const approval = query<{ next_at: number }>('SELECT slack_next_at AS next_at FROM workflow_approvals WHERE id = ?', approvalId);
        return (thread?.attempts ?? 0) >= 2 && idle(thread?.next_at) && idle(approval?.next_at) ? true : undefined;
      },
      30_000,
      'Slack refused twice, no delivery in flight',
    );

    await kill(serve.proc);
    serve = undefined;
    expect(fake.refused).toContain('chat.postMessage');
    expect(fake.of('chat.postMessage')).toEqual([]);
    // Not delivered: still in the outbox, or taken from it and waiting for its first post.
    const queued = query<{ n: number }>('SELECT COUNT(*) AS n FROM approval_outbox WHERE approval_id = ?', approvalId)?.n ?? 0;
    const undelivered = query<{ n: number }>('SELECT COUNT(*) AS n FROM workflow_approvals WHERE id = ? AND slack_ts IS NULL AND slack_synced < slack_version', approvalId)?.n ?? 0;
    expect(queued + undelivered).toBe(1);

    // No daemon: `stn run` executes the workflow in its own process, which runs no notifier. Its approval waits in the
    // outbox; the process is killed there.
    const cli = spawn(process.execPath, [STN, 'run', 'deploy'], { cwd: dir, env: cleanEnv(ENV), stdio: 'ignore' });
    const queuedId = await until(() => query<{ id: string }>('SELECT approval_id AS id FROM approval_outbox')?.id, 20_000, 'an approval in the outbox');
    await kill(cli);
    expect(query<{ n: number }>('SELECT COUNT(*) AS n FROM approval_outbox WHERE approval_id = ?', queuedId)?.n).toBe(1);

    fake.down = false;
    serve = await startServe(dir, ENV, ['--no-watch']);
    for (const id of [approvalId, queuedId]) {
      const request = await fake.waitFor('chat.postMessage', (c) => buttons(c.args.blocks).some((b) => b.value === id), 20_000);
      expect(request.args.channel).toBe(CHANNEL);
      expect(request.args.thread_ts).toBeDefined();
      expect(blockText(request.args.blocks)).toContain('Ship it?');
      await until(() => query<{ ts: string | null }>('SELECT slack_ts AS ts FROM workflow_approvals WHERE id = ?', id)?.ts ?? undefined, 15_000, 'the request recorded as posted');
    }
    expect(query<{ n: number }>('SELECT COUNT(*) AS n FROM approval_outbox')?.n).toBe(0);
    // Posted once each: the restarted daemon does not post a request twice.
    await new Promise((r) => setTimeout(r, 500));
    expect(requestsOf(approvalId)).toHaveLength(1);
    expect(requestsOf(queuedId)).toHaveLength(1);
  }, 90_000);
});
