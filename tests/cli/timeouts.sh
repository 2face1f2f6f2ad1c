# timeout on kernel tasks (issue 21, item 3): a kernel past its timeout is
# told to stop (it asks between sweeps), fails "timed out after X", is
# journaled "timeout", and its retries apply.
. "$(dirname "$0")/lib.sh"

cat > k.toml <<'TOML'
[workflow]
threads = 2
[[task]]
name = "nap"
kernel = "sleep"
args = { seconds = 2 }
timeout = "500ms"
[[task]]
name = "solve"
kernel = "poisson2d"
args = { n = 400, tol = 1e-14, max_iters = 100000000 }
timeout = "300ms"
retries = 1
[[task]]
name = "quick"
kernel = "sleep"
args = { seconds = 0.05 }
timeout = "10s"
TOML
start=$(date +%s%N)
timeout -s KILL 60 "$WEFT" run k.toml > out.txt 2> err.txt; RC=$?; OUT=$(cat out.txt); ERR=$(cat err.txt)
ms=$(( ($(date +%s%N) - start) / 1000000 ))
expect_rc 1 "kernels past their timeout"
[ "$ms" -lt 8000 ] || fail "the run took $ms ms: timeouts were not honoured"
expect_has "$OUT" "3 tasks: 1 done, 2 failed" "counts"
expect_line "$OUT" "  FAILED nap: timed out after 0.5 s" "sleep reason"
expect_line "$OUT" "  FAILED solve: timed out after 0.3 s (attempt 2 of 2)" "poisson2d reason, retried"
expect_has "$OUT" "retry   solve: attempt 1 of 2: timed out after 0.3 s; retrying" "retry after a timeout"
expect_eq "$(awk -F'\t' '$1=="solve"{printf "%s:%s ", $3, $6}' .weft/latest/tasks.tsv)" "1:timeout 2:timeout " "journal: each attempt timed out"
expect_eq "$(awk -F'\t' '$1=="nap"{print $6}' .weft/latest/tasks.tsv)" "timeout" "journal: sleep timed out"
# each attempt stopped soon after its deadline (< 0.25 s late)
late=$(awk -F'\t' '$1=="solve" || $1=="nap" {lim = $1=="nap" ? 0.5 : 0.3; if ($9 - lim > 0.25 || $9 < lim) print $1, $9}' .weft/latest/tasks.tsv)
expect_eq "$late" "" "attempts end right after the deadline"
expect_eq "$(awk -F'\t' '$1=="quick"{print $6}' .weft/latest/tasks.tsv)" "ok" "a kernel within its timeout"
done_ok
