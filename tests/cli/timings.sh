# Timings that say what they mean (issue 21, item 10): the summary's
# slowest tasks and critical path show each task's run time, with its wait
# for cores as its own column; progress lines show a kernel's run, not its
# wait; "process slots used at most at once" never exceeds what ran at
# once; an interrupted task is "stopped" everywhere.
. "$(dirname "$0")/lib.sh"

cat > four.toml <<'TOML'
[workflow]
threads = 1
[sweep]
i = [1, 2, 3, 4]
[[task]]
name = "nap-{i}"
command = ["sleep", "0.5"]
[[task]]
name = "knap-{i}"
kernel = "sleep"
args = { seconds = 0.5 }
TOML
run "$WEFT" run four.toml --summary; expect_rc 0 "four naps on one core"
# progress lines: each about 0.5 s (a kernel's wait for the core is not in it)
bad=$(printf '%s\n' "$OUT" | awk '/ done +k?nap-/ { v = $NF; gsub(/[()s]/, "", v); if (v + 0 > 0.9) print }')
expect_eq "$bad" "" "progress lines show run time"
# journal wall_s about 0.5 too
bad=$(awk -F'\t' 'NR > 1 && ($9 < 0.45 || $9 > 0.9) {print $1, $9}' .weft/latest/tasks.tsv)
expect_eq "$bad" "" "journal wall is run time"
S=$(printf '%s\n' "$OUT" | sed -n '/^slowest tasks:/,/^critical path/p')
expect_has "$S" "         run        wait  task" "run and wait columns"
# every slowest line: run under 0.9 s; some task waited over 1 s for the core
bad=$(printf '%s\n' "$S" | awk '/nap-/ { if (($2 == "s" && $1 > 0.9)) print }')
expect_eq "$bad" "" "slowest shows run time, not queue wait: $S"
printf '%s\n' "$S" | awk '/nap-/ && $4 == "s" && $3 > 1.0 {f = 1} END {exit !f}' || fail "no wait over 1 s shown: $S"
NPASS=$((NPASS + 1))
CP=$(printf '%s\n' "$OUT" | sed -n '/^critical path/,/^workers/p')
bad=$(printf '%s\n' "$CP" | awk '/^  at / && $5 == "s" && $4 > 0.9')
expect_eq "$bad" "" "critical path lengths are run times: $CP"
expect_line "$OUT" "process slots: 1 used at most at once" "one slot on one core"

# 2 cores, 40 processes of mixed lengths: never more than 2 at once
cat > mixed.toml <<'TOML'
[workflow]
threads = 2
[sweep]
i = { start = 1, stop = 40 }
[[task]]
name = "m-{i}"
shell = "sleep 0.0$(( {i} % 7 ))"
TOML
run "$WEFT" run mixed.toml --summary --quiet; expect_rc 0 "mixed processes"
n=$(printf '%s\n' "$OUT" | sed -n 's/^process slots: \([0-9]*\) used at most at once$/\1/p')
[ -n "$n" ] && [ "$n" -le 2 ] || fail "process slots: '$n' on 2 cores"
NPASS=$((NPASS + 1))

# an interrupted task: "stopped" in the summary, the record and --summary
cat > stop.toml <<'TOML'
[[task]]
name = "long"
command = ["sleep", "100"]
[[task]]
name = "klong"
kernel = "sleep"
args = { seconds = 100 }
TOML
"$WEFT" run stop.toml --summary > out.txt 2> err.txt &
BG=$!
for _ in $(seq 50); do grep -q "long" /proc/$BG/task/*/comm 2>/dev/null; sleep 0.1; [ -n "$(ls .weft/latest/ 2>/dev/null)" ] && break; done
sleep 0.5
kill -INT "$BG"; wait "$BG"; RC=$?; BG=""; OUT=$(cat out.txt)
expect_rc 130 "interrupted"
expect_has "$OUT" "2 tasks: 0 done, 0 failed, 2 stopped, 0 skipped, 0 not run" "CLI summary"
expect_has "$OUT" "  STOPPED klong: interrupted: stopped before it finished" "kernel stopped"
expect_line "$OUT" "tasks: 0 done, 0 failed, 2 stopped, 0 cancelled, 0 not run" "--summary says stopped"
expect_eq "$(awk -F'\t' 'NR > 1 {print $6}' .weft/latest/tasks.tsv | sort -u)" "stopped" "record says stopped"
done_ok
