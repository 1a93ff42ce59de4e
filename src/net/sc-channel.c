/* sc-channel.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "sc-channel.h"

#include "sc-poller.h"

#include <string.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#define READ_CHUNK 65536
/* an output buffer that grew past this during a burst is let go once sent */
#define OUT_KEEP   16384

struct _ScChannel {
  GSocketConnection  *connection;
  GSocket            *socket;
  ScPoller           *poller;
  GMainContext       *context;
  gsize               send_max;
  ScChannelReadFunc   read_func;
  ScChannelClosedFunc closed_func;
  ScChannelDrainedFunc drained_func;
  gpointer            user_data;
  ScFrameReader      *reader;       /* not owned; see sc_channel_set_reader() */

  ScPollerWatch      *watch;        /* for reading once started, writing when queued */
  GSource            *timer_source;
  GSource            *closed_source;
  GSource            *drained_source;
  GByteArray         *out;
  gsize               out_start;
  char               *peer;
  GError             *error;

  guint               started : 1;   /* reading */
  guint               paused : 1;    /* not reading for now */
  guint               closing : 1;   /* close once the output is written */
  guint               draining : 1;  /* our side shut down, reading to EOF */
  guint               closed : 1;
  guint               waited : 1;    /* output had to wait for the socket */
  guint               linger_ms;
};

static void on_ready (GIOCondition condition, gpointer data);

static void
destroy_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

/* An idle on the channel's context, at default priority, calling func (self) */
static GSource *
attach_idle (ScChannel   *self,
             GSourceFunc  func)
{
  GSource *source = g_idle_source_new ();

  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, func, self, NULL);
  g_source_attach (source, self->context);
  return source;
}

static gboolean
on_closed_idle (gpointer data)
{
  ScChannel *self = data;

  g_clear_pointer (&self->closed_source, g_source_unref);
  /* may free self */
  self->closed_func (self, self->error, self->user_data);
  return G_SOURCE_REMOVE;
}

void
sc_channel_close (ScChannel    *self,
                  const GError *error)
{
  if (self->closed)
    return;
  self->closed = TRUE;
  if (error != NULL)
    self->error = g_error_copy (error);
  g_clear_pointer (&self->watch, sc_poller_watch_free);
  destroy_source (&self->timer_source);
  destroy_source (&self->drained_source);
  g_io_stream_close (G_IO_STREAM (self->connection), NULL, NULL);
  g_byte_array_set_size (self->out, 0);
  self->out_start = 0;

  self->closed_source = attach_idle (self, on_closed_idle);
}

static void
close_with (ScChannel  *self,
            GQuark      domain,
            int         code,
            const char *message)
{
  g_autoptr(GError) error = g_error_new_literal (domain, code, message);

  sc_channel_close (self, error);
}

ScChannel *
sc_channel_new (GSocketConnection  *connection,
                ScPoller           *poller,
                gsize               send_max,
                ScChannelReadFunc   read_func,
                ScChannelClosedFunc closed_func,
                gpointer            user_data)
{
  ScChannel *self = g_new0 (ScChannel, 1);
  g_autoptr(GSocketAddress) addr = NULL;

  self->connection = g_object_ref (connection);
  self->socket = g_socket_connection_get_socket (connection);
  self->poller = poller;
  self->context = g_main_context_ref (sc_poller_get_context (poller));
  self->send_max = send_max;
  self->read_func = read_func;
  self->closed_func = closed_func;
  self->user_data = user_data;
  self->out = g_byte_array_new ();
  g_socket_set_blocking (self->socket, FALSE);
  /* a GSocketClient timeout would make idle sockets fail; we time things ourselves */
  g_socket_set_timeout (self->socket, 0);
  /* Records go out whole, one send per burst: Nagle's algorithm would only
   * hold the next one back until the peer acknowledges the last. */
  if (g_socket_get_protocol (self->socket) == G_SOCKET_PROTOCOL_TCP)
    g_socket_set_option (self->socket, IPPROTO_TCP, TCP_NODELAY, 1, NULL);

  addr = g_socket_get_remote_address (self->socket, NULL);
  if (G_IS_INET_SOCKET_ADDRESS (addr))
    {
      GInetAddress *inet = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (addr));
      g_autofree char *host = g_inet_address_to_string (inet);
      guint16 port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (addr));

      if (g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV6)
        self->peer = g_strdup_printf ("[%s]:%u", host, port);
      else
        self->peer = g_strdup_printf ("%s:%u", host, port);
    }
  else
    self->peer = g_strdup ("unknown");
  return self;
}

/* Reading once started, writing while output is queued */
static void
update_watch (ScChannel *self)
{
  GIOCondition events = (self->started && !self->paused ? G_IO_IN : 0) |
                        (self->out_start < self->out->len ? G_IO_OUT : 0);

  if (self->closed)
    return;
  if (events == 0)
    g_clear_pointer (&self->watch, sc_poller_watch_free);
  else if (self->watch == NULL)
    self->watch = sc_poller_watch (self->poller, g_socket_get_fd (self->socket),
                                   events, on_ready, self);
  else
    sc_poller_watch_set_events (self->watch, events);
}

void
sc_channel_start (ScChannel *self)
{
  if (self->closed || self->started)
    return;
  self->started = TRUE;
  update_watch (self);
}

void
sc_channel_set_paused (ScChannel *self,
                       gboolean   paused)
{
  self->paused = paused != FALSE;
  update_watch (self);
}

void
sc_channel_free (ScChannel *self)
{
  if (self == NULL)
    return;
  g_clear_pointer (&self->watch, sc_poller_watch_free);
  destroy_source (&self->timer_source);
  destroy_source (&self->closed_source);
  destroy_source (&self->drained_source);
  if (!self->closed)
    g_io_stream_close (G_IO_STREAM (self->connection), NULL, NULL);
  g_object_unref (self->connection);
  g_main_context_unref (self->context);
  g_byte_array_unref (self->out);
  g_clear_error (&self->error);
  g_free (self->peer);
  g_free (self);
}

const char *
sc_channel_get_peer (ScChannel *self)
{
  return self->peer;
}

gboolean
sc_channel_is_closed (ScChannel *self)
{
  return self->closed;
}

GByteArray *
sc_channel_get_output (ScChannel *self)
{
  return self->out;
}

gsize
sc_channel_get_queued (ScChannel *self)
{
  return self->out->len - self->out_start;
}

static gboolean
on_linger_timeout (gpointer data)
{
  ScChannel *self = data;

  g_clear_pointer (&self->timer_source, g_source_unref);
  sc_channel_close (self, NULL);
  return G_SOURCE_REMOVE;
}

/* All output written while closing: half-close, then wait for the peer */
static void
finish_closing (ScChannel *self)
{
  if (self->draining)
    return;
  self->draining = TRUE;
  if (!g_socket_shutdown (self->socket, FALSE, TRUE, NULL) || self->linger_ms == 0)
    {
      sc_channel_close (self, NULL);
      return;
    }
  self->timer_source = g_timeout_source_new (self->linger_ms);
  g_source_set_callback (self->timer_source, on_linger_timeout, self, NULL);
  g_source_attach (self->timer_source, self->context);
}

static gboolean
on_drained_idle (gpointer data)
{
  ScChannel *self = data;

  g_clear_pointer (&self->drained_source, g_source_unref);
  if (!self->closing && self->out_start == self->out->len)
    self->drained_func (self, self->user_data);
  return G_SOURCE_REMOVE;
}

void
sc_channel_flush (ScChannel *self)
{
  if (self->closed)
    return;

  while (self->out_start < self->out->len)
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_socket_send_with_blocking (self->socket,
                                              (const char *) self->out->data + self->out_start,
                                              self->out->len - self->out_start,
                                              FALSE, NULL, &error);
      if (n < 0)
        {
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            break;
          sc_channel_close (self, error);
          return;
        }
      self->out_start += (gsize) n;
    }

  if (self->out_start == self->out->len)
    {
      /* let a burst's buffer go, so idle connections stay small */
      if (self->out->len > OUT_KEEP)
        {
          g_byte_array_unref (self->out);
          self->out = g_byte_array_new ();
        }
      g_byte_array_set_size (self->out, 0);
      self->out_start = 0;
      update_watch (self);
      if (self->closing)
        finish_closing (self);
      else if (self->waited && self->drained_func != NULL && self->drained_source == NULL)
        /* from the main loop, never from inside the flush a sender called */
        self->drained_source = attach_idle (self, on_drained_idle);
      self->waited = FALSE;
      return;
    }

  if (self->out->len - self->out_start > self->send_max)
    {
      close_with (self, G_IO_ERROR, G_IO_ERROR_NO_SPACE,
                  "Send queue full: the peer is not reading");
      return;
    }
  /* drop what was written once it is most of the buffer */
  if (self->out_start > 65536 && self->out_start > self->out->len / 2)
    {
      g_byte_array_remove_range (self->out, 0, (guint) self->out_start);
      self->out_start = 0;
    }
  self->waited = TRUE;
  update_watch (self);
}

void
sc_channel_close_after_flush (ScChannel *self,
                              guint      linger_ms)
{
  if (self->closed || self->closing)
    return;
  self->closing = TRUE;
  self->linger_ms = linger_ms;
  sc_channel_flush (self);
}

void
sc_channel_set_drained_func (ScChannel           *self,
                             ScChannelDrainedFunc func)
{
  self->drained_func = func;
}

void
sc_channel_set_reader (ScChannel     *self,
                       ScFrameReader *reader)
{
  self->reader = reader;
}

static void
on_readable (ScChannel *self)
{
  guint8 buf[READ_CHUNK];
  gboolean drained = FALSE;
  guint rounds;

  /* A few reads per wakeup, so one busy peer cannot starve the others */
  for (rounds = 0; rounds < 4 && !self->closed && !self->paused; rounds++)
    {
      g_autoptr(GError) error = NULL;
      gboolean direct = self->reader != NULL &&
                        sc_frame_reader_get_mode (self->reader) == SC_FRAME_V2;
      gsize missing = direct ? sc_frame_reader_missing (self->reader) : 0;
      /* v2: straight into the reader, and no further than the end of a
       * frame it has begun, so a large frame is neither copied nor split */
      gsize want = missing > 0 ? missing : sizeof buf;
      guint8 *dest = direct ? sc_frame_reader_reserve (self->reader, want) : buf;
      gssize n = g_socket_receive_with_blocking (self->socket, (char *) dest, want,
                                                 FALSE, NULL, &error);

      if (n < 0)
        {
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            {
              drained = TRUE;
              break;
            }
          sc_channel_close (self, error);
          break;
        }
      if (n == 0)
        {
          if (self->draining)
            sc_channel_close (self, NULL);
          else
            close_with (self, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                        "The peer closed the connection");
          break;
        }
      if (direct)
        sc_frame_reader_commit (self->reader, (gsize) n);
      if (!self->draining && !self->closing)
        self->read_func (self, direct ? NULL : buf, (gsize) n, self->user_data);
      if ((gsize) n < want)
        {
          drained = TRUE;
          break;
        }
    }
  /* a pause in the stream: an idle connection keeps no buffer */
  if (drained && self->reader != NULL && !self->closed)
    sc_frame_reader_trim (self->reader);
}

static void
on_ready (GIOCondition condition,
          gpointer     data)
{
  ScChannel *self = data;

  if ((condition & G_IO_OUT) != 0)
    sc_channel_flush (self);
  /* HUP and ERR come whatever we asked for: reading finds out which */
  if ((condition & (G_IO_IN | G_IO_HUP | G_IO_ERR)) != 0 && self->started && !self->paused &&
      !self->closed)
    on_readable (self);
}
