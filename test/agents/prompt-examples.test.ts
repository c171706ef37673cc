import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatDiagnostic, parseAgentFile, renderAgent, validateAgentInput } from '../../src/agents/prompt.js';

const root = path.resolve(import.meta.dirname, '..', '..');

/** The agent files of the example repository (this checkout's environments/ and bundles/). */
function agentFiles(): string[] {
  const out: string[] = [];
  for (const top of ['environments', 'bundles']) {
    for (const group of fs.readdirSync(path.join(root, top))) {
      const dir = path.join(root, top, group, 'agents');
      if (!fs.existsSync(dir)) continue;
      for (const f of fs.readdirSync(dir)) if (f.endsWith('.prompt')) out.push(`${top}/${group}/agents/${f}`);
    }
  }
  return out;
}

describe('example agent files', () => {
  it('exist, parse without errors and render', async () => {
    const files = agentFiles();
    expect(files).toContain('environments/default/agents/triage.prompt');
    for (const file of files) {
      const r = await parseAgentFile(fs.readFileSync(path.join(root, file), 'utf8'), file, path.basename(file, '.prompt'));
      expect(r.ok ? [] : r.errors.map((e) => formatDiagnostic(file, e)), file).toEqual([]);
      if (!r.ok) continue;
      expect(r.warnings, file).toEqual([]);
      const messages = await renderAgent(r.spec, { variables: {}, task: 'a task' });
      expect(messages.at(-1), file).toEqual({ role: 'user', content: 'a task' });
    }
  });

  it('triage: a structured verdict, the alert as variables', async () => {
    const file = 'environments/default/agents/triage.prompt';
    const r = await parseAgentFile(fs.readFileSync(path.join(root, file), 'utf8'), file, 'triage');
    if (!r.ok) throw new Error('triage.prompt does not parse');
    expect(r.spec.outputFormat).toBe('json');
    expect(r.spec.outputSchema?.required).toEqual(['severity', 'page', 'summary', 'next_steps']);
    expect(validateAgentInput(r.spec, { service: 'checkout', summary: 'p99 latency > 2s' })).toEqual([]);
    expect(validateAgentInput(r.spec, { severity: 'loud' })).toHaveLength(2);
  });
});
