/* workloads/workflow — private: the plan a workflow file becomes.
 *
 * A template is one [[task]] table. Its dimensions are the sweep
 * dimensions its strings use (a zipped group is one dimension); it expands
 * to one task per combination, in nested-loop order (the first declared
 * dimension varies slowest). A task stores only its template, its
 * combination number and its name: every other string (argv, env, paths)
 * is expanded again when the task starts, so a 100,000-task sweep costs a
 * few dozen bytes per task beyond the scheduler's own. */
#ifndef WEFT_WORKLOADS_WORKFLOW_INTERNAL_H
#define WEFT_WORKLOADS_WORKFLOW_INTERNAL_H

#include "workloads/workflow/workflow.h"

#include <pthread.h>
#include <stdarg.h>

#include "base/base.h"
#include "weft/toml.h"
#include "workloads/kernels/kernels.h"

#define WF_MAX_DIMS 32
#define WF_MAX_TASKS 100000000u

enum { WF_CMD = 0, WF_SHELL = 1, WF_KERNEL = 2 };
/* `device` of a kernel task: the CPU, a GPU (GPU 0), or a GPU when the
 * machine has one. */
enum { WF_DEV_CPU = 0, WF_DEV_GPU = 1, WF_DEV_AUTO = 2 };

/* The type of a sweep parameter's values in the file: --set values are
 * checked against it and written the same way (--set tol=1.0 is "1" as
 * 1.0 in the file is). */
enum { WF_V_STRING, WF_V_INT, WF_V_FLOAT, WF_V_NUMBER /* ints and floats */, WF_V_BOOL, WF_V_MIXED };

typedef struct wf_param {
    char *name;
    char **values; /* formatted ("1e-6", "64", "a b"): floats shortest */
    uint32_t nvalues;
    uint32_t dim;
    int vtype; /* WF_V_* */
} wf_param_t;

typedef struct wf_dim {
    uint32_t len;
    uint32_t nparams;
    uint32_t params[WF_MAX_DIMS]; /* the zipped names of one dimension */
} wf_dim_t;

/* [[task]] shard: by its sweep point (the default), in every shard, or
 * in none (left for an unsharded run). */
enum { WF_SHARD_POINT, WF_SHARD_EACH, WF_SHARD_SKIP };

typedef struct wf_tmpl {
    weft__flow_t *flow;
    const weft_toml_value_t *table; /* the [[task]] table */
    const char *name;               /* unexpanded */
    const weft_toml_value_t *name_v;
    int kind;                     /* WF_CMD, WF_SHELL, WF_KERNEL */
    const weft_toml_value_t *run; /* command array, shell string or kernel name */
    const weft__kernel_t *kernel;
    const weft_toml_value_t *args, *after, *env;
    const weft_toml_value_t *cwd, *out, *err;
    const weft_toml_value_t *inputs, *outputs; /* lists of paths (templates) */
    uint32_t nparts;                           /* the parts of its tasks' definitions (resume.c) */
    uint32_t nvary;                            /* those that may differ from task to task */
    size_t part0;           /* its tasks' varying parts: flow->phash[part0 + (i - first) * nvary ...] */
    uint64_t *part_names;   /* its parts' names' hashes (in the flow's arena) */
    const char **part_text; /* its parts' names */
    int32_t *part_slot;     /* a varying part's place among a task's (-1: the same for all) */
    uint64_t *part_const;   /* the hashes of the parts the same for all its tasks */
    bool consts_ready;      /* part_const computed in this plan */
    int cpus, retries;
    int gpus; /* command and shell tasks: GPUs granted */
    const weft_toml_value_t *gpus_v;
    int device; /* WF_DEV_* */
    const weft_toml_value_t *device_v;
    uint64_t timeout_ns;
    /* retry policy: command tasks retry only after these exit codes (n 0:
     * any failure), after retry_delay_ns growing by retry_backoff */
    int retry_on[64], nretry_on;
    const weft_toml_value_t *retry_on_v;
    int shard; /* WF_SHARD_*: where its tasks run in a sharded run */
    const weft_toml_value_t *shard_v;
    uint64_t retry_delay_ns;
    double retry_backoff;
    bool always; /* when = "always": runs whatever its dependencies' outcome */
    uint32_t ndims;
    uint32_t dims[WF_MAX_DIMS]; /* in declaration order */
    uint32_t count, first;      /* its tasks: tasks[first .. first+count) */
} wf_tmpl_t;

typedef struct wf_task {
    wf_tmpl_t *tmpl;
    const char *name; /* in the flow's arena */
    uint32_t combo;   /* combination number within the template */
    uint32_t keep;    /* selected by --only (or no --only) */
} wf_task_t;

struct weft__flow {
    weft_toml_doc_t *doc;
    const char *path;
    char *name;
    char *workdir; /* absolute */
    int threads, pin;
    int gpus; /* [workflow] gpus; -1: the GPUs weft sees */
    const weft_toml_value_t *gpus_v;
    bool keep_going;
    uint64_t grace_ns;
    wf_param_t *params;
    uint32_t nparams;
    wf_dim_t *dims;
    uint32_t ndims;
    wf_tmpl_t *tmpls;
    uint32_t ntmpls;
    wf_task_t *tasks;
    uint32_t ntasks;
    uint32_t *dep_off; /* ntasks + 1 */
    uint32_t *deps;    /* task indices */
    size_t nedges;
    uint32_t *hash; /* open addressing over task names: index + 1 */
    uint32_t hmask;
    weft__arena_t arena; /* names */
    char *err;
    size_t errlen;
    weft__flow_run_t *run; /* the run in progress */
    char *shard;           /* "2/4": the slice this run takes (NULL: the whole workflow; shard.c) */
    uint8_t *sel;          /* per task: kept by --only, before the slice was taken (NULL: not sliced) */
    /* the plan (resume.c): what each task is and whether it runs */
    bool planned;
    uint64_t *dhash; /* per task: its definition hash */
    uint64_t *phash; /* per task: the hashes of its definition's parts */
    /* a fresh run's hashes, computed by this thread while the run is set
     * up (weft__wf_plan_hashed waits for them) */
    pthread_t hasher;
    bool hashing;
    uint32_t *hash_order;
    uint8_t *why;                 /* per task: WF_WHY_* */
    int64_t *why_run;             /* per task: the run the reason names (0: none) */
    const char **why_text;        /* per task: what changed (NULL: nothing to say) */
    struct weft__wf_store *store; /* the run store (NULL: not opened) */
    int64_t resumed;              /* the run this one resumes (0: a fresh run) */
    size_t ncached;
};

/* Why a task runs (or not) in a planned run. */
enum {
    WF_WHY_RUN = 0,  /* a fresh run: everything runs */
    WF_WHY_CACHED,   /* done before with the same definition: not run */
    WF_WHY_NEW,      /* never ran */
    WF_WHY_CHANGED,  /* its definition changed (why_text: what) */
    WF_WHY_FAILED,   /* failed in why_run */
    WF_WHY_STOPPED,  /* interrupted in why_run */
    WF_WHY_SKIPPED,  /* skipped or not started in why_run */
    WF_WHY_UPSTREAM, /* a task it depends on runs (why_text: which) */
    WF_WHY_FORCED,   /* --rerun */
    WF_WHY_OUTPUT    /* an output is missing or was changed (why_text: which) */
};

/* ---- errors (schema.c) ---------------------------------------------------- */

/* "file:line:col: task 'x': key 'k': message" (the task and key parts
 * when task / key are not NULL; no position when line is 0). Returns
 * WEFT_EPARSE. AT(v) is a value's position, KEY_AT(v) its key's. */
int weft__wf_error(weft__flow_t *f, unsigned line, unsigned col, const char *task, const char *key, const char *fmt,
                   ...) __attribute__((format(printf, 6, 7)));
#define AT(v) weft_toml_line(v), weft_toml_column(v)
#define KEY_AT(v) weft_toml_key_line(v), weft_toml_key_column(v)

/* Reads [workflow], [sweep] and every [[task]] (schema.c). */
int weft__wf_schema(weft__flow_t *f, const weft__flow_opts_t *o);
/* Parses "90s", "10m", "1h30m", "250ms" or a number of seconds. */
int weft__wf_duration(const weft_toml_value_t *v, uint64_t *ns);

/* ---- text (text.c) -------------------------------------------------------- */

/* Checks the {name} references of a template string v: a placeholder is
 * an identifier in braces not preceded by '$' (other braces are text;
 * {{ and }} are literal braces); each must be a sweep parameter or
 * `index`. Adds the dimensions used to *dims (a bit per dimension). */
int weft__wf_refs(weft__flow_t *f, const weft_toml_value_t *v, const wf_tmpl_t *t, const char *key, uint64_t *dims);

/* Expands s for task `task` of template t into buf (cap bytes; always
 * terminated); `extra` (may be NULL) gives values for dimensions the
 * template does not have (after patterns). Returns the full length.
 * {name:raw} is {name} here. */
size_t weft__wf_expand(const weft__flow_t *f, const wf_tmpl_t *t, uint32_t combo, const uint32_t *extra, const char *s,
                       char *buf, size_t cap);
/* WF_EXPAND_SHELL: s is a /bin/sh script; each {name} becomes exactly its
 * value as one word, quoted for where it stands unless it is plain
 * letters, digits and _-+.,/:@% (outside quotes: '...';
 * inside '...': with '\'' for its quotes; inside "...": \ before $ ` " \);
 * {name:raw} is pasted as it is. */
#define WF_EXPAND_SHELL 1u
size_t weft__wf_expand_ex(const weft__flow_t *f, const wf_tmpl_t *t, uint32_t combo, const uint32_t *extra,
                          const char *s, unsigned flags, char *buf, size_t cap);
/* The same into a fresh weft__malloc'd string (NULL when out of memory). */
char *weft__wf_expand_dup(const weft__flow_t *f, const wf_tmpl_t *t, uint32_t combo, const char *s);
char *weft__wf_expand_dup_ex(const weft__flow_t *f, const wf_tmpl_t *t, uint32_t combo, const char *s, unsigned flags);
/* The value index of dimension d in combination `combo` of t (UINT32_MAX
 * when t does not have d). */
uint32_t weft__wf_digit(const weft__flow_t *f, const wf_tmpl_t *t, uint32_t combo, uint32_t d);
/* A scalar TOML value as the text it stands for ("64", "1e-6", "true"). */
int weft__wf_format(const weft_toml_value_t *v, char *buf, size_t cap);
void weft__wf_format_double(double d, char *buf, size_t cap);
/* fnmatch-style glob: * ? [..] */
bool weft__wf_glob(const char *pat, const char *s);
/* Whether a string of v (or of any array or table inside it) has a
 * placeholder: its value may differ from task to task. */
bool weft__wf_has_placeholder(const weft_toml_value_t *v);
bool weft__wf_is_glob(const char *s);

/* ---- expansion (expand.c) ------------------------------------------------- */

int weft__wf_expand_tasks(weft__flow_t *f);
int weft__wf_resolve(weft__flow_t *f, const weft__flow_opts_t *o);
/* A kernel task's arguments as text: keys[i] = vals[i], the values
 * expanded into buf. Errors: WEFT_EINVAL (too many), WEFT_ENOMEM (buf). */
int weft__wf_kargs(const weft__flow_t *f, const wf_task_t *t, const char **keys, const char **vals, char *buf,
                   size_t cap, size_t *nargs);
/* ---- the plan (resume.c) ---------------------------------------------------- */

/* Kahn's order of all tasks (weft__malloc'd; NULL when out of memory). */
uint32_t *weft__wf_topo(const weft__flow_t *f);
/* Task ti's definition parts as planned, as the store keeps them (16
 * bytes a part: its name's hash, its value's), into buf; returns the
 * length (0 when it does not fit). */
size_t weft__wf_parts_blob(const weft__flow_t *f, uint32_t ti, void *buf, size_t cap);
/* Why task ti runs or not, as a phrase ("changed: env SCALE"). */
const char *weft__wf_why_text(const weft__flow_t *f, uint32_t ti, char *buf, size_t cap);
/* Frees the plan and closes the store (weft__flow_destroy). */
void weft__wf_plan_destroy(weft__flow_t *f);
/* Waits until the plan's definition hashes are all there (a fresh run's
 * are computed while it is set up); before anything reads f->dhash. */
void weft__wf_plan_hashed(weft__flow_t *f);

/* Task index by name, or UINT32_MAX. */
uint32_t weft__wf_find(const weft__flow_t *f, const char *name);

#endif
