import type { Command } from 'commander';
import type { Actor } from '../../approvals/types.js';
import { approvalJson } from '../../approvals/types.js';
import type { Station } from '../../context.js';
import { UsageError } from '../../errors.js';
import { APPROVAL_STATUSES, type ApprovalRow, type ApprovalStatus } from '../../store/approvals.js';
import { parsePositiveInt } from '../json-arg.js';
import { print, printJson, table } from '../output.js';
import { cliUser } from './run.js';

export interface ApprovalCliContext {
  /** Runs a command body with a Station on an existing database (closed afterwards); sets the exit code. */
  withStation(body: (s: Station) => number | Promise<number>): Promise<void>;
  json(): boolean;
}

/** `stn approvals list [--status] [--limit]`, newest first. */
export function listApprovalsCommand(station: Station, opts: { status?: string; limit?: string; json: boolean }): number {
  const status = opts.status?.toUpperCase();
  if (status !== undefined && !(APPROVAL_STATUSES as readonly string[]).includes(status)) {
    throw new UsageError(`--status must be one of ${APPROVAL_STATUSES.join(', ')}, got "${opts.status ?? ''}"`);
  }
  const rows = station.approvals.list({ status: status as ApprovalStatus | undefined, limit: parsePositiveInt('--limit', opts.limit) ?? 50 });
  if (opts.json) {
    printJson(rows.map((a) => approvalJson(a, station.approvals.votes(a.id))));
    return 0;
  }
  if (rows.length === 0) {
    print(status ? `no ${status.toLowerCase()} approvals` : 'no approvals');
    return 0;
  }
  print(
    table(
      ['ID', 'RUN', 'WORKFLOW', 'STATE', 'STATUS', 'VOTES', 'CREATED', 'DEADLINE', 'MESSAGE'],
      rows.map((a) => {
        const approvals = station.approvals.votes(a.id).filter((v) => v.vote === 'approve').length;
        return [
          a.id,
          a.run_id,
          `${a.environment}/${a.workflow_id}`,
          a.state_name,
          a.status,
          `${approvals}/${a.required_approvals}`,
          a.created_at,
          a.timeout_at !== null ? new Date(a.timeout_at).toISOString() : '-',
          a.message.length > 60 ? `${a.message.slice(0, 59)}…` : a.message,
        ];
      }),
    ),
  );
  return 0;
}

/** `stn approve|reject <approval-id> [--comment]`: the decider is the CLI user (who can reach the database). */
export function decideCommand(
  station: Station,
  approvalId: string,
  vote: 'approve' | 'reject',
  opts: { comment?: string; json: boolean },
): number {
  const user = cliUser() ?? 'unknown';
  const actor: Actor = { source: 'cli', id: user, name: user };
  const res = station.approvals.decide({ approvalId, vote, actor, comment: opts.comment });
  if (opts.json) {
    printJson({ outcome: res.outcome, remaining: res.remaining, approval: approvalJson(res.approval, station.approvals.votes(approvalId)) });
    return 0;
  }
  print(describe(res.approval, res.outcome, res.remaining, user));
  return 0;
}

function describe(a: ApprovalRow, outcome: 'decided' | 'recorded', remaining: number, user: string): string {
  if (outcome === 'recorded') return `approval by ${user} recorded on ${a.id} (run ${a.run_id}): ${remaining} more needed`;
  if (a.status === 'APPROVED') return `approved ${a.id} as ${user}: run ${a.run_id} (${a.workflow_id}) continues`;
  return `rejected ${a.id} as ${user}: run ${a.run_id} (${a.workflow_id}) fails and its compensations run`;
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
      .action(async (id: string, opts: { comment?: string }) => {
        await ctx.withStation((s) => decideCommand(s, id, vote, { ...opts, json: ctx.json() }));
      });
  }
}
