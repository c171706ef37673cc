import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/config.js';
import { channelFor } from '../../src/config/slack.js';
import { openStation } from '../../src/context.js';
import { Daemon } from '../../src/daemon/daemon.js';
import type { StationError } from '../../src/errors.js';
import { verifySlackSignature } from '../../src/slack/receiver.js';
import { slackSignature } from '../helpers/fake-slack.js';

/** The slack: section of station.yaml, channel resolution, and the signature check on its own. */

let dir: string;
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function repoWith(yaml: string): string {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stn-slack-config-'));
  fs.writeFileSync(path.join(dir, 'station.yaml'), yaml);
  return dir;
}

describe('slack configuration', () => {
  it('is off without a slack section; defaults apply with one; STN_SLACK_API_URL overrides apiUrl', () => {
    expect(resolveConfig({ repo: repoWith('logLevel: info\n') }, {}).slack).toBeUndefined();
    const c = resolveConfig({ repo: repoWith('slack:\n  defaultChannel: C1\n') }, { STN_SLACK_API_URL: 'http://127.0.0.1:9/api' });
    expect(c.slack).toMatchObject({ mode: 'http', botTokenEnv: 'SLACK_BOT_TOKEN', signingSecretEnv: 'SLACK_SIGNING_SECRET', appTokenEnv: 'SLACK_APP_TOKEN', apiUrl: 'http://127.0.0.1:9/api/' });
  });

  it('refuses a bad mode or variable name, naming the field', () => {
    expect(() => resolveConfig({ repo: repoWith('slack:\n  mode: carrier-pigeon\n') }, {})).toThrow(/slack\/mode|mode/);
    expect(() => resolveConfig({ repo: repoWith('slack:\n  botTokenEnv: "xoxb-oops-a-token"\n') }, {})).toThrow(/botTokenEnv/);
  });

  it('picks the channel: step, then env/workflow, then env, then the default', () => {
    const c = resolveConfig({ repo: repoWith('slack:\n  defaultChannel: CDEF\n  channels: {prod: CPROD, prod/failover: CDBA}\n') }, {}).slack;
    expect(channelFor(c, 'prod', 'failover', 'CSTEP')).toBe('CSTEP');
    expect(channelFor(c, 'prod', 'failover')).toBe('CDBA');
    expect(channelFor(c, 'prod', 'other')).toBe('CPROD');
    expect(channelFor(c, 'staging', 'other')).toBe('CDEF');
    expect(channelFor(undefined, 'staging', 'other')).toBeUndefined();
  });

  it('the daemon refuses to start when the bot token or signing secret variable is unset, naming it', async () => {
    const repo = repoWith('slack:\n  defaultChannel: C1\n  botTokenEnv: MY_BOT_TOKEN\n');
    const station = openStation({ repo, logLevel: 'silent' }, {});
    try {
      expect(() => new Daemon(station, { env: {} })).toThrow(/MY_BOT_TOKEN/);
      let err: unknown;
      try {
        new Daemon(station, { env: { MY_BOT_TOKEN: 'xoxb-1' } });
      } catch (e) {
        err = e;
      }
      expect((err as StationError).code).toBe('STN_E_CONFIG');
      expect((err as Error).message).toContain('SLACK_SIGNING_SECRET');
    } finally {
      await station.close();
    }
  });
});

describe('Slack request signatures', () => {
  const body = Buffer.from('payload=%7B%7D');
  const now = Date.UTC(2030, 0, 1);
  const ts = Math.floor(now / 1000);

  it('accepts a valid signature within five minutes, in either direction', () => {
    expect(verifySlackSignature(body, slackSignature('s3cret', body.toString(), ts), 's3cret', now)).toBeUndefined();
    expect(verifySlackSignature(body, slackSignature('s3cret', body.toString(), ts - 299), 's3cret', now)).toBeUndefined();
    expect(verifySlackSignature(body, slackSignature('s3cret', body.toString(), ts + 299), 's3cret', now)).toBeUndefined();
  });

  it('refuses old or future timestamps, other bodies, other secrets and missing headers', () => {
    expect(verifySlackSignature(body, slackSignature('s3cret', body.toString(), ts - 301), 's3cret', now)).toMatch(/5 minutes/);
    expect(verifySlackSignature(body, slackSignature('s3cret', body.toString(), ts + 301), 's3cret', now)).toMatch(/5 minutes/);
    expect(verifySlackSignature(Buffer.from('payload=%7B%22x%22%7D'), slackSignature('s3cret', body.toString(), ts), 's3cret', now)).toMatch(/does not match/);
    expect(verifySlackSignature(body, slackSignature('other', body.toString(), ts), 's3cret', now)).toMatch(/does not match/);
    expect(verifySlackSignature(body, {}, 's3cret', now)).toMatch(/missing/);
    expect(verifySlackSignature(body, { 'x-slack-request-timestamp': 'soon', 'x-slack-signature': 'v0=00' }, 's3cret', now)).toMatch(/not a number/);
  });
});
