#!/usr/bin/env bash
# psc.sh - Pro Santé Connect's token endpoint and userinfo, side by side with the reference Node
# provider (npm oidc-provider, bench/oidc-provider/) configured the same way: client_secret_basic,
# ES256 ID tokens, PKCE S256, rotated refresh tokens. Each provider gets codes and refresh tokens
# minted ahead (the login is not what is measured), then wrk measures, in one session and
# alternating providers: authorization_code exchanges, refresh_token grants, userinfo. Writes
# bench/results-psc.md with req/s, p50/p99 and the ratio socle / oidc-provider.
#
#   bench/psc.sh                 # RUNS=3 DURATION=10 CONNECTIONS=64
set -euo pipefail
cd "$(dirname "$0")/.."
PORT_SOCLE=${PORT_SOCLE:-18083}
PORT_NODE=${PORT_NODE:-18090}
. bench/common.sh
DATA="$WORK/psc"
NODE_OUT="$WORK/psc-node"
SOCLE_OUT="$WORK/psc-socle"
CODES=${CODES:-300000}
SLICE=$(( CODES / RUNS ))
# Refresh tokens in play per run: two per connection. wrk may send a connection's next request
# before its last answer is read (reconnects); with one token per connection a thread's pool then
# ran dry and the run's rate counted fast "unknown refresh token" answers to the placeholder.
REFRESH_SLICE=$(( CONNECTIONS * 2 ))
out=bench/results-psc.md
mkdir -p "$WORK"
make -s build/socle
(cd bench/oidc-provider && [ -f node_modules/oidc-provider/package.json ] || npm ci --no-audit --no-fund --loglevel=error)

rm -rf "$DATA" "$NODE_OUT" "$SOCLE_OUT"; mkdir -p "$DATA" "$NODE_OUT" "$SOCLE_OUT"
$SOCLE annuaire generate --count 1000 --seed 3 --out "$DATA/extracts" > /dev/null
$SOCLE annuaire import "$DATA"/extracts/PS_* "$DATA"/extracts/Extraction_* "$DATA"/extracts/etalab-* --data "$DATA" \
  --log-level warn > /dev/null
IDNPS=$(awk -F'|' 'NR == 2 {print $3}' "$DATA"/extracts/PS_LibreAcces_*.txt)
SECRET=$($SOCLE oidc client add --id bench --redirect-uri http://127.0.0.1:9/cb/bench --data "$DATA" --log-level warn |
  awk -F= '/client_secret/ {print $2}')
# Mint codes and refresh tokens as logins would leave them (hashes in the store).
python3 - "$DATA/socle.db" "$SOCLE_OUT" "$IDNPS" "$CODES" "$(( REFRESH_SLICE * RUNS ))" <<'PY'
import base64, hashlib, os, sqlite3, sys, time
db, out, idnps, ncodes, nrefresh = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
verifier = "bench-verifier-0123456789abcdefghijklmnopqrstuvwxyz"
challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
h = lambda s: hashlib.sha256(s.encode()).hexdigest()
now = int(time.time())
c = sqlite3.connect(db)
codes = [base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode() for _ in range(ncodes)]
c.executemany("INSERT INTO psc_code VALUES (?, 'bench', ?, 'http://127.0.0.1:9/cb/bench', 'openid scope_all', '', ?,"
              " 'otp', ?, ?, 0)", [(h(x), idnps, challenge, now, now + 7200) for x in codes])
refresh = [base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode() for _ in range(nrefresh)]
c.executemany("INSERT INTO psc_refresh VALUES (?, ?, 'bench', ?, 'openid scope_all', 'otp', ?, ?, 0)",
              [(h(x), h(x), idnps, now, now + 7200) for x in refresh])
c.commit()
for name, values in (("codes.txt", codes), ("refresh.txt", refresh), ("verifier.txt", [verifier])):
    open(os.path.join(out, name), "w").write("\n".join(values) + "\n")
PY
$SOCLE token issue --data "$DATA" --sub "$IDNPS" --kind professional --profession 10 --ttl 86400 > "$SOCLE_OUT/access.txt"

$SOCLE serve --data "$DATA" --listen 127.0.0.1:$PORT_SOCLE --log-level warn 2> "$WORK/psc-server.log" &
spid=$!
(cd bench/oidc-provider && PORT=$PORT_NODE OUT_DIR="$NODE_OUT" CODES=$(( CODES / 3 )) REFRESH=$(( REFRESH_SLICE * RUNS )) \
  exec node server.js > "$WORK/psc-node.log" 2>&1) &
npid=$!
trap 'kill $spid $npid 2>/dev/null || true; wait $spid $npid 2>/dev/null || true' EXIT
wait_ready "http://127.0.0.1:$PORT_SOCLE" $spid
for _ in $(seq 1 600); do [ -s "$NODE_OUT/access.txt" ] && curl -s -o /dev/null "http://127.0.0.1:$PORT_NODE/oidc/certs" && break; sleep 0.5; done

DATA_SOCLE=$DATA
{
  echo "# Pro Santé Connect benchmark ($(date -u +%Y-%m-%d), $(nproc) cores, wrk -t2 -c$CONNECTIONS, median of $RUNS × ${DURATION}s)"
  echo
  echo "Both providers: client_secret_basic, ES256 ID tokens, PKCE S256, rotated refresh tokens; codes and"
  echo "refresh tokens minted ahead. socle on SQLite (synchronous=FULL); oidc-provider $(node -p 'require("./bench/oidc-provider/node_modules/oidc-provider/package.json").version') in memory."
  echo
  echo "| operation | socle req/s (runs) | p50 / p99 ms | oidc-provider req/s (runs) | p50 / p99 ms | ratio |"
  echo "|---|---|---|---|---|---|"
} > "$out"
export BENCH_THREADS=2 BENCH_SLICE=$SLICE BENCH_REDIRECT=http://127.0.0.1:9/cb/bench
for mode in code refresh userinfo; do
  export BENCH_MODE=$mode
  [ "$mode" = refresh ] && export BENCH_SLICE=$REFRESH_SLICE || export BENCH_SLICE=$SLICE
  PORT=$PORT_SOCLE DATA=$DATA_SOCLE BENCH_DIR=$SOCLE_OUT BENCH_BASIC=$(printf 'bench:%s' "$SECRET" | base64 -w0) \
    wrk_runs psc.lua
  read -r s_rps s_p50 s_p99 s_err <<< "$MEDIAN"; s_all=$ALL
  [ "$mode" = code ] && export BENCH_SLICE=$(( CODES / 3 / RUNS ))
  PORT=$PORT_NODE DATA=$NODE_OUT BENCH_DIR=$NODE_OUT \
    BENCH_BASIC=$(printf 'bench:bench-secret-0123456789abcdefghijklmnop' | base64 -w0) wrk_runs psc.lua
  read -r n_rps n_p50 n_p99 n_err <<< "$MEDIAN"; n_all=$ALL
  ratio=$(awk -v a="$s_rps" -v b="$n_rps" 'BEGIN {printf "%.1f", (b > 0 ? a / b : 0)}')
  echo "| $mode | $s_rps ($s_all) | $s_p50 / $s_p99 | $n_rps ($n_all) | $n_p50 / $n_p99 | ${ratio}× |" >> "$out"
  [ "$s_err" != 0 ] || [ "$n_err" != 0 ] && echo "non-2xx answers: socle $s_err, oidc-provider $n_err ($mode)" >> "$out"
done
{
  echo
  echo "RSS after the runs: socle $(awk '/VmRSS/ {print int($2/1024)}' /proc/$spid/status) MB,"\
       "oidc-provider $(awk '/VmRSS/ {print int($2/1024)}' /proc/$(pgrep -P $npid node || echo $npid)/status 2>/dev/null || echo '?') MB."
} >> "$out"
cat "$out"
