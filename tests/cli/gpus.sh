# gpus = N on command and shell tasks: GPUs handed out like cores, in the
# same queue, each to one task at a time, named in CUDA_VISIBLE_DEVICES
# (through weft's own CUDA_VISIBLE_DEVICES when it is set) and journaled.
# The run's GPUs are declared with [workflow] gpus, so this runs on any
# machine (the processes here do not touch a GPU).
. "$(dirname "$0")/lib.sh"
unset CUDA_VISIBLE_DEVICES

# Six one-GPU tasks on two GPUs: a task holding GPU g holds the directory
# held.g; if two held one GPU at once, mkdir would fail the second.
cat > flow.toml <<'T'
[workflow]
threads = 4
gpus = 2

[sweep]
i = { start = 1, stop = 6 }

[[task]]
name = "g{i}"
shell = "mkdir held.$CUDA_VISIBLE_DEVICES && echo $CUDA_VISIBLE_DEVICES >> seen && sleep 0.2 && rmdir held.$CUDA_VISIBLE_DEVICES && test \"$WEFT_GPUS\" = \"$CUDA_VISIBLE_DEVICES\""
gpus = 1

[[task]]
name = "both"
shell = "echo $CUDA_VISIBLE_DEVICES > both.txt"
gpus = 2

[[task]]
name = "cpu"
shell = "echo ${CUDA_VISIBLE_DEVICES-unset} > cpu.txt"
T
run "$WEFT" run flow.toml; expect_rc 0 "six one-GPU tasks on two GPUs"
expect_eq "$(sort -u seen | tr '\n' ' ')" "0 1 " "both GPUs used"
expect_eq "$(wc -l < seen)" 6 "six tasks ran"
expect_eq "$(cat both.txt)" "0,1" "two GPUs"
expect_eq "$(cat cpu.txt)" "unset" "a task without gpus keeps the environment"
expect_eq "$(awk -F'\t' 'NR==1{print $14}' .weft/latest/tasks.tsv)" "gpus" "journal column"
expect_eq "$(awk -F'\t' '$1=="both"{print $14}' .weft/latest/tasks.tsv)" "0,1" "journaled GPUs"
expect_eq "$(awk -F'\t' '$1=="cpu"{print "[" $14 "]"}' .weft/latest/tasks.tsv)" "[]" "no GPU journaled"

# Names come from weft's own CUDA_VISIBLE_DEVICES; more GPUs than it
# names wrap around (shared).
cat > names.toml <<'T'
[workflow]
gpus = 3
threads = 3

[sweep]
i = { start = 1, stop = 3 }

[[task]]
name = "n{i}"
shell = "echo $CUDA_VISIBLE_DEVICES >> names; sleep 0.3"
gpus = 1
T
CUDA_VISIBLE_DEVICES="5, GPU-abc" run "$WEFT" run names.toml; expect_rc 0 "named GPUs"
expect_eq "$(sort names | tr '\n' ' ')" "5 5 GPU-abc " "names from CUDA_VISIBLE_DEVICES, wrapped"

# A CPU task is not held up behind a task waiting for a GPU.
cat > pass.toml <<'T'
[workflow]
gpus = 1
threads = 3

[[task]]
name = "first"
shell = "date +%s%N > first.start; sleep 1; date +%s%N > first.end"
gpus = 1

[[task]]
name = "second"
shell = "date +%s%N > second.start; sleep 0.5; date +%s%N > second.end"
gpus = 1

[[task]]
name = "cpu"
shell = "date +%s%N > cpu.start"
T
run "$WEFT" run pass.toml; expect_rc 0 "GPU queue"
# either may get the GPU first; the other waits for it
if [ "$(cat first.start)" -lt "$(cat second.start)" ]; then
  [ "$(cat second.start)" -ge "$(cat first.end)" ] || fail "second started before first ended"
  waiter=second
else
  [ "$(cat first.start)" -ge "$(cat second.end)" ] || fail "first started before second ended"
  waiter=first
fi
[ "$(cat cpu.start)" -lt "$(cat $waiter.start)" ] || fail "the CPU task waited for the GPU"
NPASS=$((NPASS + 2))

# Errors, before anything runs (exit 2), naming the file, line, task and key.
mkdir errors && cd errors || fail "mkdir"
cat > many.toml <<'T'
[workflow]
gpus = 1

[[task]]
name = "big"
shell = "touch ran"
gpus = 2
T
run "$WEFT" run many.toml; expect_rc 2 "more GPUs than the run has"
expect_eq "$ERR" "weft: many.toml:7:8: task 'big': key 'gpus': needs 2 GPUs but the run has 1 ([workflow] gpus = 1)" "message"
[ ! -e ran ] && [ ! -e .weft ] || fail "something ran"

GPUS=$("$WEFT" kernels | sed -n 's/^GPUs here: \([0-9]*\) .*/\1/p')
cat > undeclared.toml <<'T'
[[task]]
name = "one"
shell = "touch ran"
gpus = 1
T
run "$WEFT" run undeclared.toml
if [ "$GPUS" = 0 ]; then
    expect_rc 2 "no GPU seen, none declared"
    case "$ERR" in
    "weft: undeclared.toml:4:8: task 'one': key 'gpus': needs 1 GPU but the run has 0 (weft sees no CUDA device"*"; declare the GPUs with [workflow] gpus)") NPASS=$((NPASS + 1)) ;;
    *) fail "message: $ERR" ;;
    esac
else
    expect_rc 0 "one of the GPUs weft sees"
fi

cat > hidden.toml <<'T'
[workflow]
gpus = 1

[[task]]
name = "one"
shell = "true"
gpus = 1
T
CUDA_VISIBLE_DEVICES= run "$WEFT" run hidden.toml; expect_rc 2 "CUDA_VISIBLE_DEVICES hides every GPU"
expect_eq "$ERR" "weft: hidden.toml:2:8: key 'workflow.gpus': 1 GPUs, but CUDA_VISIBLE_DEVICES=\"\" leaves none to hand out" "message"
done_ok
