# The run store and resume (issue 23): every attempt is a row of
# .weft/weft.db; --resume runs only what failed, was interrupted, is new
# or changed (and what runs after it), --rerun-failed and --rerun GLOB,
# --dry-run says why; declared outputs; weft runs / results / status /
# log / gc; two runs at once in one directory; bad input.
. "$(dirname "$0")/lib.sh"

cat > s.toml <<'TOML'
[workflow]
name = "s"
[sweep]
n = [1, 2, 3]
[[task]]
name = "prep"
shell = "echo prep >> log.txt"
[[task]]
name = "solve-{n}"
shell = """
echo solve-{n} >> log.txt
if [ {n} = 2 ] && [ ! -e ok2 ]; then echo 'boom' >&2; exit 3; fi
mkdir -p res && echo "{n} $SCALE" > res/{n}.txt
echo x={n} >> $WEFT_RESULT
echo 'note=hello, "world"' >> $WEFT_RESULT
"""
env = { SCALE = "1" }
outputs = ["res/{n}.txt"]
after = ["prep"]
[[task]]
name = "sum"
shell = "echo sum >> log.txt"
after = ["solve-{n}"]
TOML

run "$WEFT" run s.toml --quiet
expect_rc 1 "first run: solve-2 fails"
[ -f .weft/weft.db ] || fail "no run store"
R1=$("$WEFT" runs | awk 'NR==2{print $2}')
run "$WEFT" run s.toml --resume --dry-run
expect_rc 0 "dry run"
expect_line "$OUT" "cached  prep: cached (done in run $R1)" "prep cached"
expect_has "$OUT" "run     solve-2: failed in run s-" "failed named"
expect_line "$OUT" "run     sum: runs after solve-2, which runs" "downstream of a failure"
expect_line "$OUT" "2 to run, 3 cached" "counts"
[ "$(grep -c . log.txt)" = 4 ] || fail "the dry run ran something"

touch ok2
run "$WEFT" run s.toml --resume --quiet
expect_rc 0 "resumed"
expect_has "$OUT" "5 tasks (3 cached, 2 to run)" "start line"
expect_has "$OUT" "5 tasks: 2 done, 3 cached, 0 failed" "summary"
expect_eq "$(sort log.txt | tr '\n' ' ')" "prep solve-1 solve-2 solve-2 solve-3 sum " "only solve-2 and sum ran again"

# nothing left: a resume runs nothing
run "$WEFT" run s.toml --resume --quiet
expect_rc 0 "all cached"
expect_has "$OUT" "5 tasks: 0 done, 5 cached" "everything cached"

# a changed env: the sweep's tasks and what runs after them
sed -i 's/SCALE = "1"/SCALE = "2"/' s.toml
run "$WEFT" run s.toml --resume --dry-run
expect_line "$OUT" "run     solve-1: changed: env SCALE" "changed env named"
expect_line "$OUT" "run     sum: runs after solve-1, which runs" "downstream"
expect_line "$OUT" "cached  prep: cached (done in run $R1)" "upstream kept"
run "$WEFT" run s.toml --rerun-failed --dry-run
expect_line "$OUT" "0 to run, 5 cached" "--rerun-failed keeps changed successes"
run "$WEFT" run s.toml --resume --quiet
expect_rc 0 "changed resumed"
expect_eq "$(cat res/3.txt)" "3 2" "the output is the new one"

# a forced task, and a missing output
run "$WEFT" run s.toml --rerun 'solve-[13]' --dry-run
expect_line "$OUT" "run     solve-1: forced (--rerun)" "forced"
expect_line "$OUT" "cached  solve-2: cached (done in run $("$WEFT" runs | awk 'END{print $2}'))" "others cached"
rm res/2.txt
run "$WEFT" run s.toml --resume --dry-run
expect_line "$OUT" "run     solve-2: output missing: res/2.txt" "missing output"
# an output written after the last success (an attempt killed midway)
sleep 0.05
echo half > res/2.txt
run "$WEFT" run s.toml --resume --dry-run
expect_has "$OUT" "run     solve-2: output res/2.txt changed after run s-" "newer output"

# a run that could not start (its trace file cannot be written) is marked
# so, and --resume still takes the last run that ran
run "$WEFT" run s.toml --resume --trace /nonexistent/dir/t.json
expect_rc 2 "unwritable trace"
expect_has "$("$WEFT" runs)" "not started" "marked not started"
run "$WEFT" run s.toml --resume --dry-run
expect_has "$OUT" "run     solve-2: output res/2.txt changed after run s-" "resumes the run that ran"

# declared inputs: a changed file reruns the tasks that read it; a part
# gone from the definition is counted
mkdir -p in
for n in 1 2 3; do echo "data $n" > in/$n.txt; done
cat > inp.toml <<'TOML'
[sweep]
n = [1, 2, 3]
[[task]]
name = "read-{n}"
shell = "cat in/{n}.txt > /dev/null"
inputs = ["in/{n}.txt"]
env = { MODE = "fast" }
TOML
run "$WEFT" run inp.toml --quiet
expect_rc 0 "inputs run"
sleep 0.05
echo "data 2, changed" > in/2.txt
run "$WEFT" run inp.toml --resume --dry-run
expect_line "$OUT" "run     read-2: changed: input in/2.txt" "a changed input named"
expect_line "$OUT" "cached  read-1: cached (done in run $("$WEFT" runs | awk '$2 ~ /^inp-/{r=$2} END{print r}'))" "the others cached"
sed -i '/^env = /d' inp.toml
run "$WEFT" run inp.toml --resume --dry-run
expect_line "$OUT" "run     read-1: changed: 1 part removed" "a removed part counted"

# a failed attempt's outputs are moved aside
rm ok2
cat > fo.toml <<'TOML'
[[task]]
name = "half"
shell = "mkdir -p res; echo partial > res/half.txt; exit 1"
outputs = ["res/half.txt"]
TOML
run "$WEFT" run fo.toml --quiet
expect_rc 1 "failing task with outputs"
[ ! -e res/half.txt ] || fail "a failed attempt's output left in place"
[ "$(cat .weft/latest/half.failed-1/0-half.txt)" = partial ] || fail "not moved aside"
NPASS=$((NPASS + 2))

# weft results: values as they are
run "$WEFT" results
expect_rc 0 "results"
run "$WEFT" results "$("$WEFT" runs | awk '$2 ~ /^s-/{r=$2} END{print r}')" --csv
expect_rc 0 "results --csv"
expect_line "$OUT" "task,n,status,attempt,wall_s,x,note" "csv header"
expect_has "$OUT" "solve-3,3,ok,1," "csv row"
expect_has "$OUT" ',3,"hello, ""world"""' "csv quoting"
run "$WEFT" results 2 --json
expect_rc 0 "results --json"
expect_has "$OUT" '"results": {"x": "1", "note": "hello, \"world\""}' "json strings"
run "$WEFT" results --csv --json
expect_rc 2 "both formats"
run "$WEFT" results nosuchrun
expect_rc 2 "unknown run"
expect_has "$ERR" "weft results: no run 'nosuchrun' in $TMP/.weft/weft.db (weft runs lists them)" "named"

# weft runs, status, log
run "$WEFT" runs
expect_rc 0 "runs"
expect_has "$OUT" "(resumes 1)" "resume chain shown"
run "$WEFT" status 1
expect_rc 0 "status"
expect_has "$OUT" "failed" "status of a failed run"
run "$WEFT" log solve-2 1 --err
expect_rc 0 "log --err"
expect_eq "$OUT" "boom" "the failed attempt's stderr"
run "$WEFT" log solve-2 1 --attempt 2
expect_rc 2 "no such attempt"
expect_has "$ERR" "has no attempt 2 in run" "said"
run "$WEFT" log nosuch
expect_rc 2 "no such task"

# weft status of a run in progress, from "another terminal"
cat > live.toml <<'TOML'
[workflow]
name = "live"
threads = 1
[sweep]
i = { start = 1, stop = 20 }
[[task]]
name = "z-{i}"
shell = "sleep 0.2"
TOML
"$WEFT" run live.toml --quiet > live.txt 2>&1 &
BG=$!
sleep 1.5
run "$WEFT" status
expect_rc 0 "status of a live run"
expect_has "$OUT" "(run " "names the run"
expect_has "$OUT" ": running" "says it runs"
expect_has "$OUT" "pid $BG" "its process"
printf '%s\n' "$OUT" | grep -Eq '\[([1-9]|1[0-9])/20\]' || fail "no progress in: $OUT"
NPASS=$((NPASS + 1))
wait "$BG" || fail "the live run: $(cat live.txt)"
BG=""
run "$WEFT" status
expect_has "$OUT" ": done" "done once it ended"
expect_has "$OUT" "20 tasks: 20 finished (20 done, 0 failed, 0 stopped)" "its counts"

# two runs at once in one directory: both recorded, nothing mixed
cat > c.toml <<'TOML'
[workflow]
name = "c"
[sweep]
i = { start = 1, stop = 300 }
[[task]]
name = "t-{i}"
shell = "true"
TOML
"$WEFT" run c.toml --quiet > c1.txt 2>&1 &
p1=$!
"$WEFT" run c.toml --quiet > c2.txt 2>&1 &
p2=$!
wait $p1 || fail "first concurrent run: $(cat c1.txt)"
wait $p2 || fail "second concurrent run: $(cat c2.txt)"
for r in $("$WEFT" runs | awk '$2 ~ /^c-/{print $1}'); do
    n=$("$WEFT" results "$r" --csv | grep -c ',ok,')
    [ "$n" = 300 ] || fail "run $r has $n rows"
    NPASS=$((NPASS + 1))
done
[ "$("$WEFT" runs | grep -c ' c-')" = 2 ] || fail "two runs"

# gc: old runs go, with their directories; the runs a kept run resumed
# from stay (its results come from them)
nsdirs=$(ls -d .weft/s-* | wc -l)
run "$WEFT" gc --keep 1
expect_rc 0 "gc"
expect_has "$OUT" "dropped 1 run (1 directories)" "gc says"
[ "$(ls -d .weft/c-* | wc -l)" = 1 ] || fail "the older c run's directory stays"
[ "$(ls -d .weft/s-* | wc -l)" = "$nsdirs" ] || fail "a run of the resume chain went"
[ "$("$WEFT" runs | grep -c ' c-')" = 1 ] || fail "the older c run's rows stay"
run "$WEFT" results "$("$WEFT" runs | awk '$2 ~ /^s-/{r=$1} END{print r}')" --csv
expect_has "$OUT" "solve-2,2,ok" "the latest s run's results whole after gc"
run "$WEFT" gc --keep x
expect_rc 2 "gc --keep x"
expect_has "$ERR" "weft gc: --keep needs a number from 0, got 'x'" "said"
run "$WEFT" log solve-1 --attempt 0
expect_rc 2 "log --attempt 0"
expect_has "$ERR" "weft log: --attempt needs a number from 1, got '0'" "said"
run "$WEFT" results 1 2
expect_rc 2 "results with two runs"
expect_has "$ERR" "weft results: unexpected argument '2' (see weft results --help)" "said"
run "$WEFT" runs --bogus
expect_rc 2 "runs --bogus"
expect_has "$ERR" "weft runs: unknown argument '--bogus' (see weft runs --help)" "said"
run "$WEFT" status 1 2
expect_rc 2 "status with two runs"
expect_has "$ERR" "weft status: unexpected argument '2'" "said"
# inputs / outputs that are not lists of paths
printf '[[task]]\nname = "a"\nshell = "true"\noutputs = ["ok", ""]\n' > badout.toml
run "$WEFT" run badout.toml
expect_rc 2 "an empty output path"
expect_has "$ERR" "badout.toml:4:18: task 'a': key 'outputs': element 2 is an empty path" "said"
printf '[[task]]\nname = "a"\nshell = "true"\ninputs = "x"\n' > badin.toml
run "$WEFT" run badin.toml
expect_rc 2 "inputs not a list"
expect_has "$ERR" "badin.toml:4:10: task 'a': key 'inputs': expected a list of strings, got" "said"

# bad input
run "$WEFT" run s.toml --resume nosuchrun
expect_rc 2 "resume an unknown run"
expect_has "$ERR" "weft: no run 'nosuchrun' in $TMP/.weft/weft.db" "unknown run named"
run "$WEFT" run s.toml --resume --rerun-failed
expect_rc 2 "both modes"
FO=$("$WEFT" runs | awk '$2 ~ /^fo-/{print $1}')
run "$WEFT" run s.toml --resume="$FO"
expect_rc 2 "a run of another workflow"
expect_has "$ERR" "is of workflow 'fo', not 's'" "another workflow named"
run "$WEFT" run s.toml --rerun
expect_rc 2 "--rerun without a glob"
run "$WEFT" run s.toml --rerun 'nope-*'
expect_rc 2 "--rerun matching nothing"
expect_has "$ERR" "weft: --rerun 'nope-*' matches no task of 's'" "said"
FRESH=$(mktemp -d) # not under $TMP, whose store would be found
cp s.toml "$FRESH"/
cd "$FRESH" || fail "cd"
run "$WEFT" results
expect_rc 2 "no store"
expect_has "$ERR" "no run store in" "said"
run "$WEFT" run s.toml --resume --quiet
expect_has "$ERR" "nothing to resume: no earlier run of 's'" "nothing to resume"
cd "$TMP" && rm -rf "$FRESH"
done_ok
