'use strict';
// Loads the bundled CLI (dist/udsctl.cjs) with V8's code cache, made at build
// time (dist/udsctl.cjs.cache): compiling the bundle is the largest start-up
// cost we control, and Node 20 has no compile cache of its own. If the cache is
// missing or rejected (another Node version), V8 compiles as usual.
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const { Script } = require('node:vm');

const file = join(__dirname, 'udsctl.cjs');

/**
 * Compile the bundle (with the cache when there is one); returns the Script and
 * its exports. The wrapper is CommonJS's own (Module.wrap); the bundle's require
 * is ours, which resolves from this same folder (node:module not loaded for it).
 */
function load(cachedData) {
  const source = `(function (exports, require, module, __filename, __dirname) { ${readFileSync(file, 'utf8')}\n});`;
  const script = new Script(source, { filename: file, cachedData });
  const mod = { exports: {} };
  script.runInThisContext()(mod.exports, require, mod, file, __dirname);
  return { script, exports: mod.exports };
}

// A bare import() inside a vm.Script has no loader on Node 20: lend ours.
globalThis[Symbol.for('udsctl.importEsm')] = (specifier) => import(specifier);

let cache;
try {
  cache = readFileSync(`${file}.cache`);
} catch {
  cache = undefined;
}
module.exports = load(cache).exports;
module.exports.load = load;
