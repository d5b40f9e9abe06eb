#!/usr/bin/env bash
# run.sh - the foundation benchmark: 1,000,000 synthetic Patients on SQLite, then wrk measures
# authenticated FHIR read by id, search by identifier, create, and the HTTP layer's own ceiling
# (the same response size served by /_bench/static). Each scenario runs RUNS times; the table
# reports the median run (req/s, p50, p99) and the server's RSS.
#
#   bench/run.sh                 # N=1000000 RUNS=3 DURATION=10 CONNECTIONS=64
#   N=100000 RUNS=1 bench/run.sh # quicker
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
PORT=${PORT:-18080}
WORK=${WORK:-/tmp/socle-bench}
SOCLE=./build/socle
mkdir -p "$WORK"
DATA="$WORK/data-$N"
out=bench/results.md

if [ ! -f "$DATA/.loaded" ]; then
  rm -rf "$DATA"; mkdir -p "$DATA"
  echo "generating and importing $N patients..."
  [ -s "$WORK/patients-$N.ndjson" ] || python3 bench/gen_patients.py "$N" > "$WORK/patients-$N.ndjson"
  start=$(date +%s)
  $SOCLE import ndjson "$WORK/patients-$N.ndjson" --data "$DATA" \
    --sqlite-synchronous NORMAL --log-level warn
  echo "import of $N patients: $(( $(date +%s) - start )) s" | tee "$DATA/.loaded"
fi

$SOCLE serve --data "$DATA" --listen 127.0.0.1:$PORT --bench-routes true --log-level warn \
  2> "$WORK/server.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
export BENCH_N=$N
BENCH_TOKEN=$($SOCLE token issue --data "$DATA" --sub bench --kind system --ttl 86400)
export BENCH_TOKEN
BENCH_SIZE=$(curl -s -H "Authorization: Bearer $BENCH_TOKEN" "http://127.0.0.1:$PORT/fhir/Patient/bench-0000001" | wc -c)
export BENCH_SIZE

# wrk's latency lines are "50%  1.23ms"; convert to milliseconds.
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; printf "%.2f", v}'; }

# The machines here reclaim idle page cache proactively (DAMON), so a database that was read a
# minute ago may be back on disk: read it once before each run so every run starts warm.
warm() { cat "$DATA"/socle.db* > /dev/null 2>&1 || true; }

scenario() { # name script
  local name=$1 script=$2 results=()
  for r in $(seq 1 "$RUNS"); do
    warm
    local o
    o=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "bench/$script" "http://127.0.0.1:$PORT")
    local rps p50 p99 errors
    rps=$(echo "$o" | awk '/Requests\/sec/ {printf "%.0f", $2}')
    p50=$(echo "$o" | awk '$1=="50%" {print $2}' | to_ms)
    p99=$(echo "$o" | awk '$1=="99%" {print $2}' | to_ms)
    errors=$(echo "$o" | awk '/Non-2xx/ {print $4}')
    results+=("$rps $p50 $p99 ${errors:-0}")
  done
  # median by req/s
  local med
  med=$(printf '%s\n' "${results[@]}" | sort -n | awk -v n="$RUNS" 'NR==int((n+1)/2)')
  local all
  all=$(printf '%s\n' "${results[@]}" | awk '{printf "%s%s", sep, $1; sep="/"}')
  set -- $med
  printf '| %s | %s | %s | %s | %s | %s |\n' "$name" "$1" "$2" "$3" "$4" "$all" | tee -a "$out.tmp"
}

: > "$out.tmp"
scenario "HTTP ceiling (/_bench/static, ${BENCH_SIZE} B)" static.lua
scenario "FHIR read by id (authenticated)" read.lua
scenario "FHIR search by identifier" search.lua
scenario "FHIR create" create.lua
rss=$(awk '/VmRSS/ {print int($2/1024)}' /proc/$pid/status)
hwm=$(awk '/VmHWM/ {print int($2/1024)}' /proc/$pid/status)
db=$(du -sm "$DATA" | cut -f1)
{
  echo "# Foundation benchmark — $(date -u +%Y-%m-%d) — $(nproc) cores, N=$N patients, SQLite"
  echo
  echo "wrk -t2 -c$CONNECTIONS -d${DURATION}s, $RUNS runs each (median shown; all runs' req/s listed); server and wrk share the machine."
  echo
  echo "| scenario | req/s | p50 ms | p99 ms | non-2xx | runs (req/s) |"
  echo "|---|---|---|---|---|---|"
  cat "$out.tmp"
  echo
  echo "Server RSS after the runs: ${rss} MB (peak ${hwm} MB); data directory ${db} MB; $(cat "$DATA/.loaded")."
} > "$out"
rm -f "$out.tmp"
cat "$out"
