#!/usr/bin/env bash
# ins.sh - the INS benchmark: generate and import an N-identity reference base (default 10,000,000)
# on SQLite, then measure POST /insi/v1/rechercher (traits of random identities of the base) with
# wrk. Reports the generation and import times, lookups/s, p50/p99 and the server's RSS, into
# bench/results-ins.md. The base is kept in $WORK between runs.
#
#   bench/ins.sh                     # N=10000000 RUNS=3 DURATION=10 CONNECTIONS=64
#   N=1000000 RUNS=1 bench/ins.sh    # quicker
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000000}
PORT=${PORT:-18081}
. bench/common.sh
DATA="$WORK/ins-$N"
CSV="$WORK/ins-$N.csv"
out=bench/results-ins.md
mkdir -p "$WORK"
make -s build/socle

if [ ! -f "$DATA/.loaded" ]; then
  rm -rf "$DATA"; mkdir -p "$DATA"
  start=$(date +%s%N)
  [ -s "$CSV" ] || $SOCLE ins generate --count "$N" --seed 1 --out "$CSV"
  gen=$(( ($(date +%s%N) - start) / 1000000 ))
  start=$(date +%s%N)
  $SOCLE ins import "$CSV" --data "$DATA" --sqlite-synchronous NORMAL --log-level warn &
  ipid=$!
  peak=0
  while kill -0 $ipid 2>/dev/null; do   # the import's peak RSS, sampled
    r=$(awk '/VmHWM/ {print int($2/1024)}' /proc/$ipid/status 2>/dev/null || echo 0)
    [ "${r:-0}" -gt "$peak" ] && peak=$r
    sleep 1
  done
  wait $ipid
  imp=$(( ($(date +%s%N) - start) / 1000000 ))
  echo "generation of $N identities: $((gen / 1000)) s; import: $((imp / 1000)) s ($(( N * 1000 / (imp > 0 ? imp : 1) )) identities/s), import RSS peak ${peak} MB" | tee "$DATA/.loaded"
fi

# 100,000 request bodies from random lines of the base (every 1 in N/100000 lines).
SAMPLE="$WORK/ins-$N.sample.jsonl"
if [ ! -s "$SAMPLE" ]; then
  python3 - "$CSV" "$SAMPLE" "$N" <<'PY'
import csv, json, sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
step = max(1, n // 100000)
with open(src, encoding="utf-8") as f, open(dst, "w", encoding="utf-8") as o:
    for i, r in enumerate(csv.DictReader(f)):
        if i % step == 0:
            o.write(json.dumps({"traits": {"nomNaissance": r["nom_naissance"], "prenoms": r["prenoms"].split(" ")[:1],
                    "sexe": r["sexe"], "dateNaissance": r["date_naissance"]}}, ensure_ascii=False) + "\n")
PY
fi

$SOCLE serve --data "$DATA" --listen 127.0.0.1:$PORT --log-level warn 2> "$WORK/ins-server.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
wait_ready "http://127.0.0.1:$PORT" $pid
BENCH_TOKEN=$($SOCLE token issue --data "$DATA" --sub 810000000001 --kind professional --profession 10 \
  --structure bench --ttl 86400)
export BENCH_TOKEN BENCH_SAMPLE="$SAMPLE"

wrk_runs insi.lua
med=$MEDIAN
all=$ALL
rss=$(awk '/VmRSS/ {print int($2/1024)}' /proc/$pid/status)
set -- $med
{
  echo "# INS benchmark — $(date -u +%Y-%m-%d) — $(nproc) cores, N=$N identities, SQLite"
  echo
  echo "wrk -t2 -c$CONNECTIONS -d${DURATION}s, $RUNS runs (median shown); server and wrk share the machine."
  echo
  echo "| scenario | req/s | p50 ms | p99 ms | non-2xx | runs (req/s) |"
  echo "|---|---|---|---|---|---|"
  echo "| INSi rechercher (traits, professional token) | $1 | $2 | $3 | $4 | $all |"
  echo
  echo "Server RSS after the runs: ${rss} MB; $(cat "$DATA/.loaded")."
} | tee "$out"
