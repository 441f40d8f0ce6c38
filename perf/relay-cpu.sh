#!/bin/bash
# CPU a connection of each process, direct and through relays, in front of the
# Go one-shot server (perf/build/go-server, built by `npm run perf`):
#   direct, udsctl's tap (serve -q --upstream: the epoll relay), haproxy, nginx's stream proxy
# from utime+stime in /proc/PID/stat around `udsctl bench -m oneshot -c 64 -d 3s`.
# Usage: perf/relay-cpu.sh [rounds]   env: TAP_ARGS (extra serve arguments, e.g. "--engine net"),
#        QUIET (default -q; QUIET= logs to a file), ONLY_TAP=1 (skip haproxy and nginx).
# haproxy and nginx are skipped when missing (apt-get install haproxy libnginx-mod-stream).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
GO=$ROOT/perf/build/go-server
UDSCTL=$ROOT/bin/udsctl.cjs
[ -x "$GO" ] || { echo "relay-cpu: $GO is missing: run npm run perf (or node perf/build.mjs) first" >&2; exit 2; }
D=$(mktemp -d /tmp/udsctl-relay-cpu.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$D"; }
trap cleanup EXIT
ticks() { awk '{s+=$14+$15} END{print s}' "/proc/$1/stat"; }
"$GO" -path "$D/up.sock" >/dev/null & GP=$!; PIDS+=($GP)
"$GO" -path "$D/direct.sock" >/dev/null & GD=$!; PIDS+=($GD)
node "$UDSCTL" serve ${QUIET--q} --backlog 4096 ${TAP_ARGS:-} --upstream "$D/up.sock" "$D/tap.sock" 2>"$D/tap.log" & TP=$!; PIDS+=($TP)
HP= NP=
if [ -z "${ONLY_TAP:-}" ] && command -v haproxy >/dev/null; then
  printf 'global\n  nbthread 1\n  maxconn 4096\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\nfrontend f\n  bind unix@%s\n  default_backend b\nbackend b\n  server s1 unix@%s\n' "$D/hap.sock" "$D/up.sock" > "$D/haproxy.cfg"
  haproxy -db -f "$D/haproxy.cfg" >/dev/null 2>&1 & HP=$!; PIDS+=($HP)
fi
MOD=/usr/lib/nginx/modules/ngx_stream_module.so
if [ -z "${ONLY_TAP:-}" ] && command -v nginx >/dev/null && [ -f $MOD ]; then
  mkdir -p "$D/ng"
  printf 'load_module %s;\ndaemon off; master_process off; worker_processes 1; pid %s/ng/pid; error_log %s/ng/err.log;\nevents { worker_connections 4096; }\nstream { server { listen unix:%s backlog=4096; proxy_pass unix:%s; } }\n' $MOD "$D" "$D" "$D/ng.sock" "$D/up.sock" > "$D/nginx.conf"
  nginx -c "$D/nginx.conf" -p "$D/ng" >/dev/null 2>&1 & NP=$!; PIDS+=($NP)
fi
for _ in $(seq 100); do [ -S "$D/tap.sock" ] && [ -S "$D/direct.sock" ] && [ -S "$D/up.sock" ] && break; sleep 0.1; done
sleep 0.5
run() { # label socket server-pid relay-pid
  local g0 g1 r0=0 r1=0 t0 t1
  g0=$(ticks "$3"); [ -n "$4" ] && r0=$(ticks "$4")
  t0=$(awk '{print $16+$17}' /proc/$$/stat)
  node "$UDSCTL" bench -m oneshot -c 64 -d 3s --json "$2" > "$D/out.json" 2>/dev/null
  t1=$(awk '{print $16+$17}' /proc/$$/stat)
  g1=$(ticks "$3"); [ -n "$4" ] && r1=$(ticks "$4")
  node -e '
    const [file, label, bench, go, relay, hasRelay] = process.argv.slice(1);
    const j = JSON.parse(require("fs").readFileSync(file)); const n = j.requests.total;
    const us = (t) => (t * 1e4 / n).toFixed(1); // clock ticks of 10 ms
    console.log(`${label.padEnd(8)} ${String(Math.round(j.throughput.requestsPerSec)).padStart(6)} conn/s, ${j.requests.errors} errors | CPU us a connection: bench ${us(+bench)}, Go server ${us(+go)}, relay ${hasRelay === "1" ? us(+relay) : "-"}`);
  ' "$D/out.json" "$1" $((t1 - t0)) $((g1 - g0)) $((r1 - r0)) "$([ -n "$4" ] && echo 1 || echo 0)"
}
for _ in $(seq "${1:-2}"); do
  run direct "$D/direct.sock" "$GD" ""
  run udsctl "$D/tap.sock" "$GP" "$TP"
  [ -n "$HP" ] && run haproxy "$D/hap.sock" "$GP" "$HP"
  [ -n "$NP" ] && run nginx "$D/ng.sock" "$GP" "$NP"
done
