import fs from 'node:fs';
import path from 'node:path';

/*
 * Writes realistic, valid workflow definitions for the sync benchmarks: every file has comments, an inject, an
 * operation (shell.exec, http.request or noop) with retries, a CEL switch, and a parallel fan-out with a compensation
 * and/or a foreach sweep — the mix a real playbook repository has, so parse/validate/hash costs are representative.
 * Output is a pure function of (seed, file number): the same seed always gives byte-identical trees.
 */

export interface GenerateOptions {
  /** Number of workflow files in total, spread round-robin over the environments. */
  files: number;
  /** Number of environments (`environments/env-1` … `env-<n>`). */
  environments: number;
  /** PRNG seed; default 1. */
  seed?: number;
}

const SERVICES = ['checkout', 'payments', 'search', 'inventory', 'auth', 'ledger', 'gateway', 'notifications', 'billing'];
const KINDS = [
  { id: 'queue-drain', title: 'Queue Drain', metric: 'queueDepth' },
  { id: 'cache-flush', title: 'Cache Flush', metric: 'missRatio' },
  { id: 'disk-check', title: 'Disk Check', metric: 'usedPercent' },
  { id: 'restart', title: 'Guarded Restart', metric: 'restarts' },
  { id: 'log-rotate', title: 'Log Rotation', metric: 'logMb' },
  { id: 'conn-pool', title: 'Connection Pool Check', metric: 'activeConns' },
] as const;
const TIMEZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Tokyo', 'Australia/Sydney'];
const SCHEDULES = ['*/5 * * * *', '15 */4 * * *', '0 3 * * *', '30 2 * * 1-5', '0 */6 * * *', '45 7 * * 1'];

/** mulberry32: a tiny, fast, well-distributed 32-bit PRNG; enough for benchmark fixtures. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Pick {
  int(min: number, max: number): number;
  one<T>(items: readonly T[]): T;
  chance(p: number): boolean;
}

function picker(seed: number, n: number): Pick {
  // Per-file stream: file n's content does not depend on how many files are generated.
  const next = prng(Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(n, 0xc2b2ae35));
  return {
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    one: (items) => items[Math.floor(next() * items.length)] as (typeof items)[number],
    chance: (p) => next() < p,
  };
}

function environmentYaml(i: number): string {
  return [
    '# yaml-language-server: $schema=../../schemas/environment.schema.json',
    `# Benchmark environment ${i} (generated).`,
    `description: Generated benchmark environment ${i}`,
    'vars:',
    `  team: team-${i}`,
    `  slackChannel: "#bench-${i}"`,
    '  healthUrl: http://127.0.0.1:7878/healthz',
    `  threshold: ${50 + (i % 40)}`,
    '',
  ].join('\n');
}

/** The probe state: one of three actions, each with the output shape the switch below reads. */
function probeLines(p: Pick, metric: string, value: number): { lines: string[]; cond: string } {
  const kind = p.int(0, 2);
  const retry = `    retry: { maxAttempts: ${p.int(2, 5)}, backoff: exponential, backoffSeconds: ${p.int(1, 5)}, maxBackoffSeconds: ${p.int(20, 120)} }`;
  if (kind === 0) {
    return {
      cond: `steps.probe.json.${metric}`,
      lines: [
        '  # Measure; the script prints JSON, so the switch can read steps.probe.json.',
        '  - name: probe',
        '    type: operation',
        '    action: shell.exec',
        '    input:',
        `      command: [sh, -c, 'printf "{\\"${metric}\\":%d,\\"host\\":\\"%s\\"}\\n" ${value} "$(uname -n)"']`,
        '      env:',
        '        SERVICE: "{{ params.service }}"',
        `    timeoutSeconds: ${p.int(10, 60)}`,
        retry,
        '    next: route',
      ],
    };
  }
  if (kind === 1) {
    return {
      cond: `params.observed`,
      lines: [
        "  # Ask the daemon's health endpoint; when it is down, record the error and carry on.",
        '  - name: probe',
        '    type: operation',
        '    action: http.request',
        '    input:',
        '      method: GET',
        '      url: "{{ vars.healthUrl }}"',
        '      headers: { X-Service: "{{ params.service }}" }',
        `      timeoutSeconds: ${p.int(2, 10)}`,
        retry,
        '    onError: probe_failed',
        '    next: route',
        '  - name: probe_failed',
        '    type: inject',
        '    resultPath: probeError',
        '    data: { message: "{{ error.message }}", attempt: "{{ error.attempt }}" }',
        '    next: route',
      ],
    };
  }
  return {
    cond: `steps.probe.${metric}`,
    lines: [
      '  # A recorded measurement (noop echoes its input), e.g. pushed by a metrics exporter.',
      '  - name: probe',
      '    type: operation',
      '    action: noop',
      '    input:',
      `      ${metric}: ${value}`,
      '      service: "{{ params.service }}"',
      retry,
      '    next: route',
    ],
  };
}

function parallelLines(p: Pick, next: string): string[] {
  const lines = [
    '  # Act and tell people at the same time; the action is undone (compensation) if the run fails later.',
    '  - name: remediate',
    '    type: parallel',
    '    resultPath: remediation',
    '    join: { mode: all }',
    '    branches:',
    '      - name: act',
    '        states:',
    '          - name: apply',
    '            type: operation',
    '            action: shell.exec',
    '            input:',
    '              command: [echo, "applying change to {{ params.service }} in batches of {{ string(params.batchSize) }}"]',
    '            compensation:',
    '              action: shell.exec',
    '              input: { command: [echo, "reverting change to {{ params.service }}"] }',
    `            retry: { maxAttempts: ${p.int(2, 4)}, backoffSeconds: ${p.int(1, 3)} }`,
    '            end: true',
    '      - name: announce',
    '        states:',
    '          - name: post',
    '            type: operation',
    '            action: noop',
    '            input: { channel: "{{ vars.slackChannel }}", text: "Remediating {{ params.service }} for {{ vars.team }}" }',
    '            end: true',
  ];
  if (p.chance(0.5)) {
    lines.push(
      '      - name: snapshot',
      '        states:',
      '          - name: date',
      '            type: operation',
      '            action: shell.exec',
      '            input: { command: [date, -u, "+%Y-%m-%dT%H:%M:%SZ"] }',
      '            end: true',
    );
  }
  lines.push(`    next: ${next}`);
  return lines;
}

function foreachLines(p: Pick, next: string): string[] {
  return [
    '  # Check every host, a few at a time; `host` and `index` are variables inside the iterator.',
    '  - name: sweep',
    '    type: foreach',
    '    itemsPath: params.hosts',
    '    itemName: host',
    `    maxConcurrency: ${p.int(2, 8)}`,
    '    resultPath: sweep',
    '    iterator:',
    '      states:',
    '        - name: check',
    '          type: operation',
    '          action: shell.exec',
    '          input: { command: [printf, "%s %s ok\\n", "{{ string(index) }}", "{{ host }}"] }',
    `          timeoutSeconds: ${p.int(5, 30)}`,
    '          end: true',
    `    next: ${next}`,
  ];
}

function definition(n: number, seed: number): string {
  const p = picker(seed, n);
  const service = p.one(SERVICES);
  const kind = p.one(KINDS);
  const limit = p.int(50, 500);
  const value = p.int(0, 600);
  const hosts = Array.from({ length: p.int(2, 5) }, (_, i) => `${service}-${i + 1}`);
  const probe = probeLines(p, kind.metric, value);
  // Every file gets at least one of parallel/foreach; about a third get both.
  const shape = p.int(0, 2); // 0: parallel, 1: foreach, 2: both
  const hot = shape === 1 ? 'sweep' : 'remediate';

  const lines: string[] = [
    '# yaml-language-server: $schema=../../../schemas/workflow.schema.json',
    '#',
    `# ${kind.title} for ${service} — generated benchmark playbook #${n} (seed ${seed}).`,
    '# Shape: inject → probe → switch → remediation fan-out and/or host sweep → report.',
    '',
    `id: wf-${n}`,
    `version: "${p.int(1, 4)}.${p.int(0, 9)}"`,
    `name: ${kind.title} for ${service} (${n})`,
    `description: Generated ${kind.id} playbook for the ${service} service.`,
    `timeoutSeconds: ${p.int(3, 60) * 60}`,
    'inputSchema:',
    '  type: object',
    '  properties:',
    '    service: { type: string, minLength: 1 }',
    '    limit: { type: integer, minimum: 1 }',
  ];
  if (p.chance(0.6)) {
    lines.push(
      'triggers:',
      '  - type: cron',
      '    name: scheduled',
      `    schedule: "${p.one(SCHEDULES)}"`,
      `    timezone: ${p.one(TIMEZONES)}`,
      `    input: { service: ${service}, limit: ${limit} }`,
    );
    if (p.chance(0.3)) {
      lines.push('  - type: webhook', '    name: alert', '    secretEnv: BENCH_HOOK_SECRET', '    input: "{{ body }}"');
    }
  }
  lines.push(
    '',
    'states:',
    '  # Resolve defaults once; batchSize is a plain literal (the benchmark mutates it).',
    '  - name: params',
    '    type: inject',
    '    resultPath: params',
    '    data:',
    `      service: "{{ has(input.service) ? input.service : '${service}' }}"`,
    `      limit: "{{ has(input.limit) ? input.limit : ${limit} }}"`,
    `      observed: ${value}`,
    `      batchSize: ${p.int(5, 200)}`,
    `      hosts: [${hosts.join(', ')}]`,
    '    next: probe',
    '',
    ...probe.lines,
    '',
    '  - name: route',
    '    type: switch',
    '    conditions:',
    `      - if: ${probe.cond} > params.limit`,
    `        next: ${hot}`,
    `      - if: ${probe.cond} > params.limit / 2 && params.service != 'ledger'`,
    `        next: ${shape === 0 ? 'remediate' : 'sweep'}`,
    '    defaultNext: report',
    '',
  );
  if (shape === 0 || shape === 2) lines.push(...parallelLines(p, shape === 2 ? 'sweep' : 'report'), '');
  if (shape === 1 || shape === 2) lines.push(...foreachLines(p, 'report'), '');
  lines.push(
    '  - name: report',
    '    type: operation',
    '    action: noop',
    '    input:',
    '      service: "{{ params.service }}"',
    '      team: "{{ vars.team }}"',
    `      summary: "${kind.id} on {{ params.service }}: observed {{ string(params.observed) }}, limit {{ string(params.limit) }}"`,
    '    end: true',
    '',
    'output: "{{ steps.report }}"',
    '',
  );
  return lines.join('\n');
}

/**
 * Writes `environments/env-<i>/environment.yaml` and `environments/env-<i>/workflows/wf-<n>.workflow.yaml` under
 * `root` (files numbered 1…files, environments 1…environments, round-robin). Returns the workflow file paths.
 */
export function generateDefinitions(root: string, opts: GenerateOptions): { files: string[] } {
  const seed = opts.seed ?? 1;
  const envCount = Math.max(1, Math.floor(opts.environments));
  const total = Math.max(0, Math.floor(opts.files));
  const dirs: string[] = [];
  for (let i = 1; i <= envCount; i++) {
    const envDir = path.join(root, 'environments', `env-${i}`);
    const wfDir = path.join(envDir, 'workflows');
    fs.mkdirSync(wfDir, { recursive: true });
    fs.writeFileSync(path.join(envDir, 'environment.yaml'), environmentYaml(i));
    dirs.push(wfDir);
  }
  const files: string[] = [];
  for (let n = 1; n <= total; n++) {
    const file = path.join(dirs[(n - 1) % envCount] as string, `wf-${n}.workflow.yaml`);
    fs.writeFileSync(file, definition(n, seed));
    files.push(file);
  }
  return { files };
}

const BATCH_SIZE = /^(\s+batchSize: )(\d+)$/m;

/** A real content change: bumps the `batchSize` literal of the params inject, so the next sync stores a new version. */
export function mutateDefinition(file: string): void {
  const text = fs.readFileSync(file, 'utf8');
  const m = BATCH_SIZE.exec(text);
  if (!m) throw new Error(`${file}: no batchSize literal to mutate (not a generated definition?)`);
  fs.writeFileSync(file, text.replace(BATCH_SIZE, (_all, key: string, value: string) => `${key}${Number(value) + 1}`));
}

/** A comment-and-blank-line-only edit: the content hash must not change, so no new version. */
export function whitespaceEdit(file: string): void {
  fs.appendFileSync(file, '\n# touched by the benchmark (comment only)\n');
}
