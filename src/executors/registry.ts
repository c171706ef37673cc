import { agentRun } from './agent-run.js';
import type { ActionName } from './catalog.js';
import { fail } from './fail.js';
import { httpRequest } from './http-request.js';
import { humanApproval } from './human-approval.js';
import { noop } from './noop.js';
import { shellExec } from './shell-exec.js';
import { slackPost } from './slack-post.js';
import { signalWait } from './signal-wait.js';
import { sleep } from './sleep.js';
import type { Executor } from './types.js';
import { workflowRun } from './workflow-run.js';

/**
 * The executors this build of Station has, by action name. Every catalog action validates in definitions; a run that
 * reaches an action missing here fails that step with STN_E_EXECUTOR_MISSING naming the action.
 */
export const EXECUTORS: Partial<Record<ActionName, Executor>> = {
  noop,
  fail,
  sleep,
  'shell.exec': shellExec,
  'http.request': httpRequest,
  'signal.wait': signalWait,
  'workflow.run': workflowRun,
  'human.approval': humanApproval,
  'slack.post': slackPost,
  'agent.run': agentRun,
};

export type ExecutorRegistry = Partial<Record<string, Executor>>;
