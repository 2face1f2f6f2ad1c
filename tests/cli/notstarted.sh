# Command tasks that fail before their process starts (program not found,
# cwd missing, an output file that cannot be opened) while others wait for
# cores: every failure frees its cores and the next task starts; the run
# ends on its own (issue 21, item 1: it used to sleep forever).
. "$(dirname "$0")/lib.sh"

# run_limited DESC ARGS...: weft must end within 30 s
run_limited() {
    local desc=$1
    shift
    timeout -s KILL 30 "$WEFT" "$@" > out.txt 2> err.txt
    RC=$?
    OUT=$(cat out.txt)
    ERR=$(cat err.txt)
    [ "$RC" != 137 ] || fail "$desc: weft hung (killed after 30 s); stdout: $OUT"
}

cat > missing.toml <<'TOML'
[workflow]
threads = 2
[sweep]
i = [1, 2, 3, 4, 5, 6]
[[task]]
name = "t-{i}"
command = ["/nonexistent/prog-{i}"]
TOML
run_limited "missing programs" run missing.toml; expect_rc 1 "missing programs"
expect_has "$OUT" "6 tasks: 0 done, 6 failed, 0 skipped, 0 not run" "every missing program fails"
expect_line "$OUT" "  FAILED t-6: cannot run '/nonexistent/prog-6': No such file or directory" "reason"
run_limited "missing programs, 1 thread" run missing.toml --threads 1; expect_rc 1 "--threads 1"
expect_has "$OUT" "6 tasks: 0 done, 6 failed, 0 skipped, 0 not run" "--threads 1 counts"

# with retries: every attempt fails before starting
cat > retries.toml <<'TOML'
[workflow]
threads = 1
[sweep]
i = [1, 2, 3]
[[task]]
name = "r-{i}"
command = ["/nonexistent/prog"]
retries = 2
TOML
run_limited "retries" run retries.toml; expect_rc 1 "retries of a missing program"
expect_eq "$(awk -F'\t' 'NR>1' .weft/latest/tasks.tsv | wc -l)" 9 "3 attempts of each journaled"

# a missing cwd, then tasks that work behind it
cat > cwd.toml <<'TOML'
[workflow]
threads = 1
[sweep]
i = [1, 2, 3, 4]
[[task]]
name = "c-{i}"
command = ["true"]
cwd = "no-such-dir-{i}"
[[task]]
name = "fine-{i}"
shell = "touch fine-{i}.ran"
TOML
run_limited "missing cwd" run cwd.toml; expect_rc 1 "missing cwd"
expect_has "$OUT" "8 tasks: 4 done, 4 failed" "missing cwd counts"
expect_has "$OUT" "FAILED c-1: cannot change to the directory" "cwd reason"
[ -e fine-4.ran ] || fail "tasks behind the failures must run"

# an output file that cannot be opened
mkdir -p isdir
cat > out.toml <<'TOML'
[workflow]
threads = 2
[sweep]
i = [1, 2, 3, 4, 5]
[[task]]
name = "o-{i}"
command = ["true"]
stdout = "isdir"
[[task]]
name = "e-{i}"
command = ["true"]
stderr = "isdir"
TOML
run_limited "unopenable output" run out.toml; expect_rc 1 "unopenable stdout/stderr"
expect_has "$OUT" "10 tasks: 0 done, 10 failed" "unopenable output counts"
expect_has "$OUT" "FAILED o-1: cannot open the stdout file 'isdir': Is a directory" "stdout reason"
expect_has "$OUT" "FAILED e-1: cannot open the stderr file 'isdir': Is a directory" "stderr reason"
done_ok
