import type { Command } from 'commander';
import type { StationClient } from '../../client/types.js';
import { UsageError } from '../../errors.js';
import { APPROVAL_STATUSES, type ApprovalStatus } from '../../store/approvals.js';
import type { ApprovalView, DecisionView } from '../../views/types.js';
import { parseLimit } from '../json-arg.js';
import { print, printJson, table } from '../output.js';

export interface ApprovalCliContext {
  /** Runs a command body with the client of this invocation (in process, or the daemon of --server); sets the exit code. */
  withClient(body: (client: StationClient) => Promise<number>): Promise<void>;
  json(): boolean;
}

function statusOption(raw: string | undefined): ApprovalStatus | undefined {
  const status = raw?.toUpperCase();
  if (status !== undefined && !(APPROVAL_STATUSES as readonly string[]).includes(status)) {
    throw new UsageError(`--status must be one of ${APPROVAL_STATUSES.join(', ')}, got "${raw ?? ''}"`);
  }
  return status as ApprovalStatus | undefined;
}

/** `stn approvals list [--status] [--limit]`, newest first. */
export async function listApprovalsCommand(client: StationClient, opts: { status?: string; limit?: string; json: boolean }): Promise<number> {
  const status = statusOption(opts.status);
  return printApprovals(await client.listApprovals({ status, limit: parseLimit(opts.limit) }), status, opts.json);
}

/**
 * `stn approve|reject <approval-id> [--comment] [--as]`. Locally the vote counts as `--as` or the login name (who can
 * reach the database); with --server, as the token's person.
 */
export async function decideCommand(
  client: StationClient,
  approvalId: string,
  vote: 'approve' | 'reject',
  opts: { comment?: string; as?: string; json: boolean },
): Promise<number> {
  if (client.kind === 'remote' && opts.as !== undefined) {
    throw new UsageError("--as is for the local database; with --server the vote counts as the token's person (server.tokens user/email)");
  }
  return printDecision(await client.decide(approvalId, vote, { comment: opts.comment, as: opts.as }), opts.json);
}

function printApprovals(items: ApprovalView[], status: ApprovalStatus | undefined, json: boolean): number {
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

function printDecision(res: DecisionView, json: boolean): number {
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
      await ctx.withClient((client) => listApprovalsCommand(client, { ...opts, json: ctx.json() }));
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
        await ctx.withClient((client) => decideCommand(client, id, vote, { ...opts, json: ctx.json() }));
      });
  }
}
