import { defineConfig } from 'tsup';

// The library ships ESM + CJS + types; the CLI is one ESM file with its shebang kept.
export default defineConfig([
  {
    entry: { index: 'src/index.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
  },
  {
    entry: { 'cli/main': 'src/cli/main.ts' },
    format: ['esm'],
    // Small CommonJS dependencies bundled in: importing each through Node's ESM-to-CommonJS
    // loader cost ~15 ms of every command's start. Their require() of Node built-ins needs a
    // require in the module. pino stays external (its transports load files by path).
    noExternal: ['des.js', 'commander', 'binary-parser', 'smart-buffer', 'cli-progress'],
    banner: { js: "import { createRequire as __dcomlabCreateRequire } from 'node:module'; const require = __dcomlabCreateRequire(import.meta.url);" },
    sourcemap: true,
    target: 'node20',
  },
]);
