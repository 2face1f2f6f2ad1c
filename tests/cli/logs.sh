# Task output without two files per task (issue 23): a command's stdout
# and stderr are captured in memory and kept in the run's output log
# (.weft/<run>/output.log, offsets in the run store), nothing is created
# for empty output, weft log prints any task's output, a failed task's
# last stderr lines are in the summary, a large output moves to its own
# file while the task runs, explicit stdout/stderr paths are files.
. "$(dirname "$0")/lib.sh"

cat > quiet.toml <<'TOML'
[sweep]
i = { start = 1, stop = 200 }
[[task]]
name = "t-{i}"
command = ["/bin/true"]
TOML
run "$WEFT" run quiet.toml --quiet
expect_rc 0 "200 quiet tasks"
expect_eq "$(ls .weft/latest/)" "tasks.tsv" "nothing but the journal is created"

cat > out.toml <<'TOML'
[sweep]
i = [1, 2]
[[task]]
name = "say-{i}"
shell = "echo 'hello {i}'; echo 'warn {i}' >&2; printf 'no newline'"
[[task]]
name = "bad"
shell = "for k in 1 2 3 4 5 6 7; do echo line $k >&2; done; exit 5"
[[task]]
name = "tofile"
shell = "echo into the file; echo err too >&2"
stdout = "files/tofile.txt"
stderr = "files/tofile.err"
[[task]]
name = "slow-big"
shell = "for k in 1 2 3 4 5 6 7 8 9 10; do head -c 1000000 /dev/zero | tr '\\\\0' y; sleep 0.25; done; echo; echo done"
TOML
run "$WEFT" run out.toml
expect_rc 1 "one task fails"
expect_eq "$("$WEFT" log say-2)" "hello 2
no newline" "stdout back whole"
expect_eq "$("$WEFT" log say-1 --err)" "warn 1" "stderr back"
expect_has "$OUT" "    stderr: weft log bad --err" "where the failed task's stderr is"
expect_line "$OUT" "    | line 3" "its last lines"
expect_line "$OUT" "    | line 7" "its last line"
printf '%s\n' "$OUT" | grep -qx "    | line 2" && fail "more than 5 lines of the tail"
expect_eq "$(cat files/tofile.txt)" "into the file" "explicit stdout is a file"
expect_eq "$("$WEFT" log tofile --err)" "err too" "weft log reads an explicit file too"
[ -f .weft/latest/slow-big.out ] || fail "a large output did not move to its own file"
expect_eq "$("$WEFT" log slow-big | tail -n 1)" "done" "the moved output's end"
expect_eq "$("$WEFT" log slow-big | head -n 1 | wc -c)" "10000001" "the moved output whole"
expect_eq "$(ls .weft/latest/ | grep -c '^say-\|^bad')" "0" "no files for small outputs"
tsv=.weft/latest/tasks.tsv
expect_eq "$(awk -F'\t' '$1=="say-1"{print $15}' $tsv | sed 's/@[0-9]*+/@N+/')" "output.log@N+18" "the journal says where"
run "$WEFT" log say-1 --attempt 2
expect_rc 2 "no second attempt"
done_ok
