import os from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Most test files spend their time waiting for child processes, sockets and timers, not on the CPU: with one
    // worker per core a 2-core machine stayed about half idle through the suite, so small machines get three.
    maxWorkers: Math.max(os.availableParallelism(), 3),
  },
});
