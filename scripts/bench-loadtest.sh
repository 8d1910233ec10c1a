#!/usr/bin/env bash
# Benchmarks loadtest against redis-benchmark on the same machine and the
# same Redis, and measures a large run.
#
#   scripts/bench-loadtest.sh            # throughput: A/B interleaved, medians, ratio
#   scripts/bench-loadtest.sh users5000  # 5,000 users for 60 s: errors, p99, peak RSS
#
# Settings (environment): ROUNDS (default 3) A/B pairs; SECONDS_PER_RUN
# (default 10); USERS (default 50) connections on both sides; KEYSPACE
# (default 10000); VALUE_SIZE (default 3, redis-benchmark's default).
#
# It starts one redis-server on 127.0.0.1 on a free port with no
# persistence, runs everything against it, and stops it by PID on exit.
# Every loop is bounded by ROUNDS and every run by its own duration.
set -euo pipefail

MODE="${1:-throughput}"
ROUNDS="${ROUNDS:-3}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-10}"
USERS="${USERS:-50}"
KEYSPACE="${KEYSPACE:-10000}"
VALUE_SIZE="${VALUE_SIZE:-3}"

cd "$(dirname "$0")/.."
for tool in redis-server redis-benchmark redis-cli python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found (apt-get install redis-server python3)" >&2; exit 2; }
done

echo "bench: building loadtest (release)" >&2
cargo build -p loadtest --release --quiet
LOADTEST="$PWD/target/release/loadtest"

WORK="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
redis-server --bind 127.0.0.1 --port "$PORT" --save "" --appendonly no \
  --protected-mode yes --dir "$WORK" --logfile "$WORK/redis.log" --maxclients 10000 &
REDIS_PID=$!
cleanup() {
  kill "$REDIS_PID" 2>/dev/null || true
  wait "$REDIS_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 1 50); do
  redis-cli -p "$PORT" ping >/dev/null 2>&1 && break
  sleep 0.1
done
redis-cli -p "$PORT" ping >/dev/null
unset REDIS_PASSWORD
TARGET="redis://127.0.0.1:$PORT"
echo "bench: redis-server $(redis-server --version | awk '{print $3}') pid $REDIS_PID on $TARGET, $(nproc) cores" >&2

json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

if [ "$MODE" = "users5000" ]; then
  RUN_S="${SECONDS_PER_RUN_BIG:-60}"
  echo "bench: loadtest --workload getset -u 5000 -r 1000 -t ${RUN_S}s" >&2
  /usr/bin/time -v "$LOADTEST" --target "$TARGET" --workload getset -u 5000 -r 1000 -t "${RUN_S}s" \
    --keyspace "$KEYSPACE" --value-size "$VALUE_SIZE" --no-progress --slo none \
    --no-print-metrics --summary-json "$WORK/big.json" >"$WORK/big.out" 2>"$WORK/big.err"
  RSS_KB="$(awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}' "$WORK/big.err")"
  echo "users5000: users=$(json "$WORK/big.json" "d['users']") duration_s=$(json "$WORK/big.json" "d['duration_s']")" \
    "ops=$(json "$WORK/big.json" "d['ops_total']") ops_per_sec=$(json "$WORK/big.json" "d['ops_per_sec']")" \
    "errors=$(json "$WORK/big.json" "d['errors_total']") p50_us=$(json "$WORK/big.json" "d['latency_us']['p50']")" \
    "p99_us=$(json "$WORK/big.json" "d['latency_us']['p99']") p999_us=$(json "$WORK/big.json" "d['latency_us']['p999']")" \
    "peak_rss_mib=$((RSS_KB / 1024))"
  exit 0
fi

# Size redis-benchmark's request count for about SECONDS_PER_RUN seconds:
# a short calibration run gives the rate; -t set,get runs N SETs then N GETs.
calib="$(redis-benchmark -h 127.0.0.1 -p "$PORT" -c "$USERS" -n 200000 -r "$KEYSPACE" -d "$VALUE_SIZE" -t set,get --csv | tail -n +2)"
rate="$(echo "$calib" | awk -F'"' '{s+=$4; n++} END {printf "%d", s/n}')"
N=$(( rate * SECONDS_PER_RUN / 2 ))
echo "bench: calibration ${rate} ops/s -> redis-benchmark -n $N (SET and GET each)" >&2

bench_a() {
  # Combined ops/s of the SET and GET phases: total requests / total time.
  redis-benchmark -h 127.0.0.1 -p "$PORT" -c "$USERS" -n "$N" -r "$KEYSPACE" -d "$VALUE_SIZE" -t set,get --csv \
    | tail -n +2 | awk -F'"' -v n="$N" '{t += n / $4; c += n} END {printf "%.0f", c / t}'
}
bench_b() {
  "$LOADTEST" --target "$TARGET" --workload getset --connection per-user -u "$USERS" -r 500 -t "${SECONDS_PER_RUN}s" \
    --keyspace "$KEYSPACE" --value-size "$VALUE_SIZE" --get-ratio 0.5 --no-progress --slo none \
    --no-print-metrics --summary-json "$WORK/b.json" >"$WORK/b.out" 2>"$WORK/b.err"
  json "$WORK/b.json" "round(d['ops_per_sec'])"
  echo "  loadtest overhead per op: goose=$(json "$WORK/b.json" "d['overhead']['goose_record_ns_per_op']") ns" \
    "hdr=$(json "$WORK/b.json" "d['overhead']['hdr_record_ns_per_op']") ns p99=$(json "$WORK/b.json" "d['latency_us']['p99']") us" >&2
}

A=(); B=()
for i in $(seq 1 "$ROUNDS"); do
  a="$(bench_a)"; A+=("$a"); echo "round $i: redis-benchmark ${a} ops/s" >&2
  b="$(bench_b)"; B+=("$b"); echo "round $i: loadtest        ${b} ops/s" >&2
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else printf "%.0f\n", (v[NR/2]+v[NR/2+1])/2}'; }
MA="$(median "${A[@]}")"; MB="$(median "${B[@]}")"
echo "redis-benchmark -c $USERS -t set,get (no pipelining): median ${MA} ops/s over ${ROUNDS} runs (${A[*]})"
echo "loadtest --workload getset -u $USERS --connection per-user: median ${MB} ops/s over ${ROUNDS} runs (${B[*]})"
python3 -c "print(f'ratio loadtest/redis-benchmark: {$MB/$MA:.3f}')"
