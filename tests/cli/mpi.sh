# weft under mpirun (Open MPI): one workflow over several ranks — rank 0
# owns the run and the store, the others run its tasks — with a sweep, a
# diamond, kernels, output and results coming back, a failure, retries, a
# timeout on a remote rank, a rank killed with kill -9 (its tasks retried
# elsewhere, or failed and finished by --resume), bad input said once,
# Ctrl-C on mpirun leaving no command behind; and, without MPI, a slice
# per rank. Skips (77) where mpirun is not installed.
. "$(dirname "$0")/lib.sh"
unset WEFT_SHARD SLURM_ARRAY_TASK_ID SLURM_ARRAY_TASK_COUNT WEFT_RANK_TIMEOUT
command -v mpirun > /dev/null || { echo "skipped: no mpirun"; exit 77; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
MPI2=(mpirun --oversubscribe -n 2)
MPI4=(mpirun --oversubscribe -n 4)

cp "$DATA/pairs.toml" s.toml # 10 points, a-{i} then b-{i}, each appends to done.txt

# --rank-timeout and WEFT_RANK_TIMEOUT out of range: refused, nothing runs
run "$WEFT" run s.toml --rank-timeout 0
expect_rc 2 "--rank-timeout 0"
expect_has "$ERR" "weft run: --rank-timeout needs seconds from 0.5 to 86400, got '0'" "said"
run "${MPI2[@]}" env WEFT_RANK_TIMEOUT=soon "$WEFT" run s.toml
expect_rc 2 "WEFT_RANK_TIMEOUT=soon"
expect_has "$ERR" "weft: WEFT_RANK_TIMEOUT needs seconds from 0.5 to 86400, got 'soon'" "said"
[ ! -e done.txt ] && [ ! -e .weft ] || fail "nothing may run"
NPASS=$((NPASS + 1))

# a slice per rank works with or without MPI in weft
run "${MPI2[@]}" bash -c "exec '$WEFT' run s.toml --quiet --shard \$((OMPI_COMM_WORLD_RANK+1))/\$OMPI_COMM_WORLD_SIZE"
expect_rc 0 "a slice per rank"
expect_has "$OUT" "s (shard 1/2): 10 tasks: 10 done" "rank 0's slice"
expect_has "$OUT" "s (shard 2/2): 10 tasks: 10 done" "rank 1's slice"
expect_eq "$(sort -u done.txt | wc -l) $(wc -l < done.txt)" "20 20" "every task once over the two ranks"
rm -rf .weft done.txt

run "${MPI2[@]}" "$WEFT" run s.toml
if printf '%s\n' "$ERR" | grep -q "built without MPI"; then
    expect_rc 2 "without MPI, a run over ranks is refused"
    expect_has "$ERR" "weft: started as rank 0 of 2 (OMPI_COMM_WORLD_SIZE): this weft was built without MPI, which a run over several ranks needs" "what it needs, said by rank 0"
    expect_has "$ERR" "weft: started as rank 1 of 2 (OMPI_COMM_WORLD_SIZE): this weft was built without MPI" "and every rank says why it stops"
    [ ! -e done.txt ] || fail "nothing may run"
    done_ok
fi

# ---- one run over two ranks: rank 1 runs every task, once
expect_rc 0 "mpirun -n 2 weft run"
expect_has "$OUT" "s: 20 tasks on 1 rank (" "the header counts the ranks that run tasks"
expect_has "$OUT" "s: 20 tasks: 20 done, 0 failed" "all done"
expect_has "$OUT" "  ranks: rank1@$(hostname) 20 attempts" "what each rank ran"
expect_eq "$(sort -u done.txt | wc -l) $(wc -l < done.txt)" "20 20" "every task once"
# b-{i} runs after a-{i}: its line comes later
for i in 1 5 10; do
    a=$(grep -n "^a$i\$" done.txt | cut -d: -f1)
    b=$(grep -n "^b$i\$" done.txt | cut -d: -f1)
    [ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ] || fail "b-$i ran before a-$i: $(cat done.txt)"
done
NPASS=$((NPASS + 1))
rm -rf .weft done.txt

# ---- four ranks: a sweep of diamonds, commands and kernels, output and results back
cat > d.toml <<'TOML'
[workflow]
name = "d"
[sweep]
i = { start = 1, stop = 6 }
[[task]]
name = "top-{i}"
shell = "echo top {i} on $WEFT_CPUS; echo n={i} > $WEFT_RESULT"
[[task]]
name = "left-{i}"
after = ["top-{i}"]
command = ["sh", "-c", "echo left {i} >&2; echo side=left > $WEFT_RESULT"]
[[task]]
name = "right-{i}"
after = ["top-{i}"]
kernel = "sleep"
args = { seconds = 0.01 }
[[task]]
name = "bottom-{i}"
after = ["left-{i}", "right-{i}"]
shell = "echo bottom {i}"
[[task]]
name = "sum"
after = ["bottom-{i}"]
when = "always"
shell = "grep -c '\"status\": \"ok\"' $WEFT_POINTS > count.txt"
TOML
run "${MPI4[@]}" "$WEFT" run d.toml --quiet
expect_rc 0 "a diamond sweep over 4 ranks"
expect_has "$OUT" "d: 25 tasks on 3 ranks (" "three ranks run tasks"
expect_has "$OUT" "d: 25 tasks: 25 done, 0 failed" "all done"
expect_eq "$(cat count.txt)" 6 "the always task saw its six upstream tasks (points.json from rank 0)"
TSV=$(cat .weft/latest/tasks.tsv)
expect_eq "$(printf '%s\n' "$TSV" | head -1 | awk -F'\t' '{print NF, $NF}')" "20 node" "tasks.tsv has a node column"
expect_eq "$(printf '%s\n' "$TSV" | awk -F'\t' 'NR > 1 && NF != 20' | wc -l)" 0 "every line as many fields as the header"
expect_eq "$(printf '%s\n' "$TSV" | awk -F'\t' 'NR > 1 {print $NF}' | sort -u | grep -c "^rank[123]@")" 3 \
    "the tasks spread over the three ranks"
run "$WEFT" results --csv
expect_line "$OUT" "task,i,status,attempt,wall_s,node,side,n" "results: a node column, then the results"
expect_match "$OUT" '^top-3,3,ok,1,[0-9.]+,rank[123]@[^,]+,,3$' "a command's key=value result came back"
expect_match "$OUT" '^left-2,2,ok,1,[0-9.]+,rank[123]@[^,]+,left,$' "and another's"
run "$WEFT" log top-4
expect_line "$OUT" "top 4 on $(printf '%s\n' "$TSV" | awk -F'\t' '$1 == "top-4" {print $13}')" \
    "its stdout came back into the run's log (and its WEFT_CPUS is the cpus recorded)"
run "$WEFT" log left-5 --err
expect_line "$OUT" "left 5" "stderr too"
expect_eq "$(ls .weft/latest | grep -c '\.out$')" 0 "no output file per task"
# the trace: each rank's tracks named after it, the rank in each attempt
run "${MPI4[@]}" "$WEFT" run d.toml --quiet --trace t.json
expect_rc 0 "traced over ranks"
python3 -c 'import json, sys; json.load(open("t.json"))' || fail "the trace is not JSON"
expect_match "$(cat t.json)" "\"thread_name\".*\"name\":\"rank[123]@$(hostname) slot 0\"" "a rank's track"
expect_match "$(cat t.json)" "\"node\":\"rank[123]@$(hostname)\"" "an attempt's rank"
rm -rf .weft count.txt

# ---- a failure, a retry and a timeout on remote ranks
cat > f.toml <<'TOML'
[workflow]
name = "f"
grace = 1
[[task]]
name = "flaky"
retries = 2
shell = "n=$(cat n.txt 2>/dev/null || echo 0); echo $((n+1)) > n.txt; [ $n -ge 1 ] || { echo 'not yet' >&2; exit 3; }"
[[task]]
name = "bad"
shell = "echo boom >&2; exit 4"
[[task]]
name = "after-bad"
after = ["bad"]
shell = "true"
[[task]]
name = "slow"
timeout = 1
shell = "echo $$ > slow.pid; exec sleep 60"
TOML
run "${MPI4[@]}" "$WEFT" run f.toml --quiet
expect_rc 1 "failures over ranks: exit 1"
expect_has "$OUT" "retry   flaky: attempt 1 of 3: exited with status 3; retrying" "a remote attempt retried"
expect_has "$OUT" "FAILED bad: exited with status 4" "a remote failure"
expect_has "$OUT" "    | boom" "its stderr's last lines in the summary"
expect_has "$OUT" "FAILED slow: timed out after 1 s" "a timeout on a remote rank"
expect_has "$OUT" "did not run: after-bad" "what depends on the failure does not run"
run "$WEFT" results --csv
expect_match "$OUT" '^flaky,ok,2,' "flaky succeeded at its second attempt"
sleep 0.3
alive "$(cat slow.pid)" && fail "the timed-out command is still running"
NPASS=$((NPASS + 1))
rm -rf .weft n.txt slow.pid

# ---- GPUs (declared: each rank has 2): a task gets one of its rank's; more
# than any rank has is refused with its line
cat > g.toml <<'TOML'
[workflow]
name = "g"
gpus = 2
[sweep]
i = { start = 1, stop = 6 }
[[task]]
name = "g-{i}"
gpus = 1
shell = "echo dev=$CUDA_VISIBLE_DEVICES > $WEFT_RESULT; sleep 0.2"
TOML
run "${MPI4[@]}" "$WEFT" run g.toml --quiet
expect_rc 0 "GPU tasks over ranks"
run "$WEFT" results --csv
expect_eq "$(printf '%s\n' "$OUT" | tail -n +2 | grep -cE ',rank[123]@[^,]+,[01]$')" 6 "each got one GPU of its rank"
printf '[[task]]\nname = "big"\ngpus = 3\nshell = "true"\n' >> g.toml
run "${MPI4[@]}" "$WEFT" run g.toml --quiet
expect_rc 2 "more GPUs than a rank has"
expect_has "$ERR" "g.toml:12:8: task 'big': key 'gpus': needs 3 GPUs but the most a rank has is 2" "refused with its line"
rm -rf .weft

# ---- bad input: said once (by rank 0), nothing runs
printf '[workflow]\nname = "bad"\n[[task]]\nname = "x"\nshell = 3\n' > bad.toml
run "${MPI4[@]}" "$WEFT" run bad.toml
expect_rc 2 "a bad workflow over ranks"
expect_eq "$(printf '%s\n' "$ERR" | grep -c "bad.toml:5:")" 1 "the error said once, with its line"
[ ! -e .weft ] || fail "nothing may run on bad input"
NPASS=$((NPASS + 1))

# ---- a rank killed with kill -9 (mpirun --enable-recovery keeps the others)
cat > k.toml <<'TOML'
[workflow]
name = "k"
[sweep]
i = { start = 1, stop = 6 }
[[task]]
name = "s-{i}"
retries = 1
shell = "echo $$ >> pids.txt; sleep 1.5; echo {i} >> k.txt"
TOML
rank_pid() { # the weft process of rank $1 (not its watchdog)
    for p in $(pgrep -f "weft run $2"); do
        tr '\0' '\n' < "/proc/$p/environ" 2> /dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1" || continue
        [ "$(ps -o comm= -p "$(ps -o ppid= -p "$p" | tr -d ' ')")" = weft ] || echo "$p"
    done
}
kill_rank() { # waits until rank $1's commands run, then kills it
    for _ in $(seq 100); do
        [ -f pids.txt ] && [ "$(wc -l < pids.txt)" -ge 4 ] && break
        sleep 0.05
    done
    p=$(rank_pid "$1" "$2")
    [ -n "$p" ] || fail "rank $1 not found"
    kill -9 "$p"
}
mpirun --enable-recovery --oversubscribe -n 3 "$WEFT" run k.toml --quiet --rank-timeout 1 > k.out 2> k.err &
BG=$!
kill_rank 2 k.toml
wait "$BG"
RC=$?
BG=""
OUT=$(tr '\r' '\n' < k.out)
ERR=$(cat k.err)
expect_rc 0 "a killed rank's tasks retried on the others"
expect_has "$ERR" "weft: rank2@$(hostname) is lost: no word from it for " "the lost rank named"
expect_has "$OUT" "lost with rank2@$(hostname): rank 2 stopped answering" "its tasks said lost"
expect_has "$OUT" "k: 6 tasks: 6 done, 0 failed" "all done in the end"
expect_match "$OUT" "rank2@$(hostname) [0-9]+ attempts? \(lost\)" "the summary says it was lost"
expect_eq "$(sort -un k.txt | wc -l)" 6 "every task finished"
sleep 0.5
for p in $(cat pids.txt); do
    alive "$p" && fail "command $p is still running"
done
NPASS=$((NPASS + 1))
rm -rf .weft k.txt pids.txt

# the same without retries: its tasks fail, naming the rank; --resume finishes
sed -i 's/^retries = 1$/retries = 0/' k.toml
mpirun --enable-recovery --oversubscribe -n 3 "$WEFT" run k.toml --quiet --rank-timeout 1 > k.out 2> k.err &
BG=$!
kill_rank 1 k.toml
wait "$BG"
RC=$?
BG=""
OUT=$(tr '\r' '\n' < k.out)
# (under --enable-recovery mpirun exits 0 whatever its ranks return: the
# store and the summary say how the run went)
expect_has "$OUT" "k: 6 tasks: 3 done, 3 failed" "lost tasks without retries fail"
expect_match "$OUT" "^  FAILED s-[1-6]: lost with rank1@$(hostname): rank 1 stopped answering" "named with the rank"
run "$WEFT" runs --json
expect_match "$OUT" '"status": "failed"' "the store says the run failed"
run "$WEFT" run k.toml --resume --quiet
expect_rc 0 "--resume finishes the rest"
expect_match "$OUT" "k: 6 tasks \(3 cached, 3 to run\)" "only the lost ones run again"
expect_eq "$(sort -un k.txt | wc -l)" 6 "every task finished"
rm -rf .weft k.txt pids.txt

# without --enable-recovery Open MPI ends every rank when one dies: no
# hang, nothing left running, the run recorded as stopped; --resume ends it
rm -f pids.txt k.txt
mpirun --oversubscribe -n 3 "$WEFT" run k.toml --quiet > k.out 2> k.err &
BG=$!
kill_rank 2 k.toml
for _ in $(seq 300); do kill -0 "$BG" 2> /dev/null || break; sleep 0.1; done
kill -0 "$BG" 2> /dev/null && fail "mpirun still runs 30 s after a rank died"
wait "$BG"
BG=""
sleep 0.5
for p in $(cat pids.txt); do
    alive "$p" && fail "command $p is still running after mpirun ended the job"
done
NPASS=$((NPASS + 1))
run "$WEFT" runs
expect_match "$OUT" " (terminated|interrupted|killed) " "the run recorded as stopped"
run "$WEFT" run k.toml --resume --quiet
expect_rc 0 "--resume finishes it"
expect_eq "$(sort -un k.txt | wc -l)" 6 "every task finished"
rm -rf .weft k.txt pids.txt

# rank 0 killed: the other ranks see it gone, end their commands and exit
sed -i 's/sleep 1.5; echo/sleep 30; echo/' k.toml
mpirun --enable-recovery --oversubscribe -n 3 "$WEFT" run k.toml --quiet --rank-timeout 1 > k.out 2> k.err &
BG=$!
kill_rank 0 k.toml
wait "$BG"
BG=""
expect_has "$(cat k.err)" "weft: rank 1 ($(hostname)): rank 0 is lost (no word from it for " "a rank says rank 0 is gone"
sleep 0.5
for p in $(cat pids.txt); do
    alive "$p" && fail "command $p is still running after rank 0 died"
done
NPASS=$((NPASS + 1))
run "$WEFT" runs
expect_match "$OUT" " killed " "the store shows rank 0's run as killed"
rm -rf .weft k.txt pids.txt

# ---- Ctrl-C on mpirun: every rank's commands end, none is left
cat > slow.toml <<'TOML'
[workflow]
name = "slow"
[sweep]
i = { start = 1, stop = 8 }
[[task]]
name = "s-{i}"
shell = "echo $$ >> pids.txt; exec sleep 300"
TOML
mpirun --oversubscribe -n 3 "$WEFT" run slow.toml > slow.out 2> slow.err &
BG=$!
for _ in $(seq 100); do
    [ -f pids.txt ] && [ "$(wc -l < pids.txt)" -ge 4 ] && break
    sleep 0.1
done
[ -f pids.txt ] || fail "the commands did not start: $(cat slow.err)"
kill -INT "$BG"
wait "$BG"
RC=$?
BG=""
[ "$RC" != 0 ] || fail "an interrupted mpirun exits non-zero"
NPASS=$((NPASS + 1))
sleep 0.5
for p in $(cat pids.txt); do
    alive "$p" && fail "command $p of an interrupted run is still running"
done
NPASS=$((NPASS + 1))
for _ in $(seq 50); do
    run "$WEFT" runs --json
    printf '%s\n' "$OUT" | grep -q '"status": "running"' || break
    sleep 0.1
done
printf '%s\n' "$OUT" | grep -q '"status": "running"' && fail "the run may not still look running: $OUT"
expect_match "$OUT" '"status": "(interrupted|killed)"' "the run is recorded as stopped"
done_ok
