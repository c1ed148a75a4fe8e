/* A payload for the sandbox tests: code that runs inside `haproxy -c` (as an OpenSSL provider's
 * constructor, or as the "binary" itself) and tries everything the kernel boundary must stop. It reads its
 * targets from files in its working directory (the sandbox folder): `canary` (a path to read), `tcp-port`
 * and `udp-port` (loopback listeners), `spin` (present: loop forever after trying; the program always
 * does). It reports each attempt on stderr as `ATTEMPT <what>=<ok|error>`. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int read_small(const char *name, char *buffer, size_t size) {
    int fd = open(name, O_RDONLY);
    if (fd < 0) return -1;
    ssize_t got = read(fd, buffer, size - 1);
    close(fd);
    if (got < 0) return -1;
    buffer[got] = 0;
    buffer[strcspn(buffer, "\n")] = 0;
    return 0;
}

static void report(const char *what, int ok) {
    fprintf(stderr, "ATTEMPT %s=%s\n", what, ok ? "ok" : strerror(errno));
}

static void attempt_everything(void) {
    char canary[512] = "", port[16] = "";
    if (read_small("canary", canary, sizeof canary) == 0) {
        char content[256] = "";
        int fd = open(canary, O_RDONLY);
        int got = fd >= 0 ? (int)read(fd, content, sizeof content - 1) : -1;
        report("read", got > 0);
        if (got > 0) fprintf(stderr, "LEAK %.*s\n", got, content);
        int dir = open("/", O_RDONLY | O_DIRECTORY);
        report("list-root", dir >= 0);
        int write_fd = open("/tmp/haproxy-guard-payload-wrote", O_WRONLY | O_CREAT, 0644);
        report("write-outside", write_fd >= 0);
    }
    if (read_small("tcp-port", port, sizeof port) == 0) {
        struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(atoi(port))};
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int s = socket(AF_INET, SOCK_STREAM, 0);
        report("tcp-connect", s >= 0 && connect(s, (struct sockaddr *)&address, sizeof address) == 0);
    }
    if (read_small("udp-port", port, sizeof port) == 0) {
        struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(atoi(port))};
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int s = socket(AF_INET, SOCK_DGRAM, 0);
        report("udp-sendto", s >= 0 && sendto(s, "x", 1, 0, (struct sockaddr *)&address, sizeof address) == 1);
        int c = socket(AF_INET, SOCK_DGRAM, 0);
        report("udp-connect", c >= 0 && connect(c, (struct sockaddr *)&address, sizeof address) == 0 && write(c, "x", 1) == 1);
    }
    struct stat host;
    report("stat-host", stat("/etc/shadow", &host) == 0 || stat("/root", &host) == 0);
    /* memory the address-space limit does not count: anonymous files, System V and POSIX shared memory and
     * message queues (which outlive the process), and pipe buffers grown past their default */
    int memfd = (int)syscall(SYS_memfd_create, "pin", 0);
    report("memfd", memfd >= 0 && fallocate(memfd, 0, 0, 64L << 20) == 0);
    int segment = shmget(IPC_PRIVATE, 64L << 20, IPC_CREAT | 0600);
    report("shmget", segment >= 0);
    if (segment >= 0) shmctl(segment, IPC_RMID, NULL);
    int queue = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    report("msgget", queue >= 0);
    if (queue >= 0) msgctl(queue, IPC_RMID, NULL);
    int shm = shm_open("/haproxy-guard-pin", O_RDWR | O_CREAT, 0600);
    report("shm-open", shm >= 0);
    if (shm >= 0) shm_unlink("/haproxy-guard-pin");
    int pipes[2];
    report("pipe-size", pipe(pipes) == 0 && fcntl(pipes[0], F_SETPIPE_SZ, 1 << 20) >= 0);
    char *argv[] = {"/bin/sh", "-c", "touch /tmp/haproxy-guard-payload-exec", NULL};
    execve("/bin/sh", argv, NULL);
    report("exec", 0);
    pid_t child = fork();
    if (child == 0) {
        setsid();
        for (;;) pause();
    }
    report("fork", child > 0);
    report("setsid", setsid() >= 0);
    pid_t parent = getppid(); /* 0 in a PID namespace of its own: the parent is not even visible */
    report("kill-parent", parent > 0 && kill(parent, 0) == 0);
    fflush(stderr);
    struct stat info;
    if (stat("spin", &info) == 0)
        for (;;) {
        }
}

#ifdef AS_PROVIDER
/* Built with -DAS_PROVIDER -shared: runs when OpenSSL dlopens it for `ssl-provider`. */
__attribute__((constructor)) static void on_load(void) { attempt_everything(); }
int OSSL_provider_init(void) { return 0; }
#else
/* Built as a program: stands in for a validator binary that misbehaves, then never finishes. */
int main(void) {
    attempt_everything();
    for (;;) {
    }
}
#endif
