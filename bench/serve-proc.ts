/** Benchmarks against a real daemon: spawns the built `stn serve` on a temp repository and waits for its address. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanEnv, gitInit } from './git.js';

/** dist/bench/<this>.js → dist/src/cli/main.js */
const STN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');

export interface Daemon {
  url: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** A temp Git repository with the given files committed. */
export function tempRepo(prefix: string, files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  }
  gitInit(root, 'bench');
  return root;
}

export function startDaemon(repo: string, env: NodeJS.ProcessEnv): Promise<Daemon> {
  const clean = cleanEnv();
  const proc = spawn(process.execPath, [STN, 'serve', '--port', '0', '--log-level', 'warn'], {
    cwd: repo,
    env: { ...clean, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`stn serve did not start: ${out}`)), 60_000);
    void exited.then(() => reject(new Error(`stn serve exited before listening: ${out}`)));
    proc.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const url = /listening on (http:\/\/[^\s/]+)/.exec(out)?.[1];
      if (!url) return;
      clearTimeout(timer);
      resolve({
        url,
        proc,
        stop: async () => {
          proc.kill('SIGTERM');
          await exited;
        },
      });
    });
  });
}
