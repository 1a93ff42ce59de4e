/* sc-poller.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "sc-poller.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <gio/gio.h>

/* Ready descriptors handled per dispatch; the rest stay ready (epoll is
 * level-triggered here) and come in the next iteration. */
#define MAX_EVENTS 256

struct _ScPoller {
  GSource    source;
  int        epfd;
  gpointer   tag;
  guint      dispatching;  /* depth: a callback may iterate the context */
  GPtrArray *dead;   /* watches freed during a dispatch, freed after it */
  ScPollerBatchFunc batch_end;
  gpointer   batch_data;
};

struct _ScPollerWatch {
  ScPoller    *poller;
  int          fd;
  guint32      events;
  ScPollerFunc func;
  gpointer     user_data;
  gboolean     dead;
};

static gboolean
poller_dispatch (GSource     *source,
                 GSourceFunc  callback,
                 gpointer     data)
{
  ScPoller *self = (ScPoller *) source;
  struct epoll_event events[MAX_EVENTS];
  int n, i;

  n = epoll_wait (self->epfd, events, MAX_EVENTS, 0);
  self->dispatching++;
  for (i = 0; i < n; i++)
    {
      ScPollerWatch *watch = events[i].data.ptr;
      guint32 e = events[i].events;
      GIOCondition condition = 0;

      /* freed by an earlier callback of this dispatch */
      if (watch->dead)
        continue;
      if (e & EPOLLIN)
        condition |= G_IO_IN;
      if (e & EPOLLOUT)
        condition |= G_IO_OUT;
      if (e & EPOLLHUP)
        condition |= G_IO_HUP;
      if (e & EPOLLERR)
        condition |= G_IO_ERR;
      watch->func (condition, watch->user_data);
    }
  if (self->dispatching == 1 && self->batch_end != NULL)
    self->batch_end (self->batch_data);
  if (--self->dispatching == 0)
    g_ptr_array_set_size (self->dead, 0);
  return G_SOURCE_CONTINUE;
}

static void
poller_finalize (GSource *source)
{
  ScPoller *self = (ScPoller *) source;

  g_ptr_array_unref (self->dead);
  if (self->epfd >= 0)
    close (self->epfd);
}

static GSourceFuncs poller_funcs = {
  .dispatch = poller_dispatch,
  .finalize = poller_finalize,
};

ScPoller *
sc_poller_new (GMainContext *context,
               GError      **error)
{
  int epfd = epoll_create1 (EPOLL_CLOEXEC);
  ScPoller *self;

  if (epfd < 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "Cannot create an epoll descriptor: %s", g_strerror (saved));
      return NULL;
    }
  self = (ScPoller *) g_source_new (&poller_funcs, sizeof (ScPoller));
  self->epfd = epfd;
  self->dead = g_ptr_array_new_with_free_func (g_free);
  g_source_set_static_name (&self->source, "ScPoller");
  self->tag = g_source_add_unix_fd (&self->source, epfd, G_IO_IN);
  /* GLib blocks a source that cannot recurse while it dispatches, by taking
   * its descriptor out of the poll set and putting it back, and each of the
   * two writes the context's wakeup eventfd: two needless syscalls and one
   * needless extra loop iteration per dispatch.  The dispatch above copes
   * with recursion (the depth counter), so let it. */
  g_source_set_can_recurse (&self->source, TRUE);
  g_source_attach (&self->source, context);
  return self;
}

void
sc_poller_free (ScPoller *self)
{
  if (self == NULL)
    return;
  g_source_destroy (&self->source);
  g_source_unref (&self->source);
}

GMainContext *
sc_poller_get_context (ScPoller *self)
{
  return g_source_get_context (&self->source);
}

void
sc_poller_set_batch_end (ScPoller         *self,
                         ScPollerBatchFunc func,
                         gpointer          user_data)
{
  self->batch_end = func;
  self->batch_data = user_data;
}

gboolean
sc_poller_in_dispatch (ScPoller *self)
{
  return self->dispatching > 0;
}

static guint32
epoll_events (GIOCondition events)
{
  return ((events & G_IO_IN) ? EPOLLIN : 0) | ((events & G_IO_OUT) ? EPOLLOUT : 0);
}

ScPollerWatch *
sc_poller_watch (ScPoller     *self,
                 int           fd,
                 GIOCondition  events,
                 ScPollerFunc  func,
                 gpointer      user_data)
{
  ScPollerWatch *watch = g_new0 (ScPollerWatch, 1);
  struct epoll_event ev = { 0 };

  watch->poller = self;
  watch->fd = fd;
  watch->events = epoll_events (events);
  watch->func = func;
  watch->user_data = user_data;
  ev.events = watch->events;
  ev.data.ptr = watch;
  /* fails only for a bad descriptor or no memory: both bugs here */
  if (epoll_ctl (self->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
    g_critical ("epoll_ctl (ADD, %d): %s", fd, g_strerror (errno));
  return watch;
}

void
sc_poller_watch_set_events (ScPollerWatch *watch,
                            GIOCondition   events)
{
  struct epoll_event ev = { 0 };

  if (watch->events == epoll_events (events))
    return;
  watch->events = epoll_events (events);
  ev.events = watch->events;
  ev.data.ptr = watch;
  if (epoll_ctl (watch->poller->epfd, EPOLL_CTL_MOD, watch->fd, &ev) != 0)
    g_critical ("epoll_ctl (MOD, %d): %s", watch->fd, g_strerror (errno));
}

void
sc_poller_watch_free (ScPollerWatch *watch)
{
  ScPoller *self;

  if (watch == NULL)
    return;
  self = watch->poller;
  epoll_ctl (self->epfd, EPOLL_CTL_DEL, watch->fd, NULL);
  watch->dead = TRUE;
  /* this dispatch may still hold an event for it */
  if (self->dispatching)
    g_ptr_array_add (self->dead, watch);
  else
    g_free (watch);
}
