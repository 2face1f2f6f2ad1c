/* tasks/spawn.h — starting one child process for the process executor:
 * vfork + exec with the child's own setup (process group, signals,
 * stdin/stdout/stderr, directory, cpus), done in the child before it
 * runs the command. Private to tasks/. */
#ifndef WEFT_TASKS_SPAWN_H
#define WEFT_TASKS_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

#include "platform/topology.h"

typedef struct weft__spawn {
    char *const *argv; /* argv[0] looked up in PATH when it has no '/' (as execvp) */
    char *const *envp;
    const char *cwd;            /* NULL: the launcher's */
    int in, out, err;           /* the child's 0, 1, 2 */
    const weft__cpuset_t *cpus; /* NULL: not bound */
} weft__spawn_t;

/* Starts s as a child that leads its own process group, with every
 * signal's disposition default and none blocked. 0 and its pid, or an
 * errno with what failed ("exec", "chdir", "bind", "fork") in *stage.
 * Must be called with every signal blocked (the launcher thread's
 * mask): no handler may run in the child before it execs. */
int weft__spawn(const weft__spawn_t *s, pid_t *pid, const char **stage);

#endif
