# weft run --shard i/N (WEFT_SHARD, a Slurm job array's element): every
# task runs in exactly one of N slices (or in each, or in none, as its
# [[task]]'s shard key says); a dependency across slices is refused
# before anything runs; each slice's runs are their own in the run store
# (its resume, gc); bad values name what was wrong.
. "$(dirname "$0")/lib.sh"
unset WEFT_SHARD SLURM_ARRAY_TASK_ID SLURM_ARRAY_TASK_COUNT SLURM_ARRAY_TASK_MIN SLURM_ARRAY_TASK_STEP

cp "$DATA/pairs.toml" s.toml # 10 points, a-{i} then b-{i}, each appends to done.txt

# three slices: every task exactly once, a point's two tasks together
for k in 1 2 3; do
    run "$WEFT" run s.toml --shard $k/3 --quiet
    expect_rc 0 "slice $k of 3"
    expect_has "$OUT" "s (shard $k/3): " "the header names the slice"
    expect_has "$OUT" "/.weft/s-shard${k}of3-" "its run directory says which"
done
expect_eq "$(wc -l < done.txt)" 20 "20 tasks ran in all"
expect_eq "$(sort -u done.txt | wc -l)" 20 "each once"
# slice k has the points i with (i - 1) mod 3 = k - 1
run "$WEFT" run s.toml --shard 2/3 --dry-run
expect_eq "$(printf '%s\n' "$OUT" | grep -o '^[ab]-[0-9]*' | sort | tr '\n' ' ')" "a-2 a-5 a-8 b-2 b-5 b-8 " \
    "slice 2 of 3: points 2, 5, 8"
run "$WEFT" runs --json
expect_has "$OUT" '"shard": "2/3"' "weft runs --json says the slice"
rm -rf .weft done.txt

# the slices of a job array start at once on a new store: none is refused
# for "database is locked" (SQLite answers that at once while another
# process switches the new database to WAL; weft tries the opening again)
for round in $(seq 25); do
    rm -rf .weft done.txt
    pids=""
    for k in 1 2 3 4; do
        "$WEFT" run s.toml --quiet --shard $k/4 > race$k.out 2> race$k.err &
        pids="$pids $!"
    done
    for p in $pids; do
        wait "$p" || fail "round $round: a slice started at once with the others failed: $(cat race*.err)"
    done
done
expect_eq "$(sort -u done.txt | wc -l)" 20 "four slices started at once ran every task"
rm -rf .weft done.txt race*

# WEFT_SHARD, then Slurm's array variables; WEFT_SHARD wins over them,
# and --shard over both
WEFT_SHARD=3/3 run "$WEFT" run s.toml --quiet
expect_has "$OUT" "s (shard 3/3): 6 tasks" "WEFT_SHARD"
SLURM_ARRAY_TASK_ID=7 SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_MIN=5 SLURM_ARRAY_TASK_STEP=2 \
    run "$WEFT" run s.toml --quiet
expect_has "$OUT" "s (shard 2/3): 6 tasks" "array task 7 of 5,7,9 is the second slice"
SLURM_ARRAY_TASK_ID=0 SLURM_ARRAY_TASK_COUNT=4 run "$WEFT" run s.toml --quiet
expect_has "$OUT" "s (shard 1/4): 6 tasks" "no MIN/STEP: from 0 by 1"
SLURM_ARRAY_TASK_ID=3 SLURM_ARRAY_TASK_COUNT=4 WEFT_SHARD=1/1 run "$WEFT" run s.toml --quiet
expect_has "$OUT" "s: 20 tasks" "WEFT_SHARD=1/1: all of it, in an array job too"
WEFT_SHARD=1/4 run "$WEFT" run s.toml --shard 2/2 --quiet
expect_has "$OUT" "s (shard 2/2): 10 tasks" "--shard over WEFT_SHARD"
rm -rf .weft done.txt

# bad values: exit 2, nothing runs
run "$WEFT" run s.toml --shard 0/3
expect_rc 2 "--shard 0/3"
expect_has "$ERR" "weft run: --shard needs i/N, the i-th of N slices (1 <= i <= N <= 1000000), got '0/3'" "said"
run "$WEFT" run s.toml --shard 4/3
expect_rc 2 "--shard 4/3"
run "$WEFT" run s.toml --shard two
expect_rc 2 "--shard two"
WEFT_SHARD=1/x run "$WEFT" run s.toml
expect_rc 2 "WEFT_SHARD=1/x"
expect_has "$ERR" "weft: WEFT_SHARD='1/x': expected i/N, the i-th of N slices (1 <= i <= N <= 1000000)" "named"
SLURM_ARRAY_TASK_ID=8 SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_MIN=5 SLURM_ARRAY_TASK_STEP=2 \
    run "$WEFT" run s.toml
expect_rc 2 "an array task between the steps"
expect_has "$ERR" "weft: cannot tell which slice Slurm array task 8 of 3 is (SLURM_ARRAY_TASK_MIN=5, SLURM_ARRAY_TASK_STEP=2): give --shard i/N or WEFT_SHARD=i/N, or WEFT_SHARD=1/1 for all of it" "named"
[ ! -e done.txt ] && [ ! -e .weft ] || fail "nothing may run on bad input"
NPASS=$((NPASS + 1))

# started as one of several ranks (mpirun, srun) without a slice, but
# not by a launcher MPI agrees with (the variables set by hand; or weft
# built without MPI): refused, saying how to give each rank a slice; with
# one, it runs (mpi.sh runs one workflow over real ranks)
OMPI_COMM_WORLD_SIZE=2 OMPI_COMM_WORLD_RANK=1 run "$WEFT" run s.toml
expect_rc 2 "a rank of 2 without a slice"
expect_has "$ERR" "weft: started as rank 1 of 2 (OMPI_COMM_WORLD_SIZE)" "the rank named"
expect_has "$ERR" "--shard \$((OMPI_COMM_WORLD_RANK+1))/2" "how to slice per rank"
PMI_SIZE=4 PMI_RANK=3 run "$WEFT" run s.toml
expect_has "$ERR" "weft: started as rank 3 of 4 (PMI_SIZE)" "srun/MPICH's variables too"
expect_has "$ERR" "--shard \$((PMI_RANK+1))/4" "and how to slice with them"
[ ! -e done.txt ] && [ ! -e .weft ] || fail "nothing may run"
NPASS=$((NPASS + 1))
OMPI_COMM_WORLD_SIZE=2 OMPI_COMM_WORLD_RANK=1 run "$WEFT" run s.toml --shard 2/2 --quiet
expect_has "$OUT" "s (shard 2/2): 10 tasks: 10 done" "with a slice it runs"
OMPI_COMM_WORLD_SIZE=2 OMPI_COMM_WORLD_RANK=0 WEFT_SHARD=1/2 run "$WEFT" run s.toml --quiet
expect_has "$OUT" "s (shard 1/2): 10 tasks: 10 done" "WEFT_SHARD as well"
rm -rf .weft done.txt

# dependencies across slices: refused, naming both tasks and where
cat > x.toml <<'TOML'
[workflow]
name = "x"
[sweep]
i = { start = 1, stop = 4 }
[[task]]
name = "setup"
shell = "echo setup >> done.txt"
[[task]]
name = "a-{i}"
shell = "echo a{i} >> done.txt"
after = ["setup"]
[[task]]
name = "report"
shell = "echo report >> done.txt"
after = ["a-*"]
TOML
run "$WEFT" run x.toml --shard 1/2
expect_rc 2 "a point after a task of another slice"
expect_has "$ERR" "weft: x.toml:11:9: task 'a-2': key 'after': runs after 'setup', which runs in shard 1 of 2 while this task runs in shard 2 of 2: a sharded run cannot satisfy that; keep them in one sweep point, or set shard = \"each\" on 'setup' (it runs in every shard) or shard = \"skip\" on this task (it runs only without --shard)" "both named, file:line"
run "$WEFT" validate x.toml --shard 2/2
expect_rc 2 "weft validate checks a slice too"
# setup in every slice, the report in none
sed -i 's/^name = "setup"$/name = "setup"\nshard = "each"/; s/^name = "report"$/name = "report"\nshard = "skip"/' x.toml
run "$WEFT" run x.toml --shard 1/2 --quiet
expect_rc 0 "slice 1 with setup everywhere and the report left out"
run "$WEFT" run x.toml --shard 2/2 --quiet
expect_rc 0 "slice 2"
expect_eq "$(sort done.txt | tr '\n' ' ')" "a1 a2 a3 a4 setup setup " "setup in each slice, the points once, no report"
# after the slices, a resume of the whole workflow finds their tasks done:
# only the report runs
run "$WEFT" run x.toml --resume --quiet
expect_has "$OUT" "x: 6 tasks (5 cached, 1 to run)" "the slices' tasks are cached for the whole"
expect_eq "$(sort done.txt | tr '\n' ' ')" "a1 a2 a3 a4 report setup setup " "only the report ran now"
run "$WEFT" run x.toml --quiet
expect_has "$OUT" "x: 6 tasks: 6 done" "without --shard or --resume: everything, the report too"
rm -rf .weft done.txt
# a task in every slice after one in only one: refused
sed -i 's/^name = "report"$/name = "report"/; s/^shard = "skip"$/shard = "each"/' x.toml
run "$WEFT" run x.toml --shard 2/2
expect_rc 2 "each after a point"
expect_has "$ERR" "task 'report': key 'after': runs after 'a-1', which runs in shard 1 of 2 while this task runs in every shard (shard = \"each\")" "said"
# the key's values
printf '[workflow]\nname = "k"\n[[task]]\nname = "t"\nshell = "true"\nshard = "half"\n' > k.toml
run "$WEFT" run k.toml
expect_rc 2 "shard = \"half\""
expect_has "$ERR" "k.toml:6:9: task 't': key 'shard': expected \"point\" (the default: with the other tasks of its sweep point), \"each\" (in every shard) or \"skip\" (in no shard: for a run of the whole workflow), got \"half\"" "named"

# each slice resumes its own latest run: a failure in slice 1, then slice
# 2 runs; slice 1's --resume reruns its failed task only
cat > r.toml <<'TOML'
[workflow]
name = "r"
[sweep]
i = { start = 1, stop = 6 }
[[task]]
name = "t-{i}"
shell = "test ! -e fail-{i} && echo t{i} >> done.txt"
TOML
touch fail-3
run "$WEFT" run r.toml --shard 1/2 --quiet
expect_rc 1 "slice 1 with t-3 failing"
run "$WEFT" run r.toml --shard 2/2 --quiet
expect_rc 0 "slice 2"
rm fail-3
run "$WEFT" run r.toml --shard 1/2 --resume --quiet
expect_rc 0 "slice 1 resumed"
expect_has "$OUT" "r (shard 1/2): 3 tasks (2 cached, 1 to run)" "its own run resumed, not slice 2's"
expect_eq "$(sort done.txt | tr '\n' ' ')" "t1 t2 t3 t4 t5 t6 " "every task done once"
# a slice resumed before it ever ran takes what a run of the whole did
run "$WEFT" run r.toml --shard 2/3 --resume --quiet
expect_has "$OUT" "r (shard 2/3): 2 tasks (2 cached, 0 to run)" "another slicing finds them done too"
# gc keeps the newest run of each slice
run "$WEFT" gc --keep 1
expect_rc 0 "gc --keep 1"
run "$WEFT" runs --json
expect_eq "$(printf '%s\n' "$OUT" | grep -c '"shard": "2/2"')" 1 "slice 2's run kept"
expect_eq "$(printf '%s\n' "$OUT" | grep -c '"shard": "1/2"')" 2 "slice 1's newest and the run it resumed kept"
rm -rf .weft done.txt

# a store of schema 1 (before slices) is upgraded when opened
if command -v python3 > /dev/null; then
    mkdir -p .weft
    python3 - <<'PY'
import sqlite3
db = sqlite3.connect(".weft/weft.db")
db.executescript("""
CREATE TABLE runs(id INTEGER PRIMARY KEY, flow TEXT NOT NULL, name TEXT NOT NULL, file TEXT, dir TEXT,
 parent INTEGER, start REAL, end REAL, status TEXT, pid INTEGER, ntasks INTEGER, ndone INTEGER, nfailed INTEGER,
 ncached INTEGER, first_attempt INTEGER, last_attempt INTEGER);
CREATE TABLE attempts(id INTEGER PRIMARY KEY, run INTEGER NOT NULL, task TEXT NOT NULL, params TEXT,
 attempt INTEGER, status TEXT, exit INTEGER, signal INTEGER, start REAL, end REAL, wall REAL, user REAL, sys REAL,
 maxrss_kb INTEGER, cpus TEXT, gpus TEXT, stdout TEXT, stderr TEXT, results TEXT, reason TEXT, hash INTEGER,
 parts BLOB, out_off INTEGER, out_len INTEGER, err_off INTEGER, err_len INTEGER);
INSERT INTO runs(flow, name, start, end, status, ntasks, ndone, nfailed, ncached)
 VALUES('old', 'old-20261101-120000', 1761998400, 1761998401, 'done', 0, 0, 0, 0);
PRAGMA user_version = 1;
""")
db.close()
PY
    run "$WEFT" runs --json
    expect_rc 0 "a schema-1 store is read"
    expect_has "$OUT" '"name": "old-20261101-120000", "workflow": "old"' "its run listed"
    expect_has "$OUT" '"shard": null' "without a slice"
    expect_eq "$(python3 -c 'import sqlite3; print(sqlite3.connect(".weft/weft.db").execute("PRAGMA user_version").fetchone()[0])')" 3 "upgraded to schema 3"
    rm -rf .weft

    # each run keeps the machine it ran on; a run of another machine that
    # still says running is taken at its word (its pid means nothing here)
    run "$WEFT" run s.toml --shard 1/2 --quiet
    run "$WEFT" runs --json
    expect_has "$OUT" "\"host\": \"$(hostname)\"" "the run's machine"
    python3 -c 'import sqlite3; db = sqlite3.connect(".weft/weft.db"); db.execute("UPDATE runs SET host=\"node17\", status=\"running\", end=NULL, pid=999999"); db.commit()'
    run "$WEFT" status
    expect_has "$OUT" "(run 1 of workflow s): running" "not called killed"
    expect_has "$OUT" "  pid 999999 on node17, started " "where it runs"
    python3 -c 'import sqlite3; db = sqlite3.connect(".weft/weft.db"); db.execute("UPDATE runs SET host=NULL"); db.commit()'
    run "$WEFT" status
    expect_has "$OUT" "(run 1 of workflow s): killed" "here (or not known), a gone pid is a killed run"
    rm -rf .weft done.txt
fi

done_ok
