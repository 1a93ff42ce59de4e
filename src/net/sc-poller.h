/* sc-poller.h: many sockets, one GSource, through epoll
 *
 * GMainContext polls every source's descriptors on each iteration, so with
 * 10,000 connections every wakeup costs a poll() over 10,000 descriptors
 * and a walk over 10,000 sources.  A poller is one GSource over an epoll
 * descriptor: an iteration costs what is ready, not what is open.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _ScPoller ScPoller;
typedef struct _ScPollerWatch ScPollerWatch;

/* @condition holds G_IO_IN, G_IO_OUT, G_IO_HUP and G_IO_ERR as they apply;
 * HUP and ERR are reported whatever the watch asked for. */
typedef void (*ScPollerFunc) (GIOCondition condition,
                              gpointer     user_data);
typedef void (*ScPollerBatchFunc) (gpointer user_data);

/* Attaches to @context; free with sc_poller_free() once its watches are gone */
ScPoller      *sc_poller_new                (GMainContext  *context,
                                             GError       **error);
void           sc_poller_free               (ScPoller      *self);
GMainContext  *sc_poller_get_context        (ScPoller      *self);
/* @func runs at the end of each dispatch, after the callbacks of every
 * descriptor that was ready: where to send what they queued, once a batch */
void           sc_poller_set_batch_end      (ScPoller         *self,
                                             ScPollerBatchFunc func,
                                             gpointer          user_data);
/* TRUE inside a watch's callback, and in the batch end after them */
gboolean       sc_poller_in_dispatch        (ScPoller      *self);

/* Watches @fd for @events (G_IO_IN and/or G_IO_OUT, or 0 for HUP and ERR
 * only).  The watch must be freed before @fd is closed. */
ScPollerWatch *sc_poller_watch              (ScPoller      *self,
                                             int            fd,
                                             GIOCondition   events,
                                             ScPollerFunc   func,
                                             gpointer       user_data);
void           sc_poller_watch_set_events   (ScPollerWatch *watch,
                                             GIOCondition   events);
/* Safe from any callback of the same poller, including the watch's own */
void           sc_poller_watch_free         (ScPollerWatch *watch);

G_END_DECLS
