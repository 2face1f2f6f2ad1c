# Retry policy in workflow files (issue 23, part): retry_on limits the
# retries of command tasks to exit codes, retry_delay (times retry_backoff
# per further attempt) spaces them, for kernels too; bad keys are load
# errors naming file:line:col.
. "$(dirname "$0")/lib.sh"

cat > r.toml <<'TOML'
[workflow]
threads = 2
[[task]]
name = "hard"
shell = "exit 3"
retries = 2
retry_on = [75]
[[task]]
name = "soft"
shell = "echo try $WEFT_ATTEMPT; echo oops $WEFT_ATTEMPT >&2; [ -e soft.1 ] && exit 0; touch soft.1; exit 75"
retries = 2
retry_on = [75, 76]
[[task]]
name = "spaced"
shell = "date +%s%N >> times; exit 1"
retries = 2
retry_delay = "200ms"
retry_backoff = 2
[[task]]
name = "nap"
kernel = "sleep"
args = { seconds = 1 }
timeout = "100ms"
retries = 1
retry_delay = "300ms"
TOML
run timeout -s KILL 60 "$WEFT" run r.toml
expect_rc 1 "failing tasks"
tsv=.weft/latest/tasks.tsv
expect_eq "$(awk -F'\t' '$1=="hard"' $tsv | wc -l)" "1" "exit 3 is not in retry_on: one attempt"
expect_eq "$(awk -F'\t' '$1=="soft"{printf "%s:%s ", $3, $6}' $tsv)" "1:failed 2:ok " "exit 75 is retried"
# each attempt's output is kept (the run's output log; weft log --attempt)
expect_eq "$("$WEFT" log soft --attempt 1) | $("$WEFT" log soft --attempt 1 --err)" "try 1 | oops 1" "the first attempt's output kept"
expect_eq "$("$WEFT" log soft) | $("$WEFT" log soft --err)" "try 2 | oops 2" "the last attempt's output"
expect_eq "$(awk -F'\t' '$1=="soft"{printf "%s %s;", $15, $16}' $tsv)" "output.log@0+6 output.log@6+7;output.log@13+6 output.log@19+7;" "the journal says where each attempt's output is"
expect_eq "$(awk -F'\t' '$1=="spaced"' $tsv | wc -l)" "3" "three attempts"
gaps=$(awk 'NR>1{print $1-p} {p=$1}' times)
expect_eq "$(printf '%s\n' "$gaps" | awk 'NR==1 && $1>=200000000 {a=1} NR==2 && $1>=400000000 {b=1} END{print a+b}')" "2" "0.2 s, then 0.4 s between attempts ($gaps)"
expect_has "$OUT" "retrying in 0.2 s" "the event says when"
expect_has "$OUT" "retrying in 0.4 s" "the delay grows"
# the kernel's second attempt started at least 0.3 s after its first ended
# (0.1 s timeout + 0.3 s delay; start times are rounded to the millisecond)
expect_eq "$(awk -F'\t' '$1=="nap"{print $4}' $tsv | awk 'NR==1{a=$1} NR==2{print ($1 - a >= 0.395) ? "spaced" : "too soon: " $1 - a}')" "spaced" "kernel retry delay"

# Ctrl-C during a retry's wait ends it at once: the task failed as its
# attempt did
cat > w.toml <<'TOML'
[[task]]
name = "w"
shell = "exit 4"
retries = 1
retry_delay = "30s"
TOML
"$WEFT" run w.toml > out.txt 2> err.txt &
BG=$!
for _ in $(seq 100); do
    grep -q "retrying in 30 s" out.txt 2>/dev/null && break
    sleep 0.05
done
start=$(date +%s)
kill -INT "$BG"
wait "$BG"
RC=$?
BG=""
OUT=$(cat out.txt)
ERR=$(cat err.txt)
expect_rc 130 "Ctrl-C during the wait"
[ $(( $(date +%s) - start )) -lt 5 ] || fail "the wait was not cut short"
expect_line "$OUT" "  FAILED w: exited with status 4 (not retried: the run was stopping)" "the task failed as its attempt did"

# bad keys
cat > bad.toml <<'TOML'
[[task]]
name = "k"
kernel = "noop"
retry_on = [1]
TOML
run "$WEFT" run bad.toml
expect_rc 2 "retry_on on a kernel"
expect_has "$ERR" "bad.toml:4:1: task 'k': key 'retry_on': for command and shell tasks only (a kernel has no exit code)" "kernel retry_on"
printf '[[task]]\nname = "c"\nshell = "true"\nretry_on = [300]\n' > bad.toml
run "$WEFT" run bad.toml
expect_rc 2 "an exit code over 255"
expect_has "$ERR" "bad.toml:4:13: task 'c': key 'retry_on': must be from 0 to 255, got 300" "code range"
printf '[[task]]\nname = "c"\nshell = "true"\nretry_on = 1\n' > bad.toml
run "$WEFT" run bad.toml
expect_rc 2 "retry_on not a list"
expect_has "$ERR" "key 'retry_on': expected a list of 1 to 64 exit codes, got an integer" "list"
printf '[[task]]\nname = "c"\nshell = "true"\nretry_backoff = 0.5\n' > bad.toml
run "$WEFT" run bad.toml
expect_rc 2 "backoff under 1"
expect_has "$ERR" "key 'retry_backoff': must be from 1 to 100" "backoff"
printf '[[task]]\nname = "c"\nshell = "true"\nretry_delay = "soon"\n' > bad.toml
run "$WEFT" run bad.toml
expect_rc 2 "a delay that is not a duration"
expect_has "$ERR" "key 'retry_delay': expected a positive duration" "delay"
done_ok
