# The command line: help, version, usage errors, validate and graph.
. "$(dirname "$0")/lib.sh"

run "$WEFT" --help;            expect_rc 0 "--help"; expect_has "$OUT" "run FLOW.toml" "--help"
run "$WEFT" --version;         expect_rc 0 "--version"; expect_has "$OUT" "weft " "--version"
run "$WEFT" run --help;        expect_rc 0 "run --help"; expect_has "$OUT" "--fail-fast" "run --help"
run "$WEFT" validate --help;   expect_rc 0 "validate --help"
run "$WEFT" graph --help;      expect_rc 0 "graph --help"
run "$WEFT" kernels;           expect_rc 0 "kernels"; expect_has "$OUT" "poisson2d" "kernels"
run "$WEFT";                   expect_rc 2 "no command"
run "$WEFT" frobnicate;        expect_rc 2 "unknown command"
expect_line "$ERR" "weft: unknown command 'frobnicate' (see weft --help)" "unknown command"
run "$WEFT" run;               expect_rc 2 "run without a file"
run "$WEFT" run a.toml --bogus; expect_rc 2 "unknown option"
expect_line "$ERR" "weft run: unknown option '--bogus' (see weft run --help)" "unknown option"
run "$WEFT" run a.toml --threads x; expect_rc 2 "bad --threads"
expect_line "$ERR" "weft run: --threads needs a number from 0 to 4096, got 'x' (see weft run --help)" "bad --threads"
run "$WEFT" run a.toml --set;  expect_rc 2 "--set without value"
run "$WEFT" validate missing.toml; expect_rc 2 "missing file"
expect_line "$ERR" "weft: missing.toml: cannot open the file: No such file or directory" "missing file"

cat > flow.toml <<'TOML'
[sweep]
n = [1, 2]
[[task]]
name = "mesh-{n}"
kernel = "noop"
[[task]]
name = "solve-{n}"
shell = "true {n}"
after = ["mesh-{n}"]
[[task]]
name = "report"
command = ["true"]
after = ["solve-*"]
TOML
run "$WEFT" validate flow.toml; expect_rc 0 "validate"
expect_line "$OUT" "flow.toml: valid: 5 tasks, 4 dependencies" "validate"
run "$WEFT" graph flow.toml; expect_rc 0 "graph"
expect_line "$OUT" '  "mesh-1" -> "solve-1";' "graph edge"
expect_line "$OUT" '  "solve-2" -> "report";' "graph fan-in edge"
expect_line "$OUT" '  "mesh-2" [shape=ellipse];' "graph kernel node"
run "$WEFT" run flow.toml --dry-run; expect_rc 0 "dry run"
expect_line "$OUT" "solve-2: sh -c 'true 2' (after mesh-2)" "dry run line"
expect_line "$OUT" "report: true (after solve-1, solve-2)" "dry run fan-in"
[ ! -e .weft ] || fail "dry run created .weft"
run "$WEFT" validate flow.toml --set n=5,6,7; expect_rc 0 "--set"
expect_line "$OUT" "flow.toml: valid: 7 tasks, 6 dependencies" "--set"
run "$WEFT" validate flow.toml --only solve-1; expect_rc 0 "--only"
expect_line "$OUT" "flow.toml: valid: 2 tasks, 1 dependencies" "--only keeps what it needs"
run "$WEFT" run flow.toml; expect_rc 0 "run"
expect_has "$OUT" "5 tasks: 5 done, 0 failed, 0 skipped, 0 not run" "run summary"
[ "$(wc -l < .weft/latest/tasks.tsv)" = 6 ] || fail "tasks.tsv has a header and 5 lines"
done_ok
