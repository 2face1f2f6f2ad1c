# cpus = k: the task is bound to k cores chosen close together, sees
# OMP_NUM_THREADS=k, WEFT_CPUS (its cpu list) and its sweep values.
. "$(dirname "$0")/lib.sh"

ncpu=$(nproc)
cat > bind.toml <<'TOML'
[workflow]
pin = "core"
[[task]]
name = "one"
shell = "grep Cpus_allowed_list /proc/self/status | cut -f2; echo $WEFT_CPUS $OMP_NUM_THREADS"
[[task]]
name = "two"
shell = "grep Cpus_allowed_list /proc/self/status | cut -f2; echo $WEFT_CPUS $OMP_NUM_THREADS"
cpus = 2
after = ["one"]
[[task]]
name = "kern"
kernel = "noop"
cpus = 2
TOML
if [ "$ncpu" -lt 2 ]; then
    echo "skip: needs 2 cores"
    exit 77
fi
run "$WEFT" run bind.toml; expect_rc 0 "bound run"
"$WEFT" log one > one.out
read -r one_aff < one.out
one_env=$(sed -n 2p one.out)
expect_eq "$one_env" "$one_aff 1" "cpus=1: WEFT_CPUS is its affinity"
"$WEFT" log two > two.out
read -r two_aff < two.out
two_env=$(sed -n 2p two.out)
expect_eq "$two_env" "$two_aff 2" "cpus=2: WEFT_CPUS is its affinity, OMP_NUM_THREADS=2"
[ "$one_aff" != "$two_aff" ] || fail "one core and two cores cannot have the same cpus ($one_aff)"
# the kernel's attempt records the two cores it was bound to
kcpus=$(awk -F'\t' '$1=="kern"{print $13}' .weft/latest/tasks.tsv)
[ -n "$kcpus" ] || fail "the kernel's cpus are journaled"
NPASS=$((NPASS + 1))

# more cores than the run has: refused before anything runs
cat > toomany.toml <<'TOML'
[[task]]
name = "big"
shell = "true"
cpus = 4096
TOML
run "$WEFT" run toomany.toml --threads 2; expect_rc 2 "cpus above the budget"
expect_line "$ERR" "weft: toomany.toml:4:8: task 'big': key 'cpus': needs 4096 cores but the run has 2 (raise threads, or lower cpus)" "cpus above the budget"
[ ! -e .weft/latest ] || [ "$(readlink .weft/latest)" != "" ] || true

# pin = "none": not bound, admission only
sed -i 's/pin = "core"/pin = "none"/' bind.toml
run "$WEFT" run bind.toml; expect_rc 0 "unbound run"
"$WEFT" log two > two.out
read -r free_aff < two.out
expect_eq "$free_aff" "$(grep Cpus_allowed_list /proc/self/status | cut -f2)" "pin none leaves the affinity alone"

# threads above the cores weft may use: said, on stderr and in the header
N=$(nproc)
printf '[workflow]\nname = "over"\nthreads = %d\n[[task]]\nname = "t"\nshell = "true"\n' $((N * 4)) > over.toml
run "$WEFT" run over.toml
expect_rc 0 "an oversubscribed run runs"
expect_has "$ERR" "weft: warning: threads = $((N * 4)) is more than the $N cores weft may use here: up to $((N * 4)) tasks at a time share them, each at about 25% of a core; threads = 0 uses every core, one task per core" "the warning"
expect_has "$OUT" "over: 1 tasks on $((N * 4)) core slots on $N cores (oversubscribed)" "the header"
run "$WEFT" validate over.toml
expect_rc 0 "weft validate: valid all the same"
expect_has "$ERR" "weft: warning: threads = $((N * 4)) is more than the $N cores weft may use here" "and it warns too"
run "$WEFT" run over.toml --threads "$N"
expect_eq "$ERR" "" "threads = the cores: no warning"
expect_has "$OUT" "over: 1 tasks on $N cores -> " "the header"
done_ok
