# Helpers for the CLI tests: each test script is run as
#   bash tests/cli/NAME.sh path/to/weft
# in a fresh temporary directory that is removed afterwards.
set -u
WEFT=$(realpath "$1")
DATA=$(cd "$(dirname "$0")/../data" && pwd) # tests/data, before the cd below
TMP=$(mktemp -d)
BG=""   # a weft started in the background: stopped if the test fails
cleanup() {
    if [ -n "$BG" ] && kill -0 "$BG" 2>/dev/null; then
        kill -INT "$BG"; sleep 0.2; kill -INT "$BG" 2>/dev/null; wait "$BG" 2>/dev/null
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
cd "$TMP" || exit 1
NPASS=0

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# run CMD...: sets RC, OUT, ERR
run() {
    "$@" > out.txt 2> err.txt
    RC=$?
    OUT=$(cat out.txt)
    ERR=$(cat err.txt)
}

expect_rc() {
    [ "$RC" = "$1" ] || fail "$2: exit code $RC, expected $1; stdout: $OUT; stderr: $ERR"
    NPASS=$((NPASS + 1))
}

# expect_line FILE-CONTENT LINE DESC: LINE is one whole line of the text
expect_line() {
    printf '%s\n' "$1" | grep -qxF -- "$2" || fail "$3: no line '$2' in: $1"
    NPASS=$((NPASS + 1))
}

expect_has() {
    printf '%s\n' "$1" | grep -qF -- "$2" || fail "$3: no '$2' in: $1"
    NPASS=$((NPASS + 1))
}

# expect_match TEXT REGEX DESC: a line of TEXT matches the extended REGEX
expect_match() {
    printf '%s\n' "$1" | grep -Eq -- "$2" || fail "$3: no line matching '$2' in: $1"
    NPASS=$((NPASS + 1))
}

# expect_lacks TEXT STRING DESC: no line of TEXT has STRING
expect_lacks() {
    printf '%s\n' "$1" | grep -qF -- "$2" && fail "$3: '$2' in: $1"
    NPASS=$((NPASS + 1))
}

expect_eq() {
    [ "$1" = "$2" ] || fail "$3: got '$1', expected '$2'"
    NPASS=$((NPASS + 1))
}

done_ok() {
    echo "ok: $NPASS checks"
    exit 0
}

# alive PID: the process exists and is not a zombie (an orphan killed in a
# container whose init does not reap stays a zombie; it is gone all the same)
alive() {
    st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    case "$st" in Z*) return 1 ;; esac
    return 0
}
