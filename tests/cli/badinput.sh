# Every kind of bad input is refused before anything runs: exit 2, one
# message naming file:line:column, the task and the key.
. "$(dirname "$0")/lib.sh"

# bad CONTENT MESSAGE [weft run options...]
bad() {
    printf '%s\n' "$1" > bad.toml
    local msg=$2
    shift 2
    run "$WEFT" run bad.toml "$@"
    expect_rc 2 "$msg"
    expect_eq "$ERR" "weft: $msg" "message"
    [ ! -e .weft ] || fail "something ran for: $msg"
}

bad '[[task]
name = "a"' "bad.toml:1:8: expected ']]' to close the array-of-tables header [[task]], found end of line"
bad 'x = 1' "bad.toml:1:1: unknown key 'x' (a workflow file has [workflow], [sweep] and [[task]])"
bad '[workflow]
name = "w"' "bad.toml: no tasks (add a [[task]] table)"
bad '[workflow]
color = "red"
[[task]]
name = "a"
shell = "x"' "bad.toml:2:1: unknown key 'workflow.color' ([workflow] takes name, threads, gpus, pin, keep_going, workdir, grace)"
bad '[workflow]
threads = "4"
[[task]]
name = "a"
shell = "x"' "bad.toml:2:11: key 'workflow.threads': expected an integer, got a string"
bad '[workflow]
pin = "socket"
[[task]]
name = "a"
shell = "x"' "bad.toml:2:7: key 'workflow.pin': expected \"none\", \"core\" or \"pu\", got \"socket\""
bad '[workflow]
keep_going = 1
[[task]]
name = "a"
shell = "x"' "bad.toml:2:14: key 'workflow.keep_going': expected a boolean, got an integer"
bad '[workflow]
workdir = "no/such/dir"
[[task]]
name = "a"
shell = "x"' "bad.toml:2:11: key 'workflow.workdir': cannot use 'no/such/dir' as the working directory: No such file or directory"
bad '[task]
name = "a"' "bad.toml:1:1: key 'task': expected an array of tables ([[task]]), got a table ([task])"
bad '[[task]]
shell = "x"' "bad.toml:1:1: a [[task]] needs a name"
bad '[[task]]
name = "a"
command = "x"' "bad.toml:3:11: task 'a': key 'command': expected a list of strings, got a string"
bad '[[task]]
name = "a"
command = ["x", 2]' "bad.toml:3:17: task 'a': key 'command': element 2 must be a string, got an integer"
bad '[[task]]
name = "a"
command = []' "bad.toml:3:11: task 'a': key 'command': the command is empty"
bad '[[task]]
name = "a"' "bad.toml:2:8: task 'a': needs one of command, shell or kernel"
bad '[[task]]
name = "a"
shell = "x"
command = ["y"]' "bad.toml:4:1: task 'a': key 'command': a task runs exactly one of command, shell or kernel; it already has shell"
bad '[[task]]
name = "a"
shell = "x"
bogus = 1' "bad.toml:4:1: task 'a': unknown key 'bogus' (a task takes name, command, shell, kernel, args, device, after, cpus, gpus, when, timeout, retries, retry_on, retry_delay, retry_backoff, env, cwd, stdout, stderr, inputs, outputs, shard)"
bad '[[task]]
name = "a b"
shell = "x"' "bad.toml:2:8: task 'a b': key 'name': 'a b' is not a valid task name (1 to 200 letters, digits and . _ - + = , @ : %, not starting with '.')"
bad '[[task]]
name = "a"
shell = "x"
[[task]]
name = "a"
shell = "y"' "bad.toml:5:8: task 'a': key 'name': the task name 'a' is already used by the task at line 2"
bad '[sweep]
n = [1, 1]
[[task]]
name = "a-{n}"
shell = "x"' "bad.toml:4:8: task 'a-{n}': key 'name': the task name 'a-1' is already used by the task at line 4"
bad '[[task]]
name = "a"
shell = "x"
after = ["b"]' "bad.toml:4:10: task 'a': key 'after': there is no task 'b'"
bad '[[task]]
name = "a"
shell = "x"
after = ["b*"]' "bad.toml:4:10: task 'a': key 'after': 'b*' matches no task"
bad '[[task]]
name = "a"
shell = "x"
after = ["a"]' "bad.toml:4:10: task 'a': key 'after': a task cannot run after itself"
bad '[[task]]
name = "a"
shell = "x"
after = 3' "bad.toml:4:9: task 'a': key 'after': expected a task name or a list of them, got an integer"
bad '[[task]]
name = "a"
shell = "x"
after = ["c"]
[[task]]
name = "b"
shell = "x"
after = ["a"]
[[task]]
name = "c"
shell = "x"
after = ["b"]' "bad.toml:4:9: task 'a': key 'after': dependency cycle: a -> b -> c -> a (each runs after the one before it)"
bad '[[task]]
name = "a-{m}"
shell = "x"' "bad.toml:2:8: task 'a-{m}': key 'name': {m} is not a sweep parameter (there is no [sweep] table; {index} is the only name; write {{m}} for the text itself)"
bad '[sweep]
n = [1]
[[task]]
name = "a-{n}"
shell = "x {nn}"' "bad.toml:5:9: task 'a-{n}': key 'shell': {nn} is not a sweep parameter (the sweep defines n, and {index}; write {{nn}} for the text itself)"
bad '[sweep]
n = [1, 2]
[[task]]
name = "a"
shell = "x {n}"' "bad.toml:4:8: task 'a': key 'name': the task uses {n} but its name does not, so its 2 expansions would share one name (add {n} or {index} to the name)"
bad '[sweep]
n = []
[[task]]
name = "a"
shell = "x"' "bad.toml:2:5: key 'sweep.n': the list is empty (a sweep parameter needs at least one value)"
bad '[sweep]
n = 5
[[task]]
name = "a"
shell = "x"' "bad.toml:2:5: sweep parameter 'n': expected a list of values or a range { start, stop, step }, got an integer"
bad '[sweep]
n = { start = 1, stop = 10, step = -1 }
[[task]]
name = "a"
shell = "x"' "bad.toml:2:36: key 'sweep.n': step -1 never gets from 1 to 10"
bad '[sweep]
n = { start = 1, end = 10 }
[[task]]
name = "a"
shell = "x"' "bad.toml:2:18: key 'sweep.n': unknown key 'end' in a range (a range is { start = 1, stop = 10, step = 1 })"
bad '[sweep]
index = [1]
[[task]]
name = "a"
shell = "x"' "bad.toml:2:1: sweep parameter 'index': a name is letters, digits and _, not starting with a digit, and not 'index' (that one is built in)"
bad '[sweep]
n = [1, 2]
zip = [["n", "m"]]
[[task]]
name = "a"
shell = "x"' "bad.toml:3:14: key 'sweep.zip': the sweep has no parameter 'm'"
bad '[[task]]
name = "a"
kernel = "nope"' "bad.toml:3:10: task 'a': key 'kernel': no built-in kernel 'nope' (there are: noop, sleep, poisson2d)"
bad '[[task]]
name = "a"
kernel = "poisson2d"
args = { n = 2 }' "bad.toml:4:14: task 'a': key 'args.n': argument 'n' must be an integer from 3 to 8192, got '2'"
bad '[[task]]
name = "a"
kernel = "poisson2d"' "bad.toml:3:10: task 'a': key 'kernel': argument 'n' is required (an integer from 3 to 8192)"
bad '[[task]]
name = "a"
kernel = "sleep"
args = { seconds = 1, colour = "red" }' "bad.toml:4:32: task 'a': key 'args.colour': kernel 'sleep' has no argument 'colour' (it takes: seconds (float, required))"
bad '[[task]]
name = "a"
shell = "x"
args = { n = 1 }' "bad.toml:4:1: task 'a': key 'args': args are for kernel tasks; a shell task takes its arguments in the shell string"
bad '[[task]]
name = "a"
shell = "x"
timeout = "5x"' "bad.toml:4:11: task 'a': key 'timeout': expected a positive duration (\"90s\", \"10m\", \"1h30m\", \"250ms\" or a number of seconds), got \"5x\""
bad "[sweep]
$(head -c 201 /dev/zero | tr '\0' 'a') = [1]
[[task]]
name = \"x\"
shell = \"true\"" "bad.toml:2:1: sweep parameter 'aaaaaaaaaaaaaaaaaaaa...': the name is 201 characters long (at most 200)"
bad '[sweep]
v = ["a\u0000b"]
[[task]]
name = "x-{index}"
shell = "echo {v}"' "bad.toml:2:6: key 'sweep.v': element 1 must not contain a NUL character"
bad '[[task]]
name = "a"
shell = "x"
timeout = 1e300' "bad.toml:4:11: task 'a': key 'timeout': 1e300 is too long: at most 1000000000 seconds (about 31 years)"
bad '[[task]]
name = "a"
shell = "x"
timeout = "40000d"' "bad.toml:4:11: task 'a': key 'timeout': 40000d is too long: at most 1000000000 seconds (about 31 years)"
bad '[workflow]
grace = -1' "bad.toml:2:9: key 'workflow.grace': expected a positive duration (\"90s\", \"10m\", \"1h30m\", \"250ms\" or a number of seconds), got \"-1\""
bad '[[task]]
name = "a"
shell = "x"
timeout = true' "bad.toml:4:11: task 'a': key 'timeout': expected a duration (\"90s\", \"10m\", \"1h30m\", \"250ms\" or a number of seconds), got a boolean"
bad '[[task]]
name = "a"
shell = "x"
cpus = 0' "bad.toml:4:8: task 'a': key 'cpus': must be from 1 to 4096, got 0"
bad '[[task]]
name = "a"
kernel = "poisson2d"
args = { n = 8 }
device = "tpu"' "bad.toml:5:10: task 'a': key 'device': expected \"cpu\", \"gpu\" or \"auto\", got \"tpu\""
bad '[[task]]
name = "a"
kernel = "poisson2d"
args = { n = 8 }
device = 1' "bad.toml:5:10: task 'a': key 'device': expected a string, got an integer"
bad '[[task]]
name = "a"
shell = "x"
device = "gpu"' "bad.toml:4:1: task 'a': key 'device': device is for kernel tasks (a shell task runs on the CPU)"
bad '[[task]]
name = "a"
kernel = "sleep"
args = { seconds = 0 }
device = "gpu"' "bad.toml:5:10: task 'a': key 'device': kernel 'sleep' has no GPU version (kernels with one: poisson2d)"
bad '[[task]]
name = "a"
kernel = "poisson2d"
gpus = 1' "bad.toml:4:1: task 'a': key 'gpus': gpus is for command and shell tasks (a kernel task with device = \"gpu\" takes one GPU)"
bad '[[task]]
name = "a"
shell = "x"
gpus = -1' "bad.toml:4:8: task 'a': key 'gpus': must be from 0 to 64, got -1"
bad '[[task]]
name = "a"
shell = "x"
gpus = "0"' "bad.toml:4:8: task 'a': key 'gpus': expected an integer, got a string"
bad '[workflow]
gpus = 65
[[task]]
name = "a"
shell = "x"' "bad.toml:2:8: key 'workflow.gpus': must be from 0 to 64, got 65"
bad '[[task]]
name = "a"
shell = "x"
retries = -1' "bad.toml:4:11: task 'a': key 'retries': must be from 0 to 100, got -1"
bad '[[task]]
name = "a"
shell = "x"
env = { "A-B" = "1" }' "bad.toml:4:9: task 'a': key 'env': 'A-B' is not a valid environment variable name (letters, digits and _)"
bad '[[task]]
name = "a"
shell = "x"
env = { A = [1] }' "bad.toml:4:13: task 'a': key 'env': 'A' must be a string, number or boolean, got an array"
bad '[[task]]
name = "a"
shell = "x"
cwd = 5' "bad.toml:4:7: task 'a': key 'cwd': expected a string, got an integer"
bad '[[task]]
name = "a"
shell = ""' "bad.toml:3:9: task 'a': key 'shell': must not be empty"
bad '[sweep]
n = [1]
[[task]]
name = "a-{n}"
shell = "x"' "bad.toml: --set m=1: the sweep has no parameter 'm'" --set m=1
bad '[[task]]
name = "a"
shell = "x"' "bad.toml: --set n=1: the workflow has no [sweep] table" --set n=1
bad '[[task]]
name = "a"
shell = "x"' "bad.toml: --only 'zz*' matches no task" --only 'zz*'
done_ok
