import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Checkpointer as CheckpointerClass } from '../../src/store/checkpointer.js';
import { openDatabase } from '../../src/store/db.js';

// The checkpointer runs its worker thread from the built output (npm test builds first), as the daemon does.
const built: string = '../../dist/src/store/checkpointer.js';
const { Checkpointer } = (await import(built)) as { Checkpointer: typeof CheckpointerClass };

let dir: string | undefined;
afterEach(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('background WAL checkpoints', () => {
  it('copies committed pages into the database file from its own thread, and gives checkpoints back on stop', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stn-ckpt-'));
    const file = path.join(dir, 'station.db');
    const db = openDatabase(file);
    const own = db.pragma('wal_autocheckpoint', { simple: true });
    const cp = Checkpointer.start(db, 50);
    expect(cp).toBeDefined();
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBeGreaterThan(own as number);

    db.exec('CREATE TABLE t (x TEXT)');
    const insert = db.prepare('INSERT INTO t (x) VALUES (?)');
    for (let i = 0; i < 2000; i++) insert.run('x'.repeat(200));
    const sizeBefore = fs.statSync(file).size;
    // The main connection never checkpoints at this WAL size: only the thread can grow the database file.
    const deadline = Date.now() + 5000;
    while (fs.statSync(file).size <= sizeBefore + 100_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(fs.statSync(file).size).toBeGreaterThan(sizeBefore + 100_000);

    await cp?.stop();
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(own);
    expect((db.prepare('SELECT COUNT(*) AS n FROM t').get() as { n: number }).n).toBe(2000);
    db.close();
  });

  it('is not started for an in-memory database', () => {
    const db = openDatabase(':memory:');
    expect(Checkpointer.start(db)).toBeUndefined();
    db.close();
  });
});
