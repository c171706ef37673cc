import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { cleanEnv, pollUntil, STN, stnSpawn, stnSync, type ProcResult } from './procs.js';

/**
 * Real `stn` processes for the run CLI and crash tests: one-shot commands (with the moment they exited, for latency
 * checks) and long-running `stn worker` processes that the tests stop with SIGTERM or kill with SIGKILL.
 */

export type CliResult = ProcResult;

/** `stn --repo <repo> --db <db> …`, run from inside the repository. */
export class StnCli {
  constructor(
    readonly repo: string,
    readonly db: string,
    private readonly env: NodeJS.ProcessEnv = {},
  ) {}

  /** The arguments of `stn` for a command on this repository and database. */
  args(args: string[]): string[] {
    return ['--repo', this.repo, '--db', this.db, ...args];
  }

  /** The whole command line, node's argument first. */
  argv(args: string[]): string[] {
    return [STN, ...this.args(args)];
  }

  /** Runs a command to its end (blocking: the worker under test is another process, so it keeps running). */
  run(args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): CliResult {
    return stnSync(this.args(args), { cwd: opts.cwd ?? this.repo, env: this.env, timeoutMs: opts.timeoutMs ?? 60_000 });
  }

  /** The same with `--json`, stdout parsed. */
  json<T>(args: string[], opts: { cwd?: string } = {}): { status: number | null; json: T; stderr: string; exitedAt: number } {
    const r = this.run(['--json', ...args], opts);
    let json: T;
    try {
      json = JSON.parse(r.stdout) as T;
    } catch {
      throw new Error(`stn --json ${args.join(' ')} did not print JSON (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
    }
    return { status: r.status, json, stderr: r.stderr, exitedAt: r.exitedAt };
  }

  /** Runs a command without blocking the test (several at once, or while the test watches something else). */
  runAsync(args: string[]): Promise<CliResult> {
    return this.spawn(args).done;
  }

  /** A long-running command whose output the test reads as it comes (`stn runs events --follow`). */
  spawn(args: string[]): { child: ChildProcess; output: () => string; done: Promise<CliResult> } {
    return stnSpawn(this.args(args), { cwd: this.repo, env: this.env });
  }

  /** Starts `stn worker` (its JSON log lines go to `logFile`) and resolves once it logged "worker started". */
  startWorker(logFile: string, extraArgs: string[] = []): Promise<WorkerProcess> {
    return WorkerProcess.start(this, logFile, extraArgs, cleanEnv(this.env));
  }
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A `stn worker` process. It leads its own process group (like a service under a supervisor), so `kill` reaches it
 * and everything in its group; `shell.exec` children run in groups of their own.
 */
export class WorkerProcess {
  private exit: Exit | undefined;
  readonly exited: Promise<Exit>;

  private constructor(
    private readonly child: ChildProcess,
    readonly logFile: string,
    private readonly logOffset: number,
  ) {
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
  }

  static async start(cli: StnCli, logFile: string, extraArgs: string[], env: NodeJS.ProcessEnv): Promise<WorkerProcess> {
    const offset = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
    const fd = fs.openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, cli.argv(['--log-level', 'info', 'worker', ...extraArgs]), {
        cwd: cli.repo,
        env,
        stdio: ['ignore', fd, fd],
        detached: true,
      });
    } finally {
      fs.closeSync(fd);
    }
    const worker = new WorkerProcess(child, logFile, offset);
    const deadline = Date.now() + 30_000;
    while (!worker.log().includes('"worker started"')) {
      if (worker.exit) throw new Error(`stn worker exited (${JSON.stringify(worker.exit)}) before it started:\n${worker.log()}`);
      if (Date.now() > deadline) {
        worker.kill('SIGKILL');
        throw new Error(`stn worker did not start within 30 s:\n${worker.log()}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return worker;
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  /** What this worker wrote to its log so far. */
  log(): string {
    try {
      return fs.readFileSync(this.logFile, 'utf8').slice(this.logOffset);
    } catch {
      return '';
    }
  }

  /** Signals the worker's whole process group. */
  kill(signal: NodeJS.Signals): void {
    if (!this.running) return;
    try {
      process.kill(-this.pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }

  /** SIGKILL, and resolves once the process is gone. */
  async killHard(): Promise<void> {
    this.kill('SIGKILL');
    await this.exited;
  }

  /** Resolves with the exit, or fails after `timeoutMs` (the worker is then killed so no process outlives the test). */
  async waitExit(timeoutMs = 20_000): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`stn worker did not exit within ${timeoutMs} ms:\n${this.log()}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } catch (err) {
      await this.killHard();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Polls `probe` until it returns something other than undefined/false, or fails naming `what` after `timeoutMs`. */
export function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 20_000, intervalMs = 20): Promise<T> {
  return pollUntil(
    what,
    () => {
      const value = probe();
      return value === false ? undefined : value;
    },
    timeoutMs,
    intervalMs,
  );
}
