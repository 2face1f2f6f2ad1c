# validate checks what run checks (issue 21, item 9): cpus against the
# run's core slots (with --threads), and --set values are type-checked
# against the sweep and spelled as the same value from the file would be.
. "$(dirname "$0")/lib.sh"

cat > big.toml <<'TOML'
[[task]]
name = "wide"
shell = "true"
cpus = 4
TOML
msg="big.toml:4:8: task 'wide': key 'cpus': needs 4 cores but the run has 2 (raise threads, or lower cpus)"
run "$WEFT" validate big.toml --threads 2; expect_rc 2 "validate: cpus above the slots"
expect_eq "$ERR" "weft: $msg" "validate names it as run does"
run "$WEFT" run big.toml --threads 2; expect_rc 2 "run: cpus above the slots"
expect_eq "$ERR" "weft: $msg" "run's message"
run "$WEFT" validate big.toml --threads 4; expect_rc 0 "validate with enough threads"
run "$WEFT" validate big.toml --threads x; expect_rc 2 "validate --threads checked"

cat > gpu.toml <<'TOML'
[workflow]
gpus = 1
[[task]]
name = "g"
shell = "true"
gpus = 2
TOML
run "$WEFT" validate gpu.toml; expect_rc 2 "validate: gpus above the run's"
expect_has "$ERR" "gpu.toml:6:8: task 'g': key 'gpus': needs 2 GPUs but the run has 1" "gpus message"

cat > sweep.toml <<'TOML'
[sweep]
kappa = [0.5, 1.0]
n = [33]
mode = ["a", "b"]
flag = [true]
mixed = [1, 2.5]
[[task]]
name = "sim-{n}-{kappa}-{mode}-{flag}-{mixed}"
shell = "true"
TOML
run "$WEFT" run sweep.toml --dry-run; expect_rc 0 "file values"
expect_has "$OUT" "sim-33-1-a-true-1:" "1.0 from the file is written 1"
run "$WEFT" run sweep.toml --dry-run --set kappa=1.0 --set n=+33 --set mixed=2.50,3; expect_rc 0 "--set spelled"
expect_has "$OUT" "sim-33-1-a-true-2.5:" "--set kappa=1.0 is 1, n=+33 is 33, mixed=2.50 is 2.5"
expect_has "$OUT" "sim-33-1-a-true-3:" "mixed=3 stays an integer"
run "$WEFT" run sweep.toml --dry-run --set kappa=1e-3; expect_rc 0 "--set float"
expect_has "$OUT" "sim-33-1e-3-" "floats written shortest"
run "$WEFT" validate sweep.toml --set kappa=abc; expect_rc 2 "--set float checked"
expect_eq "$ERR" "weft: sweep.toml: --set kappa=abc: 'abc' is not a float (the file's kappa values are)" "float message"
run "$WEFT" validate sweep.toml --set n=1.5; expect_rc 2 "--set integer checked"
expect_eq "$ERR" "weft: sweep.toml: --set n=1.5: '1.5' is not an integer (the file's n values are)" "integer message"
run "$WEFT" validate sweep.toml --set flag=yes; expect_rc 2 "--set boolean checked"
expect_eq "$ERR" "weft: sweep.toml: --set flag=yes: 'yes' is not true or false (the file's flag values are)" "boolean message"
run "$WEFT" validate sweep.toml --set mixed=x; expect_rc 2 "--set number checked"
run "$WEFT" validate sweep.toml --set "mode=any:thing"; expect_rc 0 "--set string as is"
done_ok
