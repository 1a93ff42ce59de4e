/* test-poller.c: ScPoller's watches over socket pairs
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <sys/socket.h>
#include <unistd.h>

#include "sc-poller.h"

typedef struct {
  ScPollerWatch *watch;
  ScPollerWatch **other;   /* freed by this watch's callback, if set */
  GIOCondition   seen;
  guint          calls;
  gboolean       free_self;
} Watched;

static void
on_ready (GIOCondition condition,
          gpointer     data)
{
  Watched *w = data;

  w->calls++;
  w->seen |= condition;
  if (w->other != NULL)
    g_clear_pointer (w->other, sc_poller_watch_free);
  if (w->free_self)
    g_clear_pointer (&w->watch, sc_poller_watch_free);
}

static ScPoller *
new_poller (void)
{
  g_autoptr(GError) error = NULL;
  ScPoller *poller = sc_poller_new (g_main_context_default (), &error);

  g_assert_no_error (error);
  g_assert_nonnull (poller);
  return poller;
}

static void
socket_pair (int fds[2])
{
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
}

/* Dispatches until nothing more is pending */
static void
run (void)
{
  guint i;

  for (i = 0; i < 10; i++)
    g_main_context_iteration (NULL, FALSE);
}

/* Readable, then writable once asked; nothing while it asks for nothing */
static void
test_events (void)
{
  ScPoller *poller = new_poller ();
  Watched w = { 0 };
  int fds[2];
  char byte = 'x';

  socket_pair (fds);
  w.watch = sc_poller_watch (poller, fds[0], G_IO_IN, on_ready, &w);
  run ();
  g_assert_cmpuint (w.calls, ==, 0);

  g_assert_cmpint (write (fds[1], &byte, 1), ==, 1);
  run ();
  g_assert_cmpuint (w.calls, >, 0);
  g_assert_true (w.seen & G_IO_IN);
  g_assert_cmpint (read (fds[0], &byte, 1), ==, 1);

  w.calls = 0;
  w.seen = 0;
  sc_poller_watch_set_events (w.watch, G_IO_OUT);
  g_main_context_iteration (NULL, FALSE);
  g_assert_cmpuint (w.calls, ==, 1);
  g_assert_true (w.seen == G_IO_OUT);

  /* the peer hangs up: reported though not asked for */
  w.calls = 0;
  w.seen = 0;
  sc_poller_watch_set_events (w.watch, 0);
  close (fds[1]);
  g_main_context_iteration (NULL, FALSE);
  g_assert_true (w.seen & G_IO_HUP);

  sc_poller_watch_free (w.watch);
  close (fds[0]);
  sc_poller_free (poller);
}

/* Two watches ready in one dispatch, each freeing the other: only the first
 * runs (the second's event is dropped, its memory still valid); and a
 * watch may free itself from its own callback */
static void
test_free_in_dispatch (void)
{
  ScPoller *poller = new_poller ();
  Watched a = { 0 }, b = { 0 }, c = { .free_self = TRUE };
  int pa[2], pb[2], pc[2];
  char byte = 'x';

  socket_pair (pa);
  socket_pair (pb);
  socket_pair (pc);
  a.watch = sc_poller_watch (poller, pa[0], G_IO_IN, on_ready, &a);
  b.watch = sc_poller_watch (poller, pb[0], G_IO_IN, on_ready, &b);
  c.watch = sc_poller_watch (poller, pc[0], G_IO_IN, on_ready, &c);
  a.other = &b.watch;
  b.other = &a.watch;
  g_assert_cmpint (write (pa[1], &byte, 1), ==, 1);
  g_assert_cmpint (write (pb[1], &byte, 1), ==, 1);
  g_assert_cmpint (write (pc[1], &byte, 1), ==, 1);

  /* one dispatch sees all three ready */
  g_main_context_iteration (NULL, FALSE);
  g_assert_cmpuint (a.calls + b.calls, ==, 1);
  g_assert_true (a.watch == NULL || b.watch == NULL);
  g_assert_cmpuint (c.calls, ==, 1);
  g_assert_null (c.watch);
  /* c freed itself: still readable, never called again */
  a.other = b.other = NULL;
  run ();
  g_assert_cmpuint (c.calls, ==, 1);

  g_clear_pointer (&a.watch, sc_poller_watch_free);
  g_clear_pointer (&b.watch, sc_poller_watch_free);
  for (guint i = 0; i < 2; i++)
    {
      close (pa[i]);
      close (pb[i]);
      close (pc[i]);
    }
  sc_poller_free (poller);
}

typedef struct {
  ScPoller *poller;
  Watched  *watched[2];
  guint     batches;
  guint     calls_at_batch;   /* the watches' calls when the batch ended */
  gboolean  in_dispatch;      /* what in_dispatch() said as the batch ended */
} Batch;

static void
on_batch_end (gpointer data)
{
  Batch *batch = data;

  batch->batches++;
  batch->calls_at_batch = batch->watched[0]->calls + batch->watched[1]->calls;
  batch->in_dispatch = sc_poller_in_dispatch (batch->poller);
}

/* The batch end runs once per dispatch, after the callbacks of every ready
 * descriptor, and still counts as inside the dispatch */
static void
test_batch_end (void)
{
  ScPoller *poller = new_poller ();
  Watched a = { 0 }, b = { 0 };
  Batch batch = { poller, { &a, &b }, 0, 0, FALSE };
  int pa[2], pb[2];
  char byte = 'x';

  socket_pair (pa);
  socket_pair (pb);
  sc_poller_set_batch_end (poller, on_batch_end, &batch);
  a.watch = sc_poller_watch (poller, pa[0], G_IO_IN, on_ready, &a);
  b.watch = sc_poller_watch (poller, pb[0], G_IO_IN, on_ready, &b);
  run ();
  g_assert_cmpuint (batch.batches, ==, 0);  /* nothing was ready */
  g_assert_false (sc_poller_in_dispatch (poller));

  g_assert_cmpint (write (pa[1], &byte, 1), ==, 1);
  g_assert_cmpint (write (pb[1], &byte, 1), ==, 1);
  g_main_context_iteration (NULL, FALSE);
  g_assert_cmpuint (a.calls, ==, 1);
  g_assert_cmpuint (b.calls, ==, 1);
  g_assert_cmpuint (batch.batches, ==, 1);
  g_assert_cmpuint (batch.calls_at_batch, ==, 2);
  g_assert_true (batch.in_dispatch);
  g_assert_false (sc_poller_in_dispatch (poller));

  sc_poller_watch_free (a.watch);
  sc_poller_watch_free (b.watch);
  for (guint i = 0; i < 2; i++)
    {
      close (pa[i]);
      close (pb[i]);
    }
  sc_poller_free (poller);
}

typedef struct {
  Watched  w;
  int      fd;
  Watched *other;
  guint    other_calls_inside;  /* the other's calls once the nested run is over */
} Nesting;

/* Reads its byte, then runs the context from inside the dispatch */
static void
on_ready_nest (GIOCondition condition,
               gpointer     data)
{
  Nesting *n = data;
  char byte;

  n->w.calls++;
  g_assert_cmpint (read (n->fd, &byte, 1), ==, 1);
  g_main_context_iteration (NULL, FALSE);
  n->other_calls_inside = n->other->calls;
}

/* A callback that iterates the context runs the poller again inside its
 * own dispatch; a watch freed in there stays valid until the outer
 * dispatch is over, which then skips it */
static void
test_nested_dispatch (void)
{
  ScPoller *poller = new_poller ();
  Nesting a = { 0 };
  Watched b = { .free_self = TRUE };
  Batch batch = { poller, { &a.w, &b }, 0, 0, FALSE };
  int pa[2], pb[2];
  char byte = 'x';

  socket_pair (pa);
  socket_pair (pb);
  sc_poller_set_batch_end (poller, on_batch_end, &batch);
  a.fd = pa[0];
  a.other = &b;
  a.w.watch = sc_poller_watch (poller, pa[0], G_IO_IN, on_ready_nest, &a);
  b.watch = sc_poller_watch (poller, pb[0], G_IO_IN, on_ready, &b);
  g_assert_cmpint (write (pa[1], &byte, 1), ==, 1);
  g_assert_cmpint (write (pb[1], &byte, 1), ==, 1);

  g_main_context_iteration (NULL, FALSE);
  run ();
  g_assert_cmpuint (a.w.calls, ==, 1);
  g_assert_cmpuint (b.calls, ==, 1);
  g_assert_null (b.watch);
  /* the poller did run inside itself (it may: GLib was told it can recurse) */
  g_assert_cmpuint (a.other_calls_inside, ==, 1);
  /* and the batch ended once, for the outer dispatch */
  g_assert_cmpuint (batch.batches, ==, 1);
  g_assert_cmpuint (batch.calls_at_batch, ==, 2);

  sc_poller_watch_free (a.w.watch);
  for (guint i = 0; i < 2; i++)
    {
      close (pa[i]);
      close (pb[i]);
    }
  sc_poller_free (poller);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/poller/events", test_events);
  g_test_add_func ("/poller/free-in-dispatch", test_free_in_dispatch);
  g_test_add_func ("/poller/nested-dispatch", test_nested_dispatch);
  g_test_add_func ("/poller/batch-end", test_batch_end);
  return g_test_run ();
}
