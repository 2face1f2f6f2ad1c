# Sweep and --set values in shell strings (issue 21, item 5): a placeholder
# expands to exactly its value as one word, quoted for where it stands
# (bare, inside '...', inside "..."), so hostile values run nothing;
# {name:raw} pastes the value as it is; command argv stays exact.
. "$(dirname "$0")/lib.sh"

# Each value is written by the task to a file; the file must hold exactly
# the value. A value that ran a command would leave PWNED behind.
cat > q.toml <<'TOML'
[sweep]
v = ["$(touch PWNED)", "a; touch PWNED", "`touch PWNED`", "line1\nline2; touch PWNED", "q'\"", "*", "", "  two  spaces ", "back\\slash", "$HOME", "{braces}", "it's \"quoted\""]
[[task]]
name = "bare-{index}"
shell = "printf %s {v} > bare-{index}.txt"
[[task]]
name = "single-{index}"
shell = "printf %s '{v}' > single-{index}.txt"
[[task]]
name = "double-{index}"
shell = "printf %s \"{v}\" > double-{index}.txt"
[[task]]
name = "mixed-{index}"
shell = "printf '%s|%s|%s' \"x{v}y\" 'x{v}y' x{v}y > mixed-{index}.txt"
[[task]]
name = "env-{index}"
shell = "printf %s \"$WEFT_PARAM_V\" > env-{index}.txt; printf %s \"$VV\" > envv-{index}.txt"
env = { VV = "{v}" }
[[task]]
name = "argv-{index}"
command = ["sh", "-c", "printf %s \"$1\" > argv-$2.txt", "sh", "{v}", "{index}"]
TOML
touch a b c   # for '*' to glob on, if it were unquoted
run "$WEFT" run q.toml; expect_rc 0 "hostile values"
[ ! -e PWNED ] || fail "a value ran a command"
python3 - <<'PY' || fail "a value did not arrive exactly (see above)"
import sys
vals = ["$(touch PWNED)", "a; touch PWNED", "`touch PWNED`", "line1\nline2; touch PWNED", "q'\"", "*", "", "  two  spaces ", "back\\slash", "$HOME", "{braces}", "it's \"quoted\""]
bad = 0
for i, v in enumerate(vals):
    for kind, want in (("bare", v), ("single", v), ("double", v), ("env", v), ("envv", v), ("argv", v),
                       ("mixed", "x%sy|x%sy|x%sy" % (v, v, v))):
        got = open("%s-%d.txt" % (kind, i)).read()
        if got != want:
            print("%s-%d: got %r, want %r" % (kind, i, got, want)); bad += 1
sys.exit(1 if bad else 0)
PY
NPASS=$((NPASS + 1))

# --set values the same
run "$WEFT" run q.toml --set 'v=$(touch PWNED);x' --only 'bare-*'; expect_rc 0 "--set hostile"
[ ! -e PWNED ] || fail "a --set value ran a command"
expect_eq "$(cat bare-0.txt)" '$(touch PWNED);x' "--set value exact"

# {name:raw}: spliced as written (the flow's choice)
cat > raw.toml <<'TOML'
[sweep]
redir = ["> raw.txt"]
[[task]]
name = "raw-{index}"
shell = "echo spliced {redir:raw}"
[[task]]
name = "cmd-{index}"
command = ["sh", "-c", "printf %s \"$1\" > cmdraw.txt", "sh", "{redir:raw}"]
TOML
run "$WEFT" run raw.toml; expect_rc 0 "raw"
expect_eq "$(cat raw.txt)" "spliced" "raw splices shell syntax"
expect_eq "$(cat cmdraw.txt)" "> raw.txt" "raw in argv is the value"
# the plan shows the command as it will run
run "$WEFT" run q.toml --dry-run --only 'bare-1'
expect_has "$OUT" "bare-1: sh -c " "plan"
expect_has "$OUT" "'a; touch PWNED'" "plan shows the quoted value"
done_ok
