import type { ChalkInstance } from 'chalk';

let stderrColor: ChalkInstance | undefined;

/**
 * Colour for stderr, decided once: chalk honours NO_COLOR / FORCE_COLOR and
 * turns itself off when the stream is not a terminal. Loaded on first use:
 * chalk costs ~4 ms of a start, and a `send` that succeeds prints nothing to
 * stderr.
 */
export async function errColor(): Promise<ChalkInstance> {
  if (!stderrColor) {
    const { Chalk, chalkStderr } = await import('chalk');
    stderrColor = process.env.NO_COLOR ? new Chalk({ level: 0 }) : chalkStderr;
  }
  return stderrColor;
}
