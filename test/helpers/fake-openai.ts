import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';

/**
 * A fake OpenAI-compatible chat-completions server on 127.0.0.1 speaking the real wire format (POST
 * /v1/chat/completions; `choices[0].message` with `content` and `tool_calls`; `usage`), so Station's production client
 * (the `openai` package) runs unchanged against it. Replies are scripted (used up in order), or come from a responder
 * function once the script is empty; every request is recorded with its body and headers.
 */
export interface FakeToolCall {
  id?: string;
  name: string;
  /** A JSON text as the model would send it (possibly malformed), or a value to serialize. */
  arguments: string | Record<string, unknown>;
}

export type FakeReply =
  | {
      content?: string | null;
      toolCalls?: FakeToolCall[];
      /** Token usage reported; default 10 in, 5 out. */
      usage?: { input: number; output: number };
      /** Wait this long before answering (a slow model). */
      delayMs?: number;
      /** Never answer: the request stays in flight until the client goes away or the server stops. */
      hang?: boolean;
    }
  | {
      /** Answer with this HTTP error status and an OpenAI-style error body. */
      status: number;
      message?: string;
      headers?: Record<string, string>;
      delayMs?: number;
    };

export interface RecordedRequest {
  /** 0-based position among all requests. */
  index: number;
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The parsed JSON body (model, messages, tools, response_format, ...). */
  body: {
    model: string;
    messages: Array<Record<string, unknown>>;
    tools?: Array<{ type: string; function: { name: string; description?: string; parameters?: unknown } }>;
    response_format?: { type: string; json_schema?: { name: string; schema: unknown; strict?: boolean } };
    [key: string]: unknown;
  };
  /** True when the client closed the connection before the answer was sent (an aborted request). */
  closedEarly: boolean;
}

export class FakeOpenAI {
  readonly requests: RecordedRequest[] = [];
  /** Added to every reply's own delay: a model with this latency. */
  latencyMs = 0;
  private readonly queue: FakeReply[] = [];
  private responder: ((req: RecordedRequest) => FakeReply) | undefined;
  private readonly events = new EventEmitter();
  private readonly sockets = new Set<Socket>();
  private server: http.Server | undefined;
  private seq = 0;

  constructor(options: { latencyMs?: number; respond?: (req: RecordedRequest) => FakeReply } = {}) {
    this.latencyMs = options.latencyMs ?? 0;
    this.responder = options.respond;
    this.events.setMaxListeners(0);
  }

  /** Starts listening on a free loopback port; resolves with `url`. */
  async start(): Promise<string> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.answer(req, Buffer.concat(chunks).toString('utf8'), res));
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    return this.url;
  }

  /** Closes the server and every open connection (hanging requests included). */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The base URL a provider is configured with: `http://127.0.0.1:<port>/v1`. */
  get url(): string {
    if (!this.server) throw new Error('fake OpenAI server not started');
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  /** Queues replies, answered in order to the next requests. */
  script(...replies: FakeReply[]): this {
    this.queue.push(...replies);
    return this;
  }

  /** Answers requests with this function once the script is used up. */
  respond(fn: (req: RecordedRequest) => FakeReply): this {
    this.responder = fn;
    return this;
  }

  /** Resolves once `count` requests in all have arrived. */
  waitForRequests(count: number): Promise<void> {
    return this.until(() => this.requests.length >= count);
  }

  /** Resolves once request `index` was closed by the client before its answer (an abort). */
  waitForClosed(index: number): Promise<void> {
    return this.until(() => this.requests[index]?.closedEarly === true);
  }

  private until(done: () => boolean): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (!done()) return;
        this.events.off('change', check);
        resolve();
      };
      this.events.on('change', check);
    });
  }

  private answer(req: http.IncomingMessage, text: string, res: http.ServerResponse): void {
    const path = (req.url ?? '').split('?')[0] ?? '';
    if (req.method !== 'POST' || path !== '/v1/chat/completions') {
      send(res, 404, { error: { message: `no route ${req.method} ${path}`, type: 'invalid_request_error' } });
      return;
    }
    let body: RecordedRequest['body'];
    try {
      body = JSON.parse(text) as RecordedRequest['body'];
    } catch {
      send(res, 400, { error: { message: 'body is not JSON', type: 'invalid_request_error' } });
      return;
    }
    const recorded: RecordedRequest = { index: this.requests.length, method: req.method, path, headers: req.headers, body, closedEarly: false };
    this.requests.push(recorded);
    res.on('close', () => {
      if (!res.writableFinished) {
        recorded.closedEarly = true;
        this.events.emit('change');
      }
    });
    const reply = this.queue.shift() ?? this.responder?.(recorded) ?? { status: 500, message: 'fake OpenAI: no scripted reply left' };
    this.events.emit('change');
    if ('hang' in reply && reply.hang) return;
    const delay = this.latencyMs + (reply.delayMs ?? 0);
    const respond = () => {
      if (res.destroyed) return;
      if ('status' in reply) {
        res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
        res.end(JSON.stringify({ error: { message: reply.message ?? `HTTP ${reply.status}`, type: 'fake_error', code: null } }));
        return;
      }
      send(res, 200, this.completion(body.model, reply));
    };
    if (delay > 0) setTimeout(respond, delay);
    else respond();
  }

  private completion(model: string, reply: Extract<FakeReply, { content?: unknown }>): unknown {
    const toolCalls = (reply.toolCalls ?? []).map((c) => ({
      id: c.id ?? `call_${++this.seq}`,
      type: 'function',
      function: { name: c.name, arguments: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments) },
    }));
    const usage = reply.usage ?? { input: 10, output: 5 };
    return {
      id: `chatcmpl-${++this.seq}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: reply.content ?? null, refusal: null, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}) },
          finish_reason: toolCalls.length > 0 ? 'tool_calls' : 'stop',
          logprobs: null,
        },
      ],
      usage: { prompt_tokens: usage.input, completion_tokens: usage.output, total_tokens: usage.input + usage.output },
    };
  }
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
