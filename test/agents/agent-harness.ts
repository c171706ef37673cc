import type { JsonValue } from '../../src/definitions/types.js';
import { OpenAIProvider } from '../../src/agents/providers/openai.js';
import type { ResolvedModel } from '../../src/agents/providers/resolve.js';
import type { AgentSpec, JournalEntry, StepJournal, ToolBox, ToolDef, ToolOutcome } from '../../src/agents/types.js';
import type { FakeOpenAI } from '../helpers/fake-openai.js';

/** An agent spec with defaults a test overrides. */
export function agentSpec(overrides: Partial<AgentSpec> = {}): AgentSpec {
  return {
    name: 'helper',
    model: undefined,
    config: {},
    inputSchema: undefined,
    outputSchema: undefined,
    outputFormat: 'text',
    tools: [],
    maxSteps: 25,
    metadata: {},
    template: '{{userInput}}',
    ...overrides,
  };
}

/** The model of the fake OpenAI-compatible server, through the production client. */
export function fakeModel(fake: FakeOpenAI, maxTokensPerStep?: number): ResolvedModel {
  const provider = new OpenAIProvider({ name: 'local', baseUrl: fake.url, apiKey: () => 'sk-test', timeoutSeconds: 30 });
  return { provider, model: 'qwen3', label: 'local/qwen3', maxTokensPerStep };
}

/**
 * A step journal kept in memory (the engine's is stored as run events). `onAppend` runs after each entry is committed:
 * tests use it to "crash" the loop at a chosen point.
 */
export class MemoryJournal implements StepJournal {
  readonly entries: JournalEntry[];
  onAppend: ((entry: JournalEntry) => void) | undefined;

  constructor(entries: readonly JournalEntry[] = []) {
    this.entries = structuredClone([...entries]);
  }

  append(entry: JournalEntry): Promise<void> {
    this.entries.push(structuredClone(entry));
    this.onAppend?.(entry);
    return Promise.resolve();
  }
}

export interface ToolImpl {
  description?: string;
  run(args: JsonValue, signal: AbortSignal): Promise<ToolOutcome> | ToolOutcome;
}

/**
 * A toolbox over in-process tool functions, standing in for the MCP-backed one so the loop is tested on its own:
 * model-facing names replace `/` with `__`. Records every call in the order calls start.
 */
export class TestToolBox implements ToolBox {
  readonly calls: Array<{ tool: string; args: JsonValue }> = [];

  constructor(private readonly impls: Record<string, ToolImpl>) {}

  list(): Promise<ToolDef[]> {
    return Promise.resolve(
      Object.entries(this.impls).map(([qualifiedName, impl]) => ({
        name: qualifiedName.replace('/', '__'),
        qualifiedName,
        description: impl.description ?? qualifiedName,
        parameters: { type: 'object' },
      })),
    );
  }

  async call(name: string, args: JsonValue, signal: AbortSignal): Promise<ToolOutcome> {
    const qualified = name.replace('__', '/');
    const impl = this.impls[qualified];
    if (!impl) throw new Error(`no tool ${name}`);
    this.calls.push({ tool: qualified, args });
    return impl.run(args, signal);
  }
}

/** A promise with its resolve function, to hold a tool until the test lets it go. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
