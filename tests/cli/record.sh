# The run's record (tasks.tsv) on a file system that refuses it: the user
# is told at once (stderr), the summary says the record is INCOMPLETE and
# weft exits 3; a read-only workdir is "nothing ran" (exit 2); an output
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

# A file size limit (any user): writes past 4 KiB fail with EFBIG.
run bash -c "trap '' XFSZ; ulimit -f 4; exec '$WEFT' run many.toml --quiet"
expect_rc 3 "record cut by a file size limit"
expect_has "$ERR" "weft: cannot write the run record '$TMP/.weft/many-" "said at once on stderr"
expect_has "$ERR" "/tasks.tsv': File too large" "the real error"
expect_has "$OUT" "400 tasks: 400 done, 0 failed" "the tasks themselves ran"
expect_has "$OUT" "/tasks.tsv is INCOMPLETE: cannot write the run record" "summary says incomplete"
rm -rf .weft

# A full file system (root: a 64 KiB tmpfs, filled up).
if small_fs full size=64k; then
    sed 's/^name = "many"/name = "many"\nworkdir = "."/' many.toml > full/many.toml
    dd if=/dev/zero of=full/filler bs=1k count=56 2>/dev/null
    run "$WEFT" run full/many.toml --quiet
    expect_rc 3 "record on a full file system"
    expect_has "$ERR" "No space left on device" "ENOSPC named"
    expect_has "$OUT" "is INCOMPLETE" "summary on a full disk"
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
