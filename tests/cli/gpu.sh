# device = "cpu" / "gpu" / "auto" on the poisson2d kernel. Without a GPU:
# "auto" runs on the CPU and "gpu" fails with a clear reason while the rest
# of the run goes on. With one (the `cuda` machine): both GPU solves
# converge, the results say gpu0, and the GPU's error matches the CPU's.
. "$(dirname "$0")/lib.sh"

run "$WEFT" kernels; expect_rc 0 "kernels"
expect_has "$OUT" "device: cpu or gpu" "poisson2d's devices"
GPUS=$(printf '%s\n' "$OUT" | sed -n 's/^GPUs here: \([0-9]*\) .*/\1/p')
[ -n "$GPUS" ] || fail "no GPU count in: $OUT"

cat > flow.toml <<'T'
[[task]]
name = "cpu"
kernel = "poisson2d"
args = { n = 32, tol = 1e-6 }
device = "cpu"

[[task]]
name = "auto"
kernel = "poisson2d"
args = { n = 32, tol = 1e-6 }
device = "auto"

[[task]]
name = "gpu"
kernel = "poisson2d"
args = { n = 32, tol = 1e-6 }
device = "gpu"

[[task]]
name = "after-gpu"
shell = "true"
after = "gpu"
T

run "$WEFT" run flow.toml --keep-going
if [ "$GPUS" = 0 ]; then
    expect_rc 1 "gpu solve without a GPU"
    expect_has "$OUT" "FAILED gpu: GPU 0: " "the failure"
    case "$OUT" in
    *"GPU 0: no CUDA device ("*|*"GPU 0: weft was built without CUDA"*) ;;
    *) fail "the reason is not said: $OUT" ;;
    esac
    expect_has "$(cat .weft/latest/auto.out)" "on cpu:" "auto ran on the CPU"
    expect_has "$OUT" "after-gpu" "the dependent is listed as skipped"
else
    expect_rc 0 "gpu solve"
    expect_has "$(cat .weft/latest/gpu.out)" "on gpu" "gpu ran on a GPU"
    expect_has "$(cat .weft/latest/auto.out)" "on gpu" "auto ran on a GPU"
    # same answer within tolerance: the errors agree to 2 digits
    ce=$(sed -n 's/.*max error \([0-9.e+-]*\),.*/\1/p' .weft/latest/cpu.out)
    ge=$(sed -n 's/.*max error \([0-9.e+-]*\),.*/\1/p' .weft/latest/gpu.out)
    awk -v c="$ce" -v g="$ge" 'BEGIN { d = c - g; if (d < 0) d = -d; exit !(d <= 0.01 * c) }' ||
        fail "cpu error $ce vs gpu error $ge"
fi
expect_has "$(cat .weft/latest/cpu.out)" "on cpu:" "cpu ran on the CPU"
echo "($GPUS GPUs)"
done_ok
