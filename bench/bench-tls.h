/* bench-tls.h: the TLS 1.3 baseline (libssl), in the same harness shape
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#include "bench-util.h"

G_BEGIN_DECLS

/* TLS 1.3 only, X25519 only, TLS_AES_256_GCM_SHA384 only, an Ed25519
 * self-signed certificate made in-process and pinned by the client (as
 * the only trust anchor, with a host name check).  No session tickets, no
 * resumption: every handshake is a full one. */
typedef struct _BenchTls BenchTls;

BenchTls       *bench_tls_new                     (GError        **error);
void            bench_tls_free                    (BenchTls       *self);

/* One thread, epoll, non-blocking: the shape of ScServer's own thread.
 * Reads with read-ahead. */
typedef struct _BenchTlsServer BenchTlsServer;

BenchTlsServer *bench_tls_server_new              (BenchTls       *tls,
                                                   BenchSink      *sink,
                                                   GError        **error);
guint16         bench_tls_server_get_port         (BenchTlsServer *self);
/* @size > 0: a connection's first @size bytes are one message, delivered
 * to the sink; 0: every byte read is added to the sink's byte count */
void            bench_tls_server_set_message_size (BenchTlsServer *self,
                                                   gsize           size);
void            bench_tls_server_free             (BenchTlsServer *self);

/* A blocking client connection, handshake done */
typedef struct _BenchTlsConn BenchTlsConn;

BenchTlsConn   *bench_tls_connect                 (BenchTls       *tls,
                                                   guint16         port,
                                                   GError        **error);
gboolean        bench_tls_conn_write              (BenchTlsConn   *self,
                                                   const void     *data,
                                                   gsize           len,
                                                   GError        **error);
/* Sends close_notify and closes */
void            bench_tls_conn_close              (BenchTlsConn   *self);

#define BENCH_TLS_MESSAGE_MAX 64

G_END_DECLS
