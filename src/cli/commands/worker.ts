import type { Station } from '../../context.js';
import { parsePositiveInt } from '../json-arg.js';

export interface WorkerCommandOptions {
  concurrency?: string | undefined;
}

/**
 * `stn worker`: the engine alone, executing every run in the database until SIGTERM or SIGINT. The caller closes the
 * Station afterwards, which stops the engine gracefully (running steps get a grace period, leases are released).
 * A second signal exits at once; the leases of a dead worker are reclaimed by the next engine on this host.
 */
export async function workerCommand(station: Station, opts: WorkerCommandOptions): Promise<number> {
  const concurrency = parsePositiveInt('--concurrency', opts.concurrency);
  const engine = station.engine(concurrency !== undefined ? { concurrency } : {});
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const stopOn = (s: NodeJS.Signals) => {
      process.off('SIGTERM', stopOn);
      process.off('SIGINT', stopOn);
      process.once('SIGTERM', () => process.exit(1));
      process.once('SIGINT', () => process.exit(130));
      resolve(s);
    };
    process.on('SIGTERM', stopOn);
    process.on('SIGINT', stopOn);
    engine.start();
    station.logger.info(
      { engine: engine.id, concurrency: concurrency ?? station.config.engine.concurrency, database: station.config.database },
      'worker started',
    );
  });
  station.logger.info({ engine: engine.id, signal }, 'worker stopping: running steps get a grace period');
  return 0;
}
