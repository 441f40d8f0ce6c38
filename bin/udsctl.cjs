#!/bin/sh
":" //; [ ! -d /proc/self/fd ] || { [ -e /proc/self/fd/1 ] && export UDSCTL_STDOUT_CLOSED=0 || export UDSCTL_STDOUT_CLOSED=1; }; unset NODE_EXTRA_CA_CERTS; exec node "$0" "$@"
// Read by sh, then by Node. sh: a stdout closed by the caller (>&-) is seen here, before Node reopens
// fd 1 on /dev/null (read-write, just as Python's DEVNULL hands it over), and said either way; run by
// node directly, src/io.ts judges alone. NODE_EXTRA_CA_CERTS (set by many CI images for a corporate
// CA) makes Node 20 parse that bundle at start, ~50 ms before any JavaScript runs, and udsctl makes
// no TLS connection. Node resolves this file's symlinks itself, so "$0" is enough.
// Node: the line above is a string and a comment.
require('../dist/launch.cjs').main(process.argv).then((status) => (process.exitCode = status));
