import type { FastifyInstance, FastifyRequest } from 'fastify';
import { approvalJson } from '../../approvals/types.js';
import { resolveApprovers, staticApprovers, type ApproverSet } from '../../approvals/identity.js';
import { approversOf, type Actor } from '../../approvals/types.js';
import { APPROVAL_STATUSES, type ApprovalRow, type ApprovalStatus } from '../../store/approvals.js';
import type { ServerDeps } from '../deps.js';
import { decodeCursor, isString, PAGE_QUERY, toPage, type PageQuery } from '../pagination.js';
import { ApprovalShape, DecideResult, Page } from '../../views/shapes.js';
import { API, idParam, responses } from './common.js';

const tags = ['approvals'];

const decisionBody = {
  type: 'object',
  additionalProperties: false,
  properties: { comment: { type: 'string', maxLength: 2000, description: 'Why; stored with the decision and shown in Slack.' } },
} as const;

/**
 * The API caller as an approval actor: the token's name (what approvals record as the API decider), voting as the
 * person configured on the token (`user`, `email` in server.tokens). A token without a person matches no `approvers`
 * list.
 */
function apiActor(req: FastifyRequest): Actor {
  const p = req.principal;
  const name = !p || p.anonymous ? 'local' : p.name;
  return { source: 'api', id: name, name, user: p?.user, email: p?.email };
}

/**
 * Approvals (docs/approvals.md, docs/api.md "Approvals"): list them, show one, list a run's, approve or reject (role
 * approver; the decider is the token's name). The first valid decision wins: a later one answers 409
 * STN_E_APPROVAL_DECIDED with the decision that stands.
 */
export function approvalRoutes(app: FastifyInstance, deps: ServerDeps): void {
  const { station } = deps;
  const view = (a: ApprovalRow) => approvalJson(a, station.approvals.votes(a.id));

  app.get<{ Querystring: PageQuery & { status?: string } }>(
    `${API}/workflow-approvals`,
    {
      config: { auth: 'viewer' },
      schema: {
        tags,
        summary: 'List approvals, newest first (?status=PENDING for the ones waiting).',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { ...PAGE_QUERY, status: { type: 'string', enum: [...APPROVAL_STATUSES, ...APPROVAL_STATUSES.map((s) => s.toLowerCase())] } },
        },
        response: responses({ 200: Page(ApprovalShape) }),
      },
    },
    async (req) => {
      const before = decodeCursor(req.query.cursor, isString);
      const status = req.query.status?.toUpperCase() as ApprovalStatus | undefined;
      const rows = station.approvals.list({ status, before, limit: req.query.limit + 1 });
      return toPage(rows, req.query.limit, (last) => last.id, view);
    },
  );

  // The CLI's `stn approve <id> --server` reads the approval's run id here: the decision routes are under the run.
  app.get<{ Params: { aid: string } }>(
    `${API}/workflow-approvals/:aid`,
    {
      config: { auth: 'viewer' },
      schema: { tags, summary: 'One approval, with its votes and decision.', params: idParam('aid', 'Approval id'), response: responses({ 200: ApprovalShape }) },
    },
    async (req) => view(station.approvals.get(req.params.aid)),
  );

  app.get<{ Params: { id: string } }>(
    `${API}/workflow-runs/:id/approvals`,
    {
      config: { auth: 'viewer' },
      schema: {
        tags,
        summary: "A run's approvals, oldest first.",
        params: idParam('id', 'Run id'),
        response: responses({ 200: { type: 'object', properties: { items: { type: 'array', items: ApprovalShape } }, required: ['items'] } }),
      },
    },
    async (req) => ({ items: station.approvals.ofRun(req.params.id).map(view) }),
  );

  /**
   * The approval's approvers, resolved through Slack when the daemon has it (groups, emails to Slack ids); without
   * Slack, or when Slack fails, as written (`group:` entries then match nobody: the refusal says so).
   */
  const resolvedApprovers = async (approvalId: string): Promise<ApproverSet | undefined> => {
    const a = tryGet(approvalId);
    if (!a) return undefined;
    const list = approversOf(a);
    if (list.length === 0 || !deps.approverDirectory) return undefined;
    try {
      return await resolveApprovers(list, deps.approverDirectory);
    } catch (err) {
      app.log.warn({ approval_id: approvalId, err }, 'could not resolve the approvers with Slack; group approvers match nobody');
      return staticApprovers(list);
    }
  };
  const tryGet = (id: string): ApprovalRow | undefined => {
    try {
      return station.approvals.get(id);
    } catch {
      return undefined;
    }
  };

  for (const vote of ['approve', 'reject'] as const) {
    app.post<{ Params: { id: string; aid: string }; Body: { comment?: string } | undefined }>(
      `${API}/workflow-runs/:id/approvals/:aid/${vote}`,
      {
        config: { auth: 'approver' },
        schema: {
          tags,
          summary: vote === 'approve' ? 'Approve (counts toward requiredApprovals).' : 'Reject: the run fails and its compensations run.',
          description:
            'Body `{comment?}`. 409 STN_E_APPROVAL_DECIDED when already decided (details: the decision that stands); 403 STN_E_APPROVAL_FORBIDDEN ' +
            "when the token's person (server.tokens user/email) is not one of the approvers, for self-approval, or for a second vote of the same person " +
            '(from Slack, the API or the CLI); STN_E_FORBIDDEN below role approver; 404 when the approval is not one of this run.',
          params: {
            type: 'object',
            properties: {
              id: { type: 'string', minLength: 1, maxLength: 200, description: 'Run id' },
              aid: { type: 'string', minLength: 1, maxLength: 200, description: 'Approval id' },
            },
            required: ['id', 'aid'],
          },
          body: decisionBody,
          response: responses({ 200: DecideResult }, [409]),
        },
      },
      async (req) => {
        const actor = apiActor(req);
        const approvers = await resolvedApprovers(req.params.aid);
        const res = station.approvals.decide({ approvalId: req.params.aid, runId: req.params.id, vote, actor, comment: req.body?.comment, approvers });
        req.log.info({ run_id: req.params.id, approval_id: req.params.aid, vote, by: actor.id, outcome: res.outcome }, 'approval vote via API');
        return { outcome: res.outcome, remaining: res.remaining, by: { source: actor.source, id: actor.id, name: actor.name }, approval: view(res.approval) };
      },
    );
  }
}
