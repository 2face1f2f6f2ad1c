# Dependencies are respected: a diamond whose tasks append to a file, a
# sweep with {name} fan-out and fan-in and globs, cwd/env/stdout keys.
. "$(dirname "$0")/lib.sh"

cat > diamond.toml <<'TOML'
[workflow]
threads = 4
[[task]]
name = "a"
shell = "sleep 0.2; echo a >> order.txt"
[[task]]
name = "b"
shell = "sleep 0.1; echo b >> order.txt"
after = ["a"]
[[task]]
name = "c"
command = ["sh", "-c", "echo c >> order.txt"]
after = "a"
[[task]]
name = "d"
shell = "echo d >> order.txt"
after = ["b", "c"]
TOML
for i in 1 2 3; do
    rm -f order.txt
    run "$WEFT" run diamond.toml; expect_rc 0 "diamond run $i"
    expect_eq "$(head -1 order.txt)" "a" "a runs first"
    expect_eq "$(tail -1 order.txt)" "d" "d runs last"
    expect_eq "$(sort order.txt | tr -d '\n')" "abcd" "each ran once"
done

cat > sweep.toml <<'TOML'
[sweep]
n = [8, 16]
tol = [1e-4, 0.5]
mode = { start = 1, stop = 2 }
[[task]]
name = "mesh-{n}"
shell = "echo mesh $WEFT_PARAM_N >> log.txt"
[[task]]
name = "solve-{n}-{tol}-{mode}"
shell = "echo solve {n} {tol} {mode} $WEFT_TASK idx=$WEFT_INDEX >> log.txt; echo out"
after = ["mesh-{n}"]
stdout = "results/{n}/{tol}-{mode}.txt"
[[task]]
name = "collect-{n}"
shell = "echo collect {n} >> log.txt"
after = ["solve-{n}-{tol}-{mode}"]
[[task]]
name = "all"
shell = "echo all >> log.txt"
after = ["collect-*"]
[[task]]
name = "env-check"
shell = "echo \"$GREETING-$PWD\" > env.txt"
env = { GREETING = "hi" }
cwd = "sub"
TOML
mkdir sub
run "$WEFT" validate sweep.toml; expect_rc 0 "sweep validate"
expect_line "$OUT" "sweep.toml: valid: 14 tasks, 18 dependencies" "sweep counts"
run "$WEFT" run sweep.toml; expect_rc 0 "sweep run"
expect_eq "$(grep -c '^solve' log.txt)" 8 "8 solves"
expect_line "$(cat log.txt)" "solve 16 1e-4 2 solve-16-1e-4-2 idx=5" "names and values as written, index"
expect_line "$(cat log.txt)" "solve 8 0.5 1 solve-8-0.5-1 idx=2" "second value"
expect_eq "$(cat results/16/0.5-2.txt)" "out" "stdout path with placeholders"
expect_eq "$(cat sub/env.txt)" "hi-$TMP/sub" "env and cwd"
# every solve-16 line comes after mesh 16 and before collect 16
awk '/^mesh 16/{m=NR} /^solve 16/{if(!m) bad=1; s=NR} /^collect 16/{if(s>NR) bad=1; c=NR} /^all/{if(c>NR) bad=1} END{exit bad}' log.txt \
    || fail "order in log.txt: $(cat log.txt)"
done_ok
