# weft killed with SIGKILL leaves no task process behind (issue 21, item
# 6): the watchdog process ends every running task's process group,
# grandchildren included (SIGTERM, then SIGKILL after grace), and exits.
. "$(dirname "$0")/lib.sh"

cat > orphan.toml <<'TOML'
[workflow]
threads = 2
grace = "1s"
[sweep]
i = [1, 2]
[[task]]
name = "long-{i}"
shell = "sleep 300 & echo $! > gc-{i}.pid; echo $$ > leader-{i}.pid; wait"
[[task]]
name = "stubborn"
shell = "trap '' TERM; echo $$ > stubborn.pid; while :; do sleep 0.1; done"
TOML
"$WEFT" run orphan.toml --threads 3 > out.txt 2>&1 &
BG=$!
for _ in $(seq 100); do
    [ -s gc-1.pid ] && [ -s gc-2.pid ] && [ -s leader-1.pid ] && [ -s leader-2.pid ] && [ -s stubborn.pid ] && break
    sleep 0.1
done
[ -s gc-2.pid ] && [ -s stubborn.pid ] || fail "the tasks did not start: $(cat out.txt)"
pids="$(cat gc-1.pid gc-2.pid leader-1.pid leader-2.pid stubborn.pid)"
for p in $pids; do alive "$p" || fail "task process $p is not running before the kill"; done
wd=$(ps -eo pid=,args= | awk -v w="$WEFT run orphan.toml" 'index($0, w) && !/awk/ {print $1}' | grep -vx "$BG" | head -1)
[ -n "$wd" ] || fail "no watchdog process found"
kill -9 "$BG"
wait "$BG" 2>/dev/null
BG=""
left=""
for _ in $(seq 50); do   # 5 s at most: 1 s of grace, then SIGKILL
    left=""
    for p in $pids; do alive "$p" && left="$left $p"; done
    [ -z "$left" ] && break
    sleep 0.1
done
[ -z "$left" ] || { ps -o pid,stat,args -p "${left# }" >&2; fail "task processes survived weft's SIGKILL:$left"; }
NPASS=$((NPASS + 1))
for _ in $(seq 30); do alive "$wd" || break; sleep 0.1; done
alive "$wd" && fail "the watchdog $wd did not exit"
NPASS=$((NPASS + 1))

# a normal run leaves no watchdog behind either
cat > quick.toml <<'TOML'
[[task]]
name = "q"
shell = "true"
TOML
run "$WEFT" run quick.toml; expect_rc 0 "a quick run"
left=$(ps -eo stat=,args= | awk -v w="$WEFT run quick.toml" 'index($0, w) && $1 !~ /^Z/ && !/awk/')
expect_eq "$left" "" "no process of the run remains"
done_ok
