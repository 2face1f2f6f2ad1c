# weft run on a terminal (under script(1)'s pty): a live progress line with
# a bar, done/running/queued/failed, the rate and the time left — and no
# line per finished task; the summary at the end. Off a terminal: a line
# per task. Skips (77) without script.
. "$(dirname "$0")/lib.sh"
command -v script > /dev/null || { echo "skipped: no script(1)"; exit 77; }

cat > p.toml <<'TOML'
[workflow]
name = "p"
threads = 2
[sweep]
i = { start = 1, stop = 6 }
[[task]]
name = "t-{i}"
shell = "sleep 0.3"
TOML
script -qec "'$WEFT' run p.toml" /dev/null > tty.txt
RC=$?
expect_eq "$RC" 0 "the run under a pty"
# the live line is rewritten in place: split at the carriage returns
lines=$(tr '\r' '\n' < tty.txt | sed 's/\x1b\[K//g')
expect_has "$lines" "[....................] 0/6: 0 done, 2 running, 4 queued, 0 failed | 0.0 tasks/s | " "the bar at the start: 2 running (2 cores), 4 queued"
expect_match "$lines" '^\[#{6}\.{14}\] 2/6: 2 done, 2 running, 2 queued, 0 failed \| [0-9.]+ tasks/s \| [0-9.]+s, ETA [0-9.]+s$' \
    "a line a third of the way, with a rate and an ETA"
expect_lacks "$lines" '] done ' "no line per finished task on a terminal"
expect_has "$lines" "p: 6 tasks: 6 done, 0 failed, 0 skipped, 0 not run, in " "the summary"
# --verbose: the lines per task on the terminal too, above the live line
script -qec "'$WEFT' run p.toml --verbose" /dev/null > tty.txt
lines=$(tr '\r' '\n' < tty.txt | sed 's/\x1b\[K//g')
expect_eq "$(printf '%s\n' "$lines" | grep -c '] done    t-')" 6 "--verbose: a line per task"
expect_has "$lines" " tasks/s | " "and the live line"
run "$WEFT" run p.toml --verbose --quiet
expect_rc 2 "--verbose with --quiet"
expect_has "$ERR" "weft run: --quiet and --verbose: one or the other" "said"

# off a terminal: a line per finished task, no progress line
run "$WEFT" run p.toml
expect_rc 0 "the run, piped"
expect_eq "$(printf '%s\n' "$OUT" | grep -c '] done    t-')" 6 "a line per task"
expect_lacks "$OUT" 'tasks/s' "no progress line off a terminal"
expect_has "$(printf '%s\n' "$OUT" | grep -c 'note: ')" "0" "tasks of 0.3 s: nothing to advise"

# a sweep of tasks far smaller than weft's own cost per task: the summary
# says so, and what to do
printf '[workflow]\nname = "tiny"\n[sweep]\ni = { start = 1, stop = 20000 }\n[[task]]\nname = "t-{i}"\nkernel = "noop"\n' > tiny.toml
run "$WEFT" run tiny.toml --quiet
expect_rc 0 "20000 noop kernels"
expect_match "$OUT" "^  note: the 20000 tasks of \[\[task\]\] 't-\{i\}' ran [0-9.]+ us each on average, while weft's own time per task in this run was about [0-9.]+ us \(the cores ran tasks [0-9]+% of the time\): most of this run was weft's, not the tasks'. Give each task more work \(several sweep points per task\)$" \
    "the too-small advice"
done_ok
