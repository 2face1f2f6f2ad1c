/* Warnings to stderr, one write(2) per line. */
#include "base/base.h"

#include <stdio.h>
#include <unistd.h>

void weft__log(const char *fmt, ...)
{
    char line[512];
    int n = snprintf(line, sizeof line, "weft: ");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t rc = write(STDERR_FILENO, line, len);
    (void)rc; /* nothing sensible to do when stderr is gone */
}
