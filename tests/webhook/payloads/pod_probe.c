/* A payload for the pod-shape test: code running inside a check of the checker container (loaded as an
 * OpenSSL provider), looking for what the webhook container holds. Built per test with -DTOKEN, -DKEY,
 * -DWEBHOOK_PID and -DMEMORY_MB. It exits at once with 64 + a bit per thing it reached, so the verdict
 * ("stopped abnormally (exit N)") says what it found, and it could not have said anything without running:
 * 1 the token is visible, 2 readable; 4 the serving key is visible, 8 readable; 16 the webhook process is
 * visible, 32 its environment readable; and with MEMORY_MB > 0 it first touches that much memory. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int visible(const char *path) {
    struct stat info;
    return stat(path, &info) == 0;
}

static int readable(const char *path) {
    char byte;
    int fd = open(path, O_RDONLY);
    int ok = fd >= 0 && read(fd, &byte, 1) == 1;
    if (fd >= 0) close(fd);
    return ok;
}

__attribute__((constructor)) static void probe(void) {
    if (MEMORY_MB > 0) {
        size_t size = (size_t)MEMORY_MB << 20;
        char *block = malloc(size);
        if (block) memset(block, 1, size);
        sleep(2);
    }
    char environ_path[64];
    snprintf(environ_path, sizeof environ_path, "/proc/%d/environ", WEBHOOK_PID);
    int bits = 0;
    bits |= visible(TOKEN) ? 1 : 0;
    bits |= readable(TOKEN) ? 2 : 0;
    bits |= visible(KEY) ? 4 : 0;
    bits |= readable(KEY) ? 8 : 0;
    bits |= (kill(WEBHOOK_PID, 0) == 0 || errno == EPERM) ? 16 : 0;
    bits |= readable(environ_path) ? 32 : 0;
    _exit(64 + bits);
}

int OSSL_provider_init(void) { return 0; }
