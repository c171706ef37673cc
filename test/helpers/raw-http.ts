import http from 'node:http';
import net from 'node:net';

/** An answer read off the wire. */
export interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * One HTTP request on its own connection, from `localAddress` (any 127.x.y.z on Linux: a second "client" on loopback)
 * with exactly the headers given (Host and Origin included, which fetch() does not let a caller set).
 */
export function rawRequest(
  url: string,
  o: { method?: string; path: string; headers?: Record<string, string>; body?: string; localAddress?: string; timeoutMs?: number },
): Promise<RawAnswer> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: u.hostname,
        port: Number(u.port),
        method: o.method ?? 'GET',
        path: o.path,
        headers: { ...(o.body !== undefined ? { 'content-length': String(Buffer.byteLength(o.body)) } : {}), ...o.headers },
        localAddress: o.localAddress,
        agent: false,
        timeout: o.timeoutMs ?? 10_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${o.method ?? 'GET'} ${o.path}: no answer within ${o.timeoutMs ?? 10_000} ms`)));
    req.on('error', reject);
    req.end(o.body);
  });
}

/** A connection that sends `first` and then nothing: what the server answers before closing it, and when. */
export interface SlowConnection {
  /** Resolves when the server has closed the connection: its raw answer (maybe empty) and ms since connecting. */
  closed: Promise<{ answer: string; afterMs: number }>;
  destroy(): void;
}

export function slowConnection(url: string, first: string, localAddress?: string): Promise<SlowConnection> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect({ host: u.hostname, port: Number(u.port), localAddress });
    let answer = '';
    socket.setEncoding('utf8').on('data', (d: string) => (answer += d));
    const closed = new Promise<{ answer: string; afterMs: number }>((done) => socket.once('close', () => done({ answer, afterMs: Date.now() - started })));
    socket.once('error', (err) => {
      if (!socket.connecting) return;
      reject(err);
    });
    socket.once('connect', () => {
      socket.write(first);
      resolve({ closed, destroy: () => socket.destroy() });
    });
  });
}

/** The status and the `code` of the API error in a raw HTTP answer ("HTTP/1.1 429 ...\r\n...\r\n{json}"). */
export function parseRawAnswer(answer: string): { status: number; code: string | undefined } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
  const body = answer.slice(answer.indexOf('\r\n\r\n') + 4);
  let code: string | undefined;
  try {
    code = (JSON.parse(body) as { error?: { code?: string } }).error?.code;
  } catch {
    code = undefined;
  }
  return { status, code };
}

/** An event stream opened from `localAddress`: its status, and a promise of the data received until it ends. */
export function rawStream(url: string, path: string, localAddress?: string, headers: Record<string, string> = {}): Promise<{ status: number; code: string | undefined; text: () => string; ended: Promise<void>; close(): void }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: Number(u.port), path, localAddress, agent: false, headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      const ended = new Promise<void>((done) => {
        res.once('end', () => done());
        res.once('close', () => done());
        res.once('error', () => done());
      });
      const status = res.statusCode ?? 0;
      if (status === 200) {
        resolve({ status, code: undefined, text: () => text, ended, close: () => req.destroy() });
        return;
      }
      void ended.then(() => {
        let code: string | undefined;
        try {
          code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
        } catch {
          code = undefined;
        }
        resolve({ status, code, text: () => text, ended, close: () => req.destroy() });
      });
    });
    req.on('error', reject);
    req.end();
  });
}
