#!/usr/bin/env bash
# run.sh - the foundation benchmark: 1,000,000 synthetic Patients on SQLite, then wrk measures
# authenticated FHIR read by id, search by identifier, create, and the HTTP layer's own ceiling
# (the same response size served by /_bench/static). Each scenario runs RUNS times; the table
# reports the median run (req/s, p50, p99) and the server's RSS. The ceiling and the read alternate
# run by run, and the ratio of each pair is reported with their median.
#
#   bench/run.sh                 # N=1000000 RUNS=3 DURATION=10 CONNECTIONS=64
#   N=100000 RUNS=1 bench/run.sh # quicker
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
PORT=${PORT:-18080}
. bench/common.sh
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
wait_ready "http://127.0.0.1:$PORT" $pid
export BENCH_N=$N
BENCH_TOKEN=$($SOCLE token issue --data "$DATA" --sub bench --kind system --ttl 86400)
export BENCH_TOKEN
BENCH_SIZE=$(curl -s -H "Authorization: Bearer $BENCH_TOKEN" "http://127.0.0.1:$PORT/fhir/Patient/bench-0000001" | wc -c)
export BENCH_SIZE

SERVER_PID=$pid
row() { # name "req/s p50 p99 non2xx" all-runs cpu-runs
  set -- "$1" $2 "$3" "$4"
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4" "$5" "$6" "$7" | tee -a "$out.tmp"
}
scenario() { # name script
  wrk_runs "$2"
  row "$1" "$MEDIAN" "$ALL" "$CPU_US"
}
# The ceiling and the read alternate run by run, so that each read run is set against a ceiling
# run made seconds before it on this noisy machine; RATIOS holds each pair's ratio and their median.
paired() {
  local n=$RUNS i s_runs=() r_runs=() s_all=() r_all=() s_cpu=() r_cpu=() ratios=()
  for i in $(seq 1 "$n"); do
    RUNS=1 wrk_runs static.lua; s_runs+=("$MEDIAN"); s_all+=("$ALL"); s_cpu+=("$CPU_US")
    RUNS=1 wrk_runs read.lua; r_runs+=("$MEDIAN"); r_all+=("$ALL"); r_cpu+=("$CPU_US")
    ratios+=("$(awk -v r="${r_all[-1]}" -v s="${s_all[-1]}" 'BEGIN {printf "%.1f", (s > 0 ? 100 * r / s : 0)}')")
  done
  RUNS=$n
  row "HTTP ceiling (/_bench/static, ${BENCH_SIZE} B)" "$(median_of "${s_runs[@]}")" "$(slashed "${s_all[@]}")" \
    "$(slashed "${s_cpu[@]}")"
  row "FHIR read by id (authenticated)" "$(median_of "${r_runs[@]}")" "$(slashed "${r_all[@]}")" "$(slashed "${r_cpu[@]}")"
  RATIOS="FHIR read / HTTP ceiling, pair by pair: $(slashed "${ratios[@]}") % (median $(median_of "${ratios[@]}") %)"
}
slashed() { local IFS=/; echo "$*"; }
median_of() { printf '%s\n' "$@" | sort -n | awk -v n="$#" 'NR==int((n+1)/2)'; }
: > "$out.tmp"
paired
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
  echo "| scenario | req/s | p50 ms | p99 ms | non-2xx | runs (req/s) | server CPU µs per request (runs) |"
  echo "|---|---|---|---|---|---|---|"
  cat "$out.tmp"
  echo
  echo "$RATIOS."
  echo
  echo "Server RSS after the runs: ${rss} MB (peak ${hwm} MB); data directory ${db} MB; $(cat "$DATA/.loaded")."
} > "$out"
rm -f "$out.tmp"
cat "$out"
