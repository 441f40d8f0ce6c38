// Bundle the CLI into one file, for start-up time (a CLI CI calls thousands of
// times): resolving and reading dozens of files of commander, chalk and ours
// costs more than the work of a `send`.
//
// CommonJS on purpose: in an ES module every import of an external (node:
// builtins, koffi, ora, hdr-histogram-js) is hoisted and runs at start-up; in
// CommonJS esbuild turns them into require() calls inside each module's lazy
// initialiser, so `send` never loads worker_threads, dns, child_process or the
// histogram library that only `bench` and `serve --workers` use.
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { build } from 'esbuild';

// commander requires child_process at load time, for executable subcommands we
// never use; loading it (with dgram, socket_list, ...) costs every start. Make
// that require lazy: commander only ever calls childProcess.spawn.
const lazyChildProcess = {
  name: 'lazy-child-process',
  setup(b) {
    b.onLoad({ filter: /commander[\\/]lib[\\/]command\.js$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      const eager = "const childProcess = require('node:child_process');";
      if (!text.includes(eager)) throw new Error('commander changed: update the lazy-child-process plugin');
      const lazy = "const childProcess = { get spawn() { return require('node:child_process').spawn; } };";
      return { contents: text.replace(eager, lazy), loader: 'js' };
    });
  },
};

// Two bundles of the same shell (src/cli/program.ts): every command (src/cli.ts), and `send`
// alone (src/cli-send.ts), which the launcher starts for `udsctl send`: 300 KB instead of 780,
// without the other commands' definitions and what they load at start (~6 ms of every send).
const bundles = [
  { entry: 'src/cli.ts', out: 'dist/udsctl.cjs' },
  { entry: 'src/cli-send.ts', out: 'dist/udsctl-send.cjs' },
];
for (const { entry, out } of bundles) await build({
  entryPoints: [entry],
  outfile: out,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['koffi', 'ora', 'hdr-histogram-js'],
  // import.meta.url is how our modules find package.json, the bench worker and
  // createRequire's base; in CommonJS it comes from __filename.
  define: {
    'import.meta.url': '__udsctlImportMetaUrl',
    // --version without reading package.json at every start
    __UDSCTL_VERSION__: JSON.stringify(JSON.parse(await readFile('package.json', 'utf8')).version),
  },
  banner: { js: "var __udsctlImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  minifyWhitespace: true,
  minifySyntax: true,
  plugins: [lazyChildProcess],
  logLevel: 'warning',
  legalComments: 'none',
});

// The launcher, and V8's code cache for the bundle. V8 compiles a function
// when it first runs, and the cache holds the functions compiled when it is
// made: so make it after running what CI runs thousands of times, a `send` and
// a `probe` against a throwaway one-shot server, and an `ls` (their output discarded). That
// saves ~10 ms of every such start. Anything going wrong here only costs that.
await copyFile('scripts/launch.cjs', 'dist/launch.cjs');
const launcher = createRequire(import.meta.url)('../dist/launch.cjs');
for (const { out, runs } of [
  { out: 'dist/udsctl.cjs', runs: ['send', 'probe', 'probe --json', 'ls'] },
  { out: 'dist/udsctl-send.cjs', runs: ['send'] },
]) {
  const { script, exports } = launcher.load(undefined, join(process.cwd(), out));
  exports.buildProgram();
  try {
    await warm(exports.main, runs);
  } catch (err) {
    console.warn(`bundle: the code cache of ${out} covers less than it could (${err.message})`);
  }
  await writeFile(`${out}.cache`, script.createCachedData());
}

async function warm(main, runs) {
  const dir = await mkdtemp(join(tmpdir(), 'udsctl-bundle-'));
  const sock = join(dir, 's.sock');
  const server = net.createServer((c) => c.once('data', () => c.end('OK+ at 00:00:00\n')).on('error', () => {}));
  await new Promise((resolve, reject) => server.once('error', reject).listen(sock, resolve));
  const write = process.stdout.write;
  process.stdout.write = (_data, enc, cb) => ((typeof enc === 'function' ? enc : cb)?.(), true);
  let timer;
  const hung = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('no answer within 10 s')), 10_000)));
  try {
    const argsOf = { send: ['send', sock, 'hi'], probe: ['probe', sock], 'probe --json': ['probe', '--json', sock], ls: ['ls', dir] };
    for (const args of runs.map((r) => argsOf[r])) {
      const status = await Promise.race([main(['node', 'udsctl', ...args]), hung]);
      if (status !== 0) throw new Error(`udsctl ${args[0]} exited ${status}`);
    }
  } finally {
    clearTimeout(timer);
    process.stdout.write = write;
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
}
