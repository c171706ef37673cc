/** Options for a minimal valid workflow file. */
export interface WorkflowOptions {
  /** The author's `version:` label (default "1.0"). */
  label?: string;
  /** `name:` (default derived from the id). */
  name?: string;
  /** Goes into the noop state's input: change it to change the definition's content. */
  note?: string;
}

/** A minimal valid workflow definition: one noop operation state. */
export function workflowYaml(id: string, opts: WorkflowOptions = {}): string {
  return [
    `id: ${id}`,
    `version: "${opts.label ?? '1.0'}"`,
    `name: ${opts.name ?? `Workflow ${id}`}`,
    'states:',
    '  - name: only',
    '    type: operation',
    '    action: noop',
    '    input:',
    `      note: ${JSON.stringify(opts.note ?? 'first')}`,
    '    end: true',
    '',
  ].join('\n');
}

/** Repository-relative path of an environment's workflow file. */
export function workflowPath(env: string, file: string): string {
  return `environments/${env}/workflows/${file}.workflow.yaml`;
}
