# Big and zipped sweeps: 10,000 kernel tasks and 1,000 processes run and
# are journaled; zip advances lists together; ranges; --set; fan-in.
. "$(dirname "$0")/lib.sh"

cat > big.toml <<'TOML'
[sweep]
i = { start = 0, stop = 9999 }
[[task]]
name = "n-{i}"
kernel = "noop"
[[task]]
name = "sum"
shell = "echo done > sum.txt"
after = ["n-{i}"]
TOML
run "$WEFT" validate big.toml; expect_rc 0 "10k validate"
expect_line "$OUT" "big.toml: valid: 10001 tasks, 10000 dependencies" "10k counts"
run "$WEFT" run big.toml --quiet; expect_rc 0 "10k run"
expect_has "$OUT" "10001 tasks: 10001 done, 0 failed" "10k summary"
expect_eq "$(wc -l < .weft/latest/tasks.tsv)" 10002 "10k journal lines"
expect_eq "$(cut -f1 .weft/latest/tasks.tsv | sort -u | wc -l)" 10002 "10k distinct names"
expect_eq "$(cat sum.txt)" done "fan-in over 10k"

cat > procs.toml <<'TOML'
[sweep]
i = { start = 1, stop = 1000 }
[[task]]
name = "p-{i}"
command = ["true"]
TOML
run "$WEFT" run procs.toml; expect_rc 0 "1000 processes"
expect_has "$OUT" "1000 tasks: 1000 done, 0 failed" "1000 processes summary"
expect_eq "$(grep -c '^\[ *[0-9]*/1000\] done' out.txt)" 1000 "one line per finished task"
expect_eq "$(awk -F'\t' 'NR>1 && $6=="ok" && $7=="0"' .weft/latest/tasks.tsv | wc -l)" 1000 "1000 exits journaled"

cat > zip.toml <<'TOML'
[sweep]
n     = [64, 128, 256]
steps = [10, 20, 40]
x     = { start = 0.5, stop = 1.0, step = 0.25 }
mode  = ["a", "b"]
zip   = [["n", "steps"]]
[[task]]
name = "run-{n}-{steps}-{x}"
shell = "true"
[[task]]
name = "by-mode-{mode}"
shell = "true"
after = ["run-{n}-{steps}-0.5"]
TOML
run "$WEFT" validate zip.toml; expect_rc 0 "zip"
expect_line "$OUT" "zip.toml: valid: 11 tasks, 6 dependencies" "zip counts: 3 zipped x 3 x, plus 2"
run "$WEFT" run zip.toml --dry-run; expect_rc 0 "zip names"
expect_line "$OUT" "run-128-20-0.75: sh -c true" "zipped values stay together"
expect_line "$OUT" "by-mode-b: sh -c true (after run-64-10-0.5, run-128-20-0.5, run-256-40-0.5)" "fan-in over a zip"
run "$WEFT" validate zip.toml --set n=1,2; expect_rc 2 "--set breaks a zip"
expect_line "$ERR" "weft: zip.toml:6:16: key 'sweep.zip': zipped lists must have the same length: 'n' has 2 values, 'steps' has 3" "--set breaks a zip"
run "$WEFT" validate zip.toml --set n=1,2,3 --set mode=c; expect_rc 0 "--set"
expect_line "$OUT" "zip.toml: valid: 10 tasks, 3 dependencies" "--set counts"
done_ok
