/* A payload for the environment tests: a shared object that a submitted `LD_PRELOAD` (or `LD_AUDIT`) names.
 * Its constructor runs in whatever process the loader maps it into, before `main`. It tries to leave a
 * sentinel file outside any sandbox, writing there what confined it (NoNewPrivs, Seccomp, its command
 * line), then exits with status 42 at once, so a check that loaded it can never answer "valid". */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SENTINEL "/tmp/haproxy-guard-preload-ran"

static void copy_lines(int out, const char *path, const char *prefix) {
    char buffer[4096];
    int fd = open(path, O_RDONLY);
    if (fd < 0) return;
    ssize_t got = read(fd, buffer, sizeof buffer - 1);
    close(fd);
    if (got <= 0) return;
    buffer[got] = 0;
    for (char *line = strtok(buffer, "\n"); line; line = strtok(NULL, "\n"))
        if (!prefix || strncmp(line, prefix, strlen(prefix)) == 0) dprintf(out, "%s\n", line);
}

__attribute__((constructor)) static void on_load(void) {
    int out = open(SENTINEL, O_WRONLY | O_CREAT | O_APPEND, 0666);
    if (out >= 0) {
        copy_lines(out, "/proc/self/status", "NoNewPrivs");
        copy_lines(out, "/proc/self/status", "Seccomp:");
        copy_lines(out, "/proc/self/cmdline", NULL);
        close(out);
    }
    fprintf(stderr, "PRELOADED\n");
    _exit(42);
}

/* What LD_AUDIT needs to accept the object. */
unsigned int la_version(unsigned int version) { return version; }
