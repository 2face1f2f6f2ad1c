/* weft-toml-decode: the toml-test decoder protocol over weft's parser.
 *
 * Reads one TOML document on stdin (bytes as they are) and prints it as
 * toml-test's tagged JSON on stdout, exit 0; for invalid input prints the
 * parser's one-line message on stderr and exits 1. Uses only the public
 * API (weft/toml.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>
#include <weft/toml.h>

static void put_json_string(const char *s, size_t n)
{
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c == 0x7F)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void put_tagged(const char *type, const char *value)
{
    printf("{\"type\":\"%s\",\"value\":", type);
    put_json_string(value, strlen(value));
    putchar('}');
}

static void put_datetime(const weft_toml_value_t *v)
{
    weft_toml_datetime_t d;
    weft_toml_get_datetime(v, NULL, &d);
    char buf[64];
    int n = 0;
    if (d.type != WEFT_TOML_TIME_LOCAL)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "%04d-%02d-%02d", d.year, d.month, d.day);
    if (d.type != WEFT_TOML_DATE_LOCAL) {
        if (n)
            buf[n++] = 'T';
        n += snprintf(buf + n, sizeof buf - (size_t)n, "%02d:%02d:%02d", d.hour, d.minute, d.second);
        if (d.nanosecond) {
            char frac[16];
            snprintf(frac, sizeof frac, "%09d", d.nanosecond);
            for (int k = 8; k > 0 && frac[k] == '0'; k--)
                frac[k] = '\0';
            n += snprintf(buf + n, sizeof buf - (size_t)n, ".%s", frac);
        }
    }
    if (d.type == WEFT_TOML_DATETIME) {
        int off = d.offset_minutes;
        if (off == 0)
            snprintf(buf + n, sizeof buf - (size_t)n, "Z");
        else
            snprintf(buf + n, sizeof buf - (size_t)n, "%c%02d:%02d", off < 0 ? '-' : '+', abs(off) / 60, abs(off) % 60);
    }
    static const char *tags[] = {[WEFT_TOML_DATETIME] = "datetime",
                                 [WEFT_TOML_DATETIME_LOCAL] = "datetime-local",
                                 [WEFT_TOML_DATE_LOCAL] = "date-local",
                                 [WEFT_TOML_TIME_LOCAL] = "time-local"};
    put_tagged(tags[d.type], buf);
}

static void put_value(const weft_toml_value_t *v)
{
    char buf[64];
    switch (weft_toml_type(v)) {
    case WEFT_TOML_TABLE: {
        putchar('{');
        for (const weft_toml_value_t *e = weft_toml_first(v); e; e = weft_toml_next(e)) {
            size_t n;
            const char *k = weft_toml_key(e, &n);
            put_json_string(k, n);
            putchar(':');
            put_value(e);
            if (weft_toml_next(e))
                putchar(',');
        }
        putchar('}');
        break;
    }
    case WEFT_TOML_ARRAY:
        putchar('[');
        for (const weft_toml_value_t *e = weft_toml_first(v); e; e = weft_toml_next(e)) {
            put_value(e);
            if (weft_toml_next(e))
                putchar(',');
        }
        putchar(']');
        break;
    case WEFT_TOML_STRING: {
        const char *s;
        size_t n;
        weft_toml_get_string(v, NULL, &s, &n);
        printf("{\"type\":\"string\",\"value\":");
        put_json_string(s, n);
        putchar('}');
        break;
    }
    case WEFT_TOML_INTEGER: {
        int64_t i;
        weft_toml_get_int(v, NULL, &i);
        snprintf(buf, sizeof buf, "%lld", (long long)i);
        put_tagged("integer", buf);
        break;
    }
    case WEFT_TOML_FLOAT: {
        double f;
        weft_toml_get_float(v, NULL, &f);
        if (isnan(f))
            snprintf(buf, sizeof buf, "nan");
        else if (isinf(f))
            snprintf(buf, sizeof buf, "%sinf", f < 0 ? "-" : "");
        else
            snprintf(buf, sizeof buf, "%.17g", f);
        put_tagged("float", buf);
        break;
    }
    case WEFT_TOML_BOOL: {
        bool b;
        weft_toml_get_bool(v, NULL, &b);
        put_tagged("bool", b ? "true" : "false");
        break;
    }
    default: put_datetime(v); break;
    }
}

int main(void)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return 2;
    for (;;) {
        if (len == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                fprintf(stderr, "weft-toml-decode: out of memory reading stdin\n");
                free(buf);
                return 2;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + len, 1, cap - len, stdin);
        if (r == 0)
            break;
        len += r;
    }
    if (ferror(stdin)) {
        fprintf(stderr, "weft-toml-decode: cannot read stdin\n");
        free(buf);
        return 2;
    }
    weft_toml_doc_t *doc;
    weft_toml_error_t err;
    int rc = weft_toml_parse(buf, len, "<stdin>", 0, &doc, &err);
    free(buf);
    if (rc) {
        fprintf(stderr, "%s\n", err.text);
        return 1;
    }
    static char out[1 << 16];
    setvbuf(stdout, out, _IOFBF, sizeof out);
    put_value(weft_toml_root(doc));
    putchar('\n');
    weft_toml_destroy(doc);
    return fflush(stdout) == 0 ? 0 : 2;
}
