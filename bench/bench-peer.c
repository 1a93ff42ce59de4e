/* bench-peer.c: Secure Chat clients over blocking sockets, and the drain
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "bench-peer.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>

#include "sc-message.h"
#include "bench-util.h"

#define READ_BUF 65536

static gboolean
set_errno_error (GError    **error,
                 const char *what)
{
  int saved = errno;

  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", what,
               g_strerror (saved));
  return FALSE;
}

int
bench_tcp_connect (guint16  port,
                   GError **error)
{
  struct sockaddr_in addr = { 0 };
  int one = 1;
  int fd;

  fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return set_errno_error (error, "socket"), -1;
  addr.sin_family = AF_INET;
  addr.sin_port = htons (port);
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (connect (fd, (struct sockaddr *) &addr, sizeof addr) != 0)
    {
      set_errno_error (error, "connect");
      close (fd);
      return -1;
    }
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

gboolean
bench_write_all (int           fd,
                 const guint8 *data,
                 gsize         len,
                 GError      **error)
{
  while (len > 0)
    {
      gssize n = send (fd, data, len, MSG_NOSIGNAL);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return set_errno_error (error, "send");
      data += n;
      len -= (gsize) n;
    }
  return TRUE;
}

/* ---- peers ---- */

static BenchPeer *
peer_new (ScProtocol protocol)
{
  BenchPeer *self = g_new0 (BenchPeer, 1);

  self->fd = -1;
  self->protocol = protocol;
  self->out = g_byte_array_new ();
  self->reader = sc_frame_reader_new (protocol == SC_PROTOCOL_V1 ? SC_FRAME_GREETING_V1
                                                                 : SC_FRAME_GREETING_V2);
  return self;
}

void
bench_peer_free (BenchPeer *self)
{
  if (self == NULL)
    return;
  if (self->fd >= 0)
    close (self->fd);
  sc_frame_reader_free (self->reader);
  sc_v2_session_free (self->v2);
  sc_v1_session_free (self->v1);
  g_byte_array_unref (self->out);
  g_free (self);
}

static gboolean
peer_flush (BenchPeer *self,
            GError   **error)
{
  gboolean ok = bench_write_all (self->fd, self->out->data, self->out->len, error);

  g_byte_array_set_size (self->out, 0);
  return ok;
}

/* Blocks until the reader has a whole frame */
static gboolean
peer_read_frame (BenchPeer *self,
                 ScFrame   *frame,
                 GError   **error)
{
  GError *local = NULL;

  while (!sc_frame_reader_next (self->reader, frame, &local))
    {
      guint8 buf[4096];
      gssize n;

      if (local != NULL)
        {
          g_propagate_error (error, local);
          return FALSE;
        }
      n = recv (self->fd, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return set_errno_error (error, "recv");
      if (n == 0)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                               "The server closed the connection during the handshake");
          return FALSE;
        }
      sc_frame_reader_feed (self->reader, buf, (gsize) n);
    }
  return TRUE;
}

BenchPeer *
bench_peer_connect_v2 (guint16     port,
                       ScIdentity *identity,
                       const char *nickname,
                       gsize       message_max,
                       GError    **error)
{
  g_autoptr(BenchPeer) self = peer_new (SC_PROTOCOL_V2);
  ScFrame frame;
  ScV2Type type;
  guint8 *pt;
  gsize len;

  if ((self->fd = bench_tcp_connect (port, error)) < 0)
    return NULL;
  self->v2 = sc_v2_session_new (SC_V2_ROLE_CLIENT, identity, NULL);
  sc_v2_session_set_message_max (self->v2, message_max);

  /* the ClientHello first, as ScClient does: it does not wait for G */
  if (!sc_v2_client_start (self->v2, NULL, 0, self->out, error) ||
      !peer_flush (self, error) ||
      !peer_read_frame (self, &frame, error) ||
      !sc_v2_client_consume_greeting (self->v2, frame.data, frame.len, error) ||
      !peer_read_frame (self, &frame, error) ||
      !sc_v2_client_consume_server_hello (self->v2, frame.data, frame.len, error) ||
      !sc_v2_client_send_auth (self->v2, nickname, self->out, error) ||
      !peer_flush (self, error))
    return NULL;

  /* join events for other clients may come first */
  do
    {
      if (!peer_read_frame (self, &frame, error) ||
          !sc_v2_session_open (self->v2, frame.data, frame.len, &type, &pt, &len, error))
        return NULL;
    }
  while (type != SC_V2_WELCOME && type != SC_V2_REJECT);
  if (type == SC_V2_REJECT)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                           "The server rejected the benchmark client");
      return NULL;
    }
  sc_frame_reader_set_limit (self->reader, sc_v2_session_get_frame_limit (self->v2));
  return g_steal_pointer (&self);
}

BenchPeer *
bench_peer_connect_v1 (guint16    port,
                       EVP_PKEY  *client_rsa,
                       GError   **error)
{
  g_autoptr(BenchPeer) self = peer_new (SC_PROTOCOL_V1);
  g_autoptr(EVP_PKEY) server_pub = NULL;
  ScFrame frame;

  if ((self->fd = bench_tcp_connect (port, error)) < 0 ||
      !peer_read_frame (self, &frame, error))
    return NULL;
  server_pub = sc_v1_parse_greeting (frame.data, frame.len, error);
  if (server_pub == NULL)
    return NULL;
  self->v1 = sc_v1_client_handshake (server_pub, client_rsa, NULL, self->out, error);
  if (self->v1 == NULL || !peer_flush (self, error))
    return NULL;
  return g_steal_pointer (&self);
}

GBytes *
bench_peer_payload (ScProtocol  protocol,
                    const char *text)
{
  gsize len;
  char *json;

  if (protocol == SC_PROTOCOL_V1)
    return g_bytes_new (text, strlen (text));
  json = sc_message_build_chat_request (text, &len);
  return g_bytes_new_take (json, len);
}

gboolean
bench_peer_send (BenchPeer *self,
                 GBytes    *payload,
                 gboolean   then_close,
                 GError   **error)
{
  gsize len = 0;
  const guint8 *data = payload != NULL ? g_bytes_get_data (payload, &len) : NULL;

  if (self->protocol == SC_PROTOCOL_V1)
    {
      if (payload != NULL && !sc_v1_seal (self->v1, (const char *) data, len, self->out, error))
        return FALSE;
    }
  else
    {
      if ((payload != NULL &&
           !sc_v2_session_seal (self->v2, SC_V2_CHAT, data, len, self->out, error)) ||
          (then_close && !sc_v2_session_seal (self->v2, SC_V2_CLOSE, NULL, 0, self->out, error)))
        return FALSE;
    }
  return peer_flush (self, error);
}

/* ---- the drain ---- */

typedef struct {
  int          epfd;
  int          stop_fd;
  GThread     *thread;
  BenchDrain  *drain;
} DrainThread;

#define DRAIN_EVENTS 256

struct _BenchDrain {
  gboolean     count_chats;
  guint        lazy_ms;      /* atomic */
  guint        n_threads;
  DrainThread *threads;
  GMutex       mutex;
  GCond        cond;
  GPtrArray   *peers;      /* BenchPeer, under the mutex */
  guint64      chats;      /* under the mutex */
  guint64      bytes;      /* under the mutex */
  double       last_byte;  /* under the mutex */
};

/* Reads what is there; returns the Chat records completed */
static guint64
drain_peer (DrainThread *t,
            BenchPeer   *peer,
            guint8      *buf,
            guint64     *bytes)
{
  BenchDrain *self = t->drain;
  guint64 chats = 0;

  for (;;)
    {
      gssize n = recv (peer->fd, buf, READ_BUF, 0);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        break;
      if (n <= 0)
        {
          /* closed (the server closes everyone when it stops): stop watching */
          epoll_ctl (t->epfd, EPOLL_CTL_DEL, peer->fd, NULL);
          break;
        }
      *bytes += (guint64) n;
      if (self->count_chats)
        {
          g_autoptr(GError) error = NULL;
          ScFrame frame;

          sc_frame_reader_feed (peer->reader, buf, (gsize) n);
          while (sc_frame_reader_next (peer->reader, &frame, &error))
            if (frame.type == SC_V2_CHAT)
              chats++;
          if (error != NULL)
            g_warning ("Drain: %s", error->message);
        }
      if (n < READ_BUF)
        break;
    }
  return chats;
}

static gpointer
drain_thread (gpointer data)
{
  DrainThread *t = data;
  BenchDrain *self = t->drain;
  g_autofree guint8 *buf = g_malloc (READ_BUF);
  struct epoll_event events[DRAIN_EVENTS];

  for (;;)
    {
      guint64 chats = 0, bytes = 0;
      guint lazy_ms;
      int n = epoll_wait (t->epfd, events, G_N_ELEMENTS (events), -1);
      int i;

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        g_error ("epoll_wait: %s", g_strerror (errno));
      for (i = 0; i < n; i++)
        {
          if (events[i].data.ptr == NULL)
            return NULL;   /* the stop eventfd */
          chats += drain_peer (t, events[i].data.ptr, buf, &bytes);
        }
      if (bytes > 0)
        {
          g_mutex_lock (&self->mutex);
          self->chats += chats;
          self->bytes += bytes;
          self->last_byte = bench_now ();
          g_cond_broadcast (&self->cond);
          g_mutex_unlock (&self->mutex);
        }
      lazy_ms = g_atomic_int_get (&self->lazy_ms);
      if (lazy_ms > 0 && n < DRAIN_EVENTS)
        g_usleep (lazy_ms * 1000);
    }
}

BenchDrain *
bench_drain_new (guint    n_threads,
                 gboolean count_chats,
                 guint    lazy_ms)
{
  BenchDrain *self = g_new0 (BenchDrain, 1);
  guint i;

  self->count_chats = count_chats;
  self->lazy_ms = lazy_ms;
  self->n_threads = n_threads;
  self->threads = g_new0 (DrainThread, n_threads);
  self->peers = g_ptr_array_new_with_free_func ((GDestroyNotify) bench_peer_free);
  self->last_byte = bench_now ();
  g_mutex_init (&self->mutex);
  g_cond_init (&self->cond);
  for (i = 0; i < n_threads; i++)
    {
      DrainThread *t = &self->threads[i];
      struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

      t->drain = self;
      t->epfd = epoll_create1 (EPOLL_CLOEXEC);
      t->stop_fd = eventfd (0, EFD_CLOEXEC);
      if (t->epfd < 0 || t->stop_fd < 0 || epoll_ctl (t->epfd, EPOLL_CTL_ADD, t->stop_fd, &ev) != 0)
        g_error ("Drain setup: %s", g_strerror (errno));
      t->thread = g_thread_new ("bench-drain", drain_thread, t);
    }
  return self;
}

void
bench_drain_set_lazy (BenchDrain *self,
                      guint       lazy_ms)
{
  g_atomic_int_set (&self->lazy_ms, lazy_ms);
}

void
bench_drain_add (BenchDrain *self,
                 BenchPeer  *peer)
{
  struct epoll_event ev = { .events = EPOLLIN, .data.ptr = peer };
  DrainThread *t;

  fcntl (peer->fd, F_SETFL, fcntl (peer->fd, F_GETFL) | O_NONBLOCK);
  g_mutex_lock (&self->mutex);
  t = &self->threads[self->peers->len % self->n_threads];
  g_ptr_array_add (self->peers, peer);
  g_mutex_unlock (&self->mutex);
  if (epoll_ctl (t->epfd, EPOLL_CTL_ADD, peer->fd, &ev) != 0)
    g_error ("epoll_ctl: %s", g_strerror (errno));
}

guint
bench_drain_get_n_peers (BenchDrain *self)
{
  guint n;

  g_mutex_lock (&self->mutex);
  n = self->peers->len;
  g_mutex_unlock (&self->mutex);
  return n;
}

guint64
bench_drain_get_chats (BenchDrain *self)
{
  guint64 n;

  g_mutex_lock (&self->mutex);
  n = self->chats;
  g_mutex_unlock (&self->mutex);
  return n;
}

guint64
bench_drain_get_bytes (BenchDrain *self)
{
  guint64 n;

  g_mutex_lock (&self->mutex);
  n = self->bytes;
  g_mutex_unlock (&self->mutex);
  return n;
}

double
bench_drain_get_last_byte (BenchDrain *self)
{
  double t;

  g_mutex_lock (&self->mutex);
  t = self->last_byte;
  g_mutex_unlock (&self->mutex);
  return t;
}

gboolean
bench_drain_wait_chats (BenchDrain *self,
                        guint64     count,
                        GError    **error)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) (BENCH_WAIT_TIMEOUT_S * G_USEC_PER_SEC);
  gboolean ok;

  g_mutex_lock (&self->mutex);
  while (self->chats < count && g_cond_wait_until (&self->cond, &self->mutex, deadline))
    ;
  ok = self->chats >= count;
  if (!ok)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                 "Timed out waiting for deliveries: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT,
                 self->chats, count);
  g_mutex_unlock (&self->mutex);
  return ok;
}

void
bench_drain_wait_quiet (BenchDrain *self,
                        double      quiet_s)
{
  for (;;)
    {
      double since;

      g_mutex_lock (&self->mutex);
      since = bench_now () - self->last_byte;
      g_mutex_unlock (&self->mutex);
      if (since >= quiet_s)
        return;
      g_usleep ((gulong) ((quiet_s - since) * G_USEC_PER_SEC) + 1000);
    }
}

void
bench_drain_free (BenchDrain *self)
{
  guint i;

  if (self == NULL)
    return;
  for (i = 0; i < self->n_threads; i++)
    {
      guint64 one = 1;

      if (write (self->threads[i].stop_fd, &one, sizeof one) != sizeof one)
        g_error ("Drain stop: %s", g_strerror (errno));
      g_thread_join (self->threads[i].thread);
      close (self->threads[i].epfd);
      close (self->threads[i].stop_fd);
    }
  g_ptr_array_unref (self->peers);
  g_mutex_clear (&self->mutex);
  g_cond_clear (&self->cond);
  g_free (self->threads);
  g_free (self);
}
