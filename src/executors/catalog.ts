/**
 * The executor catalog: every action name an operation may use, with the JSON Schema (draft 2020-12) of its `input`.
 * Sync checks literal inputs against these schemas; the engine checks again at run time, after
 * templating. schemas/workflow.schema.json repeats the names in its `action` enum, and a test keeps the two equal.
 *
 * At sync time a string containing `{{` is a template whose value is unknown until run time, and the validator skips
 * type checks on it; the schemas below therefore describe plain, already-templated values only.
 */

/** A JSON Schema object, deeply readonly so catalog entries can stay `as const`. */
export type JsonSchema = { readonly [keyword: string]: unknown };

export interface ActionSpec {
  /** One line for `stn` help and editor hovers. */
  readonly description: string;
  /** JSON Schema (2020-12) of the action's `input`. */
  readonly inputSchema: JsonSchema;
}

const timeoutSeconds = { type: 'integer', minimum: 1 } as const;

const stringMap = { type: 'object', additionalProperties: { type: 'string' } } as const;

const envName = '^[A-Za-z_][A-Za-z0-9_]*$';

const httpStatus = { type: 'integer', minimum: 100, maximum: 599 } as const;

const queryValue = { type: ['string', 'number', 'boolean'] } as const;

export const ACTION_CATALOG = {
  noop: {
    description: 'Does nothing; its output is its input, or {}.',
    inputSchema: { type: 'object' },
  },
  fail: {
    description: 'Fails the step with input.message (for testing retries, onError and rollback).',
    inputSchema: {
      type: 'object',
      additionalProperties: false,
      properties: {
        message: { type: 'string', description: 'The error message.' },
        code: { type: 'string', description: 'The error code written to error.code.' },
      },
    },
  },
  sleep: {
    description: 'A durable timer that survives restarts: waits `seconds`, or until the time `until`.',
    inputSchema: {
      type: 'object',
      additionalProperties: false,
      properties: {
        seconds: { type: 'number', minimum: 0, description: 'How long to wait, in seconds.' },
        until: { type: 'string', format: 'date-time', description: 'When to wake up (RFC 3339 date-time).' },
      },
      oneOf: [{ required: ['seconds'] }, { required: ['until'] }],
    },
  },
  'shell.exec': {
    description:
      'Runs `command` as an argv array (no shell), or `script` with `shell: true`. ' +
      'Template values go in as argv or env, never spliced into a shell string.',
    inputSchema: {
      type: 'object',
      additionalProperties: false,
      properties: {
        command: {
          type: 'array',
          minItems: 1,
          items: { type: 'string' },
          description: 'Program and arguments, run without a shell.',
        },
        script: { type: 'string', description: 'A shell script; needs shell: true.' },
        shell: { type: 'boolean', description: 'true runs `script` with /bin/sh; only with script.' },
        cwd: { type: 'string', description: 'Working directory.' },
        env: {
          ...stringMap,
          propertyNames: { pattern: envName },
          description: 'Extra environment variables (values are strings).',
        },
        stdin: { type: 'string', description: 'Text written to the process standard input.' },
        timeoutSeconds: { ...timeoutSeconds, description: 'Kill the process after this many seconds.' },
      },
      oneOf: [{ required: ['command'] }, { required: ['script'] }],
      // `script` must opt into the shell explicitly, and `command` never runs through one.
      if: { required: ['script'] },
      then: { required: ['shell'], properties: { shell: { const: true } } },
      else: { properties: { shell: { const: false } } },
    },
  },
  'http.request': {
    description: 'Sends an HTTP request; fails unless the status matches expectStatus (default: any 2xx).',
    inputSchema: {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      properties: {
        method: {
          enum: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
          default: 'GET',
          description: 'HTTP method. Default GET.',
        },
        url: { type: 'string', format: 'uri', pattern: '^[Hh][Tt][Tt][Pp][Ss]?://', description: 'An http(s) URL.' },
        headers: { ...stringMap, description: 'Request headers.' },
        query: {
          type: 'object',
          additionalProperties: { anyOf: [queryValue, { type: 'array', items: queryValue }] },
          description: 'Query parameters added to the URL; an array repeats the parameter.',
        },
        json: { description: 'A JSON request body (sets Content-Type: application/json). Use json or body.' },
        body: { type: 'string', description: 'A raw request body. Use json or body.' },
        timeoutSeconds: { ...timeoutSeconds, description: 'Abort the request after this many seconds.' },
        expectStatus: {
          description: 'The status code(s) that count as success. Default: any 2xx.',
          anyOf: [httpStatus, { type: 'array', minItems: 1, items: httpStatus }],
        },
      },
      not: { required: ['json', 'body'] },
    },
  },
  'signal.wait': {
    description: 'Waits until a signal with this name is delivered through the API or CLI; outputs its payload.',
    inputSchema: {
      type: 'object',
      additionalProperties: false,
      required: ['name'],
      properties: {
        name: { type: 'string', minLength: 1, description: 'The signal name to wait for.' },
        timeoutSeconds: { ...timeoutSeconds, description: 'How long to wait for the signal, in seconds.' },
      },
    },
  },
  'workflow.run': {
    description: 'Starts a child run linked to this one; with wait, outputs the child run output.',
    inputSchema: {
      type: 'object',
      additionalProperties: false,
      required: ['workflow'],
      properties: {
        workflow: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,127}$', description: 'The child workflow id.' },
        input: { description: 'The child run input.' },
        wait: { type: 'boolean', description: 'true: wait for the child run to end and output its output.' },
        environment: { type: 'string', minLength: 1, description: "The child's environment. Default: this run's." },
        version: {
          type: 'integer',
          minimum: 1,
          description:
            "The child workflow's Station version number (stn workflows versions). Default: its active version when the step runs, whatever version this run is pinned to.",
        },
      },
    },
  },
  'human.approval': {
    description: 'An approval gate: waits for Approve/Reject in Slack, the API or the CLI.',
    inputSchema: {
      type: 'object',
      additionalProperties: false,
      required: ['message'],
      properties: {
        message: { type: 'string', minLength: 1, description: 'What the approvers are asked.' },
        summaryPath: { type: 'string', minLength: 1, description: 'Context path of a value shown with the request.' },
        approvers: {
          type: 'array',
          items: { type: 'string', minLength: 1 },
          description: 'Slack user ids, emails or group:<usergroup>. Empty: anyone who can see the request.',
        },
        requiredApprovals: { type: 'integer', minimum: 1, default: 1, description: 'Approvals needed. Default 1.' },
        allowSelfApproval: {
          type: 'boolean',
          default: true,
          description: "Whether the run's initiator may approve. Default true.",
        },
        timeoutSeconds: { ...timeoutSeconds, description: 'How long to wait for a decision, in seconds.' },
        onTimeout: {
          enum: ['reject', 'approve', 'fail'],
          default: 'reject',
          description: 'What a timeout means. Default reject.',
        },
        channel: { type: 'string', minLength: 1, description: 'Slack channel. Default: the configured one.' },
      },
    },
  },
  'slack.post': {
    description: 'Posts a Slack message; outputs {channel, ts}.',
    inputSchema: {
      type: 'object',
      additionalProperties: false,
      properties: {
        channel: { type: 'string', minLength: 1, description: 'Slack channel. Default: the configured one.' },
        text: { type: 'string', description: 'Message text (also the notification fallback for blocks).' },
        blocks: { type: 'array', items: { type: 'object' }, description: 'Block Kit blocks.' },
        thread: { const: 'run', description: "run: reply in the run's thread." },
      },
      anyOf: [{ required: ['text'] }, { required: ['blocks'] }],
    },
  },
  'agent.run': {
    description: 'Runs the agent environments/<env>/agents/<agent>.prompt; outputs the agent output.',
    inputSchema: {
      type: 'object',
      additionalProperties: false,
      required: ['agent'],
      properties: {
        agent: {
          type: 'string',
          pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*(@[A-Za-z0-9][A-Za-z0-9._-]*)?$',
          description: 'The agent: the file name of its .prompt without the extension, optionally @<environment> for an agent of another environment.',
        },
        task: { type: 'string', description: 'The task given to the agent.' },
        variables: { type: 'object', description: "Values for the prompt's variables." },
      },
    },
  },
} as const satisfies Record<string, ActionSpec>;

export type ActionName = keyof typeof ACTION_CATALOG;

/** Every action name, in catalog order. */
export const ACTION_NAMES = Object.keys(ACTION_CATALOG) as ActionName[];

/** True when `name` is an action of the catalog. */
export function isActionName(name: string): name is ActionName {
  return Object.hasOwn(ACTION_CATALOG, name);
}
