# Crash safety of the run store (issue 23): a sweep of 300 short tasks
# that append a line to a file is killed with SIGKILL at 20 moments drawn
# from a fixed seed, each time resumed (--resume), then resumed until it
# is done; after the 10th kill every task's definition changes (env
# VERSION 1 -> 2). At the end: every task appended its line after its
# last change; a task appended a line of the same version more than once
# only when the earlier one came within the last commit interval before a
# kill (the store commits every 250 ms; those tasks are rerun, nothing
# older is); the store passes PRAGMA integrity_check (weft runs --check,
# and SQLite's own); no task process is left.
. "$(dirname "$0")/lib.sh"

N=300
cat > c.toml <<TOML
[workflow]
name = "crash"
threads = 2
grace = "200ms"
[sweep]
i = { start = 1, stop = $N }
[[task]]
name = "t-{i}"
shell = "sleep 0.0\$(( {i} % 3 + 1 )); echo \"{i} \$VERSION \$(date +%s.%N)\" >> $TMP/lines"
env = { VERSION = "1" }
TOML
now() { date +%s.%N; }

RANDOM=2026 # fixed seed: the same kill moments every time
: > kills
first=1
for k in $(seq 1 20); do
    if [ $first = 1 ]; then
        "$WEFT" run c.toml --quiet > run.txt 2>&1 &
        first=0
    else
        "$WEFT" run c.toml --quiet --resume > run.txt 2>&1 &
    fi
    BG=$!
    ms=$((60 + RANDOM % 400))
    sleep "$(printf '0.%03d' "$ms")"
    if kill -0 "$BG" 2>/dev/null; then
        now >> kills
        kill -9 "$BG"
    fi
    wait "$BG" 2>/dev/null
    BG=""
    [ "$k" = 10 ] && sed -i 's/VERSION = "1"/VERSION = "2"/' c.toml
done
[ "$(wc -l < kills)" -ge 20 ] || fail "only $(wc -l < kills) kills landed"
NPASS=$((NPASS + 1))

# resume until done (each resume runs what is left)
for _ in 1 2 3; do
    run "$WEFT" run c.toml --quiet --resume
    [ "$RC" = 0 ] && break
done
expect_rc 0 "resumed to the end"
expect_has "$OUT" "crash: $N tasks: " "summary"

# every task ran; a second line only from the last commit interval before a kill
python3 - "$N" lines kills <<'PY' || fail "lines do not match the kills"
import sys
n, lines, kills = int(sys.argv[1]), sys.argv[2], sys.argv[3]
kill_t = [float(l) for l in open(kills)]
seen = {}
for l in open(lines):
    i, v, t = l.split()
    seen.setdefault((int(i), v), []).append(float(t))
missing = [i for i in range(1, n + 1) if (i, "2") not in seen]
if missing:
    sys.exit("never ran after its change: %s" % missing[:10])
bad = []
redone = 0
for key, ts in seen.items():
    for t in ts[:-1]:  # every line of a version but its last was redone
        redone += 1
        # within the commit interval (250 ms) and the run's stop before a
        # kill (1 s of slack), or after it (the watchdog's grace)
        if not any(k - 1.0 <= t <= k + 0.5 for k in kill_t):
            bad.append((key, t))
if bad:
    sys.exit("redone beyond the last commit interval: %s" % bad[:5])
print("tasks redone after a kill:", redone, "over", len(kill_t), "kills")
PY
NPASS=$((NPASS + 1))

run "$WEFT" runs --check
expect_rc 0 "integrity"
expect_has "$OUT" "run store ok" "weft runs --check"
expect_eq "$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("PRAGMA integrity_check").fetchone()[0])' .weft/weft.db)" "ok" "SQLite's integrity_check"
run "$WEFT" runs
expect_has "$OUT" "killed" "killed runs shown as such"

# no task process left behind by the kills
sleep 0.5
left=$(pgrep -f "$TMP/lines" || true)
[ -z "$left" ] || fail "task processes left: $left"
NPASS=$((NPASS + 1))
done_ok
