#ifndef IGVM_MGR_CPROCESS_H
#define IGVM_MGR_CPROCESS_H

#include <sys/types.h>

/* Forks a child that is held at a gate before it executes `path`.
 *
 * The child moves `sources[i]` onto `targets[i]`, sends stdin to /dev/null and stdout/stderr
 * to `log_fd`, closes every other descriptor (so it holds no lock or pipe of its parent while
 * it waits), then blocks reading one byte from `gate_fd`. On "g" it starts a new session when
 * `new_session` is set, unblocks every signal and calls execve(path, argv, envp); on end of
 * file (the parent died or gave up) it exits 125 without running anything. If execve fails
 * its errno is written to `status_fd` (close-on-exec, so end of file there means the exec
 * happened).
 *
 * Everything the child touches was prepared by the caller: between fork and execve only
 * async-signal-safe calls are made (fork(2) in a multi-threaded process).
 *
 * Returns the child's pid, or -errno when fork fails. */
pid_t cprocess_spawn_gated(const char *path, char *const argv[], char *const envp[], int log_fd,
                           const int *sources, const int *targets, int count,
                           int gate_fd, int status_fd, int new_session);

/* pipe2(fds, O_CLOEXEC): both ends close-on-exec from the start (glibc declares pipe2 only
 * under _GNU_SOURCE, which Swift's Glibc module does not set). Returns 0 or -errno. */
int cprocess_pipe_cloexec(int fds[2]);

#endif
