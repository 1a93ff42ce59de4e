/* bench-tls.c: the TLS 1.3 baseline (libssl)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define _GNU_SOURCE  /* accept4 */

#include "bench-tls.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "bench-peer.h"
#include "sc-crypto.h"

#define READ_BUF 65536
#define BENCH_TLS_HOST "localhost"

struct _BenchTls {
  EVP_PKEY *key;
  X509     *cert;
  SSL_CTX  *server_ctx;
  SSL_CTX  *client_ctx;
};

/* An Ed25519 key and a self-signed certificate for "localhost" */
static gboolean
make_certificate (BenchTls *self,
                  GError  **error)
{
  X509_NAME *name;

  self->key = EVP_PKEY_Q_keygen (NULL, NULL, "ED25519");
  self->cert = X509_new ();
  if (self->key == NULL || self->cert == NULL)
    return sc_crypto_fail (error, SC_ERROR_CRYPTO, "Ed25519 key");
  name = X509_get_subject_name (self->cert);
  if (X509_set_version (self->cert, X509_VERSION_3) != 1 ||
      ASN1_INTEGER_set (X509_get_serialNumber (self->cert), 1) != 1 ||
      X509_gmtime_adj (X509_getm_notBefore (self->cert), -3600) == NULL ||
      X509_gmtime_adj (X509_getm_notAfter (self->cert), 7 * 86400) == NULL ||
      X509_set_pubkey (self->cert, self->key) != 1 ||
      X509_NAME_add_entry_by_txt (name, "CN", MBSTRING_ASC,
                                  (const unsigned char *) BENCH_TLS_HOST, -1, -1, 0) != 1 ||
      X509_set_issuer_name (self->cert, name) != 1 ||
      X509_sign (self->cert, self->key, NULL) <= 0)
    return sc_crypto_fail (error, SC_ERROR_CRYPTO, "Self-signed certificate");
  return TRUE;
}

/* What both ends agree on: TLS 1.3, X25519, AES-256-GCM, no resumption */
static gboolean
configure_common (SSL_CTX  *ctx,
                  GError  **error)
{
  if (SSL_CTX_set_min_proto_version (ctx, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version (ctx, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set1_groups_list (ctx, "X25519") != 1 ||
      SSL_CTX_set_ciphersuites (ctx, "TLS_AES_256_GCM_SHA384") != 1)
    return sc_crypto_fail (error, SC_ERROR_CRYPTO, "TLS context");
  SSL_CTX_set_session_cache_mode (ctx, SSL_SESS_CACHE_OFF);
  return TRUE;
}

BenchTls *
bench_tls_new (GError **error)
{
  BenchTls *self = g_new0 (BenchTls, 1);

  if (!make_certificate (self, error))
    goto failed;

  self->server_ctx = SSL_CTX_new (TLS_server_method ());
  if (self->server_ctx == NULL || !configure_common (self->server_ctx, error))
    goto failed;
  if (SSL_CTX_use_certificate (self->server_ctx, self->cert) != 1 ||
      SSL_CTX_use_PrivateKey (self->server_ctx, self->key) != 1 ||
      SSL_CTX_set_num_tickets (self->server_ctx, 0) != 1)
    {
      sc_crypto_fail (error, SC_ERROR_CRYPTO, "TLS server context");
      goto failed;
    }
  SSL_CTX_set_read_ahead (self->server_ctx, 1);

  self->client_ctx = SSL_CTX_new (TLS_client_method ());
  if (self->client_ctx == NULL || !configure_common (self->client_ctx, error))
    goto failed;
  if (X509_STORE_add_cert (SSL_CTX_get_cert_store (self->client_ctx), self->cert) != 1)
    {
      sc_crypto_fail (error, SC_ERROR_CRYPTO, "TLS trust store");
      goto failed;
    }
  SSL_CTX_set_verify (self->client_ctx, SSL_VERIFY_PEER, NULL);
  return self;

failed:
  bench_tls_free (self);
  return NULL;
}

void
bench_tls_free (BenchTls *self)
{
  if (self == NULL)
    return;
  SSL_CTX_free (self->server_ctx);
  SSL_CTX_free (self->client_ctx);
  X509_free (self->cert);
  EVP_PKEY_free (self->key);
  g_free (self);
}

/* ---- the server ---- */

typedef struct {
  int       fd;
  SSL      *ssl;
  gboolean  established;
  gboolean  want_write;
  gsize     have;
  char      message[BENCH_TLS_MESSAGE_MAX];
} ServerConn;

struct _BenchTlsServer {
  BenchTls   *tls;
  BenchSink  *sink;
  int         listen_fd;
  int         stop_fd;
  int         epfd;
  guint16     port;
  gint        message_size;  /* atomic */
  GThread    *thread;
  GHashTable *conns;         /* ServerConn set, server thread */
};

/* epoll tags for the two sockets that are not connections */
static char listen_tag, stop_tag;

static void
server_conn_free (ServerConn *conn)
{
  SSL_free (conn->ssl);
  close (conn->fd);
  g_free (conn);
}

static void
server_accept (BenchTlsServer *self)
{
  for (;;)
    {
      int fd = accept4 (self->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
      struct epoll_event ev = { .events = EPOLLIN };
      ServerConn *conn;
      int one = 1;

      if (fd < 0)
        return;   /* EAGAIN, or a connection that went away */
      setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      conn = g_new0 (ServerConn, 1);
      conn->fd = fd;
      conn->ssl = SSL_new (self->tls->server_ctx);
      SSL_set_fd (conn->ssl, fd);
      SSL_set_accept_state (conn->ssl);
      ev.data.ptr = conn;
      epoll_ctl (self->epfd, EPOLL_CTL_ADD, fd, &ev);
      g_hash_table_add (self->conns, conn);
    }
}

static void
server_consume (BenchTlsServer *self,
                ServerConn     *conn,
                const guint8   *data,
                gsize           len)
{
  gsize size = (gsize) g_atomic_int_get (&self->message_size);
  gsize take;

  if (size == 0)
    {
      bench_sink_add_bytes (self->sink, len);
      return;
    }
  take = MIN (len, size - MIN (conn->have, size));
  memcpy (conn->message + conn->have, data, take);
  conn->have += take;
  if (take > 0 && conn->have == size)
    bench_sink_deliver (self->sink, conn->message, size);
}

/* Handshake, then read all there is; FALSE when the connection is over */
static gboolean
server_drive (BenchTlsServer *self,
              ServerConn     *conn,
              guint8         *buf)
{
  int r, e;

  conn->want_write = FALSE;
  if (!conn->established)
    {
      r = SSL_do_handshake (conn->ssl);
      if (r != 1)
        {
          e = SSL_get_error (conn->ssl, r);
          conn->want_write = e == SSL_ERROR_WANT_WRITE;
          ERR_clear_error ();
          return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
        }
      conn->established = TRUE;
    }
  for (;;)
    {
      r = SSL_read (conn->ssl, buf, READ_BUF);
      if (r > 0)
        {
          server_consume (self, conn, buf, (gsize) r);
          continue;
        }
      e = SSL_get_error (conn->ssl, r);
      conn->want_write = e == SSL_ERROR_WANT_WRITE;
      ERR_clear_error ();
      /* ZERO_RETURN is the client's close_notify; anything else ends it too */
      return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
    }
}

static gpointer
server_thread (gpointer data)
{
  BenchTlsServer *self = data;
  g_autofree guint8 *buf = g_malloc (READ_BUF);
  struct epoll_event events[64];

  for (;;)
    {
      int n = epoll_wait (self->epfd, events, G_N_ELEMENTS (events), -1);
      int i;

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        g_error ("epoll_wait: %s", g_strerror (errno));
      for (i = 0; i < n; i++)
        {
          ServerConn *conn = events[i].data.ptr;

          if (events[i].data.ptr == &stop_tag)
            return NULL;
          if (events[i].data.ptr == &listen_tag)
            {
              server_accept (self);
              continue;
            }
          if (!server_drive (self, conn, buf))
            {
              epoll_ctl (self->epfd, EPOLL_CTL_DEL, conn->fd, NULL);
              g_hash_table_remove (self->conns, conn);
              continue;
            }
          {
            struct epoll_event ev = { .events = EPOLLIN | (conn->want_write ? EPOLLOUT : 0),
                                      .data.ptr = conn };

            if ((events[i].events & EPOLLOUT) || conn->want_write)
              epoll_ctl (self->epfd, EPOLL_CTL_MOD, conn->fd, &ev);
          }
        }
    }
}

BenchTlsServer *
bench_tls_server_new (BenchTls   *tls,
                      BenchSink  *sink,
                      GError    **error)
{
  BenchTlsServer *self = g_new0 (BenchTlsServer, 1);
  struct sockaddr_in addr = { 0 };
  socklen_t addr_len = sizeof addr;
  struct epoll_event ev = { .events = EPOLLIN };
  int one = 1;

  self->tls = tls;
  self->sink = sink;
  self->conns = g_hash_table_new_full (NULL, NULL, (GDestroyNotify) server_conn_free, NULL);
  self->listen_fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  self->stop_fd = eventfd (0, EFD_CLOEXEC);
  self->epfd = epoll_create1 (EPOLL_CLOEXEC);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  setsockopt (self->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (self->listen_fd < 0 || self->stop_fd < 0 || self->epfd < 0 ||
      bind (self->listen_fd, (struct sockaddr *) &addr, sizeof addr) != 0 ||
      listen (self->listen_fd, 128) != 0 ||
      getsockname (self->listen_fd, (struct sockaddr *) &addr, &addr_len) != 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "TLS server socket: %s", g_strerror (saved));
      bench_tls_server_free (self);
      return NULL;
    }
  self->port = ntohs (addr.sin_port);
  ev.data.ptr = &listen_tag;
  epoll_ctl (self->epfd, EPOLL_CTL_ADD, self->listen_fd, &ev);
  ev.data.ptr = &stop_tag;
  epoll_ctl (self->epfd, EPOLL_CTL_ADD, self->stop_fd, &ev);
  self->thread = g_thread_new ("bench-tls-server", server_thread, self);
  return self;
}

guint16
bench_tls_server_get_port (BenchTlsServer *self)
{
  return self->port;
}

void
bench_tls_server_set_message_size (BenchTlsServer *self,
                                   gsize           size)
{
  g_return_if_fail (size <= BENCH_TLS_MESSAGE_MAX);
  g_atomic_int_set (&self->message_size, (gint) size);
}

void
bench_tls_server_free (BenchTlsServer *self)
{
  if (self == NULL)
    return;
  if (self->thread != NULL)
    {
      guint64 one = 1;

      if (write (self->stop_fd, &one, sizeof one) != sizeof one)
        g_error ("TLS server stop: %s", g_strerror (errno));
      g_thread_join (self->thread);
    }
  g_hash_table_unref (self->conns);
  if (self->listen_fd >= 0)
    close (self->listen_fd);
  if (self->stop_fd >= 0)
    close (self->stop_fd);
  if (self->epfd >= 0)
    close (self->epfd);
  g_free (self);
}

/* ---- the client ---- */

struct _BenchTlsConn {
  int  fd;
  SSL *ssl;
};

BenchTlsConn *
bench_tls_connect (BenchTls  *tls,
                   guint16    port,
                   GError   **error)
{
  BenchTlsConn *self = g_new0 (BenchTlsConn, 1);

  self->fd = bench_tcp_connect (port, error);
  if (self->fd < 0)
    {
      g_free (self);
      return NULL;
    }
  self->ssl = SSL_new (tls->client_ctx);
  if (self->ssl == NULL ||
      SSL_set_fd (self->ssl, self->fd) != 1 ||
      SSL_set_tlsext_host_name (self->ssl, BENCH_TLS_HOST) != 1 ||
      SSL_set1_host (self->ssl, BENCH_TLS_HOST) != 1 ||
      SSL_connect (self->ssl) != 1)
    {
      sc_crypto_fail (error, SC_ERROR_CRYPTO, "TLS handshake");
      SSL_free (self->ssl);
      close (self->fd);
      g_free (self);
      return NULL;
    }
  return self;
}

gboolean
bench_tls_conn_write (BenchTlsConn *self,
                      const void   *data,
                      gsize         len,
                      GError      **error)
{
  size_t written = 0;

  if (SSL_write_ex (self->ssl, data, len, &written) != 1 || written != len)
    return sc_crypto_fail (error, SC_ERROR_CRYPTO, "SSL_write");
  return TRUE;
}

void
bench_tls_conn_close (BenchTlsConn *self)
{
  if (self == NULL)
    return;
  SSL_shutdown (self->ssl);
  SSL_free (self->ssl);
  close (self->fd);
  g_free (self);
}
