#!/usr/bin/env bash
# annuaire.sh - the directory benchmark: generate the three extracts for N professionals (default
# 2,000,000), import them on SQLite (time and peak RSS), re-import them unchanged, then measure
# searches with wrk: Practitioner by name, PractitionerRole by name of practice and city of the
# structure (a chained parameter), Organization by city. Writes bench/results-annuaire.md; the
# data is kept in $WORK between runs.
#
#   bench/annuaire.sh                  # N=2000000 RUNS=3 DURATION=10 CONNECTIONS=64
#   N=200000 RUNS=1 bench/annuaire.sh  # quicker
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-2000000}
PORT=${PORT:-18082}
. bench/common.sh
DATA="$WORK/annuaire-$N"
EX="$WORK/annuaire-$N-extracts"
out=bench/results-annuaire.md
mkdir -p "$WORK"
make -s build/socle

# import FILES... - run an import, sampling its peak RSS; sets SECS, PEAK and SUMMARY.
import() {
  local start ipid r
  start=$(date +%s%N)
  $SOCLE annuaire import "$@" --data "$DATA" --report-dir "$WORK" --sqlite-synchronous NORMAL --log-level warn \
    > "$WORK/annuaire-import.out" &
  ipid=$!
  PEAK=0
  while kill -0 $ipid 2>/dev/null; do
    r=$(awk '/VmHWM/ {print int($2/1024)}' /proc/$ipid/status 2>/dev/null || echo 0)
    [ "${r:-0}" -gt "$PEAK" ] && PEAK=$r
    sleep 1
  done
  wait $ipid
  SECS=$(( ($(date +%s%N) - start) / 1000000000 ))
  SUMMARY=$(head -1 "$WORK/annuaire-import.out")
}

if [ ! -f "$DATA/.loaded" ]; then
  rm -rf "$DATA"; mkdir -p "$DATA"
  start=$(date +%s%N)
  [ -d "$EX" ] || $SOCLE annuaire generate --count "$N" --seed 1 --out "$EX"
  gen=$(( ($(date +%s%N) - start) / 1000000000 ))
  files=("$EX"/PS_LibreAcces_*.txt "$EX"/Extraction_Correspondance_MSSante_*.txt "$EX"/etalab-*.csv)
  import "${files[@]}"
  first="first import: $SECS s, peak RSS $PEAK MB ($SUMMARY)"
  import "${files[@]}"
  again="unchanged re-import: $SECS s, peak RSS $PEAK MB"
  printf 'generation: %s s\n%s\n%s\n' "$gen" "$first" "$again" | tee "$DATA/.loaded"
fi

# Names of practice and cities to search, from the extract (one in N/20000 lines).
SAMPLE="$WORK/annuaire-$N.sample.tsv"
if [ ! -s "$SAMPLE" ]; then
  awk -F'|' -v step=$(( N / 20000 > 0 ? N / 20000 : 1 )) \
    'NR > 1 && NR % step == 0 && $8 != "" && $38 != "" {print $8 "\t" $38}' "$EX"/PS_LibreAcces_*.txt > "$SAMPLE"
fi

$SOCLE serve --data "$DATA" --listen 127.0.0.1:$PORT --log-level warn 2> "$WORK/annuaire-server.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
wait_ready "http://127.0.0.1:$PORT" $pid
BENCH_TOKEN=$($SOCLE token issue --data "$DATA" --sub 810000000001 --kind professional --profession 10 --ttl 86400)
export BENCH_TOKEN BENCH_SAMPLE="$SAMPLE"

{
  echo "# Directory benchmark ($(date -u +%Y-%m-%d), $(nproc) cores, N=$N professionals)"
  echo
  echo '```'
  cat "$DATA/.loaded"
  echo '```'
  echo
  echo "| search | req/s (median of $RUNS × ${DURATION}s) | runs | p50 ms | p99 ms | non-2xx |"
  echo "|---|---|---|---|---|---|"
} > "$out"
for kind in practitioner-name role-name-city organization-city; do
  BENCH_KIND=$kind
  export BENCH_KIND
  wrk_runs annuaire.lua
  read -r rps p50 p99 errors <<< "$MEDIAN"
  echo "| $kind | $rps | $ALL | $p50 | $p99 | $errors |" >> "$out"
done
rss=$(awk '/VmRSS/ {print int($2/1024)}' /proc/$pid/status)
echo >> "$out"
echo "Server RSS after the runs: $rss MB." >> "$out"
cat "$out"
