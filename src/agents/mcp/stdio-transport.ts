/**
 * The MCP stdio transport Station uses instead of the SDK's StdioClientTransport, which cannot start the server in
 * its own process group: here the server is spawned `detached` (its own group, like a shell.exec step) with a
 * marker variable (src/executors/process-tree.ts), so killing it stops everything it started, also processes that
 * left the group. Messages are the SDK's newline-delimited JSON-RPC (its ReadBuffer and serializer).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ReadBuffer, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { StepTree, TREE_MARKER_VAR } from '../../executors/process-tree.js';
import { killGroup, SHELL_KILL_GRACE_MS } from '../../executors/shell-exec.js';

/** The last bytes of a server's stderr kept for error messages. */
const STDERR_TAIL_BYTES = 2048;

export interface StdioServerProcess {
  command: string;
  args: string[];
  /** The whole environment of the server (the caller builds it: never the daemon's own). */
  env: Record<string, string>;
  cwd: string;
}

export class ProcessGroupStdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private child: ChildProcess | undefined;
  private readonly buffer = new ReadBuffer();
  private readonly tree = new StepTree(false);
  private stderrTail = '';
  private exited: Promise<void> = Promise.resolve();
  private killed = false;
  private treeStopped = false;
  private closed = false;

  /** How the process ended ("exit code 1", "signal SIGKILL"), once it has. */
  exitDescription: string | undefined;

  constructor(private readonly server: StdioServerProcess) {}

  /** The server's PID once started (it is also its process group id). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The end of what the server wrote to stderr, for error messages. */
  get stderr(): string {
    return this.stderrTail;
  }

  start(): Promise<void> {
    if (this.child) throw new Error('the MCP server process was already started');
    return new Promise<void>((resolve, reject) => {
      const child = spawn(this.server.command, this.server.args, {
        cwd: this.server.cwd,
        env: { ...this.server.env, [TREE_MARKER_VAR]: this.tree.marker },
        shell: false,
        detached: true,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      this.child = child;
      let exited!: () => void;
      this.exited = new Promise<void>((r) => (exited = r));
      child.once('spawn', () => {
        if (child.pid !== undefined) this.tree.adopt(child.pid);
        resolve();
      });
      child.on('error', (error) => {
        // Without a pid, the spawn itself failed (ENOENT, EACCES, bad cwd); afterwards it only reports a failed kill.
        if (child.pid === undefined) {
          exited();
          reject(error);
          this.closedNow();
        } else this.onerror?.(error);
      });
      child.on('exit', (code, signal) => {
        this.exitDescription = signal !== null ? `signal ${signal}` : `exit code ${code ?? 'unknown'}`;
        // Whatever the server left in its group (or started with its marker) goes with it.
        if (!this.killed && child.pid !== undefined) killGroup(child.pid);
        this.stopTree();
      });
      child.on('close', () => {
        exited();
        this.closedNow();
      });
      child.stdin?.on('error', (error) => this.onerror?.(error));
      child.stdout?.on('data', (chunk: Buffer) => {
        try {
          this.buffer.append(chunk);
        } catch (error) {
          // A line longer than the SDK's buffer (10 MiB): the stream cannot be read further; the server goes.
          this.onerror?.(error as Error);
          void this.close();
          return;
        }
        for (;;) {
          let message: JSONRPCMessage | null;
          try {
            message = this.buffer.readMessage();
          } catch (error) {
            // A line that is not JSON-RPC (a server printing logs on stdout): reported, then skipped.
            this.onerror?.(error as Error);
            continue;
          }
          if (message === null) break;
          this.onmessage?.(message);
        }
      });
      child.stderr?.on('data', (chunk: Buffer) => {
        this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
      });
    });
  }

  send(message: JSONRPCMessage): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const stdin = this.child?.stdin;
      if (!stdin || !stdin.writable || this.killed) {
        reject(new Error('the MCP server process is not running'));
        return;
      }
      if (stdin.write(serializeMessage(message))) resolve();
      else stdin.once('drain', resolve);
    });
  }

  /** Kills the server's process group (SIGTERM, then SIGKILL after the grace) and resolves once the server exited. */
  async close(): Promise<void> {
    const child = this.child;
    if (!child) return;
    if (!this.killed && child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      this.killed = true;
      killGroup(child.pid);
      this.stopTree();
    }
    await this.exited;
    this.buffer.clear();
  }

  /** Stops the processes that carry the server's marker (those that left its group too); once. */
  private stopTree(): void {
    if (this.treeStopped) return;
    this.treeStopped = true;
    void this.tree.stop(SHELL_KILL_GRACE_MS).catch(() => 0);
  }

  private closedNow(): void {
    if (this.closed) return;
    this.closed = true;
    this.onclose?.();
  }
}
