import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { JsonObject } from '../../src/definitions/types.js';
import { openStation, type Station } from '../../src/context.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { TERMINAL_RUN, type RunRow } from '../../src/store/runs.js';
import { dedent } from './engine-harness.js';
import { FakeSlack, interactionBody, slackSignature } from './fake-slack.js';
import { pollUntil } from './procs.js';

export const SIGNING_SECRET = 'test-signing-secret-0123456789';
export const BOT_TOKEN = 'xoxb-test-bot-token';
export const APP_TOKEN = 'xapp-test-app-token';
export const CHANNEL = 'C0APPROVALS';

/**
 * An in-process daemon (src/daemon/daemon.ts: engine, HTTP server with /slack/events, Slack notifier) on a temp repo
 * whose station.yaml points Slack at a FakeSlack on 127.0.0.1. Real SQLite, real HTTP.
 */
export class SlackDaemon {
  readonly dir: string;
  readonly fake = new FakeSlack();
  station!: Station;
  daemon!: Daemon;
  url!: string;

  private constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stn-slack-'));
  }

  static async start(opts: { workflows: Record<string, string>; slack?: string; extraYaml?: string }): Promise<SlackDaemon> {
    const d = new SlackDaemon();
    await d.fake.start();
    d.write('station.yaml', dedent(`
      server:
        publicUrl: https://station.example.com
      slack:
        ${(opts.slack ?? `mode: http\ndefaultChannel: ${CHANNEL}`).split('\n').join('\n        ')}
        apiUrl: ${d.fake.url}
    ${opts.extraYaml ?? ''}`));
    for (const [id, yaml] of Object.entries(opts.workflows)) d.write(`environments/default/workflows/${id}.workflow.yaml`, dedent(yaml));
    await d.boot();
    return d;
  }

  write(rel: string, content: string): void {
    const abs = path.join(this.dir, ...rel.split('/'));
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    fs.writeFileSync(abs, content);
  }

  get env(): NodeJS.ProcessEnv {
    return { SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_APP_TOKEN: APP_TOKEN };
  }

  /** Opens the Station and starts the daemon (again, after `halt()`: a restart on the same database). */
  async boot(): Promise<void> {
    this.station = openStation({ repo: this.dir, logLevel: 'silent' }, this.env);
    this.daemon = new Daemon(this.station, { port: 0, host: '127.0.0.1', env: this.env, watch: false });
    this.url = (await this.daemon.start()) as string;
  }

  /** Stops the daemon and closes the Station (the database stays). */
  async halt(): Promise<void> {
    await this.daemon.stop('test');
    await this.station.close();
  }

  async close(): Promise<void> {
    await this.halt().catch(() => undefined);
    await this.fake.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  start(workflowId: string, input: JsonObject = {}, initiator?: string): string {
    return this.station.runs.start({ workflowId, input, initiator, trigger: { type: 'manual', via: 'test' } }).run.id;
  }

  run(id: string): RunRow {
    return this.station.runStore.run(id) as RunRow;
  }

  events(id: string): Array<{ type: string; data: Record<string, unknown> }> {
    return this.station.runStore.events(id).map((e) => ({ type: e.type, data: JSON.parse(e.data ?? '{}') as Record<string, unknown> }));
  }

  /** Polls the database until `check` holds (the engine and the notifier work in the background). */
  async until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    await pollUntil(what, () => (check() ? true : undefined), timeoutMs, 25);
  }

  async ended(id: string, timeoutMs = 15_000): Promise<RunRow> {
    await this.until(() => TERMINAL_RUN.has(this.run(id).status), `run ${id} ends`, timeoutMs);
    return this.run(id);
  }

  /** Waits for the run's approval to exist and its request to be posted to Slack; returns the approval id. */
  async approvalPosted(runId: string): Promise<{ approvalId: string; ts: string }> {
    let approvalId = '';
    await this.until(() => {
      const a = this.station.approvals.ofRun(runId).at(-1);
      approvalId = a?.id ?? '';
      return a?.slack_ts !== null && a?.slack_ts !== undefined;
    }, `approval of run ${runId} posted to Slack`);
    return { approvalId, ts: this.station.approvals.get(approvalId).slack_ts as string };
  }

  /** POSTs an interaction payload to /slack/events, signed like Slack would (or with the given timestamp/secret). */
  async interact(payload: unknown, opts: { timestamp?: number; secret?: string } = {}): Promise<{ status: number; body: string }> {
    const body = interactionBody(payload);
    const ts = opts.timestamp ?? Math.floor(Date.now() / 1000);
    const res = await fetch(`${this.url}/slack/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...slackSignature(opts.secret ?? SIGNING_SECRET, body, ts) },
      body,
    });
    return { status: res.status, body: await res.text() };
  }
}

/** The text of every block of a Slack message, joined (for "the message says ..." checks). */
export function blockText(blocks: unknown): string {
  return JSON.stringify(blocks ?? []);
}

/** The buttons (actions block elements) of a Slack message. */
export function buttons(blocks: unknown): Array<{ action_id: string; style?: string; value?: string }> {
  const list = (blocks ?? []) as Array<{ type: string; elements?: Array<{ type: string; action_id: string; style?: string; value?: string }> }>;
  return list.filter((b) => b.type === 'actions').flatMap((b) => (b.elements ?? []).filter((e) => e.type === 'button'));
}
