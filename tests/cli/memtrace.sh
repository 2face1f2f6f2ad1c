# weft run --trace-malloc: the run under libweft-memtrace.so, its report in
# the run directory, children without the tracer, a missing tracer.
. "$(dirname "$0")/lib.sh"

if ldd "$WEFT" | grep -qE 'lib(a|t)san'; then
    echo "skip: a sanitizer build (its runtime must come first; the tracer cannot be preloaded)"
    exit 77
fi

cat > flow.toml <<'TOML'
[workflow]
name = "traced"
[sweep]
n = [8, 16]
[[task]]
name = "solve-{n}"
kernel = "poisson2d"
args = { n = "{n}", tol = 1e-3 }
[[task]]
name = "env"
shell = 'printf "%s" "${LD_PRELOAD-unset}" > preload.txt'
cwd = "."
TOML
run "$WEFT" run --trace-malloc --quiet flow.toml; expect_rc 0 "traced run"
expect_has "$OUT" "malloc by task (" "report on stdout"
expect_has "$OUT" "malloc report: $TMP/.weft/" "report paths"
[ -s .weft/latest/malloc.txt ] || fail "no malloc.txt"
python3 -m json.tool .weft/latest/malloc.json > /dev/null || fail "malloc.json is not JSON"
NPASS=$((NPASS + 2))
expect_has "$(cat .weft/latest/malloc.json)" '"task": "solve-16"' "tasks by name"
expect_eq "$(cat preload.txt)" "unset" "the child has no LD_PRELOAD"

LD_PRELOAD=libm.so.6 run "$WEFT" run --trace-malloc --quiet flow.toml; expect_rc 0 "with an LD_PRELOAD already"
expect_eq "$(cat preload.txt)" "libm.so.6" "the child has the LD_PRELOAD it had"

WEFT_MEMTRACE_LIB=/nonexistent/libweft-memtrace.so run "$WEFT" run --trace-malloc flow.toml
expect_rc 1 "no tracer"
expect_line "$ERR" "weft: --trace-malloc: libweft-memtrace.so not found (looked for /nonexistent/libweft-memtrace.so; set WEFT_MEMTRACE_LIB to its path)" "no tracer"

# weft's own allocations for a kernel are attributed (they went through
# jemalloc's mallocx, around the tracer: 4,568 B instead of ~105 KB)
cat > solve.toml <<'TOML'
[[task]]
name = "solve"
kernel = "poisson2d"
args = { n = 64 }
TOML
run "$WEFT" run --trace-malloc --quiet solve.toml; expect_rc 0 "traced solve"
with=$(printf '%s\n' "$OUT" | awk '$NF == "solve" && NF == 5 {print $2; exit}')
WEFT_NO_JEMALLOC=1 run "$WEFT" run --trace-malloc --quiet solve.toml; expect_rc 0 "traced solve, libc"
without=$(printf '%s\n' "$OUT" | awk '$NF == "solve" && NF == 5 {print $2; exit}')
expect_eq "$with" "$without" "the same peak with and without jemalloc"
[ "${with:-0}" -ge 66000 ] || fail "solve's peak $with is below its two 66x66 grids"
NPASS=$((NPASS + 1))

run "$WEFT" run --trace-malloc --dry-run flow.toml; expect_rc 0 "dry run: nothing traced"
done_ok
