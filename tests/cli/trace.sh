# weft run --trace / --summary / --report: a sweep of kernels and commands
# (one retried), the trace checked for consistency, the summary's critical
# path, the streamed trace of a run killed with SIGKILL, bad paths.
CHECK="python3 $(dirname "$(realpath "$0")")/../lib/check_trace.py"
. "$(dirname "$0")/lib.sh"
command -v python3 > /dev/null || { echo "skip: python3 is not installed"; exit 77; }

cat > flow.toml <<'TOML'
[workflow]
name = "traced"
threads = 2
[sweep]
n = [8, 16]
[[task]]
name = "solve-{n}"
kernel = "poisson2d"
args = { n = "{n}", tol = 1e-3 }
[[task]]
name = "check-{n}"
after = "solve-{n}"
shell = "sleep 0.05"
[[task]]
name = "flaky"
shell = 'test -f flaky.ok || { touch flaky.ok; exit 3; }'
retries = 1
[[task]]
name = "report"
after = ["check-*", "flaky"]
shell = "sleep 0.2"
TOML
run "$WEFT" run flow.toml --quiet --trace trace.json --report report.html --summary
expect_rc 0 "traced run"
expect_has "$OUT" "trace: $TMP/trace.json (open it in" "trace path"
expect_has "$OUT" "report: $TMP/report.html" "report path"
expect_line "$OUT" "== trace summary: traced ==" "summary title"
expect_line "$OUT" "tasks: 6 done, 0 failed, 0 cancelled, 0 not run" "summary states"
expect_has "$OUT" "total: " "summary total"
expect_has "$OUT" "7 attempt(s)" "attempts counted (flaky twice)"
# the critical path ends with the 0.2 s report task, after a check
CP=$(printf '%s\n' "$OUT" | sed -n '/^critical path/,/^workers/p')
expect_has "$CP" "critical path (run 1): " "critical path"
[ "$(printf '%s\n' "$CP" | grep -E '^  at ' | tail -1 | awk '{print $NF}')" = "report" ] ||
    fail "the critical path does not end with report: $CP"
printf '%s\n' "$CP" | grep -qE '^  at .* (check-(8|16)|flaky)$' || fail "no check or flaky on the path: $CP"
NPASS=$((NPASS + 2))
expect_has "$OUT" "scheduling delay (ready -> start): p50" "delays"
expect_has "$OUT" "process slots: " "process slots"
run $CHECK trace.json --tasks 7; expect_rc 0 "trace consistent: $OUT"
T=$(cat trace.json)
expect_has "$T" '"name":"thread_name","ph":"M","pid":1,"tid":10001,"args":{"name":"process slot 0"}' "process track"
expect_has "$T" '"name":"solve-16","cat":"task"' "kernel attempt"
expect_has "$T" '"n":"16"' "sweep values in args"
expect_has "$T" '"attempt":2' "second attempt"
expect_has "$T" '"status":"failed","cpus":' "failed attempt status"
expect_has "$T" '"exit":3' "exit code"
expect_has "$T" '"ph":"f","bp":"e"' "dependency flows"
[ -s report.html ] || fail "no report"
R=$(cat report.html)
expect_has "$R" '"workflow":"traced"' "report configuration"
expect_has "$R" '"title":"traced"' "report title"

# bad paths and values
run "$WEFT" run flow.toml --trace; expect_rc 2 "--trace without a value"
expect_line "$ERR" "weft run: --trace needs a value (see weft run --help)" "message"
run "$WEFT" run flow.toml --trace=; expect_rc 2 "--trace="
expect_line "$ERR" "weft run: --trace needs a file name (see weft run --help)" "message"
run "$WEFT" run flow.toml --quiet --trace /nonexistent-dir/t.json; expect_rc 2 "unwritable trace (nothing ran)"
expect_has "$ERR" "weft: cannot write the trace file '/nonexistent-dir/t.json': No such file or directory" "message"
run "$WEFT" run flow.toml --quiet --report /nonexistent-dir/r.html; expect_rc 1 "unwritable report"
expect_has "$ERR" "weft: cannot write '/nonexistent-dir/r.html': No such file or directory" "message"

# a run killed with SIGKILL leaves a trace that loads
cat > slow.toml <<'TOML'
[workflow]
name = "slow"
threads = 2
[sweep]
i = { start = 1, stop = 40 }
[[task]]
name = "nap-{i}"
shell = "sleep 0.1"
TOML
"$WEFT" run slow.toml --quiet --trace killed.json > /dev/null 2>&1 &
BG=$!
sleep 1.2
kill -KILL "$BG"
wait "$BG" 2>/dev/null
BG=""
[ -s killed.json ] || fail "no trace after SIGKILL"
[ "$(tail -c 2 killed.json | tr -d '\n')" != "]" ] || fail "the killed run's trace was completed?"
run $CHECK killed.json --partial --min-tasks 5; expect_rc 0 "killed trace loads: $OUT"
expect_has "$OUT" "(closed by the check)" "bare array form"
sleep 0.3 # the killed run's naps end

# bottlenecks: the families (names with their numbers as '#') above the
# threshold, by their share of the run time and of the critical path
cat > bn.toml <<'TOML'
[workflow]
name = "bn"
[sweep]
n = [1, 2, 3, 4]
[[task]]
name = "assemble-{n}"
shell = "sleep 0.3"
[[task]]
name = "solve-{n}"
shell = "sleep 0.05"
after = ["assemble-{n}"]
TOML
run "$WEFT" run bn.toml --quiet --bottleneck 30%
expect_rc 0 "--bottleneck (it implies --summary)"
expect_has "$OUT" "bottlenecks (30% or more of the tasks' run time or of the critical path):" "the section"
expect_match "$OUT" '^ +(8[0-9]|9[0-9])\.[0-9]% of the run time, +(8[0-9]|9[0-9])\.[0-9]% of the critical path: assemble-# \(4 tasks, ' \
    "assemble-# named with its shares"
expect_lacks "$OUT" ': solve-# (' "solve-# is under 30%"
run "$WEFT" run bn.toml --quiet --summary
expect_has "$OUT" ": solve-# (4 tasks, " "at the default 5%, solve-# too"
run "$WEFT" run bn.toml --bottleneck 101
expect_rc 2 "--bottleneck 101"
expect_has "$ERR" "weft run: --bottleneck needs a percentage above 0 and at most 100 (5 or 5%), got '101'" "said"
done_ok
