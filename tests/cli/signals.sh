# Ctrl-C and SIGTERM during a run: running process trees are killed
# (grandchildren included), nothing new starts, the summary says what
# happened, exit 130 / 143, no orphan left.
. "$(dirname "$0")/lib.sh"

cat > long.toml <<'TOML'
[workflow]
threads = 3
grace = "1s"
[sweep]
i = [1, 2]
[[task]]
name = "tree-{i}"
shell = "sleep 1000 & echo $! > gc-{i}.pid; echo $$ > leader-{i}.pid; sleep 1000"
[[task]]
name = "stubborn"
shell = "trap '' TERM; echo $$ > stubborn.pid; sleep 1000"
[[task]]
name = "later"
shell = "touch later.ran"
after = ["tree-1"]
TOML

for sig in INT TERM; do
    rm -f ./*.pid later.ran
    "$WEFT" run long.toml > out.txt 2> err.txt &
    pid=$!
    BG=$pid
    for _ in $(seq 100); do
        [ -s gc-1.pid ] && [ -s gc-2.pid ] && [ -s stubborn.pid ] && break
        sleep 0.1
    done
    [ -s gc-1.pid ] && [ -s gc-2.pid ] || fail "$sig: the tasks did not start: $(cat out.txt err.txt)"
    start=$(date +%s)
    kill -s "$sig" "$pid"
    wait "$pid"
    RC=$?
    OUT=$(cat out.txt)
    ERR=$(cat err.txt)
    want=130
    [ "$sig" = TERM ] && want=143
    expect_rc "$want" "SIG$sig"
    [ $(( $(date +%s) - start )) -lt 10 ] || fail "$sig: stopping took too long"
    for f in gc-1 gc-2 leader-1 leader-2; do
        p=$(cat "$f.pid")
        ! alive "$p" || fail "$sig: process $p ($f) survived"
    done
    [ ! -e later.ran ] || fail "$sig: a task started after the interrupt"
    expect_has "$OUT" "stopping; running tasks get SIGTERM, then SIGKILL after 1.0s" "$sig message"
    expect_has "$OUT" "4 tasks: 0 done, 0 failed, 3 stopped, 1 skipped, 0 not run" "$sig summary"
    expect_has "$OUT" "  STOPPED stubborn: interrupted: stopped before it finished" "$sig: one word, as the record's"
    expect_eq "$(awk -F'\t' '$1=="stubborn"{print $6}' .weft/latest/tasks.tsv)" "stopped" "$sig: the record's word"
    expect_has "$OUT" "interrupted: stopped before it finished" "$sig reason"
    expect_has "$OUT" "did not run: later" "$sig never ran"
    ! alive "$(cat stubborn.pid)" || fail "$sig: a task ignoring SIGTERM survived the grace period"
done

# A second Ctrl-C kills at once, without waiting for the grace period.
cat > stubborn.toml <<'TOML'
[workflow]
grace = "60s"
[[task]]
name = "stubborn"
shell = "trap '' TERM; echo $$ > stubborn.pid; while :; do sleep 0.1; done"
TOML
rm -f stubborn.pid
"$WEFT" run stubborn.toml > out.txt 2>&1 &
pid=$!
BG=$pid
for _ in $(seq 100); do [ -s stubborn.pid ] && break; sleep 0.1; done
kill -INT "$pid"; sleep 0.5; kill -INT "$pid"
start=$(date +%s)
wait "$pid"
RC=$?
OUT=$(cat out.txt)
expect_rc 130 "twice Ctrl-C"
[ $(( $(date +%s) - start )) -lt 10 ] || fail "the second Ctrl-C did not kill at once"
! alive "$(cat stubborn.pid)" || fail "the stubborn task survived"
done_ok
