#!/bin/bash
# Run from anywhere, as root (50,000 sockets need several processes: the open-file limit).
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# usage: scripts/ls-farm-bench.sh N  -- hold N sockets in python children (at most 12,500 each: the fd limit), time udsctl ls and ss -xlp
N=$1
D=$(mktemp -d /tmp/fbXXXX)
exec 3< <(sleep 100000)
K=$(( (N + 12499) / 12500 ))
PIDS=()
for k in $(seq 1 $K); do
  mkdir $D/$k
  python3 $ROOT/test/fixtures/ls-peers.py farm $(( N / K )) $D/$k <&3 > $D/$k.out &
  PIDS+=($!)
done
for k in $(seq 1 $K); do
  for i in $(seq 1 600); do grep -q ready $D/$k.out 2>/dev/null && break; sleep 0.2; done
done
echo "N=$N: $(grep -c . /proc/net/unix) rows in /proc/net/unix; load $(cut -d' ' -f1 /proc/loadavg)"
hyperfine -N -w 2 -r ${RUNS:-10} "node $ROOT/bin/udsctl.cjs ls" "ss -xlp" "node $ROOT/bin/udsctl.cjs --version" 2>&1 | grep -E "Benchmark|Time|Range"
kill ${PIDS[@]}; wait ${PIDS[@]} 2>/dev/null; exec 3<&-; rm -rf $D
