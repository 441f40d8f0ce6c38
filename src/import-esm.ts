/**
 * import() of an ES-module-only package (ora). The CLI bundle runs inside a
 * vm.Script (for V8's code cache, see scripts/launch.cjs), where a bare
 * import() has no module loader on Node 20; the launcher lends its own.
 */
export function importEsm<T>(specifier: string): Promise<T> {
  const lent = (globalThis as Record<symbol, unknown>)[Symbol.for('udsctl.importEsm')] as
    | ((s: string) => Promise<T>)
    | undefined;
  return lent ? lent(specifier) : (import(specifier) as Promise<T>);
}
