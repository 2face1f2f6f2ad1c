# Failures: dependents skipped while the rest finishes, the summary (reason,
# stderr path, its last lines), --fail-fast, retries with each attempt
# journaled, timeouts that kill a whole process tree, missing commands,
# kernel failures.
. "$(dirname "$0")/lib.sh"

cat > fail.toml <<'TOML'
[workflow]
threads = 2
[[task]]
name = "bad"
shell = "echo first line >&2; echo 'it broke here' >&2; exit 3"
[[task]]
name = "after-bad"
shell = "touch after-bad.ran"
after = ["bad"]
[[task]]
name = "after-after"
shell = "touch after-after.ran"
after = ["after-bad"]
[[task]]
name = "independent"
shell = "sleep 0.3; touch independent.ran"
[[task]]
name = "missing"
command = ["no-such-program-xyz"]
TOML
run "$WEFT" run fail.toml; expect_rc 1 "a failure"
[ -e independent.ran ] || fail "the independent task must finish"
[ ! -e after-bad.ran ] && [ ! -e after-after.ran ] || fail "dependents of a failure must not run"
expect_has "$OUT" "5 tasks: 1 done, 2 failed, 2 skipped, 0 not run" "summary counts"
expect_line "$OUT" "  FAILED bad: exited with status 3" "reason"
expect_has "$OUT" "    stderr: weft log bad --err" "where its stderr is"
expect_line "$OUT" "    | it broke here" "stderr tail"
expect_line "$OUT" "  FAILED missing: cannot run 'no-such-program-xyz': No such file or directory" "missing command"
expect_has "$OUT" "did not run: after-bad, after-after" "skipped named"
expect_eq "$(awk -F'\t' '$1=="bad"{print $6, $7}' .weft/latest/tasks.tsv)" "failed 3" "journal: status and exit code"

# --fail-fast: nothing new starts after the failure
cat > ff.toml <<'TOML'
[workflow]
threads = 1
[[task]]
name = "first"
shell = "exit 1"
[[task]]
name = "second"
shell = "touch second.ran"
TOML
run "$WEFT" run ff.toml --fail-fast; expect_rc 1 "fail fast"
[ ! -e second.ran ] || fail "--fail-fast must not start the second task"
expect_has "$OUT" "2 tasks: 0 done, 1 failed, 0 skipped, 1 not run" "fail fast counts"
run "$WEFT" run ff.toml; expect_rc 1 "keep going (default)"
[ -e second.ran ] || fail "keep_going runs the independent task"

# retries: fails twice, then succeeds; every attempt journaled
cat > retry.toml <<'TOML'
[[task]]
name = "flaky"
shell = "n=$(cat count 2>/dev/null || echo 0); echo $((n+1)) > count; [ $n -ge 2 ]"
retries = 3
[[task]]
name = "hopeless"
shell = "exit 7"
retries = 1
[[task]]
name = "kfail"
kernel = "poisson2d"
args = { n = 64, tol = 1e-12, max_iters = 5 }
retries = 1
TOML
run "$WEFT" run retry.toml; expect_rc 1 "retries"
expect_eq "$(cat count)" 3 "three attempts"
expect_eq "$(awk -F'\t' '$1=="flaky"{printf "%s:%s ", $3, $6}' .weft/latest/tasks.tsv)" "1:failed 2:failed 3:ok " "attempts journaled"
expect_line "$OUT" "  FAILED hopeless: exited with status 7 (attempt 2 of 2)" "last attempt named"
expect_has "$OUT" "retry   flaky: attempt 1 of 4: exited with status 1; retrying" "retry line"
expect_has "$OUT" "FAILED kfail: did not converge" "kernel failure reason"

# timeout: the whole process tree goes, the grandchild included
cat > timeout.toml <<'TOML'
[workflow]
grace = "500ms"
[[task]]
name = "slow"
shell = "sleep 1000 & echo $! > grandchild.pid; sleep 1000"
timeout = "1s"
TOML
start=$(date +%s)
run "$WEFT" run timeout.toml; expect_rc 1 "timeout"
[ $(( $(date +%s) - start )) -lt 10 ] || fail "the timeout took too long"
expect_line "$OUT" "  FAILED slow: timed out after 1 s" "timeout reason"
gc=$(cat grandchild.pid)
sleep 0.2
! alive "$gc" || fail "grandchild $gc survived the timeout"
NPASS=$((NPASS + 1))
# when = "always": a fan-in runs after its points whatever their outcome
# (one failed here); a task after the same points without it is skipped
cat > fanin.toml <<'TOML'
[workflow]
keep_going = true
[sweep]
i = [1, 2, 3]
[[task]]
name = "point-{i}"
shell = "[ {i} -ne 2 ] && echo 'y=v {i}' >> $WEFT_RESULT"
[[task]]
name = "collect"
shell = "echo ran > collected; cp $WEFT_POINTS mine.json"
after = "point-*"
when = "always"
[[task]]
name = "strict"
shell = "echo ran > strict.ran"
after = "point-*"
TOML
run "$WEFT" run fanin.toml
expect_rc 1 "a point failed"
[ -e collected ] || fail "the fan-in with when = \"always\" did not run: $OUT"
NPASS=$((NPASS + 1))
[ ! -e strict.ran ] || fail "a task after a failed point ran"
NPASS=$((NPASS + 1))
expect_eq "$(awk -F'\t' '$1=="collect"{print $6}' .weft/latest/tasks.tsv)" "ok" "the fan-in's attempt"
# its points (written before it started): each point's params, outcome, results
expect_eq "$(cat mine.json)" '[
  {"task": "point-1", "params": {"i": "1"}, "status": "ok", "results": {"y": "v 1"}},
  {"task": "point-2", "params": {"i": "2"}, "status": "failed", "results": {}},
  {"task": "point-3", "params": {"i": "3"}, "status": "ok", "results": {"y": "v 3"}}
]' "points.json"
cmp -s mine.json .weft/latest/points.json || fail "\$WEFT_RUN_DIR/points.json differs from \$WEFT_POINTS"
NPASS=$((NPASS + 1))
printf '[[task]]\nname = "c"\nshell = "true"\nwhen = "sometimes"\n' > bad.toml
run "$WEFT" run bad.toml
expect_rc 2 "a bad when"
expect_has "$ERR" "bad.toml:4:8: task 'c': key 'when': expected \"success\"" "when's values"
done_ok
