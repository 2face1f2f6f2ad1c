/* The TOML parser: exact error messages, positions, the getters (missing vs
 * wrong type), iteration order, files, deep nesting, huge lines, and
 * allocation failure at every point. Conformance is toml-test's job (run by
 * .ci/run); these tests cover what toml-test cannot see. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>

#include "failalloc.h"
#include "testlib.h"
#include <weft/toml.h>

#ifndef WEFT_TEST_DATA
#error "WEFT_TEST_DATA must name tests/data"
#endif

static weft_toml_doc_t *parse_ok(const char *text)
{
    weft_toml_doc_t *doc = NULL;
    weft_toml_error_t err;
    int rc = weft_toml_parse(text, strlen(text), "t.toml", 0, &doc, &err);
    if (rc)
        FAIL("parse failed: %s", err.text);
    CHECK_EQ(err.code, 0);
    return doc;
}

/* ==== exact messages ====================================================== */

static const struct {
    const char *input, *text;
} bad[] = {
    {"name = \"a\"\nname = \"b\"\n", "flow.toml:2:1: duplicate key \"name\" (first defined at 1:1)"},
    {"[t]\n  x = { name = 1, name = 2 }\n", "flow.toml:2:19: duplicate key \"name\" (first defined at 2:9)"},
    {"[a]\n[a]\n", "flow.toml:2:1: table [a] is defined twice (first at 1:1)"},
    {"a.b = 1\n[a]\n", "flow.toml:2:1: table [a] was already defined by dotted keys at 1:1"},
    {"a = {}\n[a]\n", "flow.toml:2:1: table [a] was already defined as an inline table at 1:1"},
    {"[[a]]\n[a]\n", "flow.toml:2:1: table [a] conflicts with the array of tables [[a]] at 1:1"},
    {"a = 1\n[a]\n", "flow.toml:2:1: table [a] conflicts with key \"a\", already an integer (defined at 1:1)"},
    {"a = [1]\n[[a]]\n", "flow.toml:2:1: cannot append with [[a]] to the static array \"a\" defined at 1:1"},
    {"[a]\n[[a]]\n", "flow.toml:2:1: array of tables [[a]] conflicts with key \"a\", already a table (defined at 1:2)"},
    {"a = {b = 1}\n[a.c]\n",
     "flow.toml:2:2: cannot add to the inline table \"a\" defined at 1:1 (an inline table is complete where it is written)"},
    {"a = {b = {c = 1}, b.d = 2}\n",
     "flow.toml:1:19: cannot add keys to the inline table \"b\" defined at 1:6 (an inline table is complete where it is written)"},
    {"[a.b]\nx = 1\n[a]\nb.y = 2\n",
     "flow.toml:4:1: cannot add keys to the table \"b\" with a dotted key: it was defined by the header at 1:1"},
    {"a = \"s\"\na.b = 1\n", "flow.toml:2:1: key \"a\" is already a string (defined at 1:1), not a table"},
    {"s = \"abc\n", "flow.toml:1:9: expected '\"' to close the string opened at 1:5, found end of line"},
    {"s = \"\"\"abc",
     "flow.toml:1:11: expected '\"\"\"' to close the multi-line string opened at 1:5, found end of file"},
    {"s = \"a\\qb\"\n", "flow.toml:1:7: invalid escape sequence \"\\q\" in a string"},
    {"s = \"\\uD800\"\n", "flow.toml:1:6: \"\\uD800\" is not a Unicode scalar value (a surrogate or past U+10FFFF)"},
    {"s = \"\\U00110000\"\n",
     "flow.toml:1:6: \"\\U00110000\" is not a Unicode scalar value (a surrogate or past U+10FFFF)"},
    {"s = \"\\u12\"\n", "flow.toml:1:10: expected 4 hex digits after \"\\u\", found '\"'"},
    {"s = \"a\x01\"\n", "flow.toml:1:7: control character U+0001 must be escaped in a string"},
    {"s = 'a\x7f'\n", "flow.toml:1:7: control character U+007F must be escaped in a literal string"},
    {"# a\x02\n", "flow.toml:1:4: control character U+0002 is not allowed in a comment"},
    {"s = \"\xc3\xa9\xff\"\n", "flow.toml:1:7: invalid UTF-8 byte 0xFF in a string"},
    {"a = 1\r\nb = 2\r",
     "flow.toml:2:6: expected end of line after the value, found a carriage return without a line feed"},
    {"n = 9223372036854775808\n", "flow.toml:1:5: integer \"9223372036854775808\" does not fit in 64 bits"},
    {"n = -9223372036854775809\n", "flow.toml:1:5: integer \"-9223372036854775809\" does not fit in 64 bits"},
    {"n = 0x1_0000_0000_0000_0000\n", "flow.toml:1:5: integer \"0x1_0000_0000_0000_0000\" does not fit in 64 bits"},
    {"n = 0123\n", "flow.toml:1:5: leading zeros are not allowed in \"0123\""},
    {"n = 1__2\n", "flow.toml:1:6: an underscore must sit between two digits in \"1__2\""},
    {"n = 0b102\n", "flow.toml:1:9: invalid digit '2' in the base-2 integer \"0b102\""},
    {"f = 1.\n", "flow.toml:1:7: expected a digit after the decimal point in \"1.\", found the end of the number"},
    {"f = 1e\n", "flow.toml:1:7: expected a digit in the exponent of \"1e\", found the end of the number"},
    {"f = Inf\n",
     "flow.toml:1:5: expected a value, found \"Inf\" (booleans are true/false, special floats inf/nan, all lowercase; strings need quotes)"},
    {"x = hello\n", "flow.toml:1:5: expected a value, found \"hello\" (strings need quotes)"},
    {"x =\n", "flow.toml:1:4: expected a value, found end of line"},
    {"x = 1 2\n", "flow.toml:1:7: expected end of line after the value, found '2'"},
    {"x 1\n", "flow.toml:1:3: expected '=' after the key \"x\", found '1'"},
    {"@ = 1\n", "flow.toml:1:1: expected a key, found '@'"},
    {"a. = 1\n", "flow.toml:1:4: expected a key after '.', found '='"},
    {"\"\"\"k\"\"\" = 1\n", "flow.toml:1:1: a key cannot be a multi-line string"},
    {"[a\n", "flow.toml:1:3: expected ']' to close the table header [a], found end of line"},
    {"[[a]\n", "flow.toml:1:5: expected ']]' to close the array-of-tables header [[a]], found end of line"},
    {"[a] x = 1\n", "flow.toml:1:5: expected end of line after the table header, found 'x'"},
    {"a = [1 2]\n", "flow.toml:1:8: expected ',' or ']' in the array, found '2'"},
    {"a = [1,\n", "flow.toml:2:1: expected a value, found end of file"},
    {"t = {a = 1,}\n",
     "flow.toml:1:12: expected a key after ',' in the inline table, found '}' (TOML 1.0 allows no trailing comma)"},
    {"t = {a = 1\n}\n",
     "flow.toml:1:11: expected ',' or '}' in the inline table, found end of line (an inline table must stay on one line)"},
    {"d = 2023-02-29\n", "flow.toml:1:13: day 29 is out of range for 2023-02 (01-28)"},
    {"d = 2024-13-01\n", "flow.toml:1:10: month 13 is out of range (01-12)"},
    {"t = 24:00:00\n", "flow.toml:1:5: hour 24 is out of range (00-23)"},
    {"t = 23:60:00\n", "flow.toml:1:8: minute 60 is out of range (00-59)"},
    {"t = 23:59:61\n", "flow.toml:1:11: second 61 is out of range (00-60)"},
    {"t = 07:32\n",
     "flow.toml:1:10: expected ':' and two digits of seconds (TOML 1.0 times have seconds), found end of line"},
    {"d = 1979-05-27T07:32:00+25:00\n", "flow.toml:1:25: offset hour 25 is out of range (00-23)"},
    {"d = 1979-05-27T07:32:00+07\n", "flow.toml:1:24: expected a UTC offset like +HH:MM, found \"+07\""},
    {"d = 1979-05-27T\n", "flow.toml:1:16: expected a time HH:MM:SS, found end of line"},
    {"d = 10000-01-01\n", "flow.toml:1:5: expected a date YYYY-MM-DD or a time HH:MM:SS, found \"10000-01-01\""},
    {"s = '''a''''''\n", "flow.toml:1:14: too many quotes at the end of a multi-line literal string"},
    {"s = \"\"\"a\\  b\"\"\"\n", "flow.toml:1:9: a line-ending backslash must be followed by end of line, found 'b'"},
    /* columns count characters: the key after two 2-byte characters */
    {"\"\xc3\xa9\xc3\xa9\" = 1\n\"\xc3\xa9\xc3\xa9\" = 2\n",
     "flow.toml:2:1: duplicate key \"\xc3\xa9\xc3\xa9\" (first defined at 1:1)"},
    {"x = { a = \"\xc3\xa9\", a = 1 }\n", "flow.toml:1:16: duplicate key \"a\" (first defined at 1:7)"},
    /* found by the fuzzer: a sign at the end of the input, an empty key */
    {"x = -", "flow.toml:1:5: expected a value, found \"-\" (strings need quotes)"},
    {"\"\"\n", "flow.toml:1:3: expected '=' after the key \"\", found end of line"},
    /* keys with control characters are escaped in messages */
    {"\"a\\nb\" = 1\n\"a\\nb\" = 2\n", "flow.toml:2:1: duplicate key \"a\\u000Ab\" (first defined at 1:1)"},
};

TEST(exact_messages)
{
    int n = (int)(sizeof bad / sizeof bad[0]);
    CHECK(n >= 25);
    for (int i = 0; i < n; i++) {
        weft_toml_doc_t *doc = (weft_toml_doc_t *)1;
        weft_toml_error_t err;
        int rc = weft_toml_parse(bad[i].input, strlen(bad[i].input), "flow.toml", 0, &doc, &err);
        if (rc != WEFT_EPARSE || doc != NULL || err.code != WEFT_EPARSE)
            FAIL("case %d: rc %d (%s) for input \"%s\"", i, rc, err.text, bad[i].input);
        if (strcmp(err.text, bad[i].text) != 0)
            FAIL("case %d:\n    got      %s\n    expected %s", i, err.text, bad[i].text);
        /* text = "flow.toml:line:column: " + message */
        char prefix[64];
        snprintf(prefix, sizeof prefix, "flow.toml:%u:%u: ", err.line, err.column);
        CHECK(strncmp(err.text, prefix, strlen(prefix)) == 0);
        CHECK_STR(err.text + strlen(prefix), err.message);
    }
}

TEST(error_struct_optional)
{
    weft_toml_doc_t *doc;
    CHECK_EQ(weft_toml_parse("a = ", 4, NULL, 0, &doc, NULL), WEFT_EPARSE);
    CHECK(doc == NULL);
    weft_toml_error_t err;
    CHECK_EQ(weft_toml_parse("a = ", 4, NULL, 0, &doc, &err), WEFT_EPARSE);
    CHECK_STR(err.text, "<input>:1:5: expected a value, found end of file");
}

TEST(bad_arguments)
{
    weft_toml_doc_t *doc;
    weft_toml_error_t err;
    CHECK_EQ(weft_toml_parse("a = 1", 5, "x", 0, NULL, &err), WEFT_EINVAL);
    CHECK_STR(err.text, "x: weft_toml_parse: out is NULL");
    CHECK_EQ(weft_toml_parse(NULL, 3, "x", 0, &doc, &err), WEFT_EINVAL);
    CHECK_EQ(weft_toml_parse("a = 1", 5, "x", 1, &doc, &err), WEFT_EINVAL);
    CHECK_STR(err.message, "weft_toml_parse: unknown flags");
    CHECK_EQ(weft_toml_parse_file(NULL, 0, &doc, &err), WEFT_EINVAL);
    CHECK_EQ(weft_toml_parse_file("x", 0, NULL, &err), WEFT_EINVAL);
    CHECK_EQ(weft_toml_parse_file("x", 4, &doc, &err), WEFT_EINVAL);
    /* an empty document is valid */
    CHECK_EQ(weft_toml_parse(NULL, 0, NULL, 0, &doc, &err), 0);
    CHECK_EQ(weft_toml_count(weft_toml_root(doc)), 0);
    CHECK_STR(weft_toml_name(doc), "<input>");
    weft_toml_destroy(doc);
    weft_toml_destroy(NULL);
    /* accessors take NULL */
    CHECK_EQ(weft_toml_type(NULL), WEFT_TOML_NONE);
    CHECK(weft_toml_first(NULL) == NULL && weft_toml_next(NULL) == NULL && weft_toml_at(NULL, 0) == NULL);
    CHECK(weft_toml_get(NULL, "a") == NULL && weft_toml_key(NULL, NULL) == NULL);
    CHECK_EQ(weft_toml_line(NULL), 0);
    CHECK(weft_toml_root(NULL) == NULL);
}

/* ==== files =============================================================== */

TEST(files)
{
    weft_toml_doc_t *doc;
    weft_toml_error_t err;
    CHECK_EQ(weft_toml_parse_file("/nonexistent/flow.toml", 0, &doc, &err), WEFT_ENOENT);
    CHECK_STR(err.text, "/nonexistent/flow.toml: cannot open the file: No such file or directory");
    CHECK(doc == NULL);
    CHECK_EQ(weft_toml_parse_file(WEFT_TEST_DATA, 0, &doc, &err), WEFT_ESYS); /* a directory */
    CHECK(strstr(err.text, "cannot read the file: Is a directory") != NULL);

    CHECK_EQ(weft_toml_parse_file(WEFT_TEST_DATA "/sample.toml", 0, &doc, &err), 0);
    CHECK_STR(weft_toml_name(doc), WEFT_TEST_DATA "/sample.toml");
    const char *s;
    CHECK_EQ(weft_toml_get_string(weft_toml_root(doc), "workflow.name", &s, NULL), 0);
    CHECK_STR(s, "poisson-sweep");
    weft_toml_destroy(doc);

    /* errors in a file name the file */
    char path[] = "/tmp/weft-toml-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char *text = "[workflow]\nname = \"x\"\ntimeot = \n";
    CHECK_EQ(write(fd, text, strlen(text)), (long long)strlen(text));
    close(fd);
    CHECK_EQ(weft_toml_parse_file(path, 0, &doc, &err), WEFT_EPARSE);
    char want[128];
    snprintf(want, sizeof want, "%s:3:10: expected a value, found end of line", path);
    CHECK_STR(err.text, want);
    CHECK_EQ(err.line, 3);
    CHECK_EQ(err.column, 10);
    unlink(path);
}

/* ==== positions, iteration, getters ====================================== */

TEST(positions)
{
    weft_toml_doc_t *doc = parse_ok("# c\n"
                                    "title = \"x\"\n"
                                    "\t\"\xc3\xa9t\xc3\xa9\" = 2\n" /* tab and two 2-byte chars */
                                    "[workflow]\n"
                                    "  site.host = [1,\n"
                                    "     2]\n"
                                    "[[task]]\n"
                                    "[[task]]\n");
    const weft_toml_value_t *root = weft_toml_root(doc), *v;
    CHECK_EQ(weft_toml_find(root, "title", &v), 0);
    CHECK_EQ(weft_toml_key_line(v), 2);
    CHECK_EQ(weft_toml_key_column(v), 1);
    CHECK_EQ(weft_toml_line(v), 2);
    CHECK_EQ(weft_toml_column(v), 9);
    CHECK_EQ(weft_toml_find(root, "\"\xc3\xa9t\xc3\xa9\"", &v), 0);
    CHECK_EQ(weft_toml_key_column(v), 2);
    CHECK_EQ(weft_toml_column(v), 10);
    CHECK_EQ(weft_toml_find(root, "workflow", &v), 0);
    CHECK_EQ(weft_toml_line(v), 4);
    CHECK_EQ(weft_toml_column(v), 1);
    CHECK_EQ(weft_toml_key_column(v), 2);
    CHECK_EQ(weft_toml_find(root, "workflow.site", &v), 0);
    CHECK_EQ(weft_toml_key_line(v), 5); /* made by the dotted key */
    CHECK_EQ(weft_toml_key_column(v), 3);
    CHECK_EQ(weft_toml_find(root, "workflow.site.host", &v), 0);
    CHECK_EQ(weft_toml_key_column(v), 8);
    CHECK_EQ(weft_toml_column(v), 15);
    const weft_toml_value_t *e = weft_toml_at(v, 1);
    CHECK_EQ(weft_toml_line(e), 6);
    CHECK_EQ(weft_toml_column(e), 6);
    CHECK(weft_toml_key(e, NULL) == NULL);
    CHECK_EQ(weft_toml_key_line(e), 6);
    CHECK_EQ(weft_toml_get_array(root, "task", &v), 0);
    CHECK_EQ(weft_toml_count(v), 2);
    CHECK_EQ(weft_toml_line(weft_toml_at(v, 0)), 7);
    CHECK_EQ(weft_toml_line(weft_toml_at(v, 1)), 8);
    weft_toml_destroy(doc);
}

TEST(document_order_and_lookup)
{
    /* enough keys for the hash index, inserted out of alphabetical order */
    char text[8192] = "";
    size_t n = 0;
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "k%d = %d\n", (i * 37) % 300, i);
    weft_toml_doc_t *doc = parse_ok(text);
    const weft_toml_value_t *root = weft_toml_root(doc);
    CHECK_EQ(weft_toml_count(root), 300);
    int i = 0;
    for (const weft_toml_value_t *v = weft_toml_first(root); v; v = weft_toml_next(v), i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", (i * 37) % 300);
        CHECK_STR(weft_toml_key(v, NULL), key);
        int64_t x;
        CHECK_EQ(weft_toml_get_int(v, NULL, &x), 0);
        CHECK_EQ(x, i);
        CHECK(weft_toml_get(root, key) == v);
    }
    CHECK_EQ(i, 300);
    CHECK(weft_toml_get(root, "k300") == NULL);
    weft_toml_destroy(doc);
    /* duplicates are still found through the index */
    n = strlen(text);
    snprintf(text + n, sizeof text - n, "k123 = 0\n");
    weft_toml_error_t err;
    CHECK_EQ(weft_toml_parse(text, strlen(text), "t", 0, &doc, &err), WEFT_EPARSE);
    CHECK(strstr(err.message, "duplicate key \"k123\"") != NULL);
}

TEST(getters)
{
    weft_toml_doc_t *doc = parse_ok("s = \"a\\u0000b\"\n"
                                    "i = -7\n"
                                    "f = 2.5\n"
                                    "b = true\n"
                                    "d = 1979-05-27T00:32:00.999999-07:00\n"
                                    "ld = 2024-02-29\n"
                                    "lt = 23:59:60.123456789123\n"
                                    "ldt = 1979-05-27t07:32:00\n"
                                    "arr = [1, 2]\n"
                                    "[t]\n"
                                    "\"odd.key\" = { 'x y' = 1 }\n");
    const weft_toml_value_t *r = weft_toml_root(doc), *v;
    const char *s;
    size_t len;
    int64_t i;
    double f;
    bool b;
    weft_toml_datetime_t dt;
    CHECK_EQ(weft_toml_get_string(r, "s", &s, &len), 0);
    CHECK_EQ(len, 3);
    CHECK(memcmp(s, "a\0b", 4) == 0);
    CHECK_EQ(weft_toml_get_int(r, "i", &i), 0);
    CHECK_EQ(i, -7);
    CHECK_EQ(weft_toml_get_float(r, "f", &f), 0);
    CHECK(f == 2.5);
    CHECK_EQ(weft_toml_get_float(r, "i", &f), WEFT_ETYPE); /* integers are not floats */
    CHECK_EQ(weft_toml_get_number(r, "i", &f), 0);
    CHECK(f == -7.0);
    CHECK_EQ(weft_toml_get_number(r, "f", &f), 0);
    CHECK_EQ(weft_toml_get_number(r, "s", &f), WEFT_ETYPE);
    CHECK_EQ(weft_toml_get_bool(r, "b", &b), 0);
    CHECK(b);
    CHECK_EQ(weft_toml_get_datetime(r, "d", &dt), 0);
    CHECK_EQ(dt.type, WEFT_TOML_DATETIME);
    CHECK_EQ(dt.year, 1979);
    CHECK_EQ(dt.day, 27);
    CHECK_EQ(dt.minute, 32);
    CHECK_EQ(dt.nanosecond, 999999000);
    CHECK_EQ(dt.offset_minutes, -420);
    CHECK_EQ(weft_toml_get_datetime(r, "ld", &dt), 0);
    CHECK_EQ(dt.type, WEFT_TOML_DATE_LOCAL);
    CHECK_EQ(dt.month, 2);
    CHECK_EQ(weft_toml_get_datetime(r, "lt", &dt), 0);
    CHECK_EQ(dt.type, WEFT_TOML_TIME_LOCAL);
    CHECK_EQ(dt.second, 60);
    CHECK_EQ(dt.nanosecond, 123456789); /* digits past 9 are cut */
    CHECK_EQ(weft_toml_get_datetime(r, "ldt", &dt), 0);
    CHECK_EQ(dt.type, WEFT_TOML_DATETIME_LOCAL);
    CHECK_EQ(weft_toml_get_datetime(r, "i", &dt), WEFT_ETYPE);

    /* missing vs wrong type vs bad path */
    CHECK_EQ(weft_toml_get_int(r, "nope", &i), WEFT_ENOENT);
    CHECK_EQ(weft_toml_get_int(r, "s", &i), WEFT_ETYPE);
    CHECK_EQ(weft_toml_get_int(r, "s.x", &i), WEFT_ETYPE); /* s is not a table */
    CHECK_EQ(weft_toml_get_int(r, "t.nope.x", &i), WEFT_ENOENT);
    CHECK_EQ(weft_toml_get_int(r, "a..b", &i), WEFT_EINVAL);
    CHECK_EQ(weft_toml_get_int(r, ".a", &i), WEFT_EINVAL);
    CHECK_EQ(weft_toml_get_int(r, "a.", &i), WEFT_EINVAL);
    CHECK_EQ(weft_toml_get_int(r, "\"unclosed", &i), WEFT_EINVAL);
    CHECK_EQ(weft_toml_get_int(r, "a b", &i), WEFT_EINVAL);
    CHECK_EQ(weft_toml_get_int(NULL, "i", &i), WEFT_EINVAL);
    CHECK_EQ(weft_toml_get_int(r, "i", NULL), WEFT_EINVAL);
    CHECK_EQ(weft_toml_get_string(r, "i", NULL, NULL), WEFT_EINVAL);
    CHECK_EQ(weft_toml_find(r, "i", NULL), WEFT_EINVAL);
    i = 99;
    CHECK_EQ(weft_toml_get_int(r, "f", &i), WEFT_ETYPE);
    CHECK_EQ(i, 99); /* untouched */

    /* quoted path parts, whitespace, and a path relative to a table */
    CHECK_EQ(weft_toml_get_int(r, "t.\"odd.key\".'x y'", &i), 0);
    CHECK_EQ(i, 1);
    CHECK_EQ(weft_toml_get_int(r, " t . \"odd.key\" . \"x y\" ", &i), 0);
    CHECK_EQ(weft_toml_get_table(r, "t", &v), 0);
    CHECK_EQ(weft_toml_get_table(v, "'odd.key'", &v), 0);
    CHECK_EQ(weft_toml_get_int(v, "\"x y\"", &i), 0);
    CHECK_EQ(weft_toml_get_table(r, "arr", &v), WEFT_ETYPE);
    CHECK_EQ(weft_toml_get_array(r, "arr", &v), 0);
    CHECK_EQ(weft_toml_count(v), 2);
    CHECK(weft_toml_at(v, 2) == NULL);
    CHECK_EQ(weft_toml_get_int(weft_toml_at(v, 1), NULL, &i), 0);
    CHECK_EQ(i, 2);
    CHECK_EQ(weft_toml_find(r, "", &v), 0);
    CHECK(v == r);
    CHECK_EQ(weft_toml_find(r, NULL, &v), 0);
    CHECK(v == r);
    CHECK_STR(weft_toml_type_name(weft_toml_type(r)), "table");
    CHECK_STR(weft_toml_type_name(WEFT_TOML_DATETIME), "offset date-time");
    CHECK_STR(weft_toml_type_name((weft_toml_type_t)99), "none");
    weft_toml_destroy(doc);
}

TEST(values)
{
    weft_toml_doc_t *doc = parse_ok("\xEF\xBB\xBF" /* BOM */
                                    "a = 0x7FFFFFFFFFFFFFFF\r\n"
                                    "b = -9223372036854775808\r\n"
                                    "c = 0.1\n"
                                    "d = 1e-400\n"
                                    "e = 1.7976931348623157e308\n"
                                    "f = 123456789012345678901234567890.5\n"
                                    "g = -nan\n"
                                    "h = +inf\n"
                                    "i = -0.0\n"
                                    "j = 9007199254740993.0\n"
                                    "s = \"\"\"\r\nline1\\\r\n   line2\"\"\"\n");
    const weft_toml_value_t *r = weft_toml_root(doc);
    int64_t i;
    double f;
    CHECK_EQ(weft_toml_get_int(r, "a", &i), 0);
    CHECK(i == INT64_MAX);
    CHECK_EQ(weft_toml_get_int(r, "b", &i), 0);
    CHECK(i == INT64_MIN);
    CHECK_EQ(weft_toml_get_float(r, "c", &f), 0);
    CHECK(f == 0.1);
    CHECK_EQ(weft_toml_get_float(r, "d", &f), 0);
    CHECK(f == 0.0);
    CHECK_EQ(weft_toml_get_float(r, "e", &f), 0);
    CHECK(f == 1.7976931348623157e308);
    CHECK_EQ(weft_toml_get_float(r, "f", &f), 0);
    CHECK(f == 123456789012345678901234567890.5);
    CHECK_EQ(weft_toml_get_float(r, "g", &f), 0);
    CHECK(isnan(f));
    CHECK_EQ(weft_toml_get_float(r, "h", &f), 0);
    CHECK(isinf(f) && f > 0);
    CHECK_EQ(weft_toml_get_float(r, "i", &f), 0);
    CHECK(f == 0.0 && signbit(f));
    CHECK_EQ(weft_toml_get_float(r, "j", &f), 0);
    CHECK(f == 9007199254740992.0); /* ties to even, correctly rounded */
    const char *s;
    CHECK_EQ(weft_toml_get_string(r, "s", &s, NULL), 0);
    CHECK_STR(s, "line1line2");
    CHECK_EQ(weft_toml_key_column(weft_toml_get(r, "a")), 1); /* the BOM is not a column */
    weft_toml_destroy(doc);
}

/* ==== robustness ========================================================== */

static void deep(const char *open, const char *close, const char *prefix)
{
    size_t levels = 100000, pl = strlen(prefix), ol = strlen(open), cl = strlen(close);
    char *text = malloc(pl + levels * (ol + cl) + 2);
    CHECK(text);
    char *o = text;
    memcpy(o, prefix, pl);
    o += pl;
    for (size_t i = 0; i < levels; i++, o += ol)
        memcpy(o, open, ol);
    for (size_t i = 0; i < levels; i++, o += cl)
        memcpy(o, close, cl);
    weft_toml_doc_t *doc;
    weft_toml_error_t err;
    CHECK_EQ(weft_toml_parse(text, (size_t)(o - text), "deep.toml", 0, &doc, &err), WEFT_EPARSE);
    CHECK(strstr(err.text, "are nested deeper than 1000 levels") != NULL);
    free(text);
}

TEST(deep_nesting_is_an_error)
{
    deep("[", "]", "a = ");
    deep("{a=", "}", "a = ");
    deep("[{a=", "}]", "a = ");
    /* 1000 levels are fine */
    char text[4096] = "a = ";
    for (int i = 0; i < 1000; i++)
        strcat(text, "[");
    for (int i = 0; i < 1000; i++)
        strcat(text, "]");
    weft_toml_destroy(parse_ok(text));
}

/* A line of WEFT_TOML_HUGE_MB MiB (default 1024): a string that long, then
 * an error at its end, whose column must be exact. Linear time, no hang. */
TEST(huge_line)
{
    size_t mb = getenv("WEFT_TOML_HUGE_MB") ? strtoul(getenv("WEFT_TOML_HUGE_MB"), NULL, 10) : 1024;
    size_t n = mb << 20;
    char *text = malloc(n + 32);
    if (!text)
        SKIP("not enough memory for the huge line");
    memcpy(text, "s = \"", 5);
    memset(text + 5, 'x', n);
    memcpy(text + 5 + n, "\" ?\n", 4);
    weft_toml_doc_t *doc;
    weft_toml_error_t err;
    CHECK_EQ(weft_toml_parse(text, n + 9, "big.toml", 0, &doc, &err), WEFT_EPARSE);
    CHECK_EQ(err.line, 1);
    CHECK_EQ(err.column, n + 8);
    CHECK_STR(err.message, "expected end of line after the value, found '?'");
    /* and the same line, valid */
    text[5 + n + 1] = '\n';
    CHECK_EQ(weft_toml_parse(text, n + 7, "big.toml", 0, &doc, &err), 0);
    const char *s;
    size_t len;
    CHECK_EQ(weft_toml_get_string(weft_toml_root(doc), "s", &s, &len), 0);
    CHECK_EQ(len, n);
    CHECK(s[0] == 'x' && s[n - 1] == 'x' && s[n] == '\0');
    weft_toml_destroy(doc);
    free(text);
}

/* Allocation number N fails, for every N until a parse sees no failure:
 * each parse returns 0 or WEFT_ENOMEM, and nothing is left allocated. The
 * document is the sample file (every feature) plus a table big enough for
 * the hash index and a float that needs strtod. */
TEST(fail_at_nth_allocation)
{
    for (int pass = 0; pass < 2; pass++) {
        long n = 1;
        for (;; n++) {
            fa_install(n);
            weft_toml_doc_t *doc = NULL;
            weft_toml_error_t err;
            int rc;
            if (pass == 0) {
                rc = weft_toml_parse_file(WEFT_TEST_DATA "/sample.toml", 0, &doc, &err);
            } else {
                char text[4096] = "x = 123456789012345678901234567890.5\n[t]\n";
                for (int i = 0; i < 40; i++)
                    snprintf(text + strlen(text), sizeof text - strlen(text), "\"k\\u00e9%d\" = %d\n", i, i);
                rc = weft_toml_parse(text, strlen(text), "t", 0, &doc, &err);
            }
            long failed = atomic_load(&fa_failed);
            if (rc == 0) {
                CHECK(doc != NULL);
                weft_toml_destroy(doc);
            } else {
                CHECK_EQ(rc, WEFT_ENOMEM);
                CHECK_EQ(err.code, WEFT_ENOMEM);
                CHECK(doc == NULL);
                CHECK(strstr(err.text, "out of memory") != NULL);
            }
            CHECK_EQ(atomic_load(&fa_live), 0);
            fa_remove();
            if (!failed) {
                CHECK_EQ(rc, 0);
                break;
            }
        }
        CHECK(n > 3); /* the loop did inject failures */
    }
}

/* The sample file, read through the getters. */
TEST(sample_document)
{
    weft_toml_doc_t *doc;
    weft_toml_error_t err;
    CHECK_EQ(weft_toml_parse_file(WEFT_TEST_DATA "/sample.toml", 0, &doc, &err), 0);
    const weft_toml_value_t *r = weft_toml_root(doc), *v;
    CHECK_EQ(weft_toml_get_array(r, "task", &v), 0);
    CHECK_EQ(weft_toml_count(v), 2);
    const char *s;
    CHECK_EQ(weft_toml_get_string(weft_toml_at(v, 1), "after", &s, NULL), WEFT_ETYPE);
    int64_t i;
    CHECK_EQ(weft_toml_get_int(weft_toml_at(v, 1), "retry", &i), WEFT_ETYPE);
    CHECK_EQ(weft_toml_get_array(weft_toml_at(v, 1), "retry", &v), 0);
    CHECK_EQ(weft_toml_get_int(weft_toml_first(v), "times", &i), 0);
    CHECK_EQ(i, 3);
    CHECK_EQ(weft_toml_get_int(r, "a.b.c.d", &i), 0);
    CHECK_EQ(weft_toml_get_int(r, "a.e", &i), 0);
    CHECK_EQ(weft_toml_get_string(r, "workflow.site.host.name", &s, NULL), 0);
    CHECK_STR(s, "node1");
    CHECK_EQ(weft_toml_get_string(r, "'literal key'", &s, NULL), 0);
    CHECK_STR(s, "multi-line basic string with \"quotes\" and \t escapes \xc3\xa9 \xf0\x9f\x98\x80");
    weft_toml_destroy(doc);
}
