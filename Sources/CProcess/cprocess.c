#define _GNU_SOURCE
#include "cprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

static void close_from(int first) {
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)first, ~0U, 0) == 0) return;
#endif
    for (int fd = first; fd < 65536; fd++) close(fd);
}

static void reset_signals(void) {
    /* execve resets caught signals but keeps ignored ones ignored (the supervisor ignores
     * SIGPIPE and handles SIGTERM/SIGINT itself): QEMU gets the defaults. */
    static const int defaults[] = {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD};
    struct sigaction action = {0};
    action.sa_handler = SIG_DFL;
    for (unsigned i = 0; i < sizeof defaults / sizeof defaults[0]; i++) sigaction(defaults[i], &action, 0);
}

pid_t cprocess_spawn_gated(const char *path, char *const argv[], char *const envp[], int log_fd,
                           const int *sources, const int *targets, int count,
                           int gate_fd, int status_fd, int new_session) {
    pid_t pid = fork();
    if (pid < 0) return -errno;
    if (pid > 0) return pid;

    /* The child. Callers pass sources above every target, so no dup2 clobbers a source. */
    reset_signals();
    int highest = 2;
    for (int i = 0; i < count; i++) {
        if (dup2(sources[i], targets[i]) < 0) _exit(126);
        if (targets[i] > highest) highest = targets[i];
    }
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0) _exit(126);
    int gate = highest + 1, status = highest + 2;
    if (dup2(gate_fd, gate) < 0 || dup2(status_fd, status) < 0) _exit(126);
    fcntl(status, F_SETFD, FD_CLOEXEC);
    close_from(status + 1);

    char go = 0;
    ssize_t n;
    do { n = read(gate, &go, 1); } while (n < 0 && errno == EINTR);
    if (n != 1 || go != 'g') _exit(125);
    close(gate);

    if (new_session) setsid();
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, 0);
    execve(path, argv, envp);
    int code = errno;
    ssize_t ignored = write(status, &code, sizeof code);
    (void)ignored;
    _exit(127);
}

int cprocess_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC) == 0 ? 0 : -errno;
}
