# Long values are never cut (issue 21, item 4): a 3,003-byte sweep value
# reaches argv, the environment, the journal and the results whole; a
# path that would be longer than the system takes is refused at load with
# its position; long results written by a task are kept whole.
. "$(dirname "$0")/lib.sh"

V=$(head -c 3003 /dev/zero | tr '\0' 'x')
W=$(head -c 5000 /dev/zero | tr '\0' 'y')
cat > long.toml <<TOML
[sweep]
v = ["$V"]
[[task]]
name = "argv-{index}"
command = ["sh", "-c", "printf %s \"\$1\" > argv.txt; printf %s \"\$WEFT_PARAM_V\" > env.txt; printf %s \"\$X\" > envx.txt", "sh", "{v}"]
env = { X = "<{v}>" }
[[task]]
name = "res"
shell = "printf 'r=$W\\nother=1\\n' > \$WEFT_RESULT"
TOML
run "$WEFT" run long.toml; expect_rc 0 "long values"
expect_eq "$(cat argv.txt)" "$V" "argv whole"
expect_eq "$(cat env.txt)" "$V" "WEFT_PARAM_V whole"
expect_eq "$(cat envx.txt)" "<$V>" "env value whole"
expect_eq "$(awk -F'\t' '$1=="argv-0"{print $2}' .weft/latest/tasks.tsv)" "v=$V" "journal params whole"
expect_eq "$(awk -F'\t' '$1=="res"{print $17}' .weft/latest/tasks.tsv)" "r=$W other=1" "journal results whole"
expect_has "$OUT" "$W" "results table whole"

# --set with a long value: the same
run "$WEFT" run long.toml --set "v=$V$V" --only 'argv-*'; expect_rc 0 "long --set"
expect_eq "$(cat argv.txt)" "$V$V" "--set value whole"

# a stdout path longer than PATH_MAX: refused before anything runs
L=$(head -c 3000 /dev/zero | tr '\0' 'p')
cat > path.toml <<TOML
[sweep]
a = ["$L"]
b = ["$L"]
[[task]]
name = "p-{index}"
command = ["true"]
stdout = "out/{a}/{b}.txt"
TOML
run "$WEFT" run path.toml
expect_rc 2 "path too long"
expect_eq "$ERR" "weft: path.toml:7:10: task 'p-{index}': key 'stdout': expands to a path of 6009 bytes for its task number 0 (at most 4095)" "path refused with its position"
[ ! -e .weft/latest/p-0.out ] || fail "nothing may run"
# within the limit (about 3,200 bytes in folders of 200): the file is
# exactly where the value says (its folders made)
D=$(head -c 200 /dev/zero | tr '\0' 'd')
A=""
for i in $(seq 15); do A="$A$D/"; done
M=$(head -c 200 /dev/zero | tr '\0' 'm')
cat > fits.toml <<TOML
[sweep]
a = ["$A"]
b = ["$M"]
[[task]]
name = "p-{index}"
shell = "echo hi"
stdout = "{a}{b}"
TOML
run "$WEFT" run fits.toml; expect_rc 0 "a long path that fits"
expect_eq "$(cat "$A$M")" "hi" "output at the exact long path"
done_ok
