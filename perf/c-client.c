/*
 * c-client: native load client for the udsctl benchmark harness.
 *
 *   c-client --path TARGET [--mode oneshot|persistent] [--threads T]
 *            [--connections C] [--duration 3s] [--payload TEXT]
 *            [--timeout 2s] [--requests N] [--expect PREFIX] [--half-close]
 *
 * TARGET is written as udsctl writes it: a socket path, unix:PATH, @abstract,
 * host:port or tcp://host:port.
 *
 * oneshot:    every request is socket()+connect()+write(payload)+read to EOF
 *             +close(); latency runs from the first connect() attempt (so
 *             backlog waits are included) to end-of-file.
 * persistent: C connections stay open; every request writes the payload (a
 *             '\n' is appended when missing) and reads up to '\n'; latency
 *             runs from write() to the newline. Connection setup is not timed.
 *
 * C connections are spread over T threads, each running an edge-triggered
 * epoll loop over its share. Prints one JSON line on stdout:
 *   {"requests":N,"errors":E,"seconds":S,"rps":R,"p50_us":..,"p90_us":..,
 *    "p99_us":..,"max_us":.., ...}
 * Exit status: 0 when at least one request succeeded, 1 when none did (the
 * JSON line is still printed), 2 on a usage error.
 *
 * Every wait is bounded: the run stops at --duration, a request that takes
 * longer than --timeout is an error, and a watchdog alarm ends the process
 * if a thread ever fails to come back.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
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

#define NS_PER_US 1000ULL
#define NS_PER_MS 1000000ULL
#define NS_PER_S 1000000000ULL
/* Exact 1 us buckets below this; slower samples are kept as exact values. */
#define LINEAR_US 100000u
#define RBUF 4096
#define MAX_EVENTS 256
#define SCAN_NS (5 * NS_PER_MS)
#define BACKOFF_MIN_NS (50 * NS_PER_US)
#define BACKOFF_MAX_NS (1 * NS_PER_MS)
#define REFUSED_BACKOFF_NS (1 * NS_PER_MS)

enum mode { ONESHOT, PERSISTENT };
enum state { S_BACKOFF, S_CONNECTING, S_WRITING, S_READING, S_DONE };
enum err_kind { E_CONNECT, E_TIMEOUT, E_RESET, E_EOF, E_MISMATCH, E_OTHER, E_KINDS };
static const char *const err_names[E_KINDS] = {"connect", "timeout", "reset", "eof", "mismatch", "other"};

static struct {
  struct sockaddr_storage addr;
  socklen_t addrlen;
  int family;
  enum mode mode;
  const char *target;
  const char *payload;
  size_t plen;
  const char *expect;
  size_t expect_len;
  int half_close;
  int threads;
  int connections;
  double duration_s;
  uint64_t timeout_ns;
  uint64_t max_requests; /* 0: no cap */
  uint64_t start_ns;
  uint64_t end_ns;
} cfg;

static atomic_uint_fast64_t issued;

typedef struct {
  uint64_t *buckets; /* LINEAR_US counters */
  uint32_t *slow;    /* exact values >= LINEAR_US */
  size_t nslow, capslow;
  uint64_t count, sum_us, max_us;
} hist_t;

typedef struct {
  int fd;
  enum state st;
  uint64_t t_start;  /* start of the timed request, ns */
  uint64_t deadline; /* ns; request or connect gives up after it */
  uint64_t retry_at; /* ns; when in S_BACKOFF */
  uint64_t backoff;  /* current EAGAIN backoff, ns */
  int timing;        /* oneshot: t_start already set by an earlier EAGAIN try */
  int queued;        /* in the worker's ready list */
  uint32_t reg;      /* epoll events registered; 0 when not in the set */
  size_t woff;
  size_t rlen;       /* reply bytes seen */
  char rbuf[RBUF];   /* first RBUF bytes of the reply */
} slot_t;

typedef struct {
  pthread_t tid;
  int ep;
  int nslots;
  int active;
  slot_t *slots;
  slot_t **ready; /* slots to start on the next turn */
  int nready;
  uint64_t next_retry;
  hist_t h;
  uint64_t errors[E_KINDS];
  uint64_t connect_retries;
  uint64_t finished_ns;
} worker_t;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static void die_usage(const char *fmt, const char *arg) {
  fprintf(stderr, "c-client: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr,
          "\nusage: c-client --path TARGET [--mode oneshot|persistent] [--threads T] [--connections C]\n"
          "                [--duration 3s] [--payload TEXT] [--timeout 2s] [--requests N]\n"
          "                [--expect PREFIX] [--half-close]\n");
  exit(2);
}

/* "3", "2.5", "2.5s", "500ms", "750us" -> seconds; negative when malformed. */
static double parse_seconds(const char *s) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || v < 0) return -1;
  if (*end == 0 || strcmp(end, "s") == 0) return v;
  if (strcmp(end, "ms") == 0) return v / 1e3;
  if (strcmp(end, "us") == 0) return v / 1e6;
  return -1;
}

static long parse_count(const char *s, const char *flag) {
  char *end;
  long v = strtol(s, &end, 10);
  if (end == s || *end || v < 1) die_usage("%s must be a whole number of at least 1", flag);
  return v;
}

static void resolve_target(const char *t) {
  const char *hp = NULL;
  if (strncmp(t, "tcp://", 6) == 0) hp = t + 6;
  else if (strncmp(t, "unix:", 5) == 0) t += 5;
  else if (!strchr(t, '/') && t[0] != '@') {
    /* host:port when it looks like one and no such file name is meant */
    const char *c = strrchr(t, ':');
    if (c && c[1] && strspn(c + 1, "0123456789") == strlen(c + 1)) hp = t;
  }
  if (hp) {
    char host[256];
    const char *c = strrchr(hp, ':');
    if (!c || (size_t)(c - hp) >= sizeof host) die_usage("%s: expected host:port", hp);
    memcpy(host, hp, (size_t)(c - hp));
    host[c - hp] = 0;
    char *h = host;
    size_t hl = strlen(h);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') { h[hl - 1] = 0; h++; }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    int rc = getaddrinfo(h, c + 1, &hints, &res);
    if (rc != 0) die_usage("%s: cannot resolve", hp);
    memcpy(&cfg.addr, res->ai_addr, res->ai_addrlen);
    cfg.addrlen = res->ai_addrlen;
    cfg.family = res->ai_family;
    freeaddrinfo(res);
    return;
  }
  struct sockaddr_un *un = (struct sockaddr_un *)&cfg.addr;
  un->sun_family = AF_UNIX;
  cfg.family = AF_UNIX;
  size_t n = strlen(t);
  if (n == 0) die_usage("%s: socket path is empty", t);
  if (t[0] == '@') {
    /* Linux abstract name: leading NUL, length counts exactly the name bytes */
    if (n - 1 > sizeof un->sun_path - 1 || n == 1) die_usage("%s: bad abstract name", t);
    un->sun_path[0] = 0;
    memcpy(un->sun_path + 1, t + 1, n - 1);
    cfg.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
  } else {
    if (n > sizeof un->sun_path - 1) die_usage("%s: socket path longer than 107 bytes", t);
    memcpy(un->sun_path, t, n + 1);
    cfg.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
  }
}

static void hist_add(hist_t *h, uint64_t us) {
  h->count++;
  h->sum_us += us;
  if (us > h->max_us) h->max_us = us;
  if (us < LINEAR_US) { h->buckets[us]++; return; }
  if (h->nslow == h->capslow) {
    h->capslow = h->capslow ? h->capslow * 2 : 1024;
    h->slow = realloc(h->slow, h->capslow * sizeof *h->slow);
    if (!h->slow) { perror("c-client: realloc"); _exit(1); }
  }
  h->slow[h->nslow++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

/* Nearest-rank percentile over the merged histogram (slow[] sorted). */
static uint64_t hist_pct(const hist_t *h, double p) {
  uint64_t rank = (uint64_t)((p / 100.0) * (double)h->count + 0.999999999);
  if (rank < 1) rank = 1;
  if (rank > h->count) rank = h->count;
  uint64_t seen = 0;
  for (uint32_t i = 0; i < LINEAR_US; i++) {
    seen += h->buckets[i];
    if (seen >= rank) return i;
  }
  return h->slow[rank - seen - 1];
}

static void close_slot(slot_t *s) {
  if (s->fd >= 0) close(s->fd); /* close() also drops it from the epoll set */
  s->fd = -1;
  s->reg = 0;
}

/*
 * Slots never restart from inside an event handler: they are queued and
 * started from the loop, so a peer that fails every request synchronously
 * cannot recurse without bound.
 */
static void schedule(worker_t *w, slot_t *s, uint64_t at, uint64_t now) {
  s->st = S_BACKOFF;
  s->retry_at = at;
  if (at <= now) {
    if (!s->queued) { s->queued = 1; w->ready[w->nready++] = s; }
  } else if (at < w->next_retry) {
    w->next_retry = at;
  }
}

/* Register (or widen) the fd's edge-triggered interest; bits are only ever added. */
static int want(worker_t *w, slot_t *s, uint32_t bits) {
  bits |= EPOLLIN | EPOLLRDHUP | EPOLLET;
  if (s->reg && (s->reg & bits) == bits) return 0;
  struct epoll_event ev = {.events = s->reg | bits, .data.ptr = s};
  if (epoll_ctl(w->ep, s->reg ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s->fd, &ev) < 0) return -1;
  s->reg = ev.events;
  return 0;
}

static enum err_kind classify(int e) {
  switch (e) {
    case ECONNRESET: case EPIPE: case ECONNABORTED: return E_RESET;
    case ETIMEDOUT: return E_TIMEOUT;
    default: return E_OTHER;
  }
}

/* A failed request counts once; oneshot starts afresh, persistent reconnects. */
static void fail(worker_t *w, slot_t *s, enum err_kind k, uint64_t now) {
  w->errors[k]++;
  close_slot(s);
  s->timing = 0;
  /* No listener (ECONNREFUSED/ENOENT): wait a little instead of spinning. */
  schedule(w, s, k == E_CONNECT ? now + REFUSED_BACKOFF_NS : now, now);
}

static void complete(worker_t *w, slot_t *s, uint64_t now) {
  if (s->rlen == 0) { fail(w, s, E_EOF, now); return; }
  if (cfg.expect_len) {
    size_t have = s->rlen < RBUF ? s->rlen : RBUF;
    if (have < cfg.expect_len || memcmp(s->rbuf, cfg.expect, cfg.expect_len) != 0) {
      fail(w, s, E_MISMATCH, now);
      return;
    }
  }
  hist_add(&w->h, (now - s->t_start + NS_PER_US / 2) / NS_PER_US);
  if (cfg.mode == ONESHOT) close_slot(s);
  schedule(w, s, now, now);
}

static void on_writable(worker_t *w, slot_t *s, uint64_t now) {
  while (s->woff < cfg.plen) {
    ssize_t n = send(s->fd, cfg.payload + s->woff, cfg.plen - s->woff, MSG_NOSIGNAL);
    if (n > 0) { s->woff += (size_t)n; continue; }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (want(w, s, EPOLLOUT) < 0) fail(w, s, E_OTHER, now); /* the EPOLLOUT edge resumes */
      return;
    }
    fail(w, s, classify(errno), now);
    return;
  }
  if (cfg.half_close && cfg.mode == ONESHOT) shutdown(s->fd, SHUT_WR);
  s->st = S_READING;
  /* Registering after the write: if the reply is already queued, ADD reports it. */
  if (want(w, s, 0) < 0) fail(w, s, E_OTHER, now);
}

static void on_readable(worker_t *w, slot_t *s, uint64_t now) {
  char tmp[RBUF];
  for (;;) {
    ssize_t n = read(s->fd, tmp, sizeof tmp);
    if (n > 0) {
      size_t room = s->rlen < RBUF ? RBUF - s->rlen : 0;
      memcpy(s->rbuf + s->rlen, tmp, (size_t)n < room ? (size_t)n : room);
      s->rlen += (size_t)n;
      if (cfg.mode == PERSISTENT) {
        char *nl = memchr(tmp, '\n', (size_t)n);
        if (nl) {
          /* We never pipeline, so bytes after the newline are a protocol error. */
          if (nl != tmp + n - 1) { fail(w, s, E_OTHER, now); return; }
          complete(w, s, now);
          return;
        }
      }
      continue;
    }
    if (n == 0) {
      if (cfg.mode == ONESHOT) complete(w, s, now);
      else fail(w, s, E_EOF, now); /* server closed before the newline */
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return; /* edge-triggered: drained */
    fail(w, s, classify(errno), now);
    return;
  }
}

static void begin_write(worker_t *w, slot_t *s, uint64_t now) {
  s->st = S_WRITING;
  s->woff = 0;
  s->rlen = 0;
  s->deadline = s->t_start + cfg.timeout_ns;
  on_writable(w, s, now);
}

static void connected(worker_t *w, slot_t *s, uint64_t now) {
  s->backoff = 0;
  s->timing = 0;
  if (cfg.mode == PERSISTENT) s->t_start = now; /* persistent: connect is not timed */
  begin_write(w, s, now);
}

static void open_conn(worker_t *w, slot_t *s, uint64_t now) {
  int fd = socket(cfg.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) { /* EMFILE and friends: back off rather than spin */
    w->errors[E_OTHER]++;
    s->timing = 0;
    schedule(w, s, now + REFUSED_BACKOFF_NS, now);
    return;
  }
  if (cfg.family != AF_UNIX) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  s->fd = fd;
  if (cfg.mode == ONESHOT && !s->timing) { s->t_start = now; s->timing = 1; }
  if (connect(fd, (struct sockaddr *)&cfg.addr, cfg.addrlen) == 0) { connected(w, s, now); return; }
  if (errno == EINPROGRESS) { /* TCP: completes on EPOLLOUT */
    s->st = S_CONNECTING;
    s->deadline = now + cfg.timeout_ns;
    if (want(w, s, EPOLLOUT) < 0) fail(w, s, E_OTHER, now);
    return;
  }
  if (errno == EAGAIN) {
    /* AF_UNIX listen backlog full: retry with backoff; oneshot keeps its start time. */
    w->connect_retries++;
    close_slot(s);
    s->backoff = s->backoff ? s->backoff * 2 : BACKOFF_MIN_NS;
    if (s->backoff > BACKOFF_MAX_NS) s->backoff = BACKOFF_MAX_NS;
    if (cfg.mode == ONESHOT && now - s->t_start > cfg.timeout_ns) { fail(w, s, E_TIMEOUT, now); return; }
    schedule(w, s, now + s->backoff, now);
    return;
  }
  fail(w, s, E_CONNECT, now);
}

static void finish_slot(worker_t *w, slot_t *s) {
  close_slot(s);
  s->st = S_DONE;
  w->active--;
}

static void start_request(worker_t *w, slot_t *s, uint64_t now) {
  if (now >= cfg.end_ns) { finish_slot(w, s); return; }
  int first_try = !(cfg.mode == ONESHOT && s->timing);
  if (first_try && cfg.max_requests && atomic_fetch_add(&issued, 1) >= cfg.max_requests) {
    finish_slot(w, s);
    return;
  }
  if (cfg.mode == PERSISTENT && s->fd >= 0) {
    s->t_start = now;
    begin_write(w, s, now);
    return;
  }
  open_conn(w, s, now);
}

static void on_event(worker_t *w, slot_t *s, uint32_t events, uint64_t now) {
  if (s->st == S_CONNECTING) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = 0;
    socklen_t l = sizeof err;
    getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &l);
    if (err) { fail(w, s, E_CONNECT, now); return; }
    connected(w, s, now);
    return;
  }
  if (s->st == S_WRITING) on_writable(w, s, now);
  if (s->st == S_READING && s->fd >= 0) on_readable(w, s, now);
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  struct epoll_event evs[MAX_EVENTS];
  uint64_t now = now_ns();
  w->next_retry = UINT64_MAX;
  for (int i = 0; i < w->nslots; i++) schedule(w, &w->slots[i], now, now);
  uint64_t last_scan = now;
  while (w->active > 0) {
    now = now_ns();
    if (now >= cfg.end_ns) break;
    /* Start the queued slots; ones queued meanwhile wait for the next turn. */
    int n0 = w->nready;
    for (int i = 0; i < n0; i++) {
      slot_t *s = w->ready[i];
      s->queued = 0;
      if (s->st == S_BACKOFF) start_request(w, s, now);
    }
    memmove(w->ready, w->ready + n0, (size_t)(w->nready - n0) * sizeof *w->ready);
    w->nready -= n0;
    if (w->active == 0) break;

    uint64_t wake = last_scan + SCAN_NS;
    if (w->next_retry < wake) wake = w->next_retry;
    if (cfg.end_ns < wake) wake = cfg.end_ns;
    uint64_t wait_ns = w->nready ? 0 : wake > now ? wake - now : 0;
    struct timespec ts = {.tv_sec = (time_t)(wait_ns / NS_PER_S), .tv_nsec = (long)(wait_ns % NS_PER_S)};
    int n = epoll_pwait2(w->ep, evs, MAX_EVENTS, &ts, NULL);
    if (n < 0 && errno == ENOSYS)
      n = epoll_wait(w->ep, evs, MAX_EVENTS, (int)((wait_ns + NS_PER_MS - 1) / NS_PER_MS));
    if (n < 0 && errno != EINTR) { perror("c-client: epoll_wait"); break; }
    now = now_ns();
    for (int i = 0; i < n; i++) {
      slot_t *s = evs[i].data.ptr;
      if (s->fd >= 0 && s->st != S_DONE && s->st != S_BACKOFF) on_event(w, s, evs[i].events, now);
    }
    if (now - last_scan >= SCAN_NS || now >= w->next_retry) {
      last_scan = now;
      w->next_retry = UINT64_MAX;
      for (int i = 0; i < w->nslots; i++) {
        slot_t *s = &w->slots[i];
        if (s->st == S_BACKOFF) schedule(w, s, s->retry_at, now);
        else if ((s->st == S_CONNECTING || s->st == S_WRITING || s->st == S_READING) && now > s->deadline)
          fail(w, s, E_TIMEOUT, now);
      }
    }
  }
  /* Requests still in flight at the end are neither successes nor errors. */
  for (int i = 0; i < w->nslots; i++) close_slot(&w->slots[i]);
  w->finished_ns = now_ns();
  return NULL;
}

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "c-client: watchdog: run did not finish in time\n";
  ssize_t r = write(2, msg, sizeof msg - 1);
  (void)r;
  _exit(1);
}

static void json_str(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c < 0x20) printf("\\u%04x", c);
    else putchar(c);
  }
  putchar('"');
}

int main(int argc, char **argv) {
  cfg.mode = ONESHOT;
  cfg.threads = 1;
  cfg.connections = 0;
  cfg.duration_s = 3;
  cfg.timeout_ns = 2 * NS_PER_S;
  cfg.payload = "ping";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--half-close") == 0) { cfg.half_close = 1; continue; }
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) die_usage("%s", "help");
    if (i + 1 >= argc) die_usage("%s needs a value", a);
    const char *v = argv[++i];
    if (strcmp(a, "--path") == 0) cfg.target = v;
    else if (strcmp(a, "--mode") == 0) {
      if (strcmp(v, "oneshot") == 0) cfg.mode = ONESHOT;
      else if (strcmp(v, "persistent") == 0) cfg.mode = PERSISTENT;
      else die_usage("--mode must be oneshot or persistent, not %s", v);
    } else if (strcmp(a, "--threads") == 0) cfg.threads = (int)parse_count(v, a);
    else if (strcmp(a, "--connections") == 0) cfg.connections = (int)parse_count(v, a);
    else if (strcmp(a, "--requests") == 0) cfg.max_requests = (uint64_t)parse_count(v, a);
    else if (strcmp(a, "--payload") == 0) cfg.payload = v;
    else if (strcmp(a, "--expect") == 0) cfg.expect = v;
    else if (strcmp(a, "--duration") == 0) {
      cfg.duration_s = parse_seconds(v);
      if (cfg.duration_s <= 0 || cfg.duration_s > 3600) die_usage("--duration must be a duration like 3s or 500ms, up to 1h, not %s", v);
    } else if (strcmp(a, "--timeout") == 0) {
      double t = parse_seconds(v);
      if (t <= 0 || t > 600) die_usage("--timeout must be a duration like 2s or 500ms, up to 600s, not %s", v);
      cfg.timeout_ns = (uint64_t)(t * 1e9);
    } else die_usage("unknown option %s", a);
  }
  if (!cfg.target) die_usage("%s", "--path is required");
  resolve_target(cfg.target);
  if (cfg.connections == 0) cfg.connections = cfg.threads;
  if (cfg.threads > cfg.connections) cfg.threads = cfg.connections;

  size_t plen = strlen(cfg.payload);
  if (cfg.mode == PERSISTENT) {
    const char *nl = memchr(cfg.payload, '\n', plen);
    if (nl && nl != cfg.payload + plen - 1) die_usage("%s", "--payload may hold a newline only at its end in persistent mode");
    if (!nl) {
      char *p = malloc(plen + 2);
      memcpy(p, cfg.payload, plen);
      p[plen++] = '\n';
      p[plen] = 0;
      cfg.payload = p;
    }
  }
  if (plen == 0) die_usage("%s", "--payload must not be empty");
  cfg.plen = plen;
  if (cfg.expect) cfg.expect_len = strlen(cfg.expect);
  if (cfg.expect_len > RBUF) die_usage("%s", "--expect is longer than 4096 bytes");

  /* Many connections need many descriptors; take what the hard limit allows. */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (getenv("UDSCTL_PERF_DIE_WITH_PARENT")) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1) return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGALRM, on_alarm);
  alarm((unsigned)(cfg.duration_s + (double)cfg.timeout_ns / 1e9 + 10));

  worker_t *ws = calloc((size_t)cfg.threads, sizeof *ws);
  cfg.start_ns = now_ns();
  cfg.end_ns = cfg.start_ns + (uint64_t)(cfg.duration_s * 1e9);
  for (int t = 0; t < cfg.threads; t++) {
    worker_t *w = &ws[t];
    w->nslots = cfg.connections / cfg.threads + (t < cfg.connections % cfg.threads);
    w->active = w->nslots;
    w->slots = calloc((size_t)w->nslots, sizeof *w->slots);
    /* Twice the slots: while a turn drains its share, each slot may queue once more. */
    w->ready = calloc(2 * (size_t)w->nslots, sizeof *w->ready);
    w->h.buckets = calloc(LINEAR_US, sizeof *w->h.buckets);
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    if (!w->slots || !w->ready || !w->h.buckets || w->ep < 0) { perror("c-client: setup"); return 1; }
    for (int i = 0; i < w->nslots; i++) w->slots[i].fd = -1;
    if (pthread_create(&w->tid, NULL, worker_main, w) != 0) { perror("c-client: pthread_create"); return 1; }
  }

  hist_t all = {.buckets = calloc(LINEAR_US, sizeof(uint64_t))};
  uint64_t errors[E_KINDS] = {0}, retries = 0, finished = cfg.start_ns;
  for (int t = 0; t < cfg.threads; t++) {
    worker_t *w = &ws[t];
    pthread_join(w->tid, NULL);
    for (uint32_t i = 0; i < LINEAR_US; i++) all.buckets[i] += w->h.buckets[i];
    all.count += w->h.count;
    all.sum_us += w->h.sum_us;
    if (w->h.max_us > all.max_us) all.max_us = w->h.max_us;
    if (w->h.nslow) {
      all.slow = realloc(all.slow, (all.nslow + w->h.nslow) * sizeof *all.slow);
      memcpy(all.slow + all.nslow, w->h.slow, w->h.nslow * sizeof *all.slow);
      all.nslow += w->h.nslow;
    }
    for (int k = 0; k < E_KINDS; k++) errors[k] += w->errors[k];
    retries += w->connect_retries;
    if (w->finished_ns > finished) finished = w->finished_ns;
  }
  alarm(0);
  if (all.nslow) qsort(all.slow, all.nslow, sizeof *all.slow, cmp_u32);

  uint64_t nerr = 0;
  for (int k = 0; k < E_KINDS; k++) nerr += errors[k];
  double secs = (double)(finished - cfg.start_ns) / 1e9;
  printf("{\"requests\":%llu,\"errors\":%llu,\"seconds\":%.3f,\"rps\":%.1f",
         (unsigned long long)all.count, (unsigned long long)nerr, secs, secs > 0 ? (double)all.count / secs : 0.0);
  if (all.count) {
    printf(",\"p50_us\":%llu,\"p90_us\":%llu,\"p99_us\":%llu,\"p999_us\":%llu,\"max_us\":%llu,\"mean_us\":%.1f",
           (unsigned long long)hist_pct(&all, 50), (unsigned long long)hist_pct(&all, 90),
           (unsigned long long)hist_pct(&all, 99), (unsigned long long)hist_pct(&all, 99.9),
           (unsigned long long)all.max_us, (double)all.sum_us / (double)all.count);
  } else {
    printf(",\"p50_us\":null,\"p90_us\":null,\"p99_us\":null,\"p999_us\":null,\"max_us\":null,\"mean_us\":null");
  }
  printf(",\"connect_retries\":%llu,\"error_kinds\":{", (unsigned long long)retries);
  for (int k = 0; k < E_KINDS; k++) printf("%s\"%s\":%llu", k ? "," : "", err_names[k], (unsigned long long)errors[k]);
  printf("},\"mode\":\"%s\",\"threads\":%d,\"connections\":%d,\"target\":",
         cfg.mode == ONESHOT ? "oneshot" : "persistent", cfg.threads, cfg.connections);
  json_str(cfg.target);
  printf("}\n");
  fflush(stdout);
  return all.count > 0 ? 0 : 1;
}
