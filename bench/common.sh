# common.sh - what the benchmark scripts share (sourced, not run): the knobs' defaults, and
# wrk_runs, which runs a wrk script RUNS times on a warm page cache and keeps the median.
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
WORK=${WORK:-/tmp/socle-bench}
SOCLE=./build/socle

# wrk's latency lines are "50%  1.23ms"; convert to milliseconds.
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; printf "%.2f", v}'; }

# The machines here reclaim idle page cache proactively (DAMON), so a database that was read a
# minute ago may be back on disk: read it once before each run so every run starts warm.
warm() { cat "$DATA"/socle.db* > /dev/null 2>&1 || true; }

# wait_ready URL PID - wait until URL/healthz answers, as long as the server PID lives: the first
# start of a new version on a big data set may run migrations for minutes. Fails if the server
# exits, or after 30 minutes.
wait_ready() {
  local i
  for i in $(seq 1 9000); do
    curl -sf --max-time 5 "$1/healthz" >/dev/null && kill -0 "$2" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { echo "the server at $1 exited before answering" >&2; return 1; }
    [ "$i" = 50 ] && echo "waiting for the server at $1 (migrating the data set?)" >&2
    sleep 0.2
  done
  echo "the server at $1 did not answer within 30 minutes" >&2
  return 1
}

# Server CPU time (user + system, clock ticks) of process $1 so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# wrk_runs SCRIPT - RUNS runs of bench/SCRIPT against 127.0.0.1:$PORT; sets MEDIAN to the median
# run by req/s ("req/s p50_ms p99_ms non2xx") and ALL to every run's req/s ("a/b/c"). With
# SERVER_PID set, also CPU_US: the server's CPU time per request (microseconds) of each run
# ("a/b/c"), steadier than req/s on a noisy machine because it does not count the time the server
# waited for the CPU.
wrk_runs() {
  local script=$1 results=() cpus=() o rps p50 p99 errors i c0 c1
  local hz; hz=$(getconf CLK_TCK)
  for i in $(seq 1 "$RUNS"); do
    export BENCH_RUN=$i   # scripts that spend one-time values (codes) take a fresh slice per run
    warm
    [ -n "${SERVER_PID:-}" ] && c0=$(cpu_ticks "$SERVER_PID")
    o=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "bench/$script" "http://127.0.0.1:$PORT")
    rps=$(echo "$o" | awk '/Requests\/sec/ {printf "%.0f", $2}')
    p50=$(echo "$o" | awk '$1=="50%" {print $2}' | to_ms)
    p99=$(echo "$o" | awk '$1=="99%" {print $2}' | to_ms)
    errors=$(echo "$o" | awk '/Non-2xx/ {print $NF}')
    results+=("$rps $p50 $p99 ${errors:-0}")
    if [ -n "${SERVER_PID:-}" ]; then
      c1=$(cpu_ticks "$SERVER_PID")
      cpus+=("$(awk -v t=$((c1 - c0)) -v hz="$hz" -v r="$rps" -v d="$DURATION" 'BEGIN {printf "%.0f", (r > 0 ? t / hz * 1e6 / (r * d) : 0)}')")
    fi
  done
  MEDIAN=$(printf '%s\n' "${results[@]}" | sort -n | awk -v n="$RUNS" 'NR==int((n+1)/2)')
  ALL=$(printf '%s\n' "${results[@]}" | awk '{printf "%s%s", sep, $1; sep="/"}')
  CPU_US=$(printf '%s\n' "${cpus[@]:-}" | awk 'NF {printf "%s%s", sep, $1; sep="/"}')
}
