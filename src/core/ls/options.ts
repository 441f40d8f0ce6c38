/** ls's choice lists, apart from the lister so that defining the CLI loads nothing else. */
export const LS_TYPES = ['stream', 'seqpacket', 'dgram', 'tcp'] as const;
export type LsType = (typeof LS_TYPES)[number];
export const LS_SORTS = ['name', 'type', 'pid', 'user', 'queue', 'clients', 'service'] as const;
export type LsSort = (typeof LS_SORTS)[number];
