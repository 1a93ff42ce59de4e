/* secure-chat-bench-window.c: the window under a flood (row 5 of issue 6)
 *
 * The real application (ScApplication and its ScWindow, shown on the
 * display) with the application's own ScServer listening on 127.0.0.1
 * port 0, so the window's handlers turn each "message" into a line of its
 * server log as they do for any client.  One v2 client, driven through the
 * core API over a blocking socket on a thread of its own (bench-peer.c),
 * sends 10,000 messages a second for 10 s.  A timer on the main context
 * every 5 ms measures its own lateness: the longest main-loop stall.  RSS
 * (VmRSS) is read before the flood, through it and at the end, once the
 * last message is on the last line of the view.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <adwaita.h>
#include <glib/gstdio.h>

#include "sc-application.h"
#include "sc-log-view.h"
#include "sc-window.h"

#include "bench-peer.h"
#include "bench-util.h"
#include "bench-window.h"

#define FLOOD_RATE          10000
#define FLOOD_SECONDS       10.0
#define SMOKE_RATE          3000   /* 6,000 lines: past max-lines, so trimming runs */
#define SMOKE_SECONDS       2.0
#define MESSAGE_SIZE        100
#define WARMUP_MESSAGES     200    /* fonts, glyphs and buffers exist before RSS is read */
#define SETTLE_S            1.0    /* idle after the warm-up: the timer's baseline */
#define SMOKE_SETTLE_S      0.3
#define TICK_MS             5
#define RSS_EVERY_TICKS     10     /* VmRSS sampled every 50 ms through the flood */
#define SETUP_TIMEOUT_S     120
#define DRAIN_TIMEOUT_S     60.0
#define SEND_SLICE_US       1000   /* the sender sends what is due, then sleeps */

/* The memory bound: 2 KiB per line the log keeps (max-lines), some 15
 * times a 136-byte line: its text in the buffer and up to twice in the
 * queue of pending lines (a GString, which doubles and never shrinks),
 * GtkTextBuffer's line, segment and per-view line data, and what malloc
 * keeps after the flood's bursts.  A log that grows with the flood instead
 * (100,000 lines, 20 times max-lines) exceeds it with the text alone. */
#define BOUND_PER_LINE      2048

typedef enum {
  PHASE_STARTING,    /* keys, window */
  PHASE_CONNECTING,  /* server listening; the client connects and warms up */
  PHASE_SETTLING,    /* the warm-up is in the view; the timer's idle baseline */
  PHASE_FLOOD,
  PHASE_DRAIN,       /* all sent; until the last message is in the view */
  PHASE_DONE,
} Phase;

typedef struct {
  double  start;
  double  max;
  double  total;
  guint   count;
} Span;

typedef struct {
  /* options */
  gboolean       smoke;
  guint          rate;
  double         seconds;
  guint          size;
  double         settle;

  ScApplication *app;
  GtkWindow     *window;
  ScLogView     *log;
  GtkTextBuffer *buffer;
  ScServer      *server;
  char          *key_dir;
  Phase          phase;
  double         phase_start;
  char          *error;
  char          *renderer;
  gboolean       undo;          /* the buffer's undo history, as the view set it */
  guint          undo_levels;

  /* the sender thread */
  GThread       *thread;
  GMutex         mutex;
  GCond          cond;
  gboolean       go;            /* under the mutex */
  gboolean       abort;         /* under the mutex */
  guint16        port;
  BenchPeer     *peer;          /* the thread's until joined */
  gint           warm_sent;     /* atomic */
  gint           flood_done;    /* atomic */
  gint           failed;        /* atomic; then send_error is set */
  char          *send_error;
  char          *warm_last;
  char          *last_text;
  guint64        sent;          /* flood messages, once flood_done */
  double         send_start;
  double         send_end;

  /* the main thread */
  GSource       *tick;
  guint64        delivered;     /* "message" signals, warm-up included */
  GArray        *idle_late;     /* gint64 µs, while settling */
  GArray        *flood_late;    /* gint64 µs, flood and drain */
  double         flood_start;
  double         flood_end;
  double         stall_max_at;
  gint64         stall_max;
  guint          ticks_over_target;
  gsize          rss_before;
  gsize          rss_peak;
  gsize          rss_hwm;
  gboolean       hwm_reset;
  gsize          rss_end;
  gsize          rss_end_trimmed;
  gsize          heap_before;   /* malloc'd and in use, all arenas */
  gsize          heap_end;
  gsize          heap_free_end; /* free, but kept by malloc */
  guint          view_lines;
  guint          max_lines;
  char          *last_line;
  gboolean       last_line_ok;

  Span           insert;        /* gtk_text_buffer_insert of a batch */
  Span           delete;        /* the trim past max-lines */
  Span           frame;         /* the frame clock, before-paint to after-paint */
  guint64        insert_bytes_max;

  /* what the longest stall held: batches of "message" signals (those of
   * one dispatch: one source in one main-loop iteration), and what
   * happened between two ticks */
  guint64        iteration;     /* main-loop iterations, counted by the tick */
  guint64        batch_iteration;
  guint          batch_source;
  gint64         batch_first;
  gint64         batch_last;
  guint64        batch_n;
  gint64         batch_max_us;
  guint64        batch_max_n;
  guint64        tick_delivered;
  guint          tick_inserts;
  guint          tick_frames;
  guint64        stall_messages;
  guint          stall_inserts;
  guint          stall_frames;
} WindowBench;

typedef struct {
  GSource      source;
  WindowBench *wb;
} TickSource;

/* ---- the process ---- */

/* A "Vm..." line of /proc/self/status, in bytes (0 if absent) */
static gsize
proc_status_bytes (const char *field)
{
  g_autofree char *text = NULL;
  const char *line;
  unsigned long kib = 0;

  if (!g_file_get_contents ("/proc/self/status", &text, NULL, NULL) ||
      (line = strstr (text, field)) == NULL ||
      sscanf (line + strlen (field), ": %lu kB", &kib) != 1)
    return 0;
  return (gsize) kib * 1024;
}

static gsize
rss_now (void)
{
  return proc_status_bytes ("VmRSS");
}

/* Bytes malloc has handed out and not had back (all arenas, mmapped
 * chunks included) */
static gsize
heap_in_use (gsize *free_bytes)
{
  struct mallinfo2 info = mallinfo2 ();

  if (free_bytes != NULL)
    *free_bytes = info.fordblks;
  return info.uordblks + info.hblkhd;
}

/* Resets VmHWM (the peak RSS) to the current RSS; Linux >= 4.0 */
static gboolean
reset_hwm (void)
{
  return g_file_set_contents ("/proc/self/clear_refs", "5", 1, NULL);
}

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        remove_tree (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

static double
ms (gint64 us)
{
  return (double) us / 1000.0;
}

static double
mib (gsize bytes)
{
  return (double) bytes / (1024.0 * 1024.0);
}

static void
span_begin (Span *span)
{
  span->start = bench_now ();
}

static void
span_end (Span *span)
{
  double t;

  if (span->start == 0)
    return;
  t = bench_now () - span->start;
  span->start = 0;
  span->max = MAX (span->max, t);
  span->total += t;
  span->count++;
}

/* ---- the sender thread ---- */

/* "b0 f0000042 " then 'x' up to @size bytes: unique, so the last line of
 * the view shows which message arrived last */
static void
message_text (char  *buf,
              guint  size,
              char   kind,
              guint  seq)
{
  char head[32];
  int n = g_snprintf (head, sizeof head, "b0 %c%07u ", kind, seq);

  memset (buf, 'x', size);
  memcpy (buf, head, MIN ((guint) n, size));
  buf[size] = '\0';
}

static gboolean
send_text (BenchPeer   *peer,
           const char  *text,
           GError     **error)
{
  g_autoptr(GBytes) payload = bench_peer_payload (SC_PROTOCOL_V2, text);

  return bench_peer_send (peer, payload, FALSE, error);
}

static gboolean
wait_go (WindowBench *wb)
{
  gboolean stop;

  g_mutex_lock (&wb->mutex);
  while (!wb->go && !wb->abort)
    g_cond_wait (&wb->cond, &wb->mutex);
  stop = wb->abort;
  g_mutex_unlock (&wb->mutex);
  return !stop;
}

static gboolean
aborted (WindowBench *wb)
{
  gboolean stop;

  g_mutex_lock (&wb->mutex);
  stop = wb->abort;
  g_mutex_unlock (&wb->mutex);
  return stop;
}

/* Sends what is due at @rate since the start, sleeps a slice, again */
static gboolean
flood (WindowBench  *wb,
       BenchPeer    *peer,
       char         *buf,
       GError      **error)
{
  guint64 total = (guint64) (wb->rate * wb->seconds + 0.5);
  guint64 i = 0;
  gint64 start = g_get_monotonic_time ();

  wb->send_start = (double) start / G_USEC_PER_SEC;
  while (i < total)
    {
      gint64 now = g_get_monotonic_time ();
      guint64 due = MIN (total, (guint64) ((now - start) * (gint64) wb->rate / G_USEC_PER_SEC) + 1);

      for (; i < due; i++)
        {
          message_text (buf, wb->size, 'f', (guint) i);
          if (!send_text (peer, buf, error))
            return FALSE;
        }
      if (aborted (wb))
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "Aborted");
          return FALSE;
        }
      if (i < total)
        {
          gint64 next = start + (gint64) (i * G_USEC_PER_SEC / wb->rate);

          now = g_get_monotonic_time ();
          if (next > now)
            g_usleep (MIN (next - now, SEND_SLICE_US));
        }
    }
  wb->send_end = bench_now ();
  wb->sent = total;
  wb->last_text = g_strdup (buf);
  return TRUE;
}

static gpointer
sender_thread (gpointer data)
{
  WindowBench *wb = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_build_filename (wb->key_dir, "client", NULL);
  g_autofree char *buf = g_malloc (wb->size + 1);
  g_autoptr(ScIdentity) identity = sc_identity_load_or_create (dir, &error);
  guint i;

  if (identity == NULL)
    goto failed;
  wb->peer = bench_peer_connect_v2 (wb->port, identity, "bench", SC_V2_MESSAGE_MAX_DEFAULT, &error);
  if (wb->peer == NULL)
    goto failed;
  for (i = 0; i < WARMUP_MESSAGES; i++)
    {
      message_text (buf, wb->size, 'w', i);
      if (!send_text (wb->peer, buf, &error))
        goto failed;
    }
  wb->warm_last = g_strdup (buf);
  g_atomic_int_set (&wb->warm_sent, TRUE);

  if (!wait_go (wb))
    return NULL;
  if (!flood (wb, wb->peer, buf, &error))
    goto failed;
  g_atomic_int_set (&wb->flood_done, TRUE);
  return NULL;

failed:
  wb->send_error = g_strdup (error->message);
  g_atomic_int_set (&wb->failed, TRUE);
  return NULL;
}

static void
release_sender (WindowBench *wb,
                gboolean     stop)
{
  g_mutex_lock (&wb->mutex);
  wb->go = TRUE;
  wb->abort |= stop;
  g_cond_broadcast (&wb->cond);
  g_mutex_unlock (&wb->mutex);
}

/* ---- the main thread ---- */

static void
close_window (WindowBench *wb)
{
  if (wb->window != NULL)
    gtk_window_close (wb->window);   /* stops the server; the application then ends */
  else
    g_application_quit (G_APPLICATION (wb->app));
}

static void
fail (WindowBench *wb,
      const char  *format,
      ...) G_GNUC_PRINTF (2, 3);

static void
fail (WindowBench *wb,
      const char  *format,
      ...)
{
  va_list args;

  if (wb->phase == PHASE_DONE)
    return;
  if (wb->error == NULL)
    {
      va_start (args, format);
      wb->error = g_strdup_vprintf (format, args);
      va_end (args);
    }
  bench_progress ("window: ERROR %s", wb->error);
  wb->phase = PHASE_DONE;
  if (wb->tick != NULL)
    g_source_destroy (wb->tick);
  release_sender (wb, TRUE);
  close_window (wb);
}

static void
set_phase (WindowBench *wb,
           Phase        phase)
{
  wb->phase = phase;
  wb->phase_start = bench_now ();
}

/* The text of the view's last line (the buffer ends with a newline) */
static char *
last_line (WindowBench *wb)
{
  GtkTextIter start, end;
  int n = gtk_text_buffer_get_line_count (wb->buffer);

  gtk_text_buffer_get_iter_at_line (wb->buffer, &start, MAX (0, n - 2));
  end = start;
  if (!gtk_text_iter_ends_line (&end))
    gtk_text_iter_forward_to_line_end (&end);
  return gtk_text_buffer_get_text (wb->buffer, &start, &end, FALSE);
}

static gboolean
view_shows (WindowBench *wb,
            const char  *text)
{
  g_autofree char *line = last_line (wb);

  return strstr (line, text) != NULL;
}

static void
start_flood (WindowBench *wb)
{
  wb->rss_before = rss_now ();
  wb->heap_before = heap_in_use (NULL);
  wb->rss_peak = wb->rss_before;
  wb->hwm_reset = reset_hwm ();
  bench_progress ("window: flood: %u messages/s of %u bytes for %.1f s; RSS before %.1f MiB",
            wb->rate, wb->size, wb->seconds, mib (wb->rss_before));
  set_phase (wb, PHASE_FLOOD);
  wb->flood_start = wb->phase_start;
  release_sender (wb, FALSE);
}

static void
finish_flood (WindowBench *wb)
{
  wb->flood_end = bench_now ();
  wb->rss_end = rss_now ();
  wb->heap_end = heap_in_use (&wb->heap_free_end);
  if (wb->hwm_reset)
    wb->rss_hwm = proc_status_bytes ("VmHWM");
  wb->rss_peak = MAX (wb->rss_peak, MAX (wb->rss_end, wb->rss_hwm));
  wb->view_lines = sc_log_view_get_n_lines (wb->log);
  wb->last_line = last_line (wb);
  wb->last_line_ok = strstr (wb->last_line, wb->last_text) != NULL;
  bench_trim_heap ();
  wb->rss_end_trimmed = rss_now ();
  bench_progress ("window: the last message is in the view %.2f s after the last send",
            wb->flood_end - wb->send_end);

  wb->phase = PHASE_DONE;
  g_source_destroy (wb->tick);
  close_window (wb);
}

static void
record_late (WindowBench *wb,
             gint64       late)
{
  g_array_append_val (wb->flood_late, late);
  if (late > wb->stall_max)
    {
      wb->stall_max = late;
      wb->stall_max_at = bench_now () - wb->flood_start;
      wb->stall_messages = wb->delivered - wb->tick_delivered;
      wb->stall_inserts = wb->insert.count - wb->tick_inserts;
      wb->stall_frames = wb->frame.count - wb->tick_frames;
    }
  if (ms (late) > BENCH_WINDOW_STALL_MAX_MS)
    wb->ticks_over_target++;
  if (wb->flood_late->len % RSS_EVERY_TICKS == 0)
    wb->rss_peak = MAX (wb->rss_peak, rss_now ());
}

static void
on_tick (WindowBench *wb,
         gint64       late)
{
  double in_phase = bench_now () - wb->phase_start;

  if (g_atomic_int_get (&wb->failed))
    {
      fail (wb, "the client: %s", wb->send_error);
      return;
    }
  switch (wb->phase)
    {
    case PHASE_CONNECTING:
      if (g_atomic_int_get (&wb->warm_sent) && wb->delivered >= WARMUP_MESSAGES &&
          view_shows (wb, wb->warm_last))
        set_phase (wb, PHASE_SETTLING);
      break;
    case PHASE_SETTLING:
      g_array_append_val (wb->idle_late, late);
      if (in_phase >= wb->settle)
        start_flood (wb);
      break;
    case PHASE_FLOOD:
      record_late (wb, late);
      if (g_atomic_int_get (&wb->flood_done))
        set_phase (wb, PHASE_DRAIN);
      else if (in_phase > wb->seconds * 3 + 30)
        fail (wb, "the client sent for %.0f s instead of %.0f s", in_phase, wb->seconds);
      break;
    case PHASE_DRAIN:
      record_late (wb, late);
      if (wb->delivered >= WARMUP_MESSAGES + wb->sent && view_shows (wb, wb->last_text))
        finish_flood (wb);
      else if (in_phase > DRAIN_TIMEOUT_S)
        fail (wb, "%.0f s after the flood, %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
              " lines were delivered", in_phase, wb->delivered - WARMUP_MESSAGES, wb->sent);
      break;
    case PHASE_STARTING:
    case PHASE_DONE:
    default:
      break;
    }
  wb->tick_delivered = wb->delivered;
  wb->tick_inserts = wb->insert.count;
  wb->tick_frames = wb->frame.count;
}

/* A timer that knows when it was due: each dispatch measures how late it
 * is, then asks to be woken TICK_MS later */
static gboolean
tick_dispatch (GSource     *source,
               GSourceFunc  callback,
               gpointer     data)
{
  TickSource *tick = (TickSource *) source;
  gint64 now = g_get_monotonic_time ();
  gint64 late = MAX (0, now - g_source_get_ready_time (source));

  g_source_set_ready_time (source, now + TICK_MS * 1000);
  on_tick (tick->wb, late);
  return G_SOURCE_CONTINUE;
}

/* called once every main-loop iteration: they are counted */
static gboolean
tick_prepare (GSource *source,
              int     *timeout)
{
  ((TickSource *) source)->wb->iteration++;
  *timeout = -1;   /* the ready time decides */
  return FALSE;
}

static GSourceFuncs tick_funcs = { tick_prepare, NULL, tick_dispatch, NULL, NULL, NULL };

static void
on_server_message (ScServer    *server,
                   guint        id,
                   const char  *nickname,
                   const char  *text,
                   WindowBench *wb)
{
  gint64 now = g_get_monotonic_time ();
  GSource *source = g_main_current_source ();
  guint source_id = source != NULL ? g_source_get_id (source) : 0;

  wb->delivered++;
  if (wb->phase != PHASE_FLOOD && wb->phase != PHASE_DRAIN)
    return;
  if (wb->batch_n > 0 && source_id != 0 && source_id == wb->batch_source &&
      wb->iteration == wb->batch_iteration)
    wb->batch_n++;
  else
    {
      wb->batch_source = source_id;
      wb->batch_iteration = wb->iteration;
      wb->batch_first = now;
      wb->batch_n = 1;
    }
  wb->batch_last = now;
  if (now - wb->batch_first > wb->batch_max_us)
    {
      wb->batch_max_us = now - wb->batch_first;
      wb->batch_max_n = wb->batch_n;
    }
}

static void
on_insert_text (GtkTextBuffer *buffer,
                GtkTextIter   *iter,
                const char    *text,
                int            len,
                WindowBench   *wb)
{
  wb->insert_bytes_max = MAX (wb->insert_bytes_max, (guint64) len);
  span_begin (&wb->insert);
}

static void
on_insert_text_after (GtkTextBuffer *buffer,
                      GtkTextIter   *iter,
                      const char    *text,
                      int            len,
                      WindowBench   *wb)
{
  span_end (&wb->insert);
}

static void
on_delete_range (GtkTextBuffer *buffer,
                 GtkTextIter   *start,
                 GtkTextIter   *end,
                 WindowBench   *wb)
{
  span_begin (&wb->delete);
}

static void
on_delete_range_after (GtkTextBuffer *buffer,
                       GtkTextIter   *start,
                       GtkTextIter   *end,
                       WindowBench   *wb)
{
  span_end (&wb->delete);
}

static void
on_before_paint (GdkFrameClock *clock,
                 WindowBench   *wb)
{
  if (wb->phase == PHASE_FLOOD || wb->phase == PHASE_DRAIN)
    span_begin (&wb->frame);
}

static void
on_after_paint (GdkFrameClock *clock,
                WindowBench   *wb)
{
  span_end (&wb->frame);
}

/* Once the window is on screen and the keys are loaded: the server, the
 * timer, the client */
static gboolean
start (gpointer data)
{
  WindowBench *wb = data;
  g_autoptr(GError) error = NULL;
  GObject *log;
  GdkFrameClock *clock;
  TickSource *tick;

  if (wb->phase != PHASE_STARTING || wb->window == NULL ||
      sc_application_get_identity (wb->app) == NULL || !gtk_widget_get_mapped (GTK_WIDGET (wb->window)))
    return G_SOURCE_REMOVE;

  log = gtk_widget_get_template_child (GTK_WIDGET (wb->window), SC_TYPE_WINDOW, "server_log");
  if (log == NULL || !SC_IS_LOG_VIEW (log))
    {
      fail (wb, "the window has no server log");
      return G_SOURCE_REMOVE;
    }
  wb->log = SC_LOG_VIEW (log);
  wb->buffer = gtk_text_view_get_buffer (sc_log_view_get_text_view (wb->log));
  g_object_get (wb->log, "max-lines", &wb->max_lines, NULL);
  wb->undo = gtk_text_buffer_get_enable_undo (wb->buffer);
  wb->undo_levels = gtk_text_buffer_get_max_undo_levels (wb->buffer);
  g_signal_connect (wb->buffer, "insert-text", G_CALLBACK (on_insert_text), wb);
  g_signal_connect_after (wb->buffer, "insert-text", G_CALLBACK (on_insert_text_after), wb);
  g_signal_connect (wb->buffer, "delete-range", G_CALLBACK (on_delete_range), wb);
  g_signal_connect_after (wb->buffer, "delete-range", G_CALLBACK (on_delete_range_after), wb);
  clock = gtk_widget_get_frame_clock (GTK_WIDGET (wb->window));
  if (clock != NULL)
    {
      g_signal_connect (clock, "before-paint", G_CALLBACK (on_before_paint), wb);
      g_signal_connect (clock, "after-paint", G_CALLBACK (on_after_paint), wb);
    }
  wb->renderer = g_strdup (G_OBJECT_TYPE_NAME (gtk_native_get_renderer (GTK_NATIVE (wb->window))));

  /* The application's server, which the window is wired to.  Started
   * here rather than by app.start-server, which takes its port from
   * GSettings, where the minimum is 1: port 0 picks a free one. */
  wb->server = sc_application_get_server (wb->app);
  g_object_set (wb->server, "bind-address", "127.0.0.1", "port", 0, NULL);
  g_signal_connect (wb->server, "message", G_CALLBACK (on_server_message), wb);
  if (!sc_server_start (wb->server, &error))
    {
      fail (wb, "cannot start the server: %s", error->message);
      return G_SOURCE_REMOVE;
    }
  sc_application_update_actions (wb->app);
  wb->port = sc_server_get_port (wb->server);
  bench_progress ("window: window on %s (%s), server on 127.0.0.1:%u, log max-lines %u",
            G_OBJECT_TYPE_NAME (gtk_widget_get_display (GTK_WIDGET (wb->window))),
            wb->renderer, wb->port, wb->max_lines);

  set_phase (wb, PHASE_CONNECTING);
  tick = (TickSource *) g_source_new (&tick_funcs, sizeof (TickSource));
  tick->wb = wb;
  wb->tick = &tick->source;
  g_source_set_priority (wb->tick, G_PRIORITY_DEFAULT);
  g_source_set_name (wb->tick, "bench-window-tick");
  g_source_set_ready_time (wb->tick, g_get_monotonic_time () + TICK_MS * 1000);
  g_source_attach (wb->tick, NULL);
  g_source_unref (wb->tick);   /* the context holds it; destroyed at the end */

  wb->thread = g_thread_new ("bench-sender", sender_thread, wb);
  return G_SOURCE_REMOVE;
}

/* after every handler of the application's own (the window's wiring) */
static void
start_later (WindowBench *wb)
{
  g_idle_add (start, wb);
}

static void
on_activate_after (GApplication *app,
                   WindowBench  *wb)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (app));

  if (window == NULL || wb->window != NULL)
    return;
  wb->window = window;
  g_object_add_weak_pointer (G_OBJECT (window), (gpointer *) &wb->window);
  g_signal_connect_swapped (window, "map", G_CALLBACK (start_later), wb);
  start_later (wb);
}

static void
on_keys_failed (ScApplication *app,
                const char    *message,
                WindowBench   *wb)
{
  fail (wb, "the application's keys: %s", message);
}

static gboolean
on_setup_timeout (gpointer data)
{
  WindowBench *wb = data;

  if (wb->phase < PHASE_SETTLING)
    fail (wb, "not ready after %d s (phase %d)", SETUP_TIMEOUT_S, wb->phase);
  return G_SOURCE_REMOVE;
}

/* ---- the report ---- */

static int
compare_gint64 (gconstpointer a,
                gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return (x > y) - (x < y);
}

/* The nearest-rank percentile of sorted samples */
static gint64
percentile (GArray *sorted,
            guint   p)
{
  guint rank;

  if (sorted->len == 0)
    return 0;
  rank = (p * sorted->len + 99) / 100;
  return g_array_index (sorted, gint64, CLAMP (rank, 1, sorted->len) - 1);
}

static gint64
array_max (GArray *a)
{
  gint64 max = 0;
  guint i;

  for (i = 0; i < a->len; i++)
    max = MAX (max, g_array_index (a, gint64, i));
  return max;
}

static void
add_span (JsonBuilder *b,
          const char  *name,
          Span        *span)
{
  json_builder_set_member_name (b, name);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "count");
  json_builder_add_int_value (b, span->count);
  json_builder_set_member_name (b, "max_ms");
  json_builder_add_double_value (b, span->max * 1000);
  json_builder_set_member_name (b, "total_ms");
  json_builder_add_double_value (b, span->total * 1000);
  json_builder_end_object (b);
}

#define ADD_INT(b, name, value) \
  (json_builder_set_member_name (b, name), json_builder_add_int_value (b, (gint64) (value)))
#define ADD_DOUBLE(b, name, value) \
  (json_builder_set_member_name (b, name), json_builder_add_double_value (b, value))
#define ADD_STRING(b, name, value) \
  (json_builder_set_member_name (b, name), \
   (value) ? json_builder_add_string_value (b, value) : json_builder_add_null_value (b))

static void
report (WindowBench *wb,
        const char  *json_path,
        const char  *skipped)
{
  g_autoptr(GArray) sorted = g_array_copy (wb->flood_late);
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(GError) error = NULL;
  BenchReport *r = bench_report_new ();
  gsize line_bytes = wb->last_line ? strlen (wb->last_line) + 1 : 0;
  gsize per_line = BOUND_PER_LINE;
  gsize bound = (gsize) wb->max_lines * per_line;
  double growth = (double) wb->rss_end - (double) wb->rss_before;
  double flood_s = wb->flood_end - wb->flood_start;
  gboolean measured = wb->error == NULL && skipped == NULL;
  double values[G_N_ELEMENTS (bench_window_rows)];
  const char *display = g_getenv ("WAYLAND_DISPLAY") ? "wayland" : "x11";
  g_autofree char *gtk_version = g_strdup_printf ("%u.%u.%u", gtk_get_major_version (),
                                                  gtk_get_minor_version (),
                                                  gtk_get_micro_version ());
  g_autofree char *adw_version = g_strdup_printf ("%u.%u.%u", adw_get_major_version (),
                                                  adw_get_minor_version (),
                                                  adw_get_micro_version ());
  guint i;

  g_array_sort (sorted, compare_gint64);
  values[0] = ms (wb->stall_max);
  values[1] = ms (percentile (sorted, 99));
  values[2] = ms (percentile (sorted, 50));
  values[3] = (double) (wb->delivered >= WARMUP_MESSAGES ? wb->delivered - WARMUP_MESSAGES : 0);
  values[4] = wb->view_lines;
  values[5] = mib (wb->rss_before);
  values[6] = mib (wb->rss_peak);
  values[7] = mib (wb->rss_end);

  bench_report_set_meta (r, "program", BENCH_WINDOW_PROGRAM);
  bench_report_set_meta (r, "version", PACKAGE_VERSION);
  bench_report_set_meta (r, "mode", wb->smoke ? "smoke" : "full");
  bench_report_set_meta (r, "buildtype", BENCH_BUILDTYPE);
  for (i = 0; i < G_N_ELEMENTS (bench_window_rows); i++)
    {
      const BenchWindowRow *def = &bench_window_rows[i];
      BenchRow *row = bench_report_add_row (r, def->id, BENCH_WINDOW_GROUP, def->label, def->unit);

      row->count = wb->sent;
      if (skipped != NULL)
        bench_row_set_skipped (row, skipped);
      else if (wb->error != NULL)
        bench_row_set_error (row, wb->error);
      else
        bench_row_add_sample (row, values[i]);
    }
  if (measured)
    {
      bench_row_set_note (bench_report_lookup (r, "window.flood.stall_max"),
                          "a %d ms timer on the main context, late by this much at worst; "
                          "%u of %u ticks over %.0f ms; at %.2f s into the flood",
                          TICK_MS, wb->ticks_over_target, wb->flood_late->len,
                          BENCH_WINDOW_STALL_MAX_MS, wb->stall_max_at);
      bench_row_set_note (bench_report_lookup (r, "window.flood.delivered"),
                          "of %" G_GUINT64_FORMAT " sent at %u/s for %.1f s", wb->sent, wb->rate,
                          wb->seconds);
      bench_row_set_note (bench_report_lookup (r, "window.flood.view_lines"),
                          "max-lines %u; last line holds the last message: %s", wb->max_lines,
                          wb->last_line_ok ? "yes" : "NO");
      bench_row_set_note (bench_report_lookup (r, "window.flood.rss_end"),
                          "%.1f MiB after malloc_trim", mib (wb->rss_end_trimmed));
    }
  bench_report_add_target (r, BENCH_WINDOW_STALL_TARGET, BENCH_WINDOW_STALL_LABEL,
                           measured ? values[0] : NAN, BENCH_AT_MOST, BENCH_WINDOW_STALL_MAX_MS);
  bench_report_add_target (r, BENCH_WINDOW_RSS_TARGET, BENCH_WINDOW_RSS_LABEL,
                           measured ? growth / (1024.0 * 1024.0) : NAN, BENCH_AT_MOST,
                           measured ? mib (bound) : NAN);

  /* every figure, for whoever reads the JSON */
  json_builder_begin_object (b);
  ADD_STRING (b, "path", "ScApplication and its ScWindow on the display; the application's "
                         "ScServer on 127.0.0.1 port 0 (started by the benchmark, not "
                         "app.start-server); one v2 client on a thread (core API, blocking socket)");
  ADD_STRING (b, "skipped", skipped);
  ADD_STRING (b, "error", wb->error);
  ADD_STRING (b, "display", display);
  ADD_STRING (b, "renderer", wb->renderer);
  ADD_STRING (b, "gtk", gtk_version);
  ADD_STRING (b, "libadwaita", adw_version);
  json_builder_set_member_name (b, "buffer_undo");
  json_builder_add_boolean_value (b, wb->undo);
  ADD_INT (b, "buffer_max_undo_levels", wb->undo_levels);
  json_builder_set_member_name (b, "a11y_bridge");
  json_builder_add_boolean_value (b, g_getenv ("NO_AT_BRIDGE") == NULL);
  ADD_INT (b, "rate", wb->rate);
  ADD_DOUBLE (b, "seconds", wb->seconds);
  ADD_INT (b, "message_size", wb->size);
  ADD_INT (b, "warmup_messages", WARMUP_MESSAGES);
  ADD_INT (b, "sent", wb->sent);
  ADD_INT (b, "delivered", values[3]);
  ADD_DOUBLE (b, "send_seconds", wb->send_end - wb->send_start);
  ADD_DOUBLE (b, "send_rate", wb->sent / MAX (1e-9, wb->send_end - wb->send_start));
  ADD_DOUBLE (b, "flood_seconds", flood_s);
  ADD_DOUBLE (b, "drain_seconds", wb->flood_end - wb->send_end);
  ADD_INT (b, "view_lines", wb->view_lines);
  ADD_INT (b, "max_lines", wb->max_lines);
  ADD_STRING (b, "last_message", wb->last_text);
  ADD_STRING (b, "last_line", wb->last_line);
  json_builder_set_member_name (b, "last_line_ok");
  json_builder_add_boolean_value (b, wb->last_line_ok);
  ADD_INT (b, "tick_ms", TICK_MS);
  ADD_INT (b, "ticks", wb->flood_late->len);
  ADD_DOUBLE (b, "stall_max_ms", values[0]);
  ADD_DOUBLE (b, "stall_max_at_s", wb->stall_max_at);
  ADD_DOUBLE (b, "stall_p99_ms", values[1]);
  ADD_DOUBLE (b, "stall_median_ms", values[2]);
  ADD_INT (b, "ticks_over_target", wb->ticks_over_target);
  ADD_DOUBLE (b, "idle_stall_max_ms", ms (array_max (wb->idle_late)));
  ADD_INT (b, "rss_before_bytes", wb->rss_before);
  ADD_INT (b, "rss_peak_bytes", wb->rss_peak);
  ADD_STRING (b, "rss_peak_source", wb->hwm_reset ? "VmHWM reset at the flood's start, and VmRSS "
                                                    "every 50 ms" : "VmRSS every 50 ms");
  ADD_INT (b, "rss_end_bytes", wb->rss_end);
  ADD_INT (b, "rss_end_trimmed_bytes", wb->rss_end_trimmed);
  ADD_INT (b, "rss_growth_bytes", (gint64) growth);
  ADD_INT (b, "heap_in_use_before_bytes", wb->heap_before);
  ADD_INT (b, "heap_in_use_end_bytes", wb->heap_end);
  ADD_INT (b, "heap_free_end_bytes", wb->heap_free_end);
  ADD_INT (b, "line_bytes", line_bytes);
  ADD_INT (b, "bound_bytes_per_line", per_line);
  ADD_INT (b, "rss_bound_bytes", bound);
  ADD_STRING (b, "rss_bound", "max-lines x 2 KiB, some 15 times a line of text: the text in "
                              "the buffer and up to twice in the pending queue (a GString that "
                              "doubles), GtkTextBuffer's per-line structures, and what malloc "
                              "keeps after the flood's bursts; a log growing with the flood "
                              "(20 x max-lines) exceeds it with the text alone");
  json_builder_set_member_name (b, "breakdown");
  json_builder_begin_object (b);
  add_span (b, "buffer_insert", &wb->insert);
  add_span (b, "buffer_delete", &wb->delete);
  add_span (b, "frame", &wb->frame);
  ADD_INT (b, "insert_bytes_max", wb->insert_bytes_max);
  ADD_INT (b, "longest_batch_messages", wb->batch_max_n);
  ADD_DOUBLE (b, "longest_batch_ms", ms (wb->batch_max_us));
  ADD_INT (b, "longest_stall_messages", wb->stall_messages);
  ADD_INT (b, "longest_stall_inserts", wb->stall_inserts);
  ADD_INT (b, "longest_stall_frames", wb->stall_frames);
  json_builder_end_object (b);
  json_builder_end_object (b);
  bench_report_set_extra (r, "window", json_builder_get_root (b));

  if (skipped != NULL)
    printf ("window: skipped, %s\n", skipped);
  else if (wb->error != NULL)
    printf ("window: ERROR %s\n", wb->error);
  else
    {
      printf ("window: ScWindow on %s (%s), GTK %s, libadwaita %s, a11y bridge %s; log buffer "
              "undo %s (max-undo-levels %u)\n", display, wb->renderer, gtk_version, adw_version,
              g_getenv ("NO_AT_BRIDGE") ? "off" : "on", wb->undo ? "on" : "off", wb->undo_levels);
      printf ("window: sent %" G_GUINT64_FORMAT " messages of %u B in %.2f s (%.0f/s, target %u/s); "
              "delivered %.0f; the last is in the view %.2f s after the last send\n",
              wb->sent, wb->size, wb->send_end - wb->send_start,
              wb->sent / MAX (1e-9, wb->send_end - wb->send_start), wb->rate, values[3],
              wb->flood_end - wb->send_end);
      printf ("window: the view holds %u lines (max-lines %u); its last line holds the last "
              "message: %s\n", wb->view_lines, wb->max_lines, wb->last_line_ok ? "yes" : "NO");
      printf ("window: %d ms timer, %u ticks over %.2f s: lateness max %.1f ms (at %.2f s), "
              "p99 %.1f ms, median %.2f ms; %u ticks over %.0f ms; idle before: max %.1f ms\n",
              TICK_MS, wb->flood_late->len, flood_s, values[0], wb->stall_max_at, values[1],
              values[2], wb->ticks_over_target, BENCH_WINDOW_STALL_MAX_MS,
              ms (array_max (wb->idle_late)));
      printf ("window: RSS before %.1f MiB, peak %.1f MiB, end %.1f MiB (%.1f after malloc_trim); "
              "growth %.1f MiB, bound %.1f MiB (%u lines x %" G_GSIZE_FORMAT " B)\n",
              values[5], values[6], values[7], mib (wb->rss_end_trimmed),
              growth / (1024.0 * 1024.0), mib (bound), wb->max_lines, per_line);
      printf ("window: heap in use (mallinfo2) before %.1f MiB, end %.1f MiB; free but kept "
              "by malloc at the end %.1f MiB\n", mib (wb->heap_before), mib (wb->heap_end),
              mib (wb->heap_free_end));
      printf ("window: buffer inserts %u, max %.1f ms (%" G_GUINT64_FORMAT " B); trims %u, "
              "max %.1f ms; frames %u, max %.1f ms, %.0f ms in all\n",
              wb->insert.count, wb->insert.max * 1000, wb->insert_bytes_max, wb->delete.count,
              wb->delete.max * 1000, wb->frame.count, wb->frame.max * 1000,
              wb->frame.total * 1000);
      printf ("window: largest batch of \"message\" signals (one dispatch): %" G_GUINT64_FORMAT " in %.1f ms; "
              "the longest stall held %" G_GUINT64_FORMAT " messages, %u inserts, %u frames\n",
              wb->batch_max_n, ms (wb->batch_max_us), wb->stall_messages, wb->stall_inserts,
              wb->stall_frames);
    }
  bench_report_print (r, stdout);
  fflush (stdout);
  if (json_path != NULL && !bench_report_write_json (r, json_path, &error))
    g_printerr ("%s: cannot write %s: %s\n", BENCH_WINDOW_PROGRAM, json_path, error->message);
  bench_report_free (r);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GOptionContext) context = NULL;
  g_autofree char *json = NULL;
  double seconds = 0;
  int rate = 0, size = 0;
  WindowBench wb = { 0 };
  GOptionEntry entries[] = {
    { "smoke", 0, 0, G_OPTION_ARG_NONE, &wb.smoke, "A short, slower flood (for CI)", NULL },
    { "json", 0, 0, G_OPTION_ARG_FILENAME, &json, "Write every figure to FILE", "FILE" },
    { "rate", 0, 0, G_OPTION_ARG_INT, &rate, "Messages per second (default 10000)", "N" },
    { "seconds", 0, 0, G_OPTION_ARG_DOUBLE, &seconds, "Length of the flood (default 10)", "S" },
    { "size", 0, 0, G_OPTION_ARG_INT, &size, "Bytes of text per message (default 100)", "B" },
    { NULL }
  };
  char *app_argv[4];
  int status;

  context = g_option_context_new ("- the window under a flood of messages");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  wb.rate = rate > 0 ? (guint) rate : wb.smoke ? SMOKE_RATE : FLOOD_RATE;
  wb.seconds = seconds > 0 ? seconds : wb.smoke ? SMOKE_SECONDS : FLOOD_SECONDS;
  wb.size = CLAMP (size > 0 ? (guint) size : MESSAGE_SIZE, 16, 60000);
  wb.settle = wb.smoke ? SMOKE_SETTLE_S : SETTLE_S;
  wb.idle_late = g_array_new (FALSE, FALSE, sizeof (gint64));
  wb.flood_late = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_mutex_init (&wb.mutex);
  g_cond_init (&wb.cond);

  if (g_getenv ("DISPLAY") == NULL && g_getenv ("WAYLAND_DISPLAY") == NULL)
    {
      report (&wb, json, "no display (run under xvfb-run)");
      return 0;
    }

  /* never the user's settings; the schema from this build */
  g_setenv ("GSETTINGS_BACKEND", "memory", TRUE);
  g_setenv ("GSETTINGS_SCHEMA_DIR", BENCH_SCHEMA_DIR, FALSE);
  wb.key_dir = g_dir_make_tmp ("sc-bench-window-XXXXXX", &error);
  if (wb.key_dir == NULL)
    {
      g_printerr ("%s: %s\n", BENCH_WINDOW_PROGRAM, error->message);
      return 1;
    }

  wb.app = sc_application_new ();
  /* not the running Secure Chat of this session, if any */
  g_application_set_flags (G_APPLICATION (wb.app), G_APPLICATION_NON_UNIQUE);
  g_signal_connect_after (wb.app, "activate", G_CALLBACK (on_activate_after), &wb);
  g_signal_connect_swapped (wb.app, "keys-ready", G_CALLBACK (start_later), &wb);
  g_signal_connect (wb.app, "keys-failed", G_CALLBACK (on_keys_failed), &wb);
  g_timeout_add_seconds (SETUP_TIMEOUT_S, on_setup_timeout, &wb);

  app_argv[0] = argv[0];
  app_argv[1] = (char *) "--key-dir";
  app_argv[2] = wb.key_dir;
  app_argv[3] = NULL;
  status = g_application_run (G_APPLICATION (wb.app), 3, app_argv);
  if (status != 0 && wb.error == NULL)
    wb.error = g_strdup_printf ("the application exited with status %d", status);
  if (wb.phase != PHASE_DONE && wb.error == NULL)
    wb.error = g_strdup ("the application ended before the flood did");

  release_sender (&wb, TRUE);
  if (wb.thread != NULL)
    g_thread_join (wb.thread);
  bench_peer_free (wb.peer);

  report (&wb, json, NULL);

  g_object_unref (wb.app);
  remove_tree (wb.key_dir);
  g_free (wb.key_dir);
  g_free (wb.error);
  g_free (wb.renderer);
  g_free (wb.send_error);
  g_free (wb.warm_last);
  g_free (wb.last_text);
  g_free (wb.last_line);
  g_array_unref (wb.idle_late);
  g_array_unref (wb.flood_late);
  g_mutex_clear (&wb.mutex);
  g_cond_clear (&wb.cond);
  return wb.error != NULL ? 1 : 0;
}
