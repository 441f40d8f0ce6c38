#!/bin/bash
# hold 10,000 sockets, run ls --watch 1s for 30 s, report its CPU share
ROOT=$(cd "$(dirname "$0")/.." && pwd)
D=$(mktemp -d /tmp/fbXXXX)
exec 3< <(sleep 100000)
python3 $ROOT/test/fixtures/ls-peers.py farm 10000 $D <&3 > $D.out &
F=$!
while ! grep -q ready $D.out; do sleep 0.2; done
node $ROOT/bin/udsctl.cjs ls --watch 1s > /dev/null &
W=$!
sleep 5
T0=$(awk '{print $14+$15}' /proc/$W/stat)
sleep 30
T1=$(awk '{print $14+$15}' /proc/$W/stat)
echo "watch over 30 s with 10,000 sockets: $((T1-T0)) ticks of $(getconf CLK_TCK)/s => $(echo "scale=2; ($T1-$T0)/$(getconf CLK_TCK)/30*100" | bc)% of a core; load $(cut -d' ' -f1 /proc/loadavg)"
kill -TERM $W; wait $W; echo "watch exit $?"
kill $F; rm -rf $D $D.out
