#!/usr/bin/env bash
# run-unit.sh - run every cmocka test binary of a directory and count the results.
#
#   tests/run-unit.sh DIR [TALLY_FILE]
#
# Runs each executable DIR/test_* (cmocka messages on stdout), prints its output, and ends with
# the line "unit DIR: N passed, N failed[, N skipped]". The counts are also written to
# TALLY_FILE (default DIR/.tally) as "PASSED FAILED SKIPPED", for tests/check.sh to sum.
# Counting: every test a group announces ("Running N test(s)") and that does not print
# "[       OK ]" or get skipped is a failure - so a setup error, an assertion or a crash in the
# middle of a group all count. A binary that exits non-zero (an ASan report at exit, a signal)
# while all its tests passed adds one failure named after it. Exit status: 0 when nothing failed.
# Environment: UNIT_TIMEOUT (seconds per binary, default 300); UNIT_SRC (see below); the caller's ASAN_OPTIONS,
# UBSAN_OPTIONS, SOCLE_TEST_PG_URL pass through.
set -uo pipefail

dir=${1:?usage: run-unit.sh DIR [TALLY_FILE]}
tally=${2:-$dir/.tally}
timeout_s=${UNIT_TIMEOUT:-300}
export CMOCKA_MESSAGE_OUTPUT=stdout

passed=0 failed=0 skipped=0
failures=()
shopt -s nullglob
bins=()
# Only binaries whose source is still in UNIT_SRC (default tests/unit, when it exists): a binary
# left in build/ by a renamed or deleted test is not part of the suite.
src_dir=${UNIT_SRC:-tests/unit}
for f in "$dir"/test_*; do
  [ -f "$f" ] && [ -x "$f" ] || continue
  if [ -d "$src_dir" ] && [ ! -e "$src_dir/$(basename "$f").c" ]; then
    echo "unit $dir: ignoring $(basename "$f") (no $src_dir/$(basename "$f").c)"
    continue
  fi
  bins+=("$f")
done
if [ ${#bins[@]} -eq 0 ]; then
  echo "unit $dir: no test binaries found" >&2
  failed=1
  failures+=("$dir: no test binaries")
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
for bin in "${bins[@]}"; do
  name=$(basename "$bin")
  echo "=== $bin"
  timeout -k 10 "$timeout_s" "$bin" >"$out" 2>&1
  rc=$?
  cat "$out"
  # Declared tests, tests that passed, tests skipped (from the per-group summary).
  declared=$(sed -n 's/^\[==========\] Running \([0-9]*\) test(s)\..*/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
  ok=$(grep -c '^\[       OK \] ' "$out")
  skip=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test(s), listed below:.*/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
  bad=$((declared - ok - skip))
  [ $bad -lt 0 ] && bad=0
  if [ "$declared" -eq 0 ]; then
    bad=1
    failures+=("$name: ran no test (exit status $rc)")
  elif [ $bad -gt 0 ]; then
    while read -r t; do failures+=("$name: $t"); done < <(
      awk '/^\[ RUN      \] /{t=substr($0,14); open[t]=1} /^\[       OK \] /{delete open[substr($0,14)]}
           /^\[  SKIPPED \] /{delete open[substr($0,14)]} END {for (t in open) print t}' "$out")
    [ "$rc" -ge 124 ] && failures+=("$name: exit status $rc (timeout or signal)")
  elif [ "$rc" -ne 0 ]; then
    bad=1
    failures+=("$name: all tests passed but exit status $rc (sanitizer report or crash at exit?)")
  fi
  passed=$((passed + ok))
  failed=$((failed + bad))
  skipped=$((skipped + skip))
done

if [ ${#failures[@]} -gt 0 ]; then
  echo "unit $dir: failures:"
  printf '  %s\n' "${failures[@]}"
fi
echo "$passed $failed $skipped" >"$tally"
line="unit $dir: $passed passed, $failed failed"
[ $skipped -gt 0 ] && line="$line, $skipped skipped"
echo "$line"
[ $failed -eq 0 ]
