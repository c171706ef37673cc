import type { Station } from '../../context.js';
import { Daemon } from '../../daemon/daemon.js';
import { UsageError } from '../../errors.js';
import { print } from '../output.js';

export interface ServeCommandOptions {
  host?: string | undefined;
  port?: string | undefined;
  watch?: boolean | undefined;
}

function parsePort(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--port must be a port number (0-65535; 0 picks a free one), got "${value}"`);
  return n;
}

/**
 * `stn serve`: the daemon, until SIGTERM or SIGINT. Prints one line with the API's address on stdout once everything
 * is up (logs go to stderr as JSON). A signal stops it gracefully (exit 0); a second signal exits at once.
 */
export async function serveCommand(station: Station, opts: ServeCommandOptions): Promise<number> {
  const daemon = new Daemon(station, { host: opts.host, port: parsePort(opts.port), watch: opts.watch ?? true });
  let stop: (signal: NodeJS.Signals) => void = () => undefined;
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    stop = (signal) => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      process.once('SIGTERM', () => process.exit(1));
      process.once('SIGINT', () => process.exit(130));
      resolve(signal);
    };
  });
  // Signals during start-up stop the daemon as soon as it is up.
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  try {
    const url = await daemon.start();
    print(`Station API listening on ${url ?? '?'}/api/v1 (OpenAPI: ${url ?? '?'}/api/v1/openapi.json, health: ${url ?? '?'}/healthz)`);
  } catch (err) {
    await daemon.stop('start-up failed');
    throw err;
  }
  const end = await Promise.race([stopped, daemon.failed]);
  if (typeof end !== 'string') {
    await daemon.stop(end.code);
    throw end;
  }
  await daemon.stop(end);
  return 0;
}
