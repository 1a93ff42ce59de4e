/* sc-client.h: the chat client, on the caller's main context
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "sc-keys.h"
#include "sc-protocol.h"
#include "sc-trust.h"

G_BEGIN_DECLS

typedef enum {
  SC_TRUST_POLICY_ASK,         /* emit trust-request and wait for an answer */
  SC_TRUST_POLICY_ACCEPT_NEW,  /* pin an unknown key silently */
  SC_TRUST_POLICY_STRICT,      /* only keys already pinned */
} ScTrustPolicy;

typedef enum {
  SC_CLIENT_DISCONNECTED,
  SC_CLIENT_CONNECTING,
  SC_CLIENT_HANDSHAKING,
  SC_CLIENT_WAITING_TRUST,
  SC_CLIENT_CONNECTED,
  SC_CLIENT_CLOSING,
} ScClientState;

/* Why a connection ended */
typedef enum {
  SC_CLIENT_END_LOCAL,        /* we disconnected */
  SC_CLIENT_END_CLOSED,       /* the server closed the session properly */
  SC_CLIENT_END_LOST,         /* the connection broke without a Close */
  SC_CLIENT_END_REJECTED,     /* the server refused us (Reject) */
  SC_CLIENT_END_FAILED,       /* could not connect, or the handshake failed */
  SC_CLIENT_END_UNTRUSTED,    /* unknown server key, not accepted */
  SC_CLIENT_END_KEY_CHANGED,  /* the server's key differs from the pinned one */
} ScClientEnd;

#define SC_TYPE_CLIENT (sc_client_get_type ())

G_DECLARE_FINAL_TYPE (ScClient, sc_client, SC, CLIENT, GObject)

/* Signals, all on the main context that was the thread default at
 * sc_client_new():
 *   trust-request  (const char *host_port, const char *fingerprint,
 *                   const char *code): answer with sc_client_answer_trust()
 *   connected      ()
 *   message        (const char *from, const char *fingerprint,
 *                   const char *text, gint64 time_ms)
 *   event          (const char *event, const char *from, const char *fingerprint)
 *   disconnected   (guint ScClientEnd, const char *message)
 *   drained        (): what sc_client_send() queued because the network
 *                   was slower has all been written (see get_queued())
 */
ScClient      *sc_client_new                (ScIdentity    *identity,
                                             ScTrustStore  *trust);
void           sc_client_connect            (ScClient      *self,
                                             const char    *host,
                                             guint16        port);
gboolean       sc_client_send               (ScClient      *self,
                                             const char    *text,
                                             GError       **error);
/* Closes the session properly (v2 Close) */
void           sc_client_disconnect         (ScClient      *self);
void           sc_client_answer_trust       (ScClient      *self,
                                             gboolean       accept);

ScClientState  sc_client_get_state          (ScClient      *self);
ScProtocol     sc_client_get_protocol       (ScClient      *self);
void           sc_client_set_protocol       (ScClient      *self,
                                             ScProtocol     protocol);
void           sc_client_set_nickname       (ScClient      *self,
                                             const char    *nickname);
void           sc_client_set_trust_policy   (ScClient      *self,
                                             ScTrustPolicy  policy);
void           sc_client_set_message_max    (ScClient      *self,
                                             gsize          max);
void           sc_client_set_key_update_limit (ScClient    *self,
                                               guint        limit);
const char    *sc_client_get_host_port      (ScClient      *self);
const char    *sc_client_get_server_fingerprint (ScClient  *self);
const char    *sc_client_get_session_code   (ScClient      *self);
ScTrustState   sc_client_get_trust_state    (ScClient      *self);
/* Bytes waiting to be written */
gsize          sc_client_get_queued         (ScClient      *self);

G_END_DECLS
