/* weft — TOML 1.0 documents.
 *
 * weft's own TOML 1.0.0 parser (workflow files are TOML). It is strict: it
 * accepts exactly the documents the specification allows and rejects every
 * other input with one line naming the place and the problem:
 *
 *     flow.toml:3:7: duplicate key "name" (first defined at 2:1)
 *
 * A parsed document is a tree of values that all belong to one
 * weft_toml_doc_t; weft_toml_destroy frees the whole tree at once. Values
 * are read-only views, borrowed from the document until it is destroyed.
 * A document is immutable after parsing, so any number of threads may read
 * it at the same time.
 *
 * Positions: every value remembers where it was written (the line and
 * column of its first character) and, when it has a key, where that key
 * was written. Lines and columns count from 1; columns count characters
 * (Unicode code points), not bytes, so a tab is one column.
 *
 * Limits (all give an error, never a crash): arrays and inline tables nest
 * at most WEFT_TOML_MAX_DEPTH levels; a key is at most 4 GiB - 1 bytes. */
#ifndef WEFT_TOML_H
#define WEFT_TOML_H

#include "weft/export.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_TOML_MAX_DEPTH 1000

typedef struct weft_toml_doc weft_toml_doc_t;
typedef struct weft_toml_value weft_toml_value_t;

typedef enum weft_toml_type {
    WEFT_TOML_NONE = 0, /* only returned for a NULL value */
    WEFT_TOML_TABLE,    /* tables, inline tables, array-of-tables items */
    WEFT_TOML_ARRAY,    /* arrays and arrays of tables */
    WEFT_TOML_STRING,
    WEFT_TOML_INTEGER, /* int64_t */
    WEFT_TOML_FLOAT,   /* double, correctly rounded */
    WEFT_TOML_BOOL,
    WEFT_TOML_DATETIME,       /* offset date-time: 1979-05-27T07:32:00Z */
    WEFT_TOML_DATETIME_LOCAL, /* local date-time: 1979-05-27T07:32:00 */
    WEFT_TOML_DATE_LOCAL,     /* local date: 1979-05-27 */
    WEFT_TOML_TIME_LOCAL,     /* local time: 07:32:00 */
} weft_toml_type_t;

/* A date, a time or both. Fields a type does not have are 0. */
typedef struct weft_toml_datetime {
    weft_toml_type_t type;    /* one of the four date/time types */
    int year, month, day;     /* 0000-9999, 1-12, 1-31 */
    int hour, minute, second; /* 0-23, 0-59, 0-60 (leap second) */
    int nanosecond;           /* fraction of the second; digits past 9 are cut */
    int offset_minutes;       /* WEFT_TOML_DATETIME only: minutes east of UTC */
} weft_toml_datetime_t;

/* Where and why parsing failed. Filled by the parse calls on failure
 * (code != 0); left with code 0 on success. The caller owns it. */
typedef struct weft_toml_error {
    int code;          /* WEFT_EPARSE, WEFT_ENOMEM, WEFT_ENOENT, WEFT_ESYS, WEFT_EINVAL */
    unsigned line;     /* 1-based; 0 when the error has no position */
    unsigned column;   /* 1-based, in characters; 0 when none */
    char message[256]; /* what was expected and what was found */
    char text[1024];   /* the whole line: "name:line:column: message" */
} weft_toml_error_t;

/* ---- parsing ------------------------------------------------------------ */

/* Parses the TOML document data[0..len) (need not be NUL-terminated; may
 * start with a UTF-8 BOM; CRLF line ends are accepted). `name` is used in
 * error messages and kept by the document (copied; NULL means "<input>").
 * flags must be 0. On success *out owns the new document.
 * Returns 0, or
 *   WEFT_EINVAL  data NULL with len > 0, out NULL, unknown flags;
 *   WEFT_EPARSE  the input is not valid TOML 1.0 (err says where and why);
 *   WEFT_ENOMEM  an allocation failed (nothing is leaked).
 * err may be NULL. On failure *out is set to NULL. */
WEFT_API int weft_toml_parse(const char *data, size_t len, const char *name, unsigned flags, weft_toml_doc_t **out,
                             weft_toml_error_t *err);

/* Reads and parses the file at path; messages name the path. Returns what
 * weft_toml_parse returns, and also WEFT_ENOENT (no such file) or
 * WEFT_ESYS (it could not be read: err->message has the system's reason). */
WEFT_API int weft_toml_parse_file(const char *path, unsigned flags, weft_toml_doc_t **out, weft_toml_error_t *err);

/* Frees the document and every value in it. NULL is a no-op. */
WEFT_API void weft_toml_destroy(weft_toml_doc_t *doc);

/* The root table (never NULL for a parsed document). */
WEFT_API const weft_toml_value_t *weft_toml_root(const weft_toml_doc_t *doc);

/* The name given to the parse call (the path for weft_toml_parse_file). */
WEFT_API const char *weft_toml_name(const weft_toml_doc_t *doc);

/* ---- values --------------------------------------------------------------- */

/* The value's type; WEFT_TOML_NONE for NULL. */
WEFT_API weft_toml_type_t weft_toml_type(const weft_toml_value_t *v);

/* "table", "array", "string", "integer", "float", "boolean",
 * "offset date-time", "local date-time", "local date", "local time";
 * "none" for WEFT_TOML_NONE or an unknown value. */
WEFT_API const char *weft_toml_type_name(weft_toml_type_t type);

/* The key of a table entry, NUL-terminated (a quoted key may contain NUL
 * bytes: *len, when len is not NULL, is the exact length). NULL for the
 * root table and array elements. */
WEFT_API const char *weft_toml_key(const weft_toml_value_t *v, size_t *len);

/* Where the value starts: its first character; for a table made by a
 * [header] or an array-of-tables item, the header's "["; for a table made
 * implicitly by a dotted key or a header, that key. 0 for NULL. */
WEFT_API unsigned weft_toml_line(const weft_toml_value_t *v);
WEFT_API unsigned weft_toml_column(const weft_toml_value_t *v);
/* Where the value's key was written (for a dotted key, the part that names
 * this value); the value's own position when it has no key. */
WEFT_API unsigned weft_toml_key_line(const weft_toml_value_t *v);
WEFT_API unsigned weft_toml_key_column(const weft_toml_value_t *v);

/* ---- tables and arrays: iteration in document order --------------------- */

/* Entries of a table or elements of an array; 0 for anything else. */
WEFT_API size_t weft_toml_count(const weft_toml_value_t *container);
/* The first entry/element, in the order they were written; NULL when the
 * container is empty or v is not a table or array. */
WEFT_API const weft_toml_value_t *weft_toml_first(const weft_toml_value_t *container);
/* The entry/element after v in its container; NULL after the last. */
WEFT_API const weft_toml_value_t *weft_toml_next(const weft_toml_value_t *v);
/* Element i of an array (O(i): iterate with first/next for loops). NULL
 * when i is out of range or v is not an array. */
WEFT_API const weft_toml_value_t *weft_toml_at(const weft_toml_value_t *array, size_t i);
/* The entry with exactly this key (no dotted-path parsing) in a table;
 * NULL when missing or when table is not a table. O(1) on average. */
WEFT_API const weft_toml_value_t *weft_toml_get(const weft_toml_value_t *table, const char *key);

/* ---- lookup by path and typed getters ------------------------------------ *
 *
 * path is a TOML key, written as in a document: `workflow.name`,
 * `task."odd.key".x`, `'site'`. NULL or "" means v itself. Every getter
 * returns
 *   0             found, with the right type (*out filled);
 *   WEFT_ENOENT   some part of the path does not exist;
 *   WEFT_ETYPE    it exists but has another type, or a part of the path
 *                 before the last is not a table (*out untouched);
 *   WEFT_EINVAL   v or out is NULL, or path is not a valid TOML key.
 * so that a caller can tell "missing" (use a default) from "wrong type"
 * (an error for the user). Strings are borrowed from the document. */
WEFT_API int weft_toml_find(const weft_toml_value_t *v, const char *path, const weft_toml_value_t **out);
WEFT_API int weft_toml_get_table(const weft_toml_value_t *v, const char *path, const weft_toml_value_t **out);
WEFT_API int weft_toml_get_array(const weft_toml_value_t *v, const char *path, const weft_toml_value_t **out);
/* *len (when len is not NULL) is the length in bytes; the string is also
 * NUL-terminated, but may contain NUL bytes written as \u0000. */
WEFT_API int weft_toml_get_string(const weft_toml_value_t *v, const char *path, const char **out, size_t *len);
WEFT_API int weft_toml_get_int(const weft_toml_value_t *v, const char *path, int64_t *out);
/* Floats only: an integer is WEFT_ETYPE (TOML keeps the two apart; convert
 * explicitly with weft_toml_get_number when either will do). */
WEFT_API int weft_toml_get_float(const weft_toml_value_t *v, const char *path, double *out);
/* An integer or a float, as a double. */
WEFT_API int weft_toml_get_number(const weft_toml_value_t *v, const char *path, double *out);
WEFT_API int weft_toml_get_bool(const weft_toml_value_t *v, const char *path, bool *out);
/* Any of the four date/time types; out->type says which. */
WEFT_API int weft_toml_get_datetime(const weft_toml_value_t *v, const char *path, weft_toml_datetime_t *out);

#ifdef __cplusplus
}
#endif
#endif
