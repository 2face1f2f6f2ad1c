# weft bench: commands, a workflow, a kernel; ratios; --save / --compare
# with a regression; every bad usage.
. "$(dirname "$0")/lib.sh"

run "$WEFT" bench -n 3 -w 1 --name short --name long -- sleep 0.01 -- sleep 0.05
expect_rc 0 "two commands"
expect_line "$OUT" "weft bench: 2 alternative(s), 1 warm-up and 3 measured run(s) each" "header"
expect_has "$OUT" "(base) 1.000x" "the base"
R=$(printf '%s\n' "$OUT" | awk '/^  long /{print $NF}' | tr -d x)
awk -v r="$R" 'BEGIN{exit !(r > 2.0 && r < 10)}' || fail "ratio long/short is '$R'"
NPASS=$((NPASS + 1))

cat > flow.toml <<'TOML'
[[task]]
name = "a"
kernel = "noop"
TOML
run "$WEFT" bench -n 2 -w 0 flow.toml; expect_rc 0 "a workflow"
expect_has "$OUT" "  flow.toml " "named by its file"
run "$WEFT" bench -n 2 --kernel poisson2d n=16 tol=1e-3; expect_rc 0 "a kernel"
expect_has "$OUT" "  --kernel poisson2d n=16 tol=1e-3 " "named by its words"

run "$WEFT" bench -n 3 -w 0 --save base.json --name job -- sleep 0.02; expect_rc 0 "save"
expect_line "$OUT" "saved: base.json" "saved"
python3 -m json.tool base.json > /dev/null || fail "base.json is not JSON"
NPASS=$((NPASS + 1))
run "$WEFT" bench -n 3 -w 0 --compare base.json --threshold 50 --name job -- sleep 0.02; expect_rc 0 "no regression"
expect_has "$OUT" "compared with base.json (threshold 50.0%):" "compare header"
run "$WEFT" bench -n 3 -w 0 --compare base.json --name job -- sleep 0.1; expect_rc 1 "a regression"
expect_has "$OUT" "  REGRESSED" "marked"

# bad usage
run "$WEFT" bench; expect_rc 2 "nothing to run"
expect_line "$ERR" "weft bench: what to run? (weft bench -- COMMAND, weft bench FLOW.toml, weft bench --kernel NAME) (see weft bench --help)" "message"
run "$WEFT" bench -n 0 -- true; expect_rc 2 "-n 0"
expect_line "$ERR" "weft bench: -n needs a whole number from 1 to 1000000, got '0' (see weft bench --help)" "message"
run "$WEFT" bench --warmup x -- true; expect_rc 2 "--warmup x"
expect_line "$ERR" "weft bench: --warmup needs a whole number from 0 to 1000000, got 'x' (see weft bench --help)" "message"
run "$WEFT" bench --frobnicate -- true; expect_rc 2 "unknown option"
expect_line "$ERR" "weft bench: unknown option '--frobnicate' (see weft bench --help)" "message"
run "$WEFT" bench --threshold -3 -- true; expect_rc 2 "bad threshold"
expect_line "$ERR" "weft bench: --threshold needs a percentage from 0 to 1000, got '-3' (see weft bench --help)" "message"
run "$WEFT" bench -- true -- -- false; expect_rc 2 "empty alternative"
expect_line "$ERR" "weft bench: an empty alternative between two '--' (see weft bench --help)" "message"
run "$WEFT" bench --name a --name b -- true; expect_rc 2 "too many names"
expect_line "$ERR" "weft bench: more --name options than alternatives (see weft bench --help)" "message"
run "$WEFT" bench --kernel nosuch; expect_rc 2 "unknown kernel"
expect_has "$ERR" "weft bench: no kernel named 'nosuch' (kernels: " "message"
run "$WEFT" bench --kernel poisson2d n=banana; expect_rc 2 "bad kernel argument"
expect_has "$ERR" "weft bench: kernel 'poisson2d': " "message"
run "$WEFT" bench --kernel poisson2d n16; expect_rc 2 "not KEY=VALUE"
expect_line "$ERR" "weft bench: kernel arguments are KEY=VALUE, got 'n16' (see weft bench --help)" "message"
run "$WEFT" bench missing.toml; expect_rc 2 "missing workflow"
expect_line "$ERR" "weft bench: cannot read 'missing.toml': No such file or directory" "message"
run "$WEFT" bench -n 2 -- sh -c "exit 3"; expect_rc 1 "failing command"
expect_line "$ERR" "weft bench: 'sh -c exit 3' exited with code 3" "message"
run "$WEFT" bench -n 1 -- /nonexistent/cmd; expect_rc 1 "missing command"
expect_line "$ERR" "weft bench: cannot run '/nonexistent/cmd': No such file or directory" "message"
run "$WEFT" bench -n 1 --compare nofile.json -- true; expect_rc 2 "missing saved file"
expect_line "$ERR" "weft bench: cannot read 'nofile.json': No such file or directory" "message"
echo '{"other": 1}' > other.json
run "$WEFT" bench -n 1 --compare other.json -- true; expect_rc 2 "not a bench file"
expect_line "$ERR" "weft bench: 'other.json' is not a file written by weft bench --save" "message"
run "$WEFT" bench -n 1 --compare base.json -- true; expect_rc 2 "no such name saved"
expect_line "$ERR" "weft bench: 'base.json' has no result named 'true'" "message"
run "$WEFT" bench -n 1 --save /nonexistent-dir/x.json -- true; expect_rc 1 "unwritable save"
expect_line "$ERR" "weft bench: cannot write '/nonexistent-dir/x.json': No such file or directory" "message"
run "$WEFT" bench --help; expect_rc 0 "help"
expect_has "$OUT" "usage: weft bench" "usage"
done_ok
