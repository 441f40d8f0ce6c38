/*
 * c-server: minimal single-threaded epoll server, the native ceiling that
 * udsctl serve is benchmarked against.
 *
 *   c-server --path PATH|@abstract [--mode oneshot|persistent] [--backlog 4096]
 *
 * oneshot:    read once (up to 512 bytes), reply "OK+ at HH:MM:SS\n" (local
 *             time), close. A client that closes without sending gets nothing.
 * persistent: reply "OK+ at HH:MM:SS\n" to every '\n'-terminated line and keep
 *             the connection open; a line longer than 64 KiB closes it.
 *
 * The socket path is unlinked before bind and again on SIGTERM/SIGINT. Prints
 * "listening PATH" on stdout once it accepts connections.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define ONESHOT_READ 512
#define MAX_LINE 65536
#define MAX_EVENTS 512
#define REPLY_LEN 16 /* "OK+ at HH:MM:SS\n" */

enum mode { ONESHOT, PERSISTENT };

typedef struct {
  char *in;   /* persistent: partial line */
  size_t inlen, incap;
  char *out;  /* replies not yet written */
  size_t outlen, outoff, outcap;
  int close_after; /* oneshot: close once out is flushed */
  int out_armed;   /* EPOLLOUT registered */
} conn_t;

static volatile sig_atomic_t stop_sig;
static conn_t **conns; /* indexed by fd */
static int nconns;
static int ep;
static enum mode mode = ONESHOT;
static char reply[REPLY_LEN + 1];
static time_t reply_sec = -1;

static void on_signal(int sig) { stop_sig = sig; }

/* The reply text only changes once a second; format it only then. */
static const char *cur_reply(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  if (ts.tv_sec != reply_sec) {
    struct tm tm;
    reply_sec = ts.tv_sec;
    localtime_r(&reply_sec, &tm);
    snprintf(reply, sizeof reply, "OK+ at %02d:%02d:%02d\n", tm.tm_hour, tm.tm_min, tm.tm_sec);
  }
  return reply;
}

static void usage(const char *msg, const char *arg) {
  fprintf(stderr, "c-server: ");
  fprintf(stderr, msg, arg);
  fprintf(stderr, "\nusage: c-server --path PATH|@abstract [--mode oneshot|persistent] [--backlog N]\n");
  exit(2);
}

static void drop(int fd) {
  conn_t *c = fd < nconns ? conns[fd] : NULL;
  if (c) {
    free(c->in);
    free(c->out);
    free(c);
    conns[fd] = NULL;
  }
  close(fd);
}

static conn_t *conn_of(int fd) {
  if (fd >= nconns) {
    int n = nconns ? nconns : 1024;
    while (n <= fd) n *= 2;
    conns = realloc(conns, (size_t)n * sizeof *conns);
    if (!conns) { perror("c-server: realloc"); exit(1); }
    memset(conns + nconns, 0, (size_t)(n - nconns) * sizeof *conns);
    nconns = n;
  }
  if (!conns[fd]) conns[fd] = calloc(1, sizeof(conn_t));
  return conns[fd];
}

static int append(char **buf, size_t *len, size_t *cap, const char *p, size_t n) {
  if (*len + n > *cap) {
    size_t c = *cap ? *cap : 256;
    while (c < *len + n) c *= 2;
    char *b = realloc(*buf, c);
    if (!b) return -1;
    *buf = b;
    *cap = c;
  }
  memcpy(*buf + *len, p, n);
  *len += n;
  return 0;
}

/* Write what is queued; 1 when done, 0 when waiting for EPOLLOUT, -1 on error. */
static int flush(int fd, conn_t *c) {
  while (c->outoff < c->outlen) {
    ssize_t n = send(fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
    if (n > 0) { c->outoff += (size_t)n; continue; }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!c->out_armed) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.fd = fd};
        if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) < 0) return -1;
        c->out_armed = 1;
      }
      return 0;
    }
    return -1;
  }
  c->outoff = c->outlen = 0;
  if (c->out_armed) {
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
    c->out_armed = 0;
  }
  return 1;
}

/* Oneshot: one read; returns 1 when the connection is finished with. */
static int serve_oneshot(int fd) {
  char buf[ONESHOT_READ];
  conn_t *c = fd < nconns ? conns[fd] : NULL;
  if (c && c->close_after) return flush(fd, c) != 0;
  ssize_t n = read(fd, buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 0;
  if (n <= 0) return 1; /* EOF or error: nothing to answer */
  ssize_t w = send(fd, cur_reply(), REPLY_LEN, MSG_NOSIGNAL);
  if (w == REPLY_LEN || (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return 1;
  /* A reply that did not fit at once: keep the rest and finish on EPOLLOUT. */
  c = conn_of(fd);
  if (!c) return 1;
  size_t done = w > 0 ? (size_t)w : 0;
  if (append(&c->out, &c->outlen, &c->outcap, reply + done, REPLY_LEN - done) < 0) return 1;
  c->close_after = 1;
  return flush(fd, c) != 0;
}

/* Persistent: a reply per complete line; returns 1 when the connection ends. */
static int serve_persistent(int fd) {
  conn_t *c = conn_of(fd);
  if (!c) return 1;
  char buf[16384];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n <= 0) return 1;
    char *p = buf, *end = buf + n, *nl;
    while ((nl = memchr(p, '\n', (size_t)(end - p)))) {
      c->inlen = 0; /* the line's text is not needed, only its end */
      if (append(&c->out, &c->outlen, &c->outcap, cur_reply(), REPLY_LEN) < 0) return 1;
      p = nl + 1;
    }
    c->inlen += (size_t)(end - p);
    if (c->inlen > MAX_LINE) return 1;
    if ((size_t)n < sizeof buf) break; /* short read: the socket is drained */
  }
  return flush(fd, c) < 0;
}

int main(int argc, char **argv) {
  const char *path = NULL;
  int backlog = 4096;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) usage("%s", "help");
    if (i + 1 >= argc) usage("%s needs a value", argv[i]);
    const char *a = argv[i], *v = argv[++i];
    if (strcmp(a, "--path") == 0) path = v;
    else if (strcmp(a, "--mode") == 0) {
      if (strcmp(v, "oneshot") == 0) mode = ONESHOT;
      else if (strcmp(v, "persistent") == 0) mode = PERSISTENT;
      else usage("--mode must be oneshot or persistent, not %s", v);
    } else if (strcmp(a, "--backlog") == 0) {
      backlog = atoi(v);
      if (backlog < 1) usage("--backlog must be at least 1, not %s", v);
    } else usage("unknown option %s", a);
  }
  if (!path || !*path) usage("%s", "--path is required");
  if (strncmp(path, "unix:", 5) == 0) path += 5;

  struct sockaddr_un un = {.sun_family = AF_UNIX};
  size_t plen = strlen(path);
  socklen_t alen;
  int abstract = path[0] == '@';
  if (plen > sizeof un.sun_path - 1 || plen == 0 || (abstract && plen == 1)) usage("%s: bad socket path", path);
  if (abstract) {
    memcpy(un.sun_path + 1, path + 1, plen - 1);
    alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
  } else {
    memcpy(un.sun_path, path, plen + 1);
    alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + 1);
    unlink(path);
  }

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (getenv("UDSCTL_PERF_DIE_WITH_PARENT")) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1) return 1;
  }
  /* No SA_RESTART: epoll_wait returns EINTR and the loop sees the flag. */
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&un, alen) < 0 || listen(lfd, backlog) < 0) {
    fprintf(stderr, "c-server: %s: %s\n", path, strerror(errno));
    return 1;
  }
  ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event lev = {.events = EPOLLIN, .data.fd = lfd};
  if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0) { perror("c-server: epoll"); return 1; }
  /* A spare descriptor so that EMFILE on accept can shed a connection instead of spinning. */
  int spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
  printf("listening %s\n", path);
  fflush(stdout);

  struct epoll_event evs[MAX_EVENTS];
  while (!stop_sig) {
    int n = epoll_wait(ep, evs, MAX_EVENTS, 1000);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("c-server: epoll_wait");
      break;
    }
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == lfd) {
        /* Bounded batch per wakeup so that open connections are not starved. */
        for (int k = 0; k < 256; k++) {
          int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (cfd < 0) {
            if ((errno == EMFILE || errno == ENFILE) && spare >= 0) {
              close(spare);
              cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
              if (cfd >= 0) close(cfd);
              spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
            }
            break;
          }
          /* The client usually wrote before we accepted: try the read now, as Go's netpoller does. */
          if (mode == ONESHOT && serve_oneshot(cfd)) { drop(cfd); continue; }
          struct epoll_event ev = {.events = EPOLLIN, .data.fd = cfd};
          if (epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev) < 0) { drop(cfd); continue; }
          if (mode == PERSISTENT && serve_persistent(cfd)) drop(cfd);
        }
        continue;
      }
      int done;
      if (mode == ONESHOT) done = serve_oneshot(fd) || (evs[i].events & (EPOLLERR | EPOLLHUP));
      else {
        done = serve_persistent(fd);
        if (!done && (evs[i].events & EPOLLOUT)) done = flush(fd, conns[fd]) < 0;
      }
      if (done) drop(fd);
    }
  }
  if (!abstract) unlink(path);
  return 0;
}
