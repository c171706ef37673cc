import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * A loopback Socket Mode endpoint: the URL the fake Web API hands out from apps.connections.open. It greets a client
 * with `hello`, sends envelopes (interactive payloads) and resolves with the client's acknowledgement.
 */
export class FakeSlackSocket {
  private wss: WebSocketServer | undefined;
  private client: WebSocket | undefined;
  private readonly acks = new Map<string, (payload: unknown) => void>();
  /** How many connections were opened (a reconnect counts again). */
  connections = 0;

  async start(): Promise<string> {
    this.wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => this.wss?.once('listening', () => resolve()));
    this.wss.on('connection', (ws) => {
      this.connections += 1;
      this.client = ws;
      ws.on('message', (data: Buffer) => {
        const msg = JSON.parse(data.toString('utf8')) as { envelope_id?: string; payload?: unknown };
        if (msg.envelope_id) this.acks.get(msg.envelope_id)?.(msg.payload);
      });
      ws.send(JSON.stringify({ type: 'hello', num_connections: 1, connection_info: { app_id: 'A1' }, debug_info: { host: 'fake' } }));
    });
    return this.url;
  }

  get url(): string {
    const a = this.wss?.address() as AddressInfo;
    return `ws://127.0.0.1:${a.port}/link`;
  }

  get connected(): boolean {
    return this.client?.readyState === 1;
  }

  /** Sends an interactive envelope (a button click, a view submission) and resolves with the client's ack payload. */
  async interactive(payload: unknown, timeoutMs = 10_000): Promise<unknown> {
    const client = this.client;
    if (!client) throw new Error('no Socket Mode client is connected');
    const id = randomUUID();
    const acked = new Promise<unknown>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`envelope ${id} not acknowledged within ${timeoutMs} ms`)), timeoutMs);
      this.acks.set(id, (p) => {
        clearTimeout(t);
        resolve(p);
      });
    });
    client.send(JSON.stringify({ envelope_id: id, type: 'interactive', payload, accepts_response_payload: true }));
    return acked;
  }

  async stop(): Promise<void> {
    for (const c of this.wss?.clients ?? []) c.terminate();
    await new Promise<void>((resolve) => (this.wss ? this.wss.close(() => resolve()) : resolve()));
  }
}
