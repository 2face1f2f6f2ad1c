/* The document tree: values, containers, the per-table hash index. */
#include "workloads/toml/internal.h"

#include <stdalign.h>

int weft__toml_doc_create(const char *name, size_t first_block, weft_toml_doc_t **out)
{
    weft_toml_doc_t *doc = weft__malloc(sizeof *doc);
    if (!doc)
        return WEFT_ENOMEM;
    memset(doc, 0, sizeof *doc);
    weft__arena_init(&doc->arena, first_block, false);
    if (!name)
        name = "<input>";
    size_t n = strlen(name) + 1;
    char *copy = weft__arena_alloc(&doc->arena, n, 1);
    if (!copy) {
        weft__arena_fini(&doc->arena);
        weft__free(doc);
        return WEFT_ENOMEM;
    }
    memcpy(copy, name, n);
    doc->name = copy;
    doc->root.type = WEFT_TOML_TABLE;
    doc->root.flags = TOML_F_DEFINED;
    doc->root.line = doc->root.col = 1;
    doc->root.u.c = &doc->root_c;
    *out = doc;
    return 0;
}

void weft_toml_destroy(weft_toml_doc_t *doc)
{
    if (!doc)
        return;
    while (doc->indexes) {
        weft__toml_index_block_t *n = doc->indexes->next;
        weft__free(doc->indexes);
        doc->indexes = n;
    }
    weft__arena_fini(&doc->arena);
    weft__free(doc);
}

weft_toml_value_t *weft__toml_value_new(weft_toml_doc_t *doc, uint8_t type)
{
    weft_toml_value_t *v = weft__arena_alloc(&doc->arena, sizeof *v, alignof(weft_toml_value_t));
    if (v) {
        memset(v, 0, sizeof *v);
        v->type = type;
    }
    return v;
}

weft_toml_value_t *weft__toml_keyed_new(weft_toml_doc_t *doc, uint8_t type, const char *key, size_t keylen)
{
    if (keylen >= UINT32_MAX)
        return NULL;
    weft__toml_keyed_t *k = weft__arena_alloc(&doc->arena, sizeof *k + keylen + 1, alignof(weft__toml_keyed_t));
    if (!k)
        return NULL;
    memset(k, 0, sizeof *k);
    k->v.type = type;
    k->v.flags = TOML_F_KEYED;
    k->keylen = (uint32_t)keylen;
    memcpy(k->key, key, keylen);
    k->key[keylen] = '\0';
    return &k->v;
}

weft__toml_container_t *weft__toml_container_new(weft_toml_doc_t *doc)
{
    weft__toml_container_t *c = weft__arena_alloc(&doc->arena, sizeof *c, alignof(weft__toml_container_t));
    if (c)
        memset(c, 0, sizeof *c);
    return c;
}

char *weft__toml_string_new(weft_toml_doc_t *doc, weft_toml_value_t *v, size_t n)
{
    if ((uint64_t)n >= (uint64_t)1 << 48)
        return NULL;
    char *p = weft__arena_alloc(&doc->arena, n + 1, 1);
    if (!p)
        return NULL;
    p[n] = '\0';
    v->type = WEFT_TOML_STRING;
    v->u.s = p;
    v->len = (uint32_t)n;
    v->len_hi = (uint16_t)((uint64_t)n >> 32);
    return p;
}

/* ==== the hash index ===================================================== */

/* FNV-1a: keys are short, and this is only reached for big tables. */
static uint64_t key_hash(const char *key, size_t len)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)key[i]) * 0x100000001b3u;
    return h ^ (h >> 29);
}

static bool key_eq(const weft_toml_value_t *v, const char *key, size_t keylen)
{
    const weft__toml_keyed_t *k = weft__toml_keyed(v);
    return k->keylen == keylen && memcmp(k->key, key, keylen) == 0;
}

static void index_put(weft_toml_value_t **slot, uint32_t cap, weft_toml_value_t *v)
{
    size_t i = key_hash(weft__toml_keyed(v)->key, weft__toml_keyed(v)->keylen) & (cap - 1);
    while (slot[i])
        i = (i + 1) & (cap - 1);
    slot[i] = v;
}

static weft__toml_index_block_t *block_of(weft_toml_value_t **slot)
{
    return (weft__toml_index_block_t *)((char *)slot - offsetof(weft__toml_index_block_t, slot));
}

/* Rebuilds the index with twice the slots (load stays under 3/4). */
static int index_grow(weft_toml_doc_t *doc, weft__toml_container_t *c)
{
    uint32_t cap = c->cap ? c->cap * 2 : 32;
    if (cap == 0 || cap < c->cap)
        return WEFT_ENOMEM;
    weft__toml_index_block_t *b = weft__calloc(1, sizeof *b + (size_t)cap * sizeof b->slot[0]);
    if (!b)
        return WEFT_ENOMEM;
    for (weft_toml_value_t *v = c->first; v; v = v->next)
        index_put(b->slot, cap, v);
    if (c->index) {
        weft__toml_index_block_t *old = block_of(c->index);
        if (old->prev)
            old->prev->next = old->next;
        else
            doc->indexes = old->next;
        if (old->next)
            old->next->prev = old->prev;
        weft__free(old);
    }
    b->prev = NULL;
    b->next = doc->indexes;
    if (doc->indexes)
        doc->indexes->prev = b;
    doc->indexes = b;
    c->index = b->slot;
    c->cap = cap;
    return 0;
}

weft_toml_value_t *weft__toml_table_find(const weft__toml_container_t *c, const char *key, size_t keylen)
{
    if (!c->index) {
        for (weft_toml_value_t *v = c->first; v; v = v->next)
            if (key_eq(v, key, keylen))
                return v;
        return NULL;
    }
    size_t i = key_hash(key, keylen) & (c->cap - 1);
    for (weft_toml_value_t *v; (v = c->index[i]); i = (i + 1) & (c->cap - 1))
        if (key_eq(v, key, keylen))
            return v;
    return NULL;
}

int weft__toml_table_insert(weft_toml_doc_t *doc, weft__toml_container_t *c, weft_toml_value_t *v)
{
    if (c->count == UINT32_MAX)
        return WEFT_ENOMEM;
    /* Grow first (before the index is 3/4 full, which includes building it
     * at TOML_INDEX_MIN entries), so that a failure leaves c untouched. */
    uint64_t n = (uint64_t)c->count + 1;
    if (n >= TOML_INDEX_MIN && n * 4 > (uint64_t)c->cap * 3) {
        int rc = index_grow(doc, c);
        if (rc)
            return rc;
    }
    weft__toml_array_append(c, v);
    if (c->index)
        index_put(c->index, c->cap, v);
    return 0;
}

void weft__toml_array_append(weft__toml_container_t *c, weft_toml_value_t *v)
{
    v->next = NULL;
    if (c->last)
        c->last->next = v;
    else
        c->first = v;
    c->last = v;
    c->count++;
}
