/**
 * The checkpointer's thread: copies committed WAL pages into the database file on its own connection, so the
 * engine's thread never stalls on a large checkpoint inside a commit. PASSIVE never waits for readers or writers.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const { file, intervalMs } = workerData as { file: string; intervalMs: number };
// Never creates a database: the file may have vanished before this thread started (the daemon notices and saves it).
const db = new Database(file, { fileMustExist: true });
db.pragma('busy_timeout = 0');
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');

const timer = setInterval(() => {
  try {
    checkpoint.run();
  } catch {
    // Busy or locked: the next tick tries again; the writers' own autocheckpoint remains the safety net.
  }
}, intervalMs);

parentPort?.on('message', (msg: unknown) => {
  if (msg !== 'stop') return;
  clearInterval(timer);
  try {
    checkpoint.run();
  } catch {
    // Same as above: nothing is lost, the WAL is simply checkpointed later.
  }
  db.close();
  parentPort?.close();
});
