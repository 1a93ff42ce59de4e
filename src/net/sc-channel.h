/* sc-channel.h: one non-blocking TCP connection, driven by a poller
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#include "sc-frame.h"
#include "sc-poller.h"

typedef struct _ScChannel ScChannel;

/* Bytes arrived (@data NULL: they went into the channel's reader).  The
 * callback may queue output and may close the channel. */
typedef void (*ScChannelReadFunc)   (ScChannel    *channel,
                                     const guint8 *data,
                                     gsize         len,
                                     gpointer      user_data);
/* The channel is finished: @error is NULL for an orderly end of stream.
 * Called once, from an idle in the channel's context; the owner may free
 * the channel here. */
typedef void (*ScChannelClosedFunc) (ScChannel    *channel,
                                     const GError *error,
                                     gpointer      user_data);

/* All the output that had to wait for the socket has been written (not
 * called when flush() writes everything at once).  Called from an idle in
 * the channel's context, never from inside flush(); the callback may
 * queue output. */
typedef void (*ScChannelDrainedFunc) (ScChannel    *channel,
                                      gpointer      user_data);

/* Callbacks run on @poller's context */
ScChannel  *sc_channel_new          (GSocketConnection  *connection,
                                     ScPoller           *poller,
                                     gsize               send_max,
                                     ScChannelReadFunc   read_func,
                                     ScChannelClosedFunc closed_func,
                                     gpointer            user_data);
void        sc_channel_free         (ScChannel          *self);

/* Lets the channel receive the rest of a large v2 frame straight into
 * @reader, which must outlive it or be unset first; the read function then
 * gets NULL and the count of bytes added to @reader.  The reader's buffer is
 * trimmed whenever the socket runs dry. */
void        sc_channel_set_reader   (ScChannel          *self,
                                     ScFrameReader      *reader);

void        sc_channel_set_drained_func (ScChannel          *self,
                                         ScChannelDrainedFunc func);

/* Stops reading for a while (the socket's buffers then hold the peer
 * back), or goes on */
void        sc_channel_set_paused   (ScChannel          *self,
                                     gboolean            paused);

/* Starts reading (separate from new() so owners can finish setting up) */
void        sc_channel_start        (ScChannel          *self);

/* The output buffer, for appending frames in place; then call flush().
 * The array may be replaced by flush(): fetch it again each time. */
GByteArray *sc_channel_get_output   (ScChannel          *self);
/* Writes what it can without blocking, waits for the socket for the rest.
 * A queue above send_max closes the channel with G_IO_ERROR_NO_SPACE. */
void        sc_channel_flush        (ScChannel          *self);
gsize       sc_channel_get_queued   (ScChannel          *self);

/* Closes once the queue is written: shuts down our side, then reads (and
 * drops) until the peer closes or @linger_ms passes. */
void        sc_channel_close_after_flush (ScChannel     *self,
                                          guint          linger_ms);
/* Closes now, reporting @error (NULL: an orderly close) */
void        sc_channel_close        (ScChannel          *self,
                                     const GError       *error);
gboolean    sc_channel_is_closed    (ScChannel          *self);

const char *sc_channel_get_peer     (ScChannel          *self);  /* "addr:port" */

G_END_DECLS
