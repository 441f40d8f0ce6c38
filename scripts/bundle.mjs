// Bundle the CLI into one ESM file: start-up is dominated by module loading
// (resolving and reading dozens of files of commander, chalk and ours), and a
// single file cuts that. Commands stay lazily evaluated: esbuild turns the
// dynamic imports of inlined modules into on-demand initialisers.
// Native or heavy optional pieces stay external and load only when used.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/cli.ts'],
  outfile: 'dist/udsctl.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['koffi', 'ora', 'hdr-histogram-js'],
  banner: {
    // commander is CommonJS: give the ESM bundle a require().
    js: "import { createRequire as __udsctlCreateRequire } from 'node:module'; const require = __udsctlCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
  legalComments: 'none',
});
