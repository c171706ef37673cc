import type { Command } from 'commander';
import type { Actor } from '../../approvals/types.js';
import { approvalJson, type ApprovalJson } from '../../approvals/types.js';
import type { Station } from '../../context.js';
import { UsageError } from '../../errors.js';
import { APPROVAL_STATUSES, type ApprovalStatus } from '../../store/approvals.js';
import { parsePositiveInt } from '../json-arg.js';
import { print, printJson, table } from '../output.js';
import type { RemoteClient } from '../remote.js';
import { cliUser } from './run.js';

export interface ApprovalCliContext {
  /** Runs a command body with a Station on an existing database (closed afterwards); sets the exit code. */
  withStation(body: (s: Station) => number | Promise<number>): Promise<void>;
  /** The daemon to send the command to (--server / STN_SERVER), or undefined to work on the database. */
  remote(): RemoteClient | undefined;
  setExitCode(code: number): void;
  json(): boolean;
}

/** What approve and reject answer, locally and from the API: `by` is who the vote was recorded as. */
interface DecideJson {
  outcome: 'decided' | 'recorded';
  remaining: number;
  by: { source: string; id: string; name: string };
  approval: ApprovalJson;
}

function statusOption(raw: string | undefined): ApprovalStatus | undefined {
  const status = raw?.toUpperCase();
  if (status !== undefined && !(APPROVAL_STATUSES as readonly string[]).includes(status)) {
    throw new UsageError(`--status must be one of ${APPROVAL_STATUSES.join(', ')}, got "${raw ?? ''}"`);
  }
  return status as ApprovalStatus | undefined;
}

/** `stn approvals list [--status] [--limit]`, newest first. */
export function listApprovalsCommand(station: Station, opts: { status?: string; limit?: string; json: boolean }): number {
  const status = statusOption(opts.status);
  const rows = station.approvals.list({ status, limit: parsePositiveInt('--limit', opts.limit) ?? 50 });
  return printApprovals(rows.map((a) => approvalJson(a, station.approvals.votes(a.id))), status, opts.json);
}

/** `stn approvals list --server`: one page of `GET /api/v1/workflow-approvals`, printed as locally. */
export async function remoteListApprovals(client: RemoteClient, opts: { status?: string; limit?: string; json: boolean }): Promise<number> {
  const status = statusOption(opts.status);
  const limit = parsePositiveInt('--limit', opts.limit) ?? 50;
  if (limit > 500) throw new UsageError(`--limit must be at most 500 with --server, got ${limit}`);
  const { body } = await client.request<{ items: ApprovalJson[] }>('GET', '/api/v1/workflow-approvals', { query: { status, limit } });
  return printApprovals(body.items, status, opts.json);
}

function printApprovals(items: ApprovalJson[], status: ApprovalStatus | undefined, json: boolean): number {
  if (json) {
    printJson(items);
    return 0;
  }
  if (items.length === 0) {
    print(status ? `no ${status.toLowerCase()} approvals` : 'no approvals');
    return 0;
  }
  print(
    table(
      ['ID', 'RUN', 'WORKFLOW', 'STATE', 'STATUS', 'VOTES', 'CREATED', 'DEADLINE', 'MESSAGE'],
      items.map((a) => [
        a.id,
        a.runId,
        `${a.environment}/${a.workflowId}`,
        a.state,
        a.status,
        `${a.votes.filter((v) => v.vote === 'approve').length}/${a.requiredApprovals}`,
        a.createdAt,
        a.timeoutAt ?? '-',
        a.message.length > 60 ? `${a.message.slice(0, 59)}…` : a.message,
      ]),
    ),
  );
  return 0;
}

/**
 * Who a local CLI vote counts as: `--as <email or user id>`, else the login name. The local CLI holds the database, so
 * this is who the operator says they are; it is matched against `approvers` and against the person's Slack and API
 * votes like any other identity (docs/approvals.md "Who counts").
 */
export function cliActor(as: string | undefined): Actor {
  const who = as?.trim() || cliUser() || 'unknown';
  return who.includes('@') ? { source: 'cli', id: who, name: who, email: who } : { source: 'cli', id: who, name: who, user: who };
}

/** `stn approve|reject <approval-id> [--comment] [--as]`: the decider is the CLI user (who can reach the database). */
export function decideCommand(
  station: Station,
  approvalId: string,
  vote: 'approve' | 'reject',
  opts: { comment?: string; as?: string; json: boolean },
): number {
  const actor = cliActor(opts.as);
  const res = station.approvals.decide({ approvalId, vote, actor, comment: opts.comment });
  const approval = approvalJson(res.approval, station.approvals.votes(approvalId));
  const by = { source: actor.source, id: actor.id, name: actor.name };
  return printDecision({ outcome: res.outcome, remaining: res.remaining, by, approval }, opts.json);
}

/**
 * `stn approve|reject --server`: the decider is the token's name. The decision routes are under the run, so the
 * approval is read first for its run id.
 */
export async function remoteDecide(
  client: RemoteClient,
  approvalId: string,
  vote: 'approve' | 'reject',
  opts: { comment?: string; json: boolean },
): Promise<number> {
  const { body: a } = await client.request<ApprovalJson>('GET', `/api/v1/workflow-approvals/${encodeURIComponent(approvalId)}`);
  const path = `/api/v1/workflow-runs/${encodeURIComponent(a.runId)}/approvals/${encodeURIComponent(a.id)}/${vote}`;
  const { body } = await client.request<DecideJson>('POST', path, { body: opts.comment !== undefined ? { comment: opts.comment } : {} });
  return printDecision(body, opts.json);
}

function printDecision(res: DecideJson, json: boolean): number {
  if (json) {
    printJson(res);
    return 0;
  }
  const { approval: a, by } = res;
  if (res.outcome === 'recorded') print(`approval by ${by.name} recorded on ${a.id} (run ${a.runId}): ${res.remaining} more needed`);
  else if (a.status === 'APPROVED') print(`approved ${a.id} as ${by.name}: run ${a.runId} (${a.workflowId}) continues`);
  else print(`rejected ${a.id} as ${by.name}: run ${a.runId} (${a.workflowId}) fails and its compensations run`);
  return 0;
}

/** Registers `stn approvals list`, `stn approve` and `stn reject`. */
export function registerApprovalCommands(program: Command, ctx: ApprovalCliContext): void {
  program
    .command('approvals')
    .description('human approvals (human.approval steps)')
    .command('list')
    .description('list approvals, newest first')
    .option('--status <status>', `only this status (${APPROVAL_STATUSES.join(', ')})`)
    .option('--limit <n>', 'at most this many (default 50)')
    .action(async (opts: { status?: string; limit?: string }) => {
      const r = ctx.remote();
      if (r) return ctx.setExitCode(await remoteListApprovals(r, { ...opts, json: ctx.json() }));
      await ctx.withStation((s) => listApprovalsCommand(s, { ...opts, json: ctx.json() }));
    });
  for (const vote of ['approve', 'reject'] as const) {
    program
      .command(vote)
      .description(
        vote === 'approve'
          ? 'approve a waiting approval (counts toward requiredApprovals); the run continues'
          : 'reject a waiting approval: the run fails and its compensations run',
      )
      .argument('<approval-id>', 'from "stn approvals list" or the Slack message')
      .option('--comment <text>', 'why; stored with the decision and shown in Slack')
      .option('--as <person>', 'vote as this email or user id (matched against the approvers); default: your login name')
      .action(async (id: string, opts: { comment?: string; as?: string }) => {
        const r = ctx.remote();
        if (r) {
          if (opts.as !== undefined) throw new UsageError("--as is for the local database; with --server the vote counts as the token's person (server.tokens user/email)");
          return ctx.setExitCode(await remoteDecide(r, id, vote, { comment: opts.comment, json: ctx.json() }));
        }
        await ctx.withStation((s) => decideCommand(s, id, vote, { ...opts, json: ctx.json() }));
      });
  }
}
