/* The output log (tasks.h: weft__outlog_*): one append-only segment file
 * that the captured outputs of many processes are copied into, each at
 * an offset the caller keeps. The file is created at the first output,
 * so a run whose tasks print nothing creates nothing. */
#include "tasks/tasks.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"

struct weft__outlog {
    pthread_mutex_t lock;
    int fd; /* -1: not created yet */
    uint64_t end;
    char path[];
};

int weft__outlog_create(const char *path, weft__outlog_t **out)
{
    size_t n = strlen(path) + 1;
    weft__outlog_t *l = weft__malloc(sizeof *l + n);
    if (!l)
        return WEFT_ENOMEM;
    pthread_mutex_init(&l->lock, NULL);
    l->fd = -1;
    l->end = 0;
    memcpy(l->path, path, n);
    *out = l;
    return 0;
}

void weft__outlog_destroy(weft__outlog_t *l)
{
    if (!l)
        return;
    if (l->fd >= 0)
        close(l->fd);
    pthread_mutex_destroy(&l->lock);
    weft__free(l);
}

const char *weft__outlog_path(const weft__outlog_t *l)
{
    return l->path;
}

/* Copies [from, from + len) of fd to dst at *at (advanced): 0 or an errno. */
int weft__fd_copy(int dst, uint64_t *at, int fd, uint64_t from, uint64_t len)
{
    off_t in = (off_t)from;
    /* sendfile writes at dst's file offset */
    if (lseek(dst, (off_t)*at, SEEK_SET) < 0)
        return errno;
    while (len > 0) {
        ssize_t n = sendfile(dst, fd, &in, len > (1u << 30) ? (1u << 30) : len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EINVAL || errno == ENOSYS))
            break; /* the plain way below */
        if (n <= 0)
            return n < 0 ? errno : EIO;
        len -= (uint64_t)n;
        *at += (uint64_t)n;
    }
    char buf[65536];
    while (len > 0) {
        ssize_t n = pread(fd, buf, len < sizeof buf ? len : sizeof buf, in);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? errno : EIO;
        for (ssize_t done = 0; done < n;) {
            ssize_t w = pwrite(dst, buf + done, (size_t)(n - done), (off_t)*at);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return w < 0 ? errno : ENOSPC;
            done += w;
            *at += (uint64_t)w;
        }
        in += n;
        len -= (uint64_t)n;
    }
    return 0;
}

int weft__outlog_append(weft__outlog_t *l, int fd, uint64_t from, uint64_t len, uint64_t *off)
{
    pthread_mutex_lock(&l->lock);
    int e = 0;
    if (l->fd < 0 && (l->fd = open(l->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
        e = errno;
    uint64_t at = l->end;
    if (!e)
        e = weft__fd_copy(l->fd, &at, fd, from, len);
    if (!e) {
        *off = l->end;
        l->end = at;
    } else if (l->fd >= 0 && ftruncate(l->fd, (off_t)l->end) != 0) {
        /* the part written stays past the end others write at: harmless */
    }
    pthread_mutex_unlock(&l->lock);
    return e;
}

int weft__outlog_append_mem(weft__outlog_t *l, const void *data, uint64_t len, uint64_t *off)
{
    pthread_mutex_lock(&l->lock);
    int e = 0;
    if (l->fd < 0 && (l->fd = open(l->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
        e = errno;
    uint64_t at = l->end;
    for (uint64_t done = 0; !e && done < len;) {
        ssize_t w = pwrite(l->fd, (const char *)data + done, (size_t)(len - done), (off_t)(at + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            e = w < 0 ? errno : ENOSPC;
        else
            done += (uint64_t)w;
    }
    if (!e) {
        *off = l->end;
        l->end = at + len;
    } else if (l->fd >= 0 && ftruncate(l->fd, (off_t)l->end) != 0) {
        /* as in weft__outlog_append */
    }
    pthread_mutex_unlock(&l->lock);
    return e;
}

int weft__outlog_read(weft__outlog_t *l, uint64_t off, uint64_t len, void *buf)
{
    pthread_mutex_lock(&l->lock);
    int fd = l->fd;
    pthread_mutex_unlock(&l->lock);
    for (uint64_t done = 0; done < len;) {
        ssize_t n = fd < 0 ? -1 : pread(fd, (char *)buf + done, (size_t)(len - done), (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 && fd >= 0 ? errno : EIO;
        done += (uint64_t)n;
    }
    return 0;
}
