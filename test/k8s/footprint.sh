#!/usr/bin/env bash
# Measures the agent's footprint for the DaemonSet's resource requests
# (BENCHMARKS.md, "Kubernetes DaemonSet sizing"): CPU and resident memory
# idle for 10 s, then during a flood of 5,000 fork+execs of /bin/true, with
# both live sources and the default rules; then the agent's own counters
# from /metrics. As root, holding the kernel lock:
#   go build -o /tmp/ruled ./cmd/ruled && flock /tmp/ruled-kernel.lock test/k8s/footprint.sh /tmp/ruled
set -euo pipefail
bin=${1:?usage: footprint.sh RULED_BINARY}
addr=127.0.0.1:19464
"$bin" -metrics-addr "$addr" -output file:/dev/null -stats-interval 1h 2>/tmp/ruled-footprint.log &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' EXIT
sleep 6
hz=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
c0=$(ticks); sleep 10; c1=$(ticks)
echo "idle: $(((c1 - c0) * 1000 / hz / 10)) millicores over 10 s; $(grep VmRSS "/proc/$pid/status" | tr -s ' \t' ' ')"
c0=$(ticks); t0=$(date +%s%N)
bash -c 'for ((i = 0; i < 5000; i++)); do /bin/true; done'
t1=$(date +%s%N); sleep 2; c1=$(ticks)
ms=$(((t1 - t0) / 1000000))
echo "flood: 5000 execs in $ms ms; agent CPU $(((c1 - c0) * 1000 / hz)) ms ($(((c1 - c0) * 1000000 / hz / 5000)) µs per exec, $(((c1 - c0) * 1000 * 1000 / hz / ms)) millicores over the flood); $(grep -E 'VmHWM' "/proc/$pid/status" | tr -s ' \t' ' ')"
curl -s "http://$addr/metrics" | grep -E '^ruled_(events_received|kernel_lost|socket_overruns|queue_drops)|^process_resident'
