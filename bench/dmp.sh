#!/usr/bin/env bash
# dmp.sh - the DMP benchmarks, into bench/results-dmp.md (bench/results-dmp-postgres.md on PostgreSQL):
#   find   ITI-67 by patient + type (a professional of the care team) at each size of SIZES
#          documents (PER_PATIENT per patient), loaded through the API (ITI-65 bundles);
#   feed   ITI-65 with one 20 KB CDA document per bundle, synchronous=FULL, against the baseline
#          of raw SQLite commits of 20 KB rows (WAL, synchronous=FULL, one per transaction) in
#          the same run.
# Data sets are kept in $WORK between runs (delete $WORK/dmp-* to reload).
#
#   bench/dmp.sh                                   # SIZES="10000 100000 1000000" RUNS=3 DURATION=10
#   SIZES=10000 RUNS=1 bench/dmp.sh                # quicker
#   scripts/with-postgres.sh bench/dmp.sh          # the same on a throwaway PostgreSQL 15
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"10000 100000 1000000"}
PER_PATIENT=${PER_PATIENT:-10}
PORT=${PORT:-18084}
. bench/common.sh
engine=sqlite
[ -n "${SOCLE_TEST_PG_URL:-}" ] && engine=postgres
out=bench/results-dmp.md
[ $engine = postgres ] && out=bench/results-dmp-postgres.md
mkdir -p "$WORK"
make -s build/socle

db_of() { # the database URL of data set $1 (a PostgreSQL database per size)
  if [ $engine = sqlite ]; then echo "sqlite:$1/socle.db"; return; fi
  local name="socle_bench_dmp_$(basename "$1" | tr -c 'a-z0-9\n' '_')"
  psql -X -q -d "${SOCLE_TEST_PG_ADMIN_URL}" -c "CREATE DATABASE \"$name\"" 2>/dev/null || true
  echo "${SOCLE_TEST_PG_URL%/*}/$name"
}

pid=""
start_server() { # data db
  $SOCLE serve --data "$1" --db "$2" --listen 127.0.0.1:$PORT --log-level warn --max-body-bytes 8388608 \
    2>> "$WORK/dmp-server.log" &
  pid=$!
  wait_ready "http://127.0.0.1:$PORT" $pid || exit 1
}
stop_server() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; pid=""; }
trap stop_server EXIT
tok() { $SOCLE token issue --data "$DATA" --ttl 86400 "$@"; }

find_rows=()
for docs in $SIZES; do
  patients=$((docs / PER_PATIENT))
  DATA="$WORK/dmp-$engine-$docs"
  # A throwaway PostgreSQL server starts empty: its data sets are loaded at every run.
  [ $engine = postgres ] && rm -f "$DATA/.loaded"
  if [ ! -f "$DATA/.loaded" ]; then
    rm -rf "$DATA"; mkdir -p "$DATA"
    DB=$(db_of "$DATA")
    $SOCLE ins generate --count $((patients * 3 / 2 + 1000)) --seed 7 --out "$DATA/base.csv"
    $SOCLE ins import "$DATA/base.csv" --data "$DATA" --db "$DB" --log-level warn > /dev/null
    start_server "$DATA" "$DB"
    url="http://127.0.0.1:$PORT"
    python3 bench/dmp_load.py patients "$url" "$(tok --sub bench-admin --kind system --role admin)" \
      "$(tok --sub 810000000099 --kind professional --role identity --profession 10 --structure bench)" \
      "$DATA/base.csv" "$patients" "$DATA/patients.txt"
    load=$(python3 bench/dmp_load.py documents "$url" \
      "$(tok --sub 810000000011 --kind professional --profession 10 --structure bench)" \
      "$DATA/patients.txt" "$PER_PATIENT" 4)
    stop_server
    echo "$load" | tee "$DATA/.loaded"
  fi
  DB=$(db_of "$DATA")
  start_server "$DATA" "$DB"
  # A reader new to every record (a fresh IDNPS per session): the first search of each patient
  # notifies the patient of a first access, as it would in real life.
  BENCH_TOKEN=$(tok --sub "8$(date +%s%N | tail -c 12)" --kind professional --profession 10 --structure bench)
  tail -n +2 "$DATA/patients.txt" > "$DATA/sample.txt"   # the first patient is the feed's target
  export BENCH_TOKEN BENCH_SAMPLE="$DATA/sample.txt"
  wrk_runs dmp_find.lua
  rss=$(awk '/VmRSS/ {print int($2/1024)}' /proc/$pid/status)
  size=$(du -sm "$DATA" | awk '{print $1}')
  set -- $MEDIAN
  find_rows+=("| ITI-67 patient + type, $docs documents / $patients patients | $1 | $2 | $3 | $4 | $ALL | ${rss} MB | ${size} MB |")
  stop_server
done

# Feeding, on the first data set: the server's ITI-65 rate against raw SQLite commits of 20 KB.
DATA="$WORK/dmp-$engine-${SIZES%% *}"
DB=$(db_of "$DATA")
start_server "$DATA" "$DB"
python3 bench/dmp_load.py feed-body "$DATA/base.csv" "$DATA/patients.txt" "$WORK/dmp-feed.json" \
  "http://127.0.0.1:$PORT" "$(tok --sub bench-admin --kind system --role admin)" > "$WORK/dmp-feed.txt"
BENCH_TOKEN=$(tok --sub 810000000011 --kind professional --profession 10 --structure bench)
export BENCH_TOKEN BENCH_BODY="$WORK/dmp-feed.json"
wrk_runs dmp_feed.lua
feed=$MEDIAN
feed_all=$ALL
stop_server
raws=()
for _ in $(seq 1 "$RUNS"); do raws+=("$(python3 bench/dmp_load.py raw-commits "$WORK" "$DURATION")"); done
raw=$(printf '%s\n' "${raws[@]}" | sort -n | awk -v n="$RUNS" 'NR==int((n+1)/2)')
set -- $feed
ratio=$(awk -v a="$1" -v b="$raw" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')

{
  echo "# DMP benchmark — $(date -u +%Y-%m-%d) — $(nproc) cores, $engine"
  echo
  echo "wrk -t2 -c$CONNECTIONS -d${DURATION}s, $RUNS runs (median shown); server and wrk share the machine."
  echo "Documents loaded through ITI-65 (one bundle of $PER_PATIENT text documents per patient, 4 client threads);"
  echo "readers are professionals of the care team (the structure that fed the record), new to every record at the start of each size's runs."
  echo
  echo "| scenario | req/s | p50 ms | p99 ms | non-2xx | runs (req/s) | server RSS | data dir |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${find_rows[@]}"
  echo "| ITI-65 feed, one 20 KB CDA per bundle ($(cat "$WORK/dmp-feed.txt" | sed 's/feed body: //')) | $1 | $2 | $3 | $4 | $feed_all | | |"
  echo
  echo "Raw SQLite commits of 20 KB rows (WAL, synchronous=FULL, one per transaction, one thread), same"
  echo "run: $raw commits/s (runs: $(IFS=/; echo "${raws[*]}")). ITI-65 documents/s ÷ raw commits/s = **$ratio**."
  echo
  echo "Loads: $(for d in $SIZES; do echo -n "$d: $(cat "$WORK/dmp-$engine-$d/.loaded"); "; done)"
} | tee "$out"
