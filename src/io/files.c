#include "deliveryd/files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deliveryd/config.h"
#include "deliveryd/log.h"

const char *files_image_type(const void *data, size_t len)
{
    const unsigned char *p = data;
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (len >= 8 && memcmp(p, png, 8) == 0) return "image/png";
    if (len >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) return "image/jpeg";
    return NULL;
}

static int mkdir_p(const char *path)
{
    char tmp[1024];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) return -1;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0750) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(tmp, 0750) != 0 && errno != EEXIST ? -1 : 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int files_store(const void *data, size_t len, const char *ext, char *sha, char *rel,
                size_t rellen)
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, data, len);
    hex_encode(h, sizeof h, sha);
    if ((size_t)snprintf(rel, rellen, "%.2s/%.2s/%s.%s", sha, sha + 2, sha, ext) >= rellen)
        return -1;
    char dir[1024], path[1024], tmpdir[1024], tmp[1100];
    snprintf(dir, sizeof dir, "%s/%.2s/%.2s", g_cfg.storage_dir, sha, sha + 2);
    snprintf(path, sizeof path, "%s/%s", g_cfg.storage_dir, rel);
    snprintf(tmpdir, sizeof tmpdir, "%s/tmp", g_cfg.storage_dir);
    struct stat st;
    if (stat(path, &st) == 0 && (size_t)st.st_size == len) return 0; /* same bytes: stored */
    if (mkdir_p(dir) < 0 || mkdir_p(tmpdir) < 0) return -1;
    snprintf(tmp, sizeof tmp, "%s/upload-XXXXXX", tmpdir);
    int fd = mkstemp(tmp);
    if (fd < 0) return -1;
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            close(fd);
            unlink(tmp);
            return -1;
        }
        p += n;
        left -= (size_t)n;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return fsync_dir(dir);
}

int files_open(const char *rel)
{
    if (strstr(rel, "..")) return -1;
    char path[1024];
    if (snprintf(path, sizeof path, "%s/%s", g_cfg.storage_dir, rel) >= (int)sizeof path) return -1;
    return open(path, O_RDONLY | O_CLOEXEC);
}

void files_clean_tmp(void)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tmp", g_cfg.storage_dir);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "upload-", 7) != 0) continue;
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) == 0) n++;
    }
    closedir(d);
    if (n) log_msgf(LOG_WARN, "removed %d unfinished upload(s) from %s", n, dir);
}
