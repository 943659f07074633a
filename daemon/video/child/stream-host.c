/*
 * vigil-stream-host: the processes isolated streams decode in (docs/process-isolation.md).
 *
 * One server per vigild. It loads GStreamer once and, for each stream vigild starts, loads the
 * plugins of the stream's pipeline and forks a process that runs that pipeline alone. A forked
 * process shares every page the server has written (libav's and GStreamer's relocated libraries,
 * the plugin registry) until it writes them itself, so an isolated stream costs about what its
 * pipeline allocates, where a process started from scratch (Node, or gst-launch) paid 16-25 MB of
 * its own first. A crash in one stream's process ends that process alone.
 *
 * The server is single-threaded (no GLib main loop: its child watch would start GLib's worker
 * thread) so that fork() copies no lock held by another thread.
 *
 * stdin, from vigild: frames of a 4-byte little-endian length and a payload of NUL-terminated fields:
 *   start ID DESCRIPTION DIR NSOCKETS SOCKET... NSECRETS (ELEMENT PROPERTY VALUE)...
 *   signal ID SIGNO           (only to a process not yet reaped, so never to a reused pid)
 * The pipeline and its credentials come this way, never in argv or the environment, which other
 * local users can read in /proc.
 * stdout, to vigild: one line per message, each written with one write(2) under PIPE_BUF, so the
 * server's lines and its processes' lines never interleave:
 *   spawned ID PID | ready ID | eos ID | error ID ELEMENT MESSAGE (ELEMENT "-": none) | exit ID PID code N | exit ID PID signal N
 * stdin's end (vigild ended, even by SIGKILL) ends every stream process and then the server.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <gst/gst.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_FRAME (1u << 20)
#define MAX_LINE 3800 /* under PIPE_BUF (4096): one write(2) is atomic */
#define MAX_STREAMS 1024
/* How long the shmsinks may take to create their sockets once PLAYING is asked for. */
#define SOCKETS_MS 10000
/* After stdin's end: how long stream processes get to stop cleanly before SIGKILL. */
#define DRAIN_MS 2000

struct stream { unsigned long id; pid_t pid; char *dir; };

static struct stream streams[MAX_STREAMS];
static int sigchld_pipe[2] = { -1, -1 };

/* One message line to vigild: formatted, newlines flattened, cut to MAX_LINE, one write(2). */
static void say(const char *fmt, ...) {
  char line[MAX_LINE + 2];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, MAX_LINE, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n >= MAX_LINE) n = MAX_LINE - 1;
  for (int i = 0; i < n; i++) if (line[i] == '\n' || line[i] == '\r') line[i] = ' ';
  line[n++] = '\n';
  ssize_t w;
  do w = write(STDOUT_FILENO, line, (size_t) n); while (w < 0 && errno == EINTR);
}

/* ------------------------------------------------------------------------------------------- */
/* A stream process: runs one pipeline until vigild stops it or it fails. */

static GstElement *pipeline;
static GMainLoop *loop;
static unsigned long my_id;
static char **my_sockets;
static int my_nsockets;
static gint64 sockets_deadline;

static void finish(int code) {
  /* shmsink unlinks its shared areas when it stops. */
  if (pipeline != NULL) gst_element_set_state(pipeline, GST_STATE_NULL);
  _exit(code);
}

static gboolean on_bus(GstBus *bus, GstMessage *msg, gpointer data) {
  (void) bus; (void) data;
  switch (GST_MESSAGE_TYPE(msg)) {
    case GST_MESSAGE_ERROR: {
      GError *err = NULL;
      gst_message_parse_error(msg, &err, NULL);
      const char *src = GST_MESSAGE_SRC(msg) != NULL ? GST_OBJECT_NAME(GST_MESSAGE_SRC(msg)) : NULL;
      say("error %lu %s %s", my_id, src != NULL && src[0] != '\0' ? src : "-", err != NULL ? err->message : "unknown GStreamer error");
      g_clear_error(&err);
      finish(1);
      break;
    }
    case GST_MESSAGE_EOS:
      /* vigild decides what an end means (a loop, or the stream ended) and stops this process. */
      say("eos %lu", my_id);
      break;
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

/* shmsink creates its socket when it starts (READY → PAUSED); there is no bus message for it. */
static gboolean check_sockets(gpointer data) {
  (void) data;
  struct stat st;
  int all = 1;
  for (int i = 0; i < my_nsockets && all; i++) all = stat(my_sockets[i], &st) == 0;
  if (all) {
    say("ready %lu", my_id);
    return G_SOURCE_REMOVE;
  }
  if (g_get_monotonic_time() > sockets_deadline) {
    say("error %lu - the shared-memory sockets did not appear within %d ms", my_id, SOCKETS_MS);
    finish(1);
  }
  return G_SOURCE_CONTINUE;
}

static gboolean on_term(gpointer data) {
  (void) data;
  finish(0);
  return G_SOURCE_REMOVE;
}

struct secret { const char *element, *property, *value; };

static void run_stream(unsigned long id, const char *description, char **sockets, int nsockets, const struct secret *secrets, int nsecrets, pid_t server) {
  /* A stream process never outlives the server (nor, through it, vigild). */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != server) _exit(1);
  prctl(PR_SET_NAME, "vigil-stream");
  signal(SIGCHLD, SIG_DFL);
  close(sigchld_pipe[0]);
  close(sigchld_pipe[1]);
  int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0) { dup2(devnull, STDIN_FILENO); close(devnull); }
  my_id = id;
  my_sockets = sockets;
  my_nsockets = nsockets;

  GError *err = NULL;
  pipeline = gst_parse_launch(description, &err);
  if (pipeline == NULL || err != NULL) {
    say("error %lu - %s", id, err != NULL ? err->message : "could not create the pipeline");
    _exit(1);
  }
  for (int i = 0; i < nsecrets; i++) {
    GstElement *el = gst_bin_get_by_name(GST_BIN(pipeline), secrets[i].element);
    if (el == NULL || g_object_class_find_property(G_OBJECT_GET_CLASS(el), secrets[i].property) == NULL) {
      say("error %lu - pipeline has no element \"%s\" with a property \"%s\"", id, secrets[i].element, secrets[i].property);
      finish(1);
    }
    gst_util_set_object_arg(G_OBJECT(el), secrets[i].property, secrets[i].value);
    gst_object_unref(el);
  }
  loop = g_main_loop_new(NULL, FALSE);
  GstBus *bus = gst_element_get_bus(pipeline);
  gst_bus_add_watch(bus, on_bus, NULL);
  gst_object_unref(bus);
  g_unix_signal_add(SIGTERM, on_term, NULL);
  /* A failure to play is posted on the bus as an error, which on_bus reports. */
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  sockets_deadline = g_get_monotonic_time() + (gint64) SOCKETS_MS * 1000;
  g_timeout_add(5, check_sockets, NULL);
  g_main_loop_run(loop);
  finish(0);
}

/* ------------------------------------------------------------------------------------------- */
/* The server. */

static void on_sigchld(int sig) {
  (void) sig;
  int saved = errno;
  ssize_t w = write(sigchld_pipe[1], "c", 1);
  (void) w;
  errno = saved;
}

/* A dead process's shared areas ("/dev/shm/shmpipe.%5d.%5d": pid, index) and socket directory:
 * one killed or crashed never stopped its shmsinks, and each area would keep its pages until reboot. */
static void clean_after(pid_t pid, const char *dir) {
  DIR *d = opendir("/dev/shm");
  if (d != NULL) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      const char *p = e->d_name;
      if (strncmp(p, "shmpipe.", 8) != 0) continue;
      p += 8;
      while (*p == ' ') p++;
      char *end;
      long n = strtol(p, &end, 10);
      if (end != p && *end == '.' && n == (long) pid) {
        char path[300];
        snprintf(path, sizeof path, "/dev/shm/%s", e->d_name);
        unlink(path);
      }
    }
    closedir(d);
  }
  if (dir == NULL || dir[0] == '\0') return;
  d = opendir(dir);
  if (d != NULL) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
      char path[4200];
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      unlink(path);
    }
    closedir(d);
    rmdir(dir);
  }
}

static int reap(void) {
  int status, live = 0;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (int i = 0; i < MAX_STREAMS; i++) {
      if (streams[i].pid != pid) continue;
      clean_after(pid, streams[i].dir);
      if (WIFSIGNALED(status)) say("exit %lu %d signal %d", streams[i].id, (int) pid, WTERMSIG(status));
      else say("exit %lu %d code %d", streams[i].id, (int) pid, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
      streams[i].pid = 0;
      g_free(streams[i].dir);
      streams[i].dir = NULL;
      break;
    }
  }
  for (int i = 0; i < MAX_STREAMS; i++) live += streams[i].pid != 0;
  return live;
}

static int read_full(int fd, void *buf, size_t len) {
  size_t got = 0;
  while (got < len) {
    ssize_t r = read(fd, (char *) buf + got, len - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    got += (size_t) r;
  }
  return 0;
}

/* The frame's NUL-terminated fields, in place; NULL once they run out. */
struct fields { char *p, *end; };
static char *next_field(struct fields *f) {
  if (f->p >= f->end) return NULL;
  char *s = f->p;
  char *nul = memchr(s, '\0', (size_t) (f->end - s));
  if (nul == NULL) return NULL;
  f->p = nul + 1;
  return s;
}

static int threads(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (f == NULL) return 1;
  char line[256];
  int n = 1;
  while (fgets(line, sizeof line, f) != NULL) if (sscanf(line, "Threads: %d", &n) == 1) break;
  fclose(f);
  return n;
}

/* A start refused before any fork: vigild waits for an exit line per start, and would wait forever without one. */
static void refuse(unsigned long id, const char *why) {
  say("error %lu - %s", id, why);
  say("exit %lu 0 code 1", id);
}

static void start_stream(struct fields *f, pid_t server) {
  char *idf = next_field(f);
  if (idf == NULL) return;
  unsigned long id = strtoul(idf, NULL, 10);
  char *description = next_field(f), *dir = next_field(f), *ns = next_field(f);
  if (description == NULL || dir == NULL || ns == NULL) { refuse(id, "bad start request (fields missing)"); return; }
  int nsockets = atoi(ns);
  if (nsockets < 0 || nsockets > 16) { refuse(id, "bad start request"); return; }
  char *sockets[16];
  for (int i = 0; i < nsockets; i++) if ((sockets[i] = next_field(f)) == NULL) { refuse(id, "bad start request (sockets missing)"); return; }
  char *nsf = next_field(f);
  int nsecrets = nsf != NULL ? atoi(nsf) : -1;
  if (nsecrets < 0 || nsecrets > 16) { refuse(id, "bad start request"); return; }
  struct secret secrets[16];
  for (int i = 0; i < nsecrets; i++) {
    secrets[i].element = next_field(f);
    secrets[i].property = next_field(f);
    secrets[i].value = next_field(f);
    if (secrets[i].value == NULL) { refuse(id, "bad start request (credentials missing)"); return; }
  }
  int slot = -1;
  for (int i = 0; i < MAX_STREAMS && slot < 0; i++) if (streams[i].pid == 0) slot = i;
  /* Loads the pipeline's plugins here, once, so that every stream process shares their pages. */
  GError *err = NULL;
  GstElement *warm = gst_parse_launch(description, &err);
  if (warm != NULL) gst_object_unref(warm);
  if (err != NULL || warm == NULL || slot < 0) {
    say("error %lu - %s", id, err != NULL ? err->message : slot < 0 ? "too many stream processes" : "could not create the pipeline");
    say("exit %lu 0 code 1", id);
    g_clear_error(&err);
    return;
  }
  /* fork() is safe here only while this process has one thread (see the top); a plugin whose
   * loading started one would break that, and should be seen in vigild's log. */
  static int warned;
  if (!warned && threads() > 1) {
    warned = 1;
    fprintf(stderr, "vigil-stream-host: %d threads before fork (a plugin started one): a stream process may inherit a lock held by it\n", threads());
  }
  pid_t pid = fork();
  if (pid < 0) {
    say("error %lu - fork failed: %s", id, strerror(errno));
    say("exit %lu 0 code 1", id);
    return;
  }
  if (pid == 0) run_stream(id, description, sockets, nsockets, secrets, nsecrets, server);
  streams[slot].id = id;
  streams[slot].pid = pid;
  streams[slot].dir = g_strdup(dir);
  say("spawned %lu %d", id, (int) pid);
}

static void signal_stream(struct fields *f) {
  char *idf = next_field(f), *sig = next_field(f);
  if (idf == NULL || sig == NULL) return;
  unsigned long id = strtoul(idf, NULL, 10);
  int signo = atoi(sig);
  if (signo != SIGTERM && signo != SIGKILL) return;
  for (int i = 0; i < MAX_STREAMS; i++) if (streams[i].pid != 0 && streams[i].id == id) kill(streams[i].pid, signo);
}

/* vigild is gone: every stream process is asked to stop, and killed after DRAIN_MS. */
static void drain(void) {
  for (int i = 0; i < MAX_STREAMS; i++) if (streams[i].pid != 0) kill(streams[i].pid, SIGTERM);
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    if (reap() == 0) return;
    clock_gettime(CLOCK_MONOTONIC, &t);
    if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > DRAIN_MS) break;
    struct pollfd p = { .fd = sigchld_pipe[0], .events = POLLIN };
    if (poll(&p, 1, 50) > 0) { char b[64]; ssize_t r = read(sigchld_pipe[0], b, sizeof b); (void) r; }
  }
  for (int i = 0; i < MAX_STREAMS; i++) if (streams[i].pid != 0) kill(streams[i].pid, SIGKILL);
  while (reap() > 0) {
    struct pollfd p = { .fd = sigchld_pipe[0], .events = POLLIN };
    if (poll(&p, 1, 50) > 0) { char b[64]; ssize_t r = read(sigchld_pipe[0], b, sizeof b); (void) r; }
  }
}

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  /* vigild reading no more must not kill the server mid-line; its stdin's end ends it anyway. */
  signal(SIGPIPE, SIG_IGN);
  if (pipe(sigchld_pipe) != 0) return 1;
  struct sigaction sa = { 0 };
  sa.sa_handler = on_sigchld;
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigaction(SIGCHLD, &sa, NULL);
  pid_t server = getpid();
  say("hello %d", (int) server);
  char *buf = g_malloc(MAX_FRAME);
  for (;;) {
    struct pollfd p[2] = { { .fd = STDIN_FILENO, .events = POLLIN }, { .fd = sigchld_pipe[0], .events = POLLIN } };
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[1].revents & POLLIN) {
      char b[64];
      ssize_t r = read(sigchld_pipe[0], b, sizeof b);
      (void) r;
      reap();
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      uint8_t head[4];
      if (read_full(STDIN_FILENO, head, 4) != 0) break;
      uint32_t len = (uint32_t) head[0] | (uint32_t) head[1] << 8 | (uint32_t) head[2] << 16 | (uint32_t) head[3] << 24;
      if (len >= MAX_FRAME || read_full(STDIN_FILENO, buf, len) != 0) break;
      buf[len] = '\0';
      struct fields f = { buf, buf + len };
      char *kind = next_field(&f);
      if (kind == NULL) continue;
      if (strcmp(kind, "start") == 0) start_stream(&f, server);
      else if (strcmp(kind, "signal") == 0) signal_stream(&f);
    }
  }
  drain();
  return 0;
}
