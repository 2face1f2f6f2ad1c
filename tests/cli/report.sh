# weft run --report: the HTML report opened in headless Chromium; its
# script must render the task rows with no errors. Skips (77) without
# Chromium (.ci/run installs Debian's chromium package).
. "$(dirname "$0")/lib.sh"
CHROME=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$CHROME" ] || { echo "skip: chromium is not installed (apt-get install chromium)"; exit 77; }

cat > flow.toml <<'TOML'
[workflow]
name = "report-demo"
threads = 2
[sweep]
n = [8, 16, 32]
[[task]]
name = "solve-{n}"
kernel = "poisson2d"
args = { n = "{n}", tol = 1e-3 }
[[task]]
name = "check-{n}"
after = "solve-{n}"
shell = "sleep 0.02"
[[task]]
name = "bad"
shell = "exit 1"
TOML
run "$WEFT" run flow.toml --quiet --report report.html; expect_rc 1 "run with a failing task"
[ -s report.html ] || fail "no report"
# headless Chromium: --dump-dom prints the DOM after the scripts ran
render() {
    timeout 120 "$CHROME" --headless --no-sandbox --disable-gpu --no-first-run --disable-extensions \
        --user-data-dir="$TMP/chrome" --virtual-time-budget=5000 --enable-logging=stderr --v=0 \
        "$@" "file://$TMP/report.html" 2> chrome.err
}
render --dump-dom > dom.html || fail "chromium failed: $(tail -5 chrome.err)"
DOM=$(cat dom.html)
expect_has "$DOM" 'data-rendered="7"' "seven task rows rendered"
[ "$(grep -o '<tr class="task' dom.html | wc -l)" = 7 ] || fail "task rows: $(grep -o '<tr class="task' dom.html | wc -l)"
NPASS=$((NPASS + 1))
if grep -q 'data-errors=' dom.html; then fail "script errors: $(grep -o 'data-errors="[^"]*"' dom.html)"; fi
if grep -qE 'Uncaught|CONSOLE.*(Error|error)' chrome.err; then fail "console errors: $(grep -E 'Uncaught|CONSOLE' chrome.err)"; fi
NPASS=$((NPASS + 2))
expect_has "$DOM" 'n=16' "sweep values in the table"
expect_has "$DOM" '<td class="failed">bad</td>' "the failed task"
expect_has "$DOM" 'class="task crit"' "critical path rows"
expect_has "$DOM" "weft report: report-demo" "the title"
expect_has "$DOM" '<rect' "timeline drawn"
expect_has "$DOM" '<th>workflow</th>' "configuration table"
expect_match "$DOM" '<pre id="summary">== trace summary' "the text summary, drawn"
expect_has "$DOM" "bottlenecks (5% or more of the tasks' run time or of the critical path):" "with its bottlenecks"
done_ok
