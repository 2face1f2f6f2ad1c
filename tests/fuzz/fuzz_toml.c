/* libFuzzer target for the TOML parser (build with -Dfuzz=true and clang;
 * run with `make fuzz`). Every input must either parse, and then survive a
 * walk through every accessor, or fail with WEFT_EPARSE and a one-line
 * message that names a position. ASan/UBSan/LSan catch the rest. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>
#include <weft/toml.h>

static void walk(const weft_toml_value_t *v, int depth)
{
    weft_toml_type_t t = weft_toml_type(v);
    if (t == WEFT_TOML_NONE || !*weft_toml_type_name(t) || weft_toml_line(v) == 0 || weft_toml_column(v) == 0 ||
        weft_toml_key_line(v) == 0)
        abort();
    size_t len;
    const char *k = weft_toml_key(v, &len);
    if (k && k[len] != '\0')
        abort();
    const char *s;
    int64_t i;
    double f;
    bool b;
    weft_toml_datetime_t dt;
    switch (t) {
    case WEFT_TOML_TABLE:
    case WEFT_TOML_ARRAY: {
        size_t n = 0;
        for (const weft_toml_value_t *e = weft_toml_first(v); e; e = weft_toml_next(e), n++) {
            walk(e, depth + 1);
            if (t == WEFT_TOML_TABLE) {
                const char *ek = weft_toml_key(e, &len);
                /* the index finds each key (keys with NUL cannot be asked for by C string) */
                if (strlen(ek) == len && weft_toml_get(v, ek) != e)
                    abort();
            }
        }
        if (n != weft_toml_count(v) || (t == WEFT_TOML_ARRAY && n && weft_toml_at(v, n - 1) == NULL))
            abort();
        break;
    }
    case WEFT_TOML_STRING:
        if (weft_toml_get_string(v, NULL, &s, &len) || s[len] != '\0')
            abort();
        break;
    case WEFT_TOML_INTEGER:
        if (weft_toml_get_int(v, NULL, &i) || weft_toml_get_float(v, NULL, &f) != WEFT_ETYPE)
            abort();
        break;
    case WEFT_TOML_FLOAT:
        if (weft_toml_get_float(v, NULL, &f) || weft_toml_get_number(v, NULL, &f))
            abort();
        break;
    case WEFT_TOML_BOOL:
        if (weft_toml_get_bool(v, NULL, &b))
            abort();
        break;
    default:
        if (weft_toml_get_datetime(v, NULL, &dt) || dt.type != t || dt.month > 12 || dt.hour > 23)
            abort();
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    weft_toml_doc_t *doc;
    weft_toml_error_t err;
    int rc = weft_toml_parse((const char *)data, size, "fuzz.toml", 0, &doc, &err);
    if (rc == 0) {
        walk(weft_toml_root(doc), 0);
        weft_toml_destroy(doc);
        return 0;
    }
    /* a parse error: a position, a message, one line */
    if (rc != WEFT_EPARSE || doc != NULL || err.line == 0 || err.column == 0 || !err.message[0] ||
        strchr(err.text, '\n') != NULL || strncmp(err.text, "fuzz.toml:", 10) != 0)
        abort();
    return 0;
}
