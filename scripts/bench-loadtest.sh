#!/usr/bin/env bash
# Benchmarks loadtest against redis-benchmark and memtier_benchmark on the
# same machine and the same Redis, and runs the runbooks' 5,000-user scenario.
#
#   scripts/bench-loadtest.sh            # getset, 50 connections: throughput and
#                                        # client CPU per operation, A B C rounds
#                                        # interleaved, medians, spread, ratios
#   scripts/bench-loadtest.sh users5000  # 5,000 users, one connection each, the
#                                        # mixed application pattern, open loop
#   scripts/bench-loadtest.sh users5000-closed  # the same users closed loop
#                                        # (no think time): the saturation figure
#
# Settings (environment): ROUNDS (default 3) rounds of A B C; SECONDS_PER_RUN
# (default 10); USERS (default 50) connections for every tool; KEYSPACE
# (default 10000); VALUE_SIZE (default 3, redis-benchmark's default);
# MEMTIER_BIN (default: memtier_benchmark on PATH; skipped with one loud line
# when absent); DRIVERS (default both: loadtest with --driver lean, the
# default, and with --driver redis-rs in every round; `lean` for lean only). users5000: RATE (default 10000) actions/s over all users,
# SECONDS_PER_RUN_BIG (default 60).
#
# CPU per operation is user + system time of the whole client process
# (/usr/bin/time) divided by the operations it completed, the same way for
# all three tools. The machine is shared by whatever else runs on it: the
# rounds are interleaved so a busy moment hits every tool, and the spread
# (min-max over the rounds) is printed next to each median.
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
for tool in redis-server redis-benchmark redis-cli python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found (apt-get install redis-server redis-tools python3 time)" >&2; exit 2; }
done
MEMTIER="${MEMTIER_BIN:-$(command -v memtier_benchmark || true)}"

echo "bench: building loadtest (release)" >&2
cargo build -p loadtest --release --quiet
LOADTEST="$PWD/target/release/loadtest"

# 5,000 connections need 5,000 descriptors on each side (plus a few).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 10240 ] && [ "${MODE#users5000}" != "$MODE" ]; then
  echo "bench: open-files limit $(ulimit -n) is below 10240; 5,000 users need more (raise the hard limit)" >&2
  exit 2
fi

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
echo "bench: redis-server $(redis-server --version | awk '{print $3}') pid $REDIS_PID on $TARGET, $(nproc) cores, $(date -u +%FT%TZ)" >&2

json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
# CPU seconds (user, system) of a command run under: /usr/bin/time -f '%U %S' -o FILE
cpu_of() { tail -n 1 "$1"; }
per_op_us() { python3 -c "import sys; u,s=map(float,sys.argv[1].split()); n=int(sys.argv[2]); print(f'{(u+s)*1e6/n:.1f} {u*1e6/n:.1f} {s*1e6/n:.1f}')" "$1" "$2"; }

if [ "${MODE#users5000}" != "$MODE" ]; then
  RUN_S="${SECONDS_PER_RUN_BIG:-60}"
  RATE="${RATE:-10000}"
  WORKLOAD="ratelimit-sliding,session,lockout,idempotency"
  if [ "$MODE" = users5000-closed ]; then
    PACE=(); DESC="closed loop (no think time)"
  else
    PACE=(--rate "$RATE"); DESC="open loop at $RATE actions/s"
  fi
  echo "bench: loadtest --workload $WORKLOAD -u 5000 ${PACE[*]} -t ${RUN_S}s ($DESC)" >&2
  /usr/bin/time -v "$LOADTEST" --target "$TARGET" --workload "$WORKLOAD" -u 5000 "${PACE[@]}" -t "${RUN_S}s" \
    --clients 5000 --no-progress --slo 'invariants==0' \
    --summary-json "$WORK/big.json" >"$WORK/big.out" 2>"$WORK/big.err" || {
      rc=$?; if [ ! -s "$WORK/big.json" ]; then echo "bench: loadtest failed ($rc):" >&2; tail -5 "$WORK/big.err" >&2; exit 2; fi; }
  RSS_KB="$(awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}' "$WORK/big.err")"
  cat "$WORK/big.out"
  python3 - "$WORK/big.json" "$RSS_KB" "$DESC" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1])); rss = int(sys.argv[2]) // 1024; desc = sys.argv[3]
lat, svc = d["latency_us"], d["service_time_us"]
viol = sum(d["invariants"].values())
print(f"users5000 ({desc}): {d['users']:,} users at {d['ops_per_sec']:,.0f} ops/s "
      f"(Redis round trips; {d['ops_total']:,} in {d['duration_s']:.1f} s): "
      f"mean {lat['mean']:.0f} µs, p99 {lat['p99']} µs, p99.9 {lat['p999']} µs, "
      f"{d['errors_total']} errors, {viol} invariant violations, peak RSS {rss} MiB")
print(f"  service time (from the actual send): mean {svc['mean']:.0f} µs, p99 {svc['p99']} µs, "
      f"p99.9 {svc['p999']} µs; late operations {d.get('late_ops', 0):,}; "
      f"client CPU {d['overhead']['cpu_user_us_per_op'] + d['overhead']['cpu_sys_us_per_op']:.1f} µs/op")
EOF
  exit 0
fi

# Size redis-benchmark's request count for about SECONDS_PER_RUN seconds:
# a short calibration run gives the rate; -t set,get runs N SETs then N GETs.
calib="$(redis-benchmark -h 127.0.0.1 -p "$PORT" -c "$USERS" -n 200000 -r "$KEYSPACE" -d "$VALUE_SIZE" -t set,get --csv | tail -n +2)"
rate="$(echo "$calib" | awk -F'"' '{s+=$4; n++} END {printf "%d", s/n}')"
N=$(( rate * SECONDS_PER_RUN / 2 ))
echo "bench: calibration ${rate} ops/s -> redis-benchmark -n $N (SET and GET each)" >&2
if [ -z "$MEMTIER" ] || [ ! -x "$MEMTIER" ]; then
  echo "bench: SKIPPING memtier_benchmark: not on PATH and MEMTIER_BIN not set; its column and ratio are left out" >&2
  MEMTIER=""
fi

# Each prints "ops/s cpu_total_us_per_op cpu_user_us_per_op cpu_sys_us_per_op".
bench_a() {
  /usr/bin/time -f '%U %S' -o "$WORK/a.time" \
    redis-benchmark -h 127.0.0.1 -p "$PORT" -c "$USERS" -n "$N" -r "$KEYSPACE" -d "$VALUE_SIZE" -t set,get --csv >"$WORK/a.csv"
  # Combined ops/s of the SET and GET phases: total requests / total time.
  local ops; ops="$(tail -n +2 "$WORK/a.csv" | awk -F'"' -v n="$N" '{t += n / $4; c += n} END {printf "%.0f", c / t}')"
  echo "$ops $(per_op_us "$(cpu_of "$WORK/a.time")" $((2 * N)))"
}
bench_b() {  # $1: --driver (lean or redis-rs)
  /usr/bin/time -f '%U %S' -o "$WORK/b.time" \
    "$LOADTEST" --target "$TARGET" --workload getset --connection per-user --driver "$1" -u "$USERS" -r 500 -t "${SECONDS_PER_RUN}s" \
    --keyspace "$KEYSPACE" --value-size "$VALUE_SIZE" --get-ratio 0.5 --no-progress --slo none \
    --summary-json "$WORK/b.json" >"$WORK/b.out" 2>"$WORK/b.err"
  echo "$(json "$WORK/b.json" "round(d['ops_per_sec'])") $(per_op_us "$(cpu_of "$WORK/b.time")" "$(json "$WORK/b.json" "d['ops_total']")")"
  echo "  loadtest ($1) inside: goose=$(json "$WORK/b.json" "d['overhead']['goose_record_ns_per_op']") ns" \
    "hdr=$(json "$WORK/b.json" "d['overhead']['hdr_record_ns_per_op']") ns" \
    "cpu(getrusage, load only)=$(json "$WORK/b.json" "round(d['overhead']['cpu_user_us_per_op'] + d['overhead']['cpu_sys_us_per_op'], 1)") us/op" \
    "p99=$(json "$WORK/b.json" "d['latency_us']['p99']") us" >&2
}
bench_c() {
  # One thread with USERS connections: the same shape as the other two.
  /usr/bin/time -f '%U %S' -o "$WORK/c.time" \
    "$MEMTIER" -s 127.0.0.1 -p "$PORT" -t 1 -c "$USERS" --test-time="$SECONDS_PER_RUN" --ratio=1:1 \
    --key-pattern=R:R --key-maximum="$KEYSPACE" -d "$VALUE_SIZE" --hide-histogram \
    --json-out-file="$WORK/c.json" >"$WORK/c.out" 2>"$WORK/c.err"
  python3 - "$WORK/c.json" "$(cpu_of "$WORK/c.time")" <<'EOF'
import json, sys
t = json.load(open(sys.argv[1]))["ALL STATS"]["Totals"]
u, s = map(float, sys.argv[2].split())
n = t.get("Count")  # completed requests; in memtier's JSON since 1.3
if not n:
    sys.exit("bench: memtier JSON has no Totals.Count")
print(f"{t['Ops/sec']:.0f} {(u+s)*1e6/n:.1f} {u*1e6/n:.1f} {s*1e6/n:.1f}")
EOF
}

A=(); B=(); R=(); C=()
for i in $(seq 1 "$ROUNDS"); do
  a="$(bench_a)"; A+=("$a"); echo "round $i: redis-benchmark   ${a% * * *} ops/s, CPU $(echo "$a" | awk '{print $2" µs/op (user "$3", sys "$4")"}')" >&2
  b="$(bench_b lean)"; B+=("$b"); echo "round $i: loadtest          ${b% * * *} ops/s, CPU $(echo "$b" | awk '{print $2" µs/op (user "$3", sys "$4")"}')" >&2
  if [ "${DRIVERS:-both}" = both ]; then
    r="$(bench_b redis-rs)"; R+=("$r"); echo "round $i: loadtest redis-rs ${r% * * *} ops/s, CPU $(echo "$r" | awk '{print $2" µs/op (user "$3", sys "$4")"}')" >&2
  fi
  if [ -n "$MEMTIER" ]; then
    c="$(bench_c)"; C+=("$c"); echo "round $i: memtier_benchmark ${c% * * *} ops/s, CPU $(echo "$c" | awk '{print $2" µs/op (user "$3", sys "$4")"}')" >&2
  fi
done
python3 - "$ROUNDS" "$USERS" "${A[*]}" "${B[*]}" "${C[*]:-}" "${R[*]:-}" <<'EOF'
import statistics, sys
rounds, users = int(sys.argv[1]), sys.argv[2]
def parse(text):
    v = [float(x) for x in text.split()]
    return [v[i:i + 4] for i in range(0, len(v), 4)]
tools = [("redis-benchmark", parse(sys.argv[3])), ("loadtest", parse(sys.argv[4])),
         ("memtier_benchmark", parse(sys.argv[5])), ("loadtest redis-rs", parse(sys.argv[6]))]
med = {}
for name, rows in tools:
    if not rows:
        continue
    cols = list(zip(*rows))
    med[name] = [statistics.median(c) for c in cols]
    print(f"{name:18} getset, {users} connections: median {med[name][0]:,.0f} ops/s "
          f"({min(cols[0]):,.0f}-{max(cols[0]):,.0f}), CPU {med[name][1]:.1f} µs/op "
          f"({min(cols[1]):.1f}-{max(cols[1]):.1f}; user {med[name][2]:.1f}, sys {med[name][3]:.1f}) over {rounds} rounds")
for mine in ("loadtest", "loadtest redis-rs"):
    if mine not in med:
        continue
    lt = med[mine]
    for other in ("redis-benchmark", "memtier_benchmark"):
        if other in med:
            o = med[other]
            print(f"ratio {mine}/{other}: throughput {lt[0] / o[0]:.3f}, CPU per op {lt[1] / o[1]:.3f} "
                  f"(user {lt[2] / o[2]:.3f}, sys {lt[3] / o[3]:.3f})")
if "memtier_benchmark" not in med:
    print("memtier_benchmark: SKIPPED (set MEMTIER_BIN or put it on PATH)")
EOF
