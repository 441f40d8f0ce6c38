import { Chalk, type ChalkInstance } from 'chalk';
import { chalkStderr } from 'chalk';

/**
 * Colour is decided once per stream: chalk honours NO_COLOR / FORCE_COLOR and
 * turns itself off when the stream is not a terminal.
 */
export const errColor: ChalkInstance = process.env.NO_COLOR ? new Chalk({ level: 0 }) : chalkStderr;
