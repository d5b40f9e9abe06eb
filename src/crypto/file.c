/* file.c - creating key and certificate files without races: missing directories, a temporary
 * file opened O_CREAT|O_EXCL with its final mode (never readable by others, not even briefly),
 * fsync, then an atomic link (no-clobber) or rename (replace) into place. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/ids.h"
#include "crypto/crypto_internal.h"

int crypto_mkdirs(const char *dir, mode_t mode, socle_err *err)
{
    char path[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof path)
        return socle_err_set(err, SOCLE_EINVAL, "directory name empty or too long");
    memcpy(path, dir, n + 1);
    while (n > 1 && path[n - 1] == '/')
        path[--n] = 0;
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p) continue;
        char c = *p;
        *p = 0;
        if (mkdir(path, mode) != 0 && errno != EEXIST)
            return socle_err_set(err, SOCLE_EIO, "cannot create directory %s: %s", path, strerror(errno));
        struct stat st;
        if (c == 0 && (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)))
            return socle_err_set(err, SOCLE_EIO, "%s is not a directory", path);
        if (c == 0) return 0;
        *p = c;
    }
}

/* Make the new directory entry durable too; failure here is not worth failing the write. */
static void file_sync_dir(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (n >= sizeof dir) return;
    if (n == 0) {
        strcpy(dir, slash ? "/" : ".");
    } else {
        memcpy(dir, path, n);
        dir[n] = 0;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

static int file_write(const char *path, const void *data, size_t n, mode_t mode, int replace, socle_err *err)
{
    char tmp[4200], rnd[17];
    if (snprintf(tmp, sizeof tmp, "%s.tmp-%s", path, id_request(rnd)) >= (int)sizeof tmp)
        return socle_err_set(err, SOCLE_EINVAL, "file name too long");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) return socle_err_set(err, SOCLE_EIO, "cannot create %s: %s", tmp, strerror(errno));
    int ok = fchmod(fd, mode) == 0; /* the umask may have taken bits we want (0644 certificates) */
    for (size_t off = 0; ok && off < n;) {
        ssize_t w = write(fd, (const char *)data + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            ok = 0;
        else
            off += (size_t)w;
    }
    if (ok && fsync(fd) != 0) ok = 0;
    int saved = errno;
    if (close(fd) != 0 && ok) ok = 0, saved = errno;
    if (!ok) {
        unlink(tmp);
        return socle_err_set(err, SOCLE_EIO, "cannot write %s: %s", path, strerror(saved));
    }
    int rc = 0, moved = 0;
    if (replace) {
        if (rename(tmp, path) == 0)
            moved = 1;
        else
            rc = socle_err_set(err, SOCLE_EIO, "cannot rename to %s: %s", path, strerror(errno));
    } else if (link(tmp, path) != 0) {
        /* link() is the atomic "create unless it exists"; filesystems without hard links get a
         * check-then-rename, racy only against another process doing the same at that instant. */
        if (errno == EEXIST)
            rc = socle_err_set(err, SOCLE_ECONFLICT, "%s already exists", path);
        else if ((errno == EPERM || errno == EOPNOTSUPP || errno == ENOSYS) && access(path, F_OK) != 0 &&
                 rename(tmp, path) == 0)
            moved = 1;
        else
            rc = socle_err_set(err, SOCLE_EIO, "cannot create %s: %s", path, strerror(errno));
    }
    if (!moved) unlink(tmp);
    if (rc == 0) file_sync_dir(path);
    return rc;
}

int crypto_write_new(const char *path, const void *data, size_t n, mode_t mode, socle_err *err)
{
    return file_write(path, data, n, mode, 0, err);
}

int crypto_write_replace(const char *path, const void *data, size_t n, mode_t mode, socle_err *err)
{
    return file_write(path, data, n, mode, 1, err);
}

BIO *crypto_pem_private(EVP_PKEY *pkey)
{
    BIO *b = BIO_new(BIO_s_secmem());
    if (b && !PEM_write_bio_PKCS8PrivateKey(b, pkey, NULL, NULL, 0, NULL, NULL)) {
        BIO_free(b);
        b = NULL;
    }
    if (!b) ERR_clear_error();
    return b;
}

/* An encrypted key would otherwise make OpenSSL prompt on the terminal. */
static int file_no_passphrase(char *buf, int size, int rwflag, void *u)
{
    return -1;
}

EVP_PKEY *crypto_read_private(const char *path, socle_err *err)
{
    BIO *b = BIO_new_file(path, "r");
    EVP_PKEY *pkey = b ? PEM_read_bio_PrivateKey(b, NULL, file_no_passphrase, NULL) : NULL;
    if (!pkey)
        socle_err_set(err, b ? SOCLE_EINVAL : SOCLE_EIO, "cannot %s the private key %s", b ? "parse" : "read",
                      path);
    BIO_free(b);
    ERR_clear_error();
    return pkey;
}
