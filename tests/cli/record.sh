# The run's record (the run store .weft/weft.db, and tasks.tsv) on a file
# system that refuses it: the user is told at once (stderr), the summary
# says the record is INCOMPLETE and weft exits 3 (the run stops: work
# nothing records is not done); a read-only workdir is "nothing ran" (exit 2); an output
# file under a folder that cannot be made names the real error (issue 21,
# item 2).
. "$(dirname "$0")/lib.sh"

MNT=""
umount_all() {
    for m in $MNT; do umount "$m" 2>/dev/null; done
    cleanup
}
trap umount_all EXIT
# small_fs DIR OPTS: a tmpfs there (root only); 1 when it cannot be had
small_fs() {
    mkdir -p "$1"
    [ "$(id -u)" = 0 ] && mount -t tmpfs -o "$2" none "$1" 2>/dev/null || return 1
    MNT="$MNT $TMP/$1"
}

cat > many.toml <<'TOML'
[workflow]
name = "many"
[sweep]
i = { start = 1, stop = 400 }
[[task]]
name = "k-{i}"
kernel = "noop"
TOML

# A file size limit (any user) so small that the run store cannot be
# made: nothing runs, exit 2, the real error named.
run bash -c "trap '' XFSZ; ulimit -f 4; exec '$WEFT' run many.toml --quiet"
expect_rc 2 "store cut by a file size limit at once"
expect_has "$ERR" "weft: cannot create the run store '$TMP/.weft/weft.db'" "the store named"
# (a 16 KiB page written into 4 KiB: the write is cut short, which the
# system reports without an error of its own; weft names the limit)
expect_has "$ERR" "(a write was cut short: the file size limit, ulimit -f, is 4 KiB)" "the real error"
[ -z "$OUT" ] || fail "nothing may run: $OUT"
rm -rf .weft
# a limit met while the schema is written (inside its transaction): the
# write's error, not the rollback's answer
run bash -c "trap '' XFSZ; ulimit -f 40; exec '$WEFT' run many.toml --quiet"
expect_rc 2 "store cut by a file size limit while made"
expect_has "$ERR" "weft: cannot create the run store '$TMP/.weft/weft.db': disk I/O error (a write was cut short: the file size limit, ulimit -f, is 40 KiB)" "the write's error"
rm -rf .weft

# A limit the store hits when the attempts are committed: the tasks ran,
# the record is INCOMPLETE and says how many attempts it lacks, exit 3.
run bash -c "trap '' XFSZ; ulimit -f 96; exec '$WEFT' run many.toml --quiet"
expect_rc 3 "store cut by a file size limit later"
expect_has "$ERR" "weft: cannot write the run store '$TMP/.weft/weft.db'" "said on stderr"
# the tasks ran until the store refused a group; then the run stopped (what
# finishes after a refusal would not be recorded), so how many of the 400
# ran depends on when the flusher first commits
printf '%s\n' "$OUT" | grep -Eq '^many: 400 tasks: [1-9][0-9]* done, 0 failed' || fail "the tasks ran: $OUT"
NPASS=$((NPASS + 1))
expect_has "$OUT" "/tasks.tsv is INCOMPLETE: cannot write the run store" "summary says incomplete"
expect_has "$OUT" "finished attempts are not recorded (their tasks run again on --resume)" "what it means"
rm -rf .weft

# A full file system (root: a 512 KiB tmpfs) under a run: a task fills it
# once; the store refuses the next group, the run stops cleanly (exit 3),
# nothing is claimed done that is not; with room again --resume finishes
# the rest, and every task the store calls done did append its line.
if small_fs full size=512k; then
    cat > full/f.toml <<TOML
[workflow]
name = "f"
workdir = "."
[sweep]
i = { start = 1, stop = 200 }
[[task]]
name = "fill"
shell = "[ -e $TMP/filled ] || { touch $TMP/filled; dd if=/dev/zero of=filler bs=4k count=1000 2>/dev/null; }; true"
[[task]]
name = "t-{i}"
shell = "echo {i} >> $TMP/log; sleep 0.01"
after = ["fill"]
TOML
    run "$WEFT" run full/f.toml --quiet
    expect_rc 3 "store on a full file system"
    expect_has "$ERR" "cannot write the run store '$TMP/full/.weft/weft.db': database or disk is full" "ENOSPC named"
    expect_has "$ERR" "stopping the run" "the run stops"
    expect_has "$OUT" "is INCOMPLETE" "summary on a full disk"
    ran1=$(wc -l < log)
    [ "$ran1" -lt 200 ] || fail "the run went on after the store failed ($ran1 tasks ran)"
    rm -f full/filler
    (cd full && "$WEFT" results --csv > ../claimed.csv) || fail "results after a full disk"
    run "$WEFT" run full/f.toml --quiet --resume
    expect_rc 0 "resumed with room again"
    (cd full && "$WEFT" results --csv) > final.csv || fail "results at the end"
    for i in $(seq 1 200); do grep -qx "$i" log || fail "task t-$i never ran"; done
    [ "$(grep -c ',ok,' final.csv)" = 201 ] || fail "not every task done: $(cat final.csv)"
    # whatever the first run's store claimed done did run then
    for i in $(grep -o '^t-[0-9]*,[0-9]*,ok' claimed.csv | cut -d, -f2); do
        [ "$(grep -cx "$i" log)" -ge 1 ] || fail "t-$i claimed done but never ran"
    done
    NPASS=$((NPASS + 2))
else
    echo "note: no tmpfs here (not root or no mount): full-disk case not run"
fi

# A workdir where the run directory cannot be made: nothing ran, exit 2.
cat > ro.toml <<'TOML'
[workflow]
workdir = "rodir"
[[task]]
name = "t"
shell = "touch ran"
TOML
mkdir -p rodir
if [ "$(id -u)" = 0 ]; then
    small_fs rodir size=64k,ro || chmod 555 rodir
else
    chmod 555 rodir
fi
if ! touch rodir/probe 2>/dev/null; then
    run "$WEFT" run ro.toml
    expect_rc 2 "read-only workdir"
    expect_has "$ERR" "weft: cannot create '$TMP/rodir/.weft'" "read-only workdir named"
    [ ! -e rodir/ran ] || fail "nothing may run"

    # stdout under a folder that cannot be made: the real error, not ENOENT
    cat > rout.toml <<'TOML'
[[task]]
name = "t"
shell = "echo hi"
stdout = "rodir/sub/t.out"
[[task]]
name = "k"
kernel = "poisson2d"
args = { n = 16 }
stdout = "rodir/sub2/k.out"
TOML
    run "$WEFT" run rout.toml
    expect_rc 1 "stdout under a read-only folder"
    expect_has "$OUT" "FAILED t: cannot create the folder 'rodir/sub' for the stdout file: Read-only file system" "command task"
    expect_has "$OUT" "FAILED k: cannot write its stdout file 'rodir/sub2/k.out': Read-only file system" "kernel task"
else
    echo "note: rodir is writable for this user: read-only cases not run"
fi
done_ok
