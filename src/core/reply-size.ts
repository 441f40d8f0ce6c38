import type { ExchangeRecord } from './exchange.js';

/**
 * The size of a reply, one definition for probe's human report and its Nagios
 * perfdata (`size=`): the reply as framed by the end rule (--until), the bytes
 * --expect is checked against, counted in full even when only the first
 * --max-reply bytes were kept. Bytes the server sent after the end of the
 * reply (a keep-alive server's next data, an HTTP body after `--until line`)
 * are counted in bytesReceived, not here.
 */
export const replySize = (r: ExchangeRecord): number => r.replyBytes;
