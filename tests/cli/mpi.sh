# weft under mpirun (Open MPI): started as several ranks without a slice,
# each rank refuses; with a slice each (--shard from the rank), the ranks
# run every task of a sweep exactly once between them; Ctrl-C on mpirun
# stops every rank's commands and leaves none behind. Skips (77) where
# mpirun is not installed.
. "$(dirname "$0")/lib.sh"
unset WEFT_SHARD SLURM_ARRAY_TASK_ID SLURM_ARRAY_TASK_COUNT
command -v mpirun > /dev/null || { echo "skipped: no mpirun"; exit 77; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
MPIRUN=(mpirun --oversubscribe -n 2)

cp "$DATA/pairs.toml" s.toml # 10 points, a-{i} then b-{i}, each appends to done.txt

run "${MPIRUN[@]}" "$WEFT" run s.toml
[ "$RC" != 0 ] || fail "mpirun -n 2 weft run without a slice must fail"
NPASS=$((NPASS + 1))
expect_has "$ERR" "weft: started as rank 0 of 2 (OMPI_COMM_WORLD_SIZE): " "rank 0 refuses"
expect_has "$ERR" "weft: started as rank 1 of 2 (OMPI_COMM_WORLD_SIZE): " "rank 1 refuses"
[ ! -e done.txt ] || fail "nothing may run"
NPASS=$((NPASS + 1))

# a slice per rank
run "${MPIRUN[@]}" bash -c "exec '$WEFT' run s.toml --quiet --shard \$((OMPI_COMM_WORLD_RANK+1))/\$OMPI_COMM_WORLD_SIZE"
expect_rc 0 "a slice per rank"
expect_has "$OUT" "s (shard 1/2): 10 tasks: 10 done" "rank 0's slice"
expect_has "$OUT" "s (shard 2/2): 10 tasks: 10 done" "rank 1's slice"
expect_eq "$(sort -u done.txt | wc -l) $(wc -l < done.txt)" "20 20" "every task once over the two ranks"
rm -rf .weft done.txt

# Ctrl-C on mpirun: every rank's commands end, none is left
cat > slow.toml <<'TOML'
[workflow]
name = "slow"
[sweep]
i = { start = 1, stop = 8 }
[[task]]
name = "s-{i}"
shell = "echo $$ >> pids.txt; exec sleep 300"
TOML
"${MPIRUN[@]}" bash -c "exec '$WEFT' run slow.toml --shard \$((OMPI_COMM_WORLD_RANK+1))/\$OMPI_COMM_WORLD_SIZE" \
    > slow.out 2> slow.err &
BG=$!
for _ in $(seq 100); do
    [ -f pids.txt ] && [ "$(wc -l < pids.txt)" -ge 2 ] && break
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
    alive "$p" && fail "command $p of an interrupted rank is still running"
done
NPASS=$((NPASS + 1))
# (mpirun SIGKILLs ranks that take longer than it waits: a rank may not
# get to print its summary; the store says how each slice's run ended)
# (a rank may still be ending its run when mpirun has returned: a few
# seconds at most — its grace — until no run looks running)
for _ in $(seq 50); do
    run "$WEFT" runs --json
    printf '%s\n' "$OUT" | grep -q '"status": "running"' || break
    sleep 0.1
done
expect_eq "$(printf '%s\n' "$OUT" | grep -c '"shard": "[12]/2"')" 2 "both slices' runs are in the store"
printf '%s\n' "$OUT" | grep -q '"status": "running"' && fail "no run may still look running: $OUT"
NPASS=$((NPASS + 1))
done_ok
