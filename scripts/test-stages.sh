#!/usr/bin/env bash
# `make test`: runs every stage (one make target each) in order, also after one failed,
# then prints a table (result, time, tests counted per stage) and one line over every test
# runner, alone on its line:
#   tests: N passed, M failed[, K skipped]
# and exits non-zero when any stage failed. Under the table it names each failed test (at most
# 40), so the tail of a CI log says what to look at.
#
# Counts come from the runners' own closing lines:
#   cargo test and the hwsim harness  "test result: ok. N passed; M failed; K ignored; …"
#   pytest                            "N failed, M passed, K skipped in 1.2s" (errors count as failed)
#   go test -v                        "--- PASS:" / "--- FAIL:" / "--- SKIP:", tests and subtests
#   GoogleTest                        "[  PASSED  ] N tests.", "[  FAILED  ] N tests, …", "[  SKIPPED ] …"
#   anything else                     "WORD: N passed, M failed" (clients/tools-test.sh)
# A stage that fails while its runners count no failure (lint, a build, a fuzz crash, stale
# generated code, a runner that died or was stopped) counts as one failed test, so a failed
# run never reads "0 failed".
#
# Each stage's output goes to the terminal and to target/test-logs/STAGE.log. A stage still
# running after NETPILOT_STAGE_TIMEOUT seconds (default 1200) is stopped (SIGTERM to its
# process group, SIGKILL 60 s later) and fails: a hang costs minutes, not the CI's limit.
#
# Usage: scripts/test-stages.sh STAGE...   (MAKE names the make to run the stages with)
set -uo pipefail
cd "$(dirname "$0")/.."
make=${MAKE:-make}
limit=${NETPILOT_STAGE_TIMEOUT:-1200}
logs=target/test-logs
mkdir -p "$logs"
(($#)) || { echo "usage: $0 STAGE..." >&2; exit 2; }

# passed failed skipped, from one stage's log.
count() {
  awk '
    function add(n, word) {
      sub(/[;,.]$/, "", word)
      if (word == "passed") p += n
      else if (word == "failed" || word == "error" || word == "errors") f += n
      else if (word == "skipped" || word == "ignored") s += n
    }
    /^test result: / { for (i = 3; i < NF; i++) if ($i ~ /^[0-9]+$/) add($i, $(i + 1)); next }
    /^(=+ )?[0-9]+ (passed|failed|skipped|errors?)(, [0-9]+ [a-z]+)* in [0-9.]+s/ {
      for (i = 1; i < NF; i++) if ($i ~ /^[0-9]+$/) add($i, $(i + 1)); next
    }
    /^ *--- PASS: / { p++; next }
    /^ *--- FAIL: / { f++; next }
    /^ *--- SKIP: / { s++; next }
    /^\[  PASSED  \] [0-9]+ tests?/ { p += $4; next }
    /^\[  FAILED  \] [0-9]+ tests?,/ { f += $4; next }
    /^\[  SKIPPED \] [0-9]+ tests?,/ { s += $4; next }
    /^[a-z-]+: [0-9]+ passed, [0-9]+ failed$/ { p += $2; f += $4; next }
    END { printf "%d %d %d\n", p, f, s }
  ' "$1"
}

# "STAGE: TEST" for each failed test named in one stage's log.
failures() {
  awk -v stage="$2" '
    function name(n) { if (!(n in seen)) { seen[n] = 1; print stage ": " n } }
    /^ +Running [^ ]+ \(/ { bin = $2 " "; next }
    /^test .* \.\.\. FAILED$/ { sub(/^test /, ""); sub(/ \.\.\. FAILED$/, ""); name(bin $0); next }
    /^---- .* stdout ----$/ { sub(/^---- /, ""); sub(/ stdout ----$/, ""); name(bin $0); next }
    /^FAILED [^ ]+/ { name($2); next }
    /^ *--- FAIL: / { name($3); next }
    /^\[  FAILED  \] [^ ]+\.[^ ]+/ { name($4); next }
  ' "$1"
}

pid=""
stop() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid"
  echo "test-stages: interrupted" >&2
  exit 130
}
trap stop INT TERM

rows=() total_p=0 total_f=0 total_s=0 failed_stages=() failed_tests=()
for stage in "$@"; do
  log=$logs/$stage.log
  printf '\n==== stage %s ====\n' "$stage"
  start=$(date +%s)
  # timeout puts the stage in a process group of its own and stops all of it.
  : >"$log"
  timeout --kill-after=60 "$limit" "$make" --no-print-directory "$stage" </dev/null >>"$log" 2>&1 &
  pid=$!
  tail -n +1 -f --pid="$pid" "$log" &
  tailer=$!
  wait "$pid"
  status=$?
  pid=""
  wait "$tailer"
  secs=$(($(date +%s) - start))
  read -r p f s < <(count "$log")
  result=ok
  if ((status != 0)); then
    result=FAILED
    ((status == 124 || status == 137)) && result="STOPPED after ${limit}s"
    failed_stages+=("$stage")
    mapfile -t -O "${#failed_tests[@]}" failed_tests < <(failures "$log" "$stage")
    if ((f == 0)); then
      f=1
      echo "test-stages: $stage failed (exit $status) with no failed test counted: counted as one" >&2
    fi
  fi
  total_p=$((total_p + p)) total_f=$((total_f + f)) total_s=$((total_s + s))
  rows+=("$(printf '%-22s %-22s %6ss %7s %7s %7s' "$stage" "$result" "$secs" "$p" "$f" "$s")")
done

printf '\n==== make test: %d stages ====\n' "$#"
printf '%-22s %-22s %7s %7s %7s %7s\n' stage result time passed failed skipped
printf '%s\n' "${rows[@]}"
if ((${#failed_stages[@]})); then
  printf 'failed stages: %s (logs in %s/)\n' "${failed_stages[*]}" "$logs"
  if ((${#failed_tests[@]})); then
    echo 'failed tests:'
    printf '  %s\n' "${failed_tests[@]:0:40}"
    ((${#failed_tests[@]} > 40)) && echo "  ... and $((${#failed_tests[@]} - 40)) more"
  fi
fi
skipped=""
((total_s)) && skipped=", $total_s skipped"
printf 'tests: %d passed, %d failed%s\n' "$total_p" "$total_f" "$skipped"
((${#failed_stages[@]} == 0))
