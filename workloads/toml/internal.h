/* workloads/toml — private header of the TOML parser: the tree's layout and
 * the parser state shared by its files (tree.c, scan.c, value.c, parse.c,
 * query.c). Other modules use the public weft/toml.h only. */
#ifndef WEFT_WORKLOADS_TOML_INTERNAL_H
#define WEFT_WORKLOADS_TOML_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "weft/toml.h"

/* ==== the tree =========================================================== *
 *
 * Values are 32 bytes; a value that is a table entry is followed in memory
 * by its key (weft__toml_keyed_t), so array elements pay nothing for keys.
 * Strings are copied into the arena with a NUL after; their length is in
 * the value (48 bits). Containers are a singly linked list in
 * document order plus, past TOML_INDEX_MIN entries, an open-addressing
 * hash index, so that a table with a million keys still finds duplicates
 * in O(1). */

typedef struct weft__toml_container weft__toml_container_t;

/* A date/time, packed (16 bytes, out of line: they are rare). */
typedef struct weft__toml_dt {
    int16_t year, offset; /* offset: minutes east of UTC */
    uint8_t month, day, hour, minute, second;
    uint32_t nanosecond;
} weft__toml_dt_t;

/* value flags */
enum {
    TOML_F_KEYED = 1 << 0,    /* a weft__toml_keyed_t */
    TOML_F_DEFINED = 1 << 1,  /* table defined by [header] or [[header]] */
    TOML_F_IMPLICIT = 1 << 2, /* table created as a parent by a header */
    TOML_F_DOTTED = 1 << 3,   /* table created or extended by dotted keys */
    TOML_F_FROZEN = 1 << 4,   /* inline table or static array: complete */
    TOML_F_AOT = 1 << 5,      /* array made by [[header]] */
};

struct weft_toml_value {
    weft_toml_value_t *next; /* next in the container, document order */
    union {
        int64_t i;
        double f;
        int b;
        const char *s; /* NUL at s[len] */
        weft__toml_container_t *c;
        weft__toml_dt_t *dt;
    } u;
    uint32_t line, col; /* where the value starts */
    uint8_t type;       /* weft_toml_type_t */
    uint8_t flags;
    uint16_t len_hi; /* strings: length bits 32-47 */
    uint32_t len;    /* strings: length bits 0-31 */
};

/* A table entry. Its key is always on the value's line (TOML has no
 * newline between a key and its value or inside a header), so only the
 * key's column is kept. */
typedef struct weft__toml_keyed {
    weft_toml_value_t v;
    uint32_t keylen;
    uint32_t kcol;
    char key[]; /* keylen bytes and a NUL */
} weft__toml_keyed_t;

struct weft__toml_container {
    weft_toml_value_t *first, *last;
    weft_toml_value_t **index; /* NULL below TOML_INDEX_MIN entries */
    uint32_t count, cap;       /* cap: index slots, a power of two */
};

#define TOML_INDEX_MIN 16

/* Index blocks are the only memory outside the arena (they are replaced as
 * a table grows); they are chained so that destroy frees them all. */
typedef struct weft__toml_index_block {
    struct weft__toml_index_block *prev, *next;
    weft_toml_value_t *slot[];
} weft__toml_index_block_t;

struct weft_toml_doc {
    weft__arena_t arena;
    weft__toml_index_block_t *indexes;
    const char *name;
    weft_toml_value_t root;
    weft__toml_container_t root_c;
};

static inline weft__toml_keyed_t *weft__toml_keyed(const weft_toml_value_t *v)
{
    return (weft__toml_keyed_t *)v;
}

static inline size_t weft__toml_strlen(const weft_toml_value_t *v)
{
    return (size_t)v->len_hi << 32 | v->len;
}

/* tree.c */
int weft__toml_doc_create(const char *name, size_t first_block, weft_toml_doc_t **out);
weft_toml_value_t *weft__toml_value_new(weft_toml_doc_t *doc, uint8_t type);
weft_toml_value_t *weft__toml_keyed_new(weft_toml_doc_t *doc, uint8_t type, const char *key, size_t keylen);
weft__toml_container_t *weft__toml_container_new(weft_toml_doc_t *doc);
/* The entry with this key, or NULL. */
weft_toml_value_t *weft__toml_table_find(const weft__toml_container_t *c, const char *key, size_t keylen);
/* Appends v (keyed for tables); WEFT_ENOMEM when the index cannot grow. */
int weft__toml_table_insert(weft_toml_doc_t *doc, weft__toml_container_t *c, weft_toml_value_t *v);
void weft__toml_array_append(weft__toml_container_t *c, weft_toml_value_t *v);
/* Makes v a string of n bytes (NUL written); returns the bytes to fill. */
char *weft__toml_string_new(weft_toml_doc_t *doc, weft_toml_value_t *v, size_t n);

/* ==== the parser ========================================================= */

typedef struct weft__toml_seg {
    size_t off, len;      /* the key's bytes in the parser's keybuf */
    const char *at, *end; /* where it was written */
    uint32_t line, col;
} weft__toml_seg_t;

typedef struct weft__toml_parser {
    const char *begin, *cur, *end; /* begin: after a BOM */
    const char *line_start;
    uint32_t line;
    /* The column of col_at (on the current line), so that columns cost
     * O(distance) even on a 1 GiB line. */
    const char *col_at;
    uint32_t col;
    weft_toml_doc_t *doc;
    weft_toml_error_t *err;
    int depth;
    /* the dotted key being read: segments and their decoded bytes */
    weft__toml_seg_t *segs;
    size_t nsegs, cap_segs;
    char *keybuf;
    size_t keylen, cap_keybuf;
    /* floats that need strtod: their digits without underscores */
    char *numbuf;
    size_t cap_numbuf;
    void *c_locale; /* locale_t for strtod_l, created on first use */
} weft__toml_parser_t;

/* scan.c: positions, errors, whitespace, comments, keys, strings */
uint32_t weft__toml_column(weft__toml_parser_t *p, const char *at);
int weft__toml_fail(weft__toml_parser_t *p, const char *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int weft__toml_nomem(weft__toml_parser_t *p);
/* Describes the input at `at` for "found ..." (writes into buf). */
const char *weft__toml_found(const weft__toml_parser_t *p, const char *at, char *buf, size_t size);
/* weft__toml_found with a buffer that lives until the end of the enclosing
 * full expression (a message call). */
#define FOUND(p, at) weft__toml_found((p), (at), (char[48]){0}, 48)
void weft__toml_skip_ws(weft__toml_parser_t *p);
/* Consumes "\n" or "\r\n" if there; returns whether it did. */
bool weft__toml_newline(weft__toml_parser_t *p);
/* A comment from '#' to the end of the line (not the newline). */
int weft__toml_comment(weft__toml_parser_t *p);
/* Whitespace, newlines and comments (inside arrays). */
int weft__toml_skip_ws_nl(weft__toml_parser_t *p);
/* A dotted key into p->segs/p->keybuf (nsegs >= 1). */
int weft__toml_key(weft__toml_parser_t *p);
/* A string value at p->cur (any of the four kinds) into *out. */
int weft__toml_string(weft__toml_parser_t *p, weft_toml_value_t *out);

/* value.c: one value of any type at p->cur, into a new array element or
 * into v (a keyed value whose position the caller set) */
int weft__toml_value(weft__toml_parser_t *p, weft_toml_value_t **out);
int weft__toml_value_into(weft__toml_parser_t *p, weft_toml_value_t *v);

/* parse.c: the key/value rule, shared with inline tables */
int weft__toml_keyval(weft__toml_parser_t *p, weft_toml_value_t *table);
/* Sets up p for data[0..len) (a BOM skipped) and doc; err is cleared. */
void weft__toml_parser_init(weft__toml_parser_t *p, const char *data, size_t len, weft_toml_doc_t *doc,
                            weft_toml_error_t *err);
void weft__toml_parser_fini(weft__toml_parser_t *p);
/* Quotes a key for a message: printable text as is, the rest escaped,
 * long keys cut. */
const char *weft__toml_key_repr(const char *key, size_t len, char *buf, size_t size);

#endif
