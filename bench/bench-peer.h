/* bench-peer.h: Secure Chat clients driven by the core API over blocking
 * sockets, and a drain that reads many of them at once
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <openssl/evp.h>

#include "sc-frame.h"
#include "sc-keys.h"
#include "sc-protocol.h"
#include "sc-v1.h"
#include "sc-v2.h"

G_BEGIN_DECLS

/* A blocking TCP connection to 127.0.0.1:@port with TCP_NODELAY, or -1 */
int          bench_tcp_connect         (guint16       port,
                                        GError      **error);
gboolean     bench_write_all           (int           fd,
                                        const guint8 *data,
                                        gsize         len,
                                        GError      **error);

typedef struct {
  int            fd;
  ScProtocol     protocol;
  ScFrameReader *reader;
  ScV2Session   *v2;
  ScV1Session   *v1;
  GByteArray    *out;
} BenchPeer;

/* Connects and completes the v2 handshake up to Welcome.  @message_max
 * must match the server's "message-max". */
BenchPeer   *bench_peer_connect_v2     (guint16       port,
                                        ScIdentity   *identity,
                                        const char   *nickname,
                                        gsize         message_max,
                                        GError      **error);
/* Connects, reads the greeting and sends the v1 handshake (the seed
 * protocol has no reply: the session is usable at once) */
BenchPeer   *bench_peer_connect_v1     (guint16       port,
                                        EVP_PKEY     *client_rsa,
                                        GError      **error);
/* What a chat message of @text is sealed from: v2 the JSON chat request,
 * v1 the text itself */
GBytes      *bench_peer_payload        (ScProtocol    protocol,
                                        const char   *text);
/* Seals @payload as one message (v2: a Chat record, then a Close record
 * if @then_close; with no @payload, the Close record only) and writes it */
gboolean     bench_peer_send           (BenchPeer    *self,
                                        GBytes       *payload,
                                        gboolean      then_close,
                                        GError      **error);
void         bench_peer_free           (BenchPeer    *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (BenchPeer, bench_peer_free)

/* Reads every peer handed to it on a few threads (epoll).  Counting mode
 * frames the v2 stream and counts Chat records (without decrypting them:
 * the receivers' CPU would otherwise compete with the server's); discard
 * mode only reads.  With @lazy_ms > 0 a thread that found little to read
 * sleeps that long, so data piles up and is read in fewer calls (for idle
 * sessions, whose reading is not what is measured). */
typedef struct _BenchDrain BenchDrain;

BenchDrain  *bench_drain_new           (guint         n_threads,
                                        gboolean      count_chats,
                                        guint         lazy_ms);
void         bench_drain_set_lazy      (BenchDrain   *self,
                                        guint         lazy_ms);
/* Takes the peer over; its socket becomes non-blocking */
void         bench_drain_add           (BenchDrain   *self,
                                        BenchPeer    *peer);
guint        bench_drain_get_n_peers   (BenchDrain   *self);
guint64      bench_drain_get_chats     (BenchDrain   *self);
guint64      bench_drain_get_bytes     (BenchDrain   *self);
/* bench_now() when a byte last arrived */
double       bench_drain_get_last_byte (BenchDrain   *self);
/* Waits until at least @count Chat records were seen in all */
gboolean     bench_drain_wait_chats    (BenchDrain   *self,
                                        guint64       count,
                                        GError      **error);
/* Waits until no byte arrived for @quiet_s seconds */
void         bench_drain_wait_quiet    (BenchDrain   *self,
                                        double        quiet_s);
/* Stops the threads and closes every peer */
void         bench_drain_free          (BenchDrain   *self);

G_END_DECLS
