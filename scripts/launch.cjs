'use strict';
// Loads the bundled CLI (dist/udsctl.cjs) with V8's code cache, made at build
// time (dist/udsctl.cjs.cache): compiling the bundle is the largest start-up
// cost we control, and Node 20 has no compile cache of its own. If the cache is
// missing or rejected (another Node version), V8 compiles as usual.
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const { Script } = require('node:vm');

const file = join(__dirname, 'udsctl.cjs');
/** The bundle of `send` alone (src/cli-send.ts): `udsctl send` starts it, when it was built. */
const sendFile = join(__dirname, 'udsctl-send.cjs');

/**
 * Compile the bundle (with the cache when there is one); returns the Script and
 * its exports. The wrapper is CommonJS's own (Module.wrap); the bundle's require
 * is ours, which resolves from this same folder (node:module not loaded for it).
 */
function load(cachedData, bundle = file) {
  const source = `(function (exports, require, module, __filename, __dirname) { ${readFileSync(bundle, 'utf8')}\n});`;
  const script = new Script(source, { filename: bundle, cachedData });
  const mod = { exports: {} };
  script.runInThisContext()(mod.exports, require, mod, bundle, __dirname);
  return { script, exports: mod.exports };
}

function cacheOf(bundle) {
  try {
    return readFileSync(`${bundle}.cache`);
  } catch {
    return undefined;
  }
}

// A bare import() inside a vm.Script has no loader on Node 20: lend ours.
globalThis[Symbol.for('udsctl.importEsm')] = (specifier) => import(specifier);

let loaded;
if (process.argv[2] === 'send') {
  try {
    loaded = load(cacheOf(sendFile), sendFile);
  } catch (err) {
    // Not built (an older build, a copy of dist/ without it): the whole CLI. Anything else is a bug to see.
    if (err?.code !== 'ENOENT') throw err;
  }
}
module.exports = (loaded ?? load(cacheOf(file))).exports;
module.exports.load = load;
/** Which bundle this process runs (the tests' window on the choice above). */
module.exports.bundleFile = loaded ? sendFile : file;
