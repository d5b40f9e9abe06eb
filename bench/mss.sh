#!/usr/bin/env bash
# mss.sh - the MSSanté operator benchmark, into bench/results-mss.md. Our own load generator,
# bench/mss_load.c (built here with cc into build/bench/mss_load), talks to socle's listeners:
#   submit  `mss_load smtp` on the submission port: STARTTLS (certificate checked against the data
#           dir's CA), AUTH XOAUTH2 with a socle token, SMTP_CONNECTIONS connections sharing MESSAGES
#           messages that each carry an IHE XDM package of about XDM_KB KB (bench/mss_setup.py);
#           RUNS runs, the median by messages/s;
#   hold    HOLD_SESSIONS concurrent IMAP sessions (STARTTLS, AUTHENTICATE XOAUTH2, SELECT INBOX,
#           IDLE) held HOLD_S seconds while HOLD_PUSH messages arrive; then DONE must be answered OK;
#   fetch   MAILBOX small messages delivered into one mailbox by another operator (the relay
#           listener, mutual TLS; LOADERS parallel mss_load runs), then `mss_load imap-fetch`:
#           ROUNDS FETCHes of a random window of FETCH sequence numbers per run, RUNS runs, the
#           median run by p50;
#   postfix side by side with submit, in the same run: a private Debian Postfix (bench/mss_postfix.py,
#           the integration tests' Postfix class) storing its own domain in Maildirs, TLS from an
#           operator certificate of the same test PKI, its default fsyncs kept; each submit run is
#           followed by a Postfix round with the same message file, SMTP_CONNECTIONS and MESSAGES:
#           `mss_load smtp --starttls` (no AUTH: mynetworks), then Postfix's own `smtp-source`
#           (in clear: it has no TLS); after each, the queue is let drain (postqueue -p empty) and the
#           Maildir counted. postfix_side writes the section, with the ratios socle ÷ Postfix.
# The mailbox data set is kept in $WORK/mss-mailbox-$MAILBOX between runs (delete it to reload);
# the submission data set is made afresh and removed at the end. build/socle is used as it is
# (never rebuilt here: build it first); a copy is run, so a rebuild meanwhile changes nothing.
#
#   bench/mss.sh                                   # RUNS=3 MESSAGES=2000 MAILBOX=100000 HOLD_SESSIONS=1000
#   RUNS=1 MESSAGES=500 MAILBOX=20000 HOLD_SESSIONS=200 HOLD_S=10 bench/mss.sh   # quicker
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
MESSAGES=${MESSAGES:-2000}
SMTP_CONNECTIONS=${SMTP_CONNECTIONS:-8}
XDM_KB=${XDM_KB:-100}
MAILBOX=${MAILBOX:-100000}
LOADERS=${LOADERS:-2}
LOAD_CONNECTIONS=${LOAD_CONNECTIONS:-4}
FETCH=${FETCH:-1000}
ROUNDS=${ROUNDS:-200}
FETCH_CONNECTIONS=${FETCH_CONNECTIONS:-1}
HOLD_SESSIONS=${HOLD_SESSIONS:-1000}
HOLD_S=${HOLD_S:-30}
HOLD_PUSH=${HOLD_PUSH:-10}
DOMAIN=mss.bench.test
PEER=peer.bench.test
A=810000000011 B=810000000022 C=810000000033   # the professionals of dr.a, dr.b, dr.c
out=bench/results-mss.md
LOG="$WORK/mss-server.log"
mkdir -p "$WORK" build/bench

# mss_load: built from bench/mss_load.c when missing or older than its source.
LOAD=build/bench/mss_load
if [ ! -x $LOAD ] || [ bench/mss_load.c -nt $LOAD ]; then
  cc -std=c11 -O2 -Wall -Wextra -Wno-format-truncation -pthread -o $LOAD bench/mss_load.c -lssl -lcrypto
fi
[ -x build/socle ] || { echo "build/socle is missing: run make build/socle first" >&2; exit 1; }
cp build/socle "$WORK/mss-socle.bin"
SOCLE=$WORK/mss-socle.bin
socle_id="build/socle of $(date -u -r build/socle +%Y-%m-%dT%H:%MZ), sha256 $(sha256sum "$SOCLE" | cut -c1-12)"
: > "$LOG"

jnum() { echo "$1" | sed -n "s/.*\"$2\":\([-0-9.]*\).*/\1/p"; }     # a number of a JSON line
jerr() { echo "$1" | sed -n 's/.*"first_error":"\(.*\)"}$/\1/p'; }   # its first_error
cmdline() { echo "$*" | sed -E 's/--token [^ ]+/--token $TOKEN/g; s#'"$WORK"'#$WORK#g'; }

setup_data() { # DIR: PKI, three professionals with their mailboxes, the peer operator, the trust space
  local d=$1
  rm -rf "$d"; mkdir -p "$d"
  $SOCLE pki init --data "$d" > /dev/null
  python3 bench/mss_setup.py practitioners "$d/practitioners.ndjson" $A $B $C
  $SOCLE import ndjson "$d/practitioners.ndjson" --data "$d" --log-level warn > /dev/null
  for box in dr.a:$A dr.b:$B dr.c:$C; do
    $SOCLE mss mailbox add --kind PER --owner "${box#*:}" --address "${box%%:*}@$DOMAIN" --data "$d" \
      --mss-domain $DOMAIN > /dev/null
  done
  $SOCLE pki client --name "operator-$PEER" --kind operator --id $PEER --data "$d" > /dev/null
  printf '# MSSanté trust space (bench)\n%s\n%s\n' $DOMAIN $PEER > "$d/mss-trust.txt"
}

pid=""
start_server() { # DATA: the server with HTTP, relay, submission and IMAP listeners on free ports
  DATA=$1
  read -r HTTP SMTP SUB IMAP < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(4)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
  echo "--- $(date -u +%FT%TZ) serve $DATA" >> "$LOG"
  $SOCLE serve --data "$DATA" --listen 127.0.0.1:$HTTP --smtp-listen 127.0.0.1:$SMTP \
    --submission-listen 127.0.0.1:$SUB --imap-listen 127.0.0.1:$IMAP --mss-domain $DOMAIN --log-level warn \
    2>> "$LOG" &
  pid=$!
  if ! wait_ready "http://127.0.0.1:$HTTP" $pid; then
    echo "$LOG:" >&2; tail -20 "$LOG" >&2; exit 1
  fi
  for _ in $(seq 1 300); do # the IMAP listener opens with the HTTP one
    (exec 3<> /dev/tcp/127.0.0.1/$IMAP) 2> /dev/null && return
    sleep 0.2
  done
  echo "the server's IMAP listener did not open; $LOG:" >&2; tail -20 "$LOG" >&2; exit 1
}
check_server() { # the server must still be running after a phase
  if ! kill -0 "$pid" 2> /dev/null; then
    wait "$pid" 2> /dev/null && st=0 || st=$?
    echo "socle died during $1 (exit status $st); last lines of $LOG:" >&2; tail -30 "$LOG" >&2
    problems+=("socle died during $1 (exit status $st); see $LOG")
    pid=""
    return 1
  fi
}
stop_server() {
  if [ -n "$pid" ]; then kill "$pid" 2> /dev/null && wait "$pid" 2> /dev/null || true; fi
  pid=""
}
trap 'stop_server; postfix_stop' EXIT
rss() { awk '/VmRSS/ {print int($2/1024)}' /proc/$pid/status; }
CLK=$(getconf CLK_TCK)
cpu() { awk -v k="$CLK" '{printf "%.2f", ($14 + $15) / k}' /proc/$pid/stat; }   # the server's CPU seconds
tok() { $SOCLE token issue --data "$DATA" --sub "$1" --kind professional --profession 10 --structure bench --ttl 86400; }
problems=()

# ---- Postfix, side by side with submit -----------------------------------------------------------
# A private Postfix (bench/mss_postfix.py: tests/integration/postfix.py's class) on a free port, for
# its own domain $PF_DOMAIN stored in Maildirs; its certificate is an operator certificate of the
# submission data dir's PKI (its SAN has 127.0.0.1, so mss_load checks it against the same CA).
# Postfix's defaults are kept: the queue file is fsynced before the 250, each Maildir file too.
PF_DOMAIN=postfix.bench.test
PF=$WORK/mss-postfix
PF_LOG=$WORK/mss-postfix.log
SMTP_SOURCE=${SMTP_SOURCE:-/usr/sbin/smtp-source}
pf_pid="" PF_PORT="" PF_MASTER=""
pf_tls=() pf_src=() pf_accepted=0
postfix_start() { # the helper in the background; PF_PORT once Postfix answers 220
  local d=$SUBMIT crt=$SUBMIT/pki/clients/operator-$PF_DOMAIN
  rm -rf "$PF"
  $SOCLE pki client --kind operator --id $PF_DOMAIN --name "operator-$PF_DOMAIN" --data "$d" > /dev/null
  python3 bench/mss_postfix.py start "$PF" $PF_DOMAIN "$crt.pem" "$crt.key" "$d/pki/ca.pem" dr.b \
    > "$PF_LOG.port" 2> "$PF_LOG" &
  pf_pid=$!
  for _ in $(seq 1 600); do
    PF_PORT=$(sed -n 's/^port //p' "$PF_LOG.port")
    [ -n "$PF_PORT" ] && break
    kill -0 $pf_pid 2> /dev/null || break
    sleep 0.1
  done
  if [ -z "$PF_PORT" ]; then
    echo "Postfix did not start; $PF_LOG:" >&2; tail -30 "$PF_LOG" >&2; exit 1
  fi
  PF_MASTER=$(ps -o pid= --ppid $pf_pid | awk 'NR==1 {print $1}')
  # smtp-source -F sends each line of the file followed by CRLF: it wants LF line ends (CRLF ones
  # would go out as CR CR LF). The same message, in LF.
  tr -d '\r' < "$SUBMIT/xdm.eml" > "$SUBMIT/xdm-lf.eml"
  PF_MSG_BYTES=$(stat -c %s "$SUBMIT/xdm.eml")
  pf_tls_cmd=($LOAD smtp --host 127.0.0.1 --port $PF_PORT --connections "$SMTP_CONNECTIONS" --messages "$MESSAGES"
              --message "$SUBMIT/xdm.eml" --from dr.a@$DOMAIN --to dr.b@$PF_DOMAIN --starttls --ca "$CA")
  pf_src_cmd=($SMTP_SOURCE -d -s "$SMTP_CONNECTIONS" -m "$MESSAGES" -F "$SUBMIT/xdm-lf.eml" -f dr.a@$DOMAIN
              -t dr.b@$PF_DOMAIN 127.0.0.1:$PF_PORT)
}
postfix_stop() {
  if [ -n "$pf_pid" ]; then kill -TERM "$pf_pid" 2> /dev/null && wait "$pf_pid" 2> /dev/null || true; fi
  pf_pid=""
}
# Postfix's CPU seconds: every process of the master's process group, plus what the master's reaped
# children used (a daemon that exits during a round is counted there).
pf_cpu() {
  cat /proc/[0-9]*/stat 2> /dev/null |
    awk -v g="$PF_MASTER" -v k="$CLK" '$5 == g {s += $14 + $15; if ($1 == g) s += $16 + $17} END {printf "%.2f", s / k}'
}
pf_pss() { # the proportional set size of all of Postfix's processes, MB
  local p t=0
  for p in $(cat /proc/[0-9]*/stat 2> /dev/null | awk -v g="$PF_MASTER" '$5 == g {print $1}'); do
    t=$(( t + $(awk '/^Pss:/ {print $2}' /proc/$p/smaps_rollup 2> /dev/null || echo 0) ))
  done
  echo $(( t / 1024 ))
}
pf_delivered() { find "$PF/mail/$PF_DOMAIN/dr.b/new" "$PF/mail/$PF_DOMAIN/dr.b/cur" -type f 2> /dev/null | wc -l; }
pf_drain() { # wait (at most 600 s) for Postfix's queue to be empty; DRAIN: the seconds waited
  local t0 i
  t0=$(date +%s.%N)
  for i in $(seq 1 6000); do
    postqueue -c "$PF/etc" -p 2> /dev/null | grep -q '^Mail queue is empty' && break
    [ "$i" = 6000 ] && problems+=("Postfix: the queue did not drain within 600 s")
    sleep 0.1
  done
  DRAIN=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
}
postfix_round() { # RUN: (b) mss_load over STARTTLS, (c) smtp-source in clear, each drained
  local i=$1 o d0 c0 t0 t1 dr n st
  sync   # each round starts with nothing of the previous one left to write back
  d0=$(pf_delivered); c0=$(pf_cpu)
  o=$("${pf_tls_cmd[@]}") || true
  echo "postfix tls run $i: $o" >&2
  pf_drain; dr=$DRAIN
  n=$(jnum "$o" messages); pf_accepted=$(( pf_accepted + ${n:-0} ))
  pf_tls+=("$(jnum "$o" msgs_per_s) $(jnum "$o" p50_ms) $(jnum "$o" p99_ms) $n $(jnum "$o" errors) $(awk -v a="$c0" -v b="$(pf_cpu)" -v n="$n" 'BEGIN {printf "%.1f", (n > 0 ? (b - a) * 1000 / n : 0)}') $(( $(pf_delivered) - d0 )) $dr")
  e=$(jerr "$o"); [ -n "$e" ] && problems+=("Postfix TLS run $i: $(jnum "$o" errors) errors, first: $e")
  sync
  d0=$(pf_delivered); c0=$(pf_cpu)
  t0=$(date +%s.%N)
  if "${pf_src_cmd[@]}" > "$PF_LOG.source" 2>&1; then st=0; else st=$?; fi
  t1=$(date +%s.%N)
  pf_drain; dr=$DRAIN
  n=$(( $(pf_delivered) - d0 ))
  if [ $st = 0 ]; then
    pf_accepted=$(( pf_accepted + MESSAGES ))
  else
    problems+=("smtp-source run $i: exit status $st: $(tail -1 "$PF_LOG.source")")
  fi
  pf_src+=("$(awk -v a="$t0" -v b="$t1" -v n="$MESSAGES" -v st="$st" 'BEGIN {printf "%.1f %.3f", (st == 0 ? n / (b - a) : 0), b - a}') $st $(awk -v a="$c0" -v b="$(pf_cpu)" -v n="$MESSAGES" 'BEGIN {printf "%.1f", (b - a) * 1000 / n}') $n $dr")
  echo "postfix smtp-source run $i: exit $st, ${pf_src[-1]}" >&2
  kill -0 "$pf_pid" 2> /dev/null || { problems+=("Postfix (bench/mss_postfix.py) died during run $i; see $PF_LOG"); return 1; }
}
median_by_1() { printf '%s\n' "$@" | sort -n | awk -v n="$#" 'NR==int((n+1)/2)'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f×", a / b; else printf "?"}'; }
# postfix_side - the section of bench/results-mss.md: socle and Postfix side by side (measured in the
# submit loop above, rounds interleaved), the medians and the ratios socle ÷ Postfix.
postfix_side() {
  local t_rate t_p50 t_p99 t_msgs t_err t_cpu t_dlv t_dr x_rate x_secs x_st x_cpu x_dlv x_dr
  read -r t_rate t_p50 t_p99 t_msgs t_err t_cpu t_dlv t_dr <<< "$(median_by_1 "${pf_tls[@]:-0 0 0 0 0 0 0 0}")"
  read -r x_rate x_secs x_st x_cpu x_dlv x_dr <<< "$(median_by_1 "${pf_src[@]:-0 0 0 0 0 0}")"
  local t_all x_all
  t_all=$(printf '%s\n' "${pf_tls[@]:-0}" | awk '{printf "%s%s", sep, $1; sep=" / "}')
  x_all=$(printf '%s\n' "${pf_src[@]:-0}" | awk '{printf "%s%s", sep, $1; sep=" / "}')
  echo "## Side by side with Postfix: submission of the same XDM messages"
  echo
  echo "In the same run, rounds interleaved (socle, Postfix over TLS, Postfix with smtp-source; $RUNS times),"
  echo "the same message file ($PF_MSG_BYTES bytes, XDM package of about $XDM_KB KB), $SMTP_CONNECTIONS connections sharing"
  echo "$MESSAGES messages each time. Postfix $(postconf -d -h mail_version 2> /dev/null) (Debian's package), a private instance"
  echo "(bench/mss_postfix.py) storing its own domain locally: virtual(8) Maildir delivery, its defaults"
  echo "kept (the queue file is fsynced before the 250; so is each Maildir file); after each Postfix run"
  echo "its queue was let drain before the next round, and every round (socle's or Postfix's) starts after a"
  echo "\`sync\`, with nothing of the previous one left to write back. All on the same $(nproc)-core VM: load generators,"
  echo "socle and Postfix share the cores, and the machine is noisy (runs differ by ±20 %)."
  echo
  echo "| | messages/s (median) | p50 / p99 ms | accepted (median run) | errors | CPU / message | runs (messages/s) | socle ÷ this |"
  echo "|---|---|---|---|---|---|---|---|"
  echo "| socle: submission, STARTTLS + AUTH XOAUTH2, XDM checked, INBOX + Sent committed | $s_rate | $s_p50 / $s_p99 | $s_msgs / $MESSAGES | $s_err | $s_cpu ms | $submit_all | |"
  echo "| Postfix: \`mss_load smtp --starttls\` (no AUTH), queued, then Maildir | $t_rate | $t_p50 / $t_p99 | $t_msgs / $MESSAGES | $t_err | $t_cpu ms | $t_all | **$(ratio "$s_rate" "$t_rate")** |"
  echo "| Postfix: \`smtp-source\`, in clear (no TLS), queued, then Maildir | $x_rate | | $x_dlv / $MESSAGES | $( [ "$x_st" = 0 ] && echo 0 || echo "exit $x_st") | $x_cpu ms | $x_all | **$(ratio "$s_rate" "$x_rate")** |"
  echo
  echo "CPU / message: socle's process during its run; for Postfix, all its processes (master, smtpd,"
  echo "cleanup, qmgr, trivial-rewrite, virtual, postlogd, tlsmgr) from the start of the run until"
  echo "its queue was empty, so Maildir delivery included (socle commits to the mailbox before the 250)."
  echo "smtp-source has no latency figures: its rate is \`-m\` messages over the wall-clock time of the"
  echo "command (\`date +%s.%N\` around it). Its message file is the same message with LF line ends"
  echo "(\`-F\` sends each line followed by CRLF), so the same bytes go over the wire; \`-d\` keeps each"
  echo "connection for the next message, as mss_load does (without it smtp-source opens one per message)."
  echo "Postfix's queue drained in $t_dr s after the median TLS run, $x_dr s after the median smtp-source run."
  if [ "${pf_final_delivered:-}" = "$pf_accepted" ]; then
    echo "Every message Postfix accepted was delivered: $pf_final_delivered files in the Maildir for"
  else
    echo "**Not every message Postfix accepted was delivered**: ${pf_final_delivered:-?} files in the Maildir for"
  fi
  echo "$pf_accepted accepted (${#pf_tls[@]} + ${#pf_src[@]} runs); Postfix's processes: ${pf_final_pss:-?} MB PSS after the runs."
  echo
  echo "Against the issue's aim (socle ≥ 1.5× Postfix): $(ratio "$s_rate" "$t_rate") Postfix over TLS, $(ratio "$s_rate" "$x_rate") Postfix's"\
       "smtp-source in clear: $(awk -v a="$s_rate" -v b="$t_rate" -v c="$x_rate" 'BEGIN {print (b > 0 && c > 0 && a >= 1.5 * b && a >= 1.5 * c ? "**met**" : "**not met**")}')."
  echo
  echo '```'
  cmdline "${pf_tls_cmd[@]}"
  cmdline "${pf_src_cmd[@]}"
  echo '```'
}

# ---- submit: XDM messages over submission ------------------------------------------------------
SUBMIT="$WORK/mss-submit"
setup_data "$SUBMIT"
xdm_info=$(python3 bench/mss_setup.py xdm-message "$SUBMIT/xdm.eml" dr.a@$DOMAIN dr.b@$DOMAIN "$XDM_KB")
python3 bench/mss_setup.py small-message "$SUBMIT/push.eml" dr.b@$DOMAIN dr.a@$DOMAIN push > /dev/null
start_server "$SUBMIT"
CA="$SUBMIT/pki/ca.pem"
TOK_A=$(tok $A) TOK_B=$(tok $B)
postfix_start
submit_cmd=($LOAD smtp --host 127.0.0.1 --port $SUB --connections "$SMTP_CONNECTIONS" --messages "$MESSAGES"
            --message "$SUBMIT/xdm.eml" --from dr.a@$DOMAIN --to dr.b@$DOMAIN --starttls --ca "$CA"
            --xoauth2-user dr.a@$DOMAIN --token "$TOK_A")
submits=()
for i in $(seq 1 "$RUNS"); do
  warm
  sync
  c0=$(cpu)
  o=$("${submit_cmd[@]}") || true
  c1=$(cpu 2> /dev/null || echo "$c0")
  echo "submit run $i: $o" >&2
  cpu_ms=$(awk -v a="$c0" -v b="$c1" -v n="$(jnum "$o" messages)" 'BEGIN {printf "%.1f", (n > 0 ? (b - a) * 1000 / n : 0)}')
  submits+=("$(jnum "$o" msgs_per_s) $(jnum "$o" p50_ms) $(jnum "$o" p99_ms) $(jnum "$o" messages) $(jnum "$o" errors) $cpu_ms")
  e=$(jerr "$o"); [ -n "$e" ] && problems+=("submit run $i: $(jnum "$o" errors) errors, first: $e")
  check_server "submit run $i" || break
  postfix_round "$i" || break
done
pf_final_delivered=$(pf_delivered); pf_final_pss=$(pf_pss)
[ "$pf_final_delivered" = "$pf_accepted" ] ||
  problems+=("Postfix: $pf_final_delivered messages in the Maildir for $pf_accepted accepted")
postfix_stop
cp "$PF/maillog" "$PF_LOG.maillog" 2> /dev/null || true   # Postfix's log, kept; its mail is not
rm -rf "$PF"
submit_median=$(printf '%s\n' "${submits[@]}" | sort -n | awk -v n="${#submits[@]}" 'NR==int((n+1)/2)')
submit_all=$(printf '%s\n' "${submits[@]}" | awk '{printf "%s%s", sep, $1; sep=" / "}')
submit_rss=""; inbox_b=""
if [ -n "$pid" ]; then
  submit_rss=$(rss)
  # What was answered 250 is there: dr.b's INBOX holds every message of every run.
  o=$($LOAD imap-fetch --host 127.0.0.1 --port $IMAP --ca "$CA" --user dr.b@$DOMAIN --token "$TOK_B" --fetch 1 --rounds 1) || true
  inbox_b=$(jnum "$o" exists)
fi
submit_size=$(du -sm "$SUBMIT" | awk '{print $1}')

# ---- hold: concurrent IDLE sessions ------------------------------------------------------------
hold=""; hold_rss=""; hold_threads=""
if [ -n "$pid" ]; then
  hold_cmd=($LOAD imap-hold --host 127.0.0.1 --port $IMAP --ca "$CA" --user dr.a@$DOMAIN --token "$TOK_A"
            --sessions "$HOLD_SESSIONS" --hold-s "$HOLD_S")
  "${hold_cmd[@]}" > "$WORK/mss-hold.json" 2> "$WORK/mss-hold.err" &
  hpid=$!
  pushed=0
  hold_rss=0; hold_threads=0
  while kill -0 $hpid 2> /dev/null; do
    if [ $pushed = 0 ] && grep -q "holding them" "$WORK/mss-hold.err"; then
      pushed=1
      # Messages for the idling mailbox: every IDLE session should see them (EXISTS).
      for _ in $(seq 1 "$HOLD_PUSH"); do
        $LOAD smtp --host 127.0.0.1 --port $SUB --connections 1 --messages 1 --message "$SUBMIT/push.eml" \
          --from dr.b@$DOMAIN --to dr.a@$DOMAIN --starttls --ca "$CA" --token "$TOK_B" > /dev/null 2>&1 ||
          problems+=("hold: a message pushed to the idling mailbox was refused")
        sleep 1
      done
    fi
    if [ -r /proc/$pid/status ]; then
      r=$(rss); t=$(awk '/^Threads/ {print $2}' /proc/$pid/status)
      [ "$r" -gt "$hold_rss" ] && hold_rss=$r
      [ "$t" -gt "$hold_threads" ] && hold_threads=$t
    fi
    sleep 1
  done
  wait $hpid || true
  hold=$(cat "$WORK/mss-hold.json")
  echo "hold: $hold" >&2
  e=$(jerr "$hold"); [ -n "$e" ] && problems+=("hold: $(jnum "$hold" errors) errors, first: $e")
  check_server "the IMAP hold" || true
fi
stop_server
grep -v '^---' "$LOG" | tail -5 | sed 's/^/  server log: /' >&2 || true
rm -rf "$SUBMIT"

# ---- fetch: one mailbox of MAILBOX messages -----------------------------------------------------
MBX="$WORK/mss-mailbox-$MAILBOX"
if [ ! -f "$MBX/.loaded" ]; then
  setup_data "$MBX"
  start_server "$MBX"
  per=$(( (MAILBOX + LOADERS - 1) / LOADERS ))
  t0=$(date +%s.%N)
  lpids=()
  for l in $(seq 1 "$LOADERS"); do
    n=$per; [ $l = "$LOADERS" ] && n=$(( MAILBOX - per * (LOADERS - 1) ))
    python3 bench/mss_setup.py small-message "$MBX/small-$l.eml" "lab$l@$PEER" dr.c@$DOMAIN "$l" > /dev/null
    load_cmd=($LOAD smtp --host 127.0.0.1 --port $SMTP --connections "$LOAD_CONNECTIONS" --messages $n
              --message "$MBX/small-$l.eml" --from "lab$l@$PEER" --to dr.c@$DOMAIN --starttls --ca "$MBX/pki/ca.pem"
              --cert "$MBX/pki/clients/operator-$PEER.pem" --key "$MBX/pki/clients/operator-$PEER.key")
    cmdline "${load_cmd[@]}" >> "$MBX/load-cmd.txt"
    "${load_cmd[@]}" > "$MBX/load-$l.json" 2> "$MBX/load-$l.err" &
    lpids+=($!)
  done
  for p in "${lpids[@]}"; do wait "$p" || true; done
  secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
  loaded=0
  for l in $(seq 1 "$LOADERS"); do
    o=$(cat "$MBX/load-$l.json"); echo "load $l: $o" >&2
    loaded=$(( loaded + $(jnum "$o" messages) ))
    e=$(jerr "$o"); [ -n "$e" ] && problems+=("mailbox load $l: $(jnum "$o" errors) errors, first: $e")
  done
  check_server "the mailbox load" || exit 1
  stop_server
  [ "$loaded" = "$MAILBOX" ] || { echo "only $loaded of $MAILBOX messages were accepted" >&2; exit 1; }
  echo "$MAILBOX messages of $(stat -c %s "$MBX/small-1.eml") bytes over the relay listener (mutual TLS,"\
       "$LOADERS × mss_load smtp, $LOAD_CONNECTIONS connections each) in $secs s:"\
       "$(awk -v n="$MAILBOX" -v s="$secs" 'BEGIN {printf "%.0f", n / s}') messages/s" | tee "$MBX/.loaded"
fi
start_server "$MBX"
TOK_C=$(tok $C)
fetch_cmd=($LOAD imap-fetch --host 127.0.0.1 --port $IMAP --ca "$MBX/pki/ca.pem" --user dr.c@$DOMAIN --token "$TOK_C"
           --fetch "$FETCH" --rounds "$ROUNDS" --connections "$FETCH_CONNECTIONS")
fetches=()
for i in $(seq 1 "$RUNS"); do
  warm
  o=$("${fetch_cmd[@]}" --seed "$i") || true
  echo "fetch run $i: $o" >&2
  fetches+=("$(jnum "$o" p50_ms) $(jnum "$o" p99_ms) $(jnum "$o" messages_per_fetch) $(jnum "$o" select_ms) $(jnum "$o" exists) $(jnum "$o" bytes_per_fetch) $(jnum "$o" fetches_per_s)")
  e=$(jerr "$o"); [ -n "$e" ] && problems+=("fetch run $i: $(jnum "$o" errors) errors, first: $e")
  check_server "fetch run $i" || break
done
fetch_median=$(printf '%s\n' "${fetches[@]}" | sort -n | awk -v n="${#fetches[@]}" 'NR==int((n+1)/2)')
fetch_all=$(printf '%s\n' "${fetches[@]}" | awk '{printf "%s%s / %s", sep, $1, $2; sep=", "}')
fetch_rss=""; [ -n "$pid" ] && fetch_rss=$(rss)
mbx_size=$(du -sm "$MBX" | awk '{print $1}')
stop_server

# ---- results --------------------------------------------------------------------------------------
read -r s_rate s_p50 s_p99 s_msgs s_err s_cpu <<< "${submit_median:-0 0 0 0 0 0}"
read -r f_p50 f_p99 f_per f_select f_exists f_bytes f_rate <<< "${fetch_median:-0 0 0 0 0 0 0}"
h() { jnum "$hold" "$1"; }
{
  echo "# MSSanté benchmark — $(date -u +%Y-%m-%d) — $(nproc) cores, SQLite (synchronous=FULL)"
  echo
  echo "Load generator: bench/mss_load.c (C, OpenSSL, pthreads / one poll loop), on the same machine as the"
  echo "server. Every connection: STARTTLS with the server certificate verified against the data dir's CA."
  echo "Server: $socle_id."
  echo
  echo "## Submission (SMTP, STARTTLS + AUTH XOAUTH2), messages with an IHE XDM attachment"
  echo
  echo "Message: $xdm_info (METADATA.XML + CDA + INDEX.HTM + README.TXT); each is checked"
  echo "(MIME, ZIP, METADATA.XML) and committed for the recipient's INBOX and the sender's Sent folder"
  echo "before the 250. $SMTP_CONNECTIONS connections share $MESSAGES messages; $RUNS runs, the median by messages/s."
  echo
  echo "| messages/s | p50 ms | p99 ms | accepted | errors | server CPU / message | runs (messages/s) | server RSS |"
  echo "|---|---|---|---|---|---|---|---|"
  echo "| $s_rate | $s_p50 | $s_p99 | $s_msgs / $MESSAGES | $s_err | $s_cpu ms | $submit_all | ${submit_rss:-?} MB |"
  echo
  echo "Latency of a message: from MAIL FROM to the 250 after the final dot. After the runs the recipient's"
  echo "INBOX held ${inbox_b:-?} messages (expected $(( MESSAGES * RUNS ))); data dir ${submit_size} MB."
  echo
  echo '```'
  cmdline "${submit_cmd[@]}"
  echo '```'
  echo
  postfix_side
  echo
  echo "## Concurrent IMAP sessions in IDLE"
  echo
  echo "| requested | established | alive at the end (DONE → OK) | set-up p50 / p99 ms | set-up of all | EXISTS pushed | server RSS / threads (peak) |"
  echo "|---|---|---|---|---|---|---|"
  echo "| $(h sessions_requested) | $(h sessions_established) | $(h sessions_alive_at_end) | $(h setup_p50_ms) / $(h setup_p99_ms) | $(h establish_s) s | $(h exists_pushed) | ${hold_rss} MB / ${hold_threads} |"
  echo
  echo "Each session: STARTTLS, AUTHENTICATE XOAUTH2, SELECT INBOX, IDLE, all on one mailbox (at most 64 being"
  echo "set up at a time); held ${HOLD_S} s, during which $HOLD_PUSH messages were submitted to that mailbox, one a"
  echo "second (EXISTS pushed: untagged EXISTS received by all the idling sessions together; $(( HOLD_PUSH * HOLD_SESSIONS )) if every"
  echo "session saw every message separately, fewer when one refresh reports several); then DONE on each."
  echo
  echo '```'
  cmdline "${hold_cmd[@]:-}"
  echo '```'
  echo
  echo "## IMAP FETCH in a mailbox of $MAILBOX messages"
  echo
  echo "Loading: $(cat "$MBX/.loaded"). Data dir ${mbx_size} MB."
  echo
  echo '```'
  cat "$MBX/load-cmd.txt"
  echo '```'
  echo
  echo "| FETCH window | p50 ms | p99 ms | messages / FETCH | bytes / FETCH | FETCH/s | SELECT ms | EXISTS | runs (p50 / p99 ms) | server RSS |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  echo "| $FETCH | $f_p50 | $f_p99 | $f_per | $f_bytes | $f_rate | $f_select | $f_exists | $fetch_all | ${fetch_rss:-?} MB |"
  echo
  echo "$ROUNDS FETCHes per run on $FETCH_CONNECTIONS connection(s), each over a random window of $FETCH sequence numbers:"
  echo "\`FETCH a:b (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID)])\`, the whole"
  echo "response read (literals included); latency from the command to its tagged OK. $RUNS runs, the median run by p50."
  echo
  echo '```'
  cmdline "${fetch_cmd[@]}"
  echo '```'
  echo
  if [ ${#problems[@]} -gt 0 ]; then
    echo
    echo "## Problems seen"
    echo
    printf -- '- %s\n' "${problems[@]}"
  fi
} | tee "$out"
