/* sc-v2.h: the v2 handshake (both roles) and record layer
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#include "sc-crypto.h"
#include "sc-keys.h"
#include "sc-protocol.h"

G_BEGIN_DECLS

typedef enum {
  SC_V2_ROLE_CLIENT,
  SC_V2_ROLE_SERVER,
} ScV2Role;

/* Each create/consume step checks the state first and moves it on;
 * any failure leaves the session in SC_V2_STATE_FAILED. */
typedef enum {
  SC_V2_STATE_START,               /* client: wants G; server: wants ClientHello */
  SC_V2_STATE_AWAIT_SERVER_HELLO,  /* client: ClientHello sent */
  SC_V2_STATE_PEER_KNOWN,          /* client: server verified, keys derived;
                                    * the caller checks trust, then sends ClientAuth */
  SC_V2_STATE_AWAIT_WELCOME,       /* client: ClientAuth sent */
  SC_V2_STATE_AWAIT_CLIENT_AUTH,   /* server: ServerHello sent */
  SC_V2_STATE_AUTHENTICATED,       /* server: client verified; the caller sends
                                    * Welcome or Reject */
  SC_V2_STATE_ESTABLISHED,
  SC_V2_STATE_CLOSED,              /* Close or Reject sent or received */
  SC_V2_STATE_FAILED,
} ScV2State;

/* The key schedule of PROTOCOL.md, step 5 */
typedef struct {
  guint8 prk[SC_V2_SECRET_LEN];
  guint8 c2s[SC_V2_SECRET_LEN];
  guint8 s2c[SC_V2_SECRET_LEN];
  char   code[8];                  /* "ddd ddd" */
} ScV2Schedule;

gboolean     sc_v2_derive_schedule (const guint8  shared[32],
                                    const guint8  transcript_hash[32],
                                    ScV2Schedule *out,
                                    GError      **error);
gboolean     sc_v2_derive_traffic  (const guint8  secret[32],
                                    guint8        key[32],
                                    guint8        iv[12],
                                    GError      **error);

typedef struct _ScV2Session ScV2Session;

ScV2Session *sc_v2_session_new     (ScV2Role        role,
                                    ScIdentity     *identity,
                                    const ScRandom *rng);
void         sc_v2_session_free    (ScV2Session    *self);

ScV2State    sc_v2_session_get_state          (ScV2Session *self);
ScV2Role     sc_v2_session_get_role           (ScV2Session *self);
/* Records may carry up to @max bytes of plaintext; both peers must agree */
void         sc_v2_session_set_message_max    (ScV2Session *self,
                                               gsize        max);
/* A KeyUpdate is sent before the sending seq reaches @limit (default 2^24) */
void         sc_v2_session_set_key_update_limit (ScV2Session *self,
                                                 guint32      limit);
/* The largest frame length L to accept in the current state */
gsize        sc_v2_session_get_frame_limit    (ScV2Session *self);
/* Known once the peer proved its identity */
const guint8 *sc_v2_session_get_peer_key      (ScV2Session *self);
const char  *sc_v2_session_get_peer_fingerprint (ScV2Session *self);
const char  *sc_v2_session_get_peer_nickname  (ScV2Session *self);   /* server */
const char  *sc_v2_session_get_code           (ScV2Session *self);   /* "ddd ddd" */

/* Client: takes all of G and appends the ClientHello frame to @out.
 * @greeting may be NULL, to send the ClientHello as soon as the connection
 * is up (the server speaks first, but the ClientHello does not depend on
 * it); then pass G to consume_greeting() before the ServerHello. */
gboolean     sc_v2_client_start    (ScV2Session   *self,
                                    const guint8  *greeting,
                                    gsize          len,
                                    GByteArray    *out,
                                    GError       **error);
gboolean     sc_v2_client_consume_greeting (ScV2Session  *self,
                                            const guint8 *greeting,
                                            gsize         len,
                                            GError      **error);
/* Client: verifies the ServerHello and derives the keys (-> PEER_KNOWN) */
gboolean     sc_v2_client_consume_server_hello (ScV2Session *self,
                                                const guint8 *frame,
                                                gsize         len,
                                                GError      **error);
/* Client: appends the ClientAuth record (-> AWAIT_WELCOME) */
gboolean     sc_v2_client_send_auth (ScV2Session  *self,
                                     const char   *nickname,
                                     GByteArray   *out,
                                     GError      **error);

/* Server: consumes the ClientHello, appends the ServerHello (-> AWAIT_CLIENT_AUTH).
 * The transcript starts with the identity's greeting, as sent on accept. */
gboolean     sc_v2_server_consume_client_hello (ScV2Session  *self,
                                                const guint8 *frame,
                                                gsize         len,
                                                GByteArray   *out,
                                                GError      **error);

/* Server, optional: draws server_random and the ephemeral key before the
 * ClientHello arrives (consume_client_hello() does it otherwise), so that
 * work can be done while waiting */
gboolean     sc_v2_server_prepare              (ScV2Session  *self,
                                                GError      **error);
/* Server, optional: the key schedule, best run once the ServerHello is on
 * its way, while the client checks it; the first record opened runs it
 * otherwise.  An all-zero shared secret fails the session here. */
gboolean     sc_v2_server_derive_keys          (ScV2Session  *self,
                                                GError      **error);

/* Appends one record of @type to @out, preceded by a KeyUpdate when the
 * sending counter is due.  Allowed types depend on role and state:
 * Welcome or Reject from AUTHENTICATED (server), Chat, KeyUpdate and Close when
 * ESTABLISHED (Event only from the server). */
gboolean     sc_v2_session_seal    (ScV2Session  *self,
                                    ScV2Type      type,
                                    const guint8 *plaintext,
                                    gsize         len,
                                    GByteArray   *out,
                                    GError      **error);

/* Decrypts one record frame in place.  On success *type is the record type
 * and *plaintext, *plaintext_len point into @frame.  ClientAuth (server) moves to
 * AUTHENTICATED, Welcome to ESTABLISHED, Reject and Close to CLOSED;
 * KeyUpdate is handled here and reported so callers can ignore it. */
gboolean     sc_v2_session_open    (ScV2Session  *self,
                                    guint8       *frame,
                                    gsize         len,
                                    ScV2Type     *type,
                                    guint8      **plaintext,
                                    gsize        *plaintext_len,
                                    GError      **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ScV2Session, sc_v2_session_free)

G_END_DECLS
