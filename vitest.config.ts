import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Interop tests start real peers on fixed loopback ports: run files one at a time
    // so two suites never race for the same port.
    fileParallelism: false,
  },
});
