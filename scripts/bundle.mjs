// Bundle the CLI into one file, for start-up time (a CLI CI calls thousands of
// times): resolving and reading dozens of files of commander, chalk and ours
// costs more than the work of a `send`.
//
// CommonJS on purpose: in an ES module every import of an external (node:
// builtins, koffi, ora, hdr-histogram-js) is hoisted and runs at start-up; in
// CommonJS esbuild turns them into require() calls inside each module's lazy
// initialiser, so `send` never loads worker_threads, dns, child_process or the
// histogram library that only `bench` and `serve --workers` use.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/cli.ts'],
  outfile: 'dist/udsctl.cjs',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['koffi', 'ora', 'hdr-histogram-js'],
  // import.meta.url is how our modules find package.json, the bench worker and
  // createRequire's base; in CommonJS it comes from __filename.
  define: { 'import.meta.url': '__udsctlImportMetaUrl' },
  banner: { js: "var __udsctlImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
  legalComments: 'none',
});
