/*
 * auth.c - bearer tokens (SECURITY.md D3, D4).
 *
 * Tokens come from files only, readable by nobody but the owner's group at
 * most (mode & 0027 == 0), at least 32 bytes. Only SHA-256 digests are kept;
 * a presented token is hashed and compared with a branch-free XOR
 * accumulation, so neither its content nor its length shows in timing.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "base/err.h"
#include "serve/server.h"

int auth_load_token_file(const char *path, unsigned char hash[32], struct axle_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        axle_err_set(err, AXLE_INVALID_ARGUMENT, "token file cannot be opened");
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        axle_err_set(err, AXLE_INVALID_ARGUMENT, "token file is not a regular file");
        return -1;
    }
    if (sb.st_mode & 0027) {
        close(fd);
        axle_err_set(err, AXLE_INVALID_ARGUMENT,
                     "token file must not be readable by others or writable by the group");
        return -1;
    }
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf));
    close(fd);
    if (n < 0)
        n = 0;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    if (n < 32) {
        axle_err_set(err, AXLE_INVALID_ARGUMENT, "token must be at least 32 bytes");
        return -1;
    }
    SHA256((const unsigned char *)buf, (size_t)n, hash);
    memset(buf, 0, sizeof(buf));
    return 0;
}

int auth_token_matches(const char *presented, size_t len, const unsigned char hash[32])
{
    unsigned char h[32];
    SHA256((const unsigned char *)presented, len, h);
    unsigned char acc = 0;
    for (int i = 0; i < 32; i++)
        acc |= (unsigned char)(h[i] ^ hash[i]);
    return acc == 0;
}
