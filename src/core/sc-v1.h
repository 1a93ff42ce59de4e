/* sc-v1.h: the seed protocol (RSA key transport, AES-CBC + HMAC messages)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <openssl/evp.h>

#include "sc-crypto.h"

G_BEGIN_DECLS

/* The session key and IV, shared by both directions (the seed's design) */
typedef struct _ScV1Session ScV1Session;

void         sc_v1_session_free     (ScV1Session  *self);

/* The server's RSA public key from a greeting (either form of G) */
EVP_PKEY    *sc_v1_parse_greeting   (const guint8 *greeting,
                                     gsize         len,
                                     GError      **error);

/* Client: picks K || IV, encrypts them to the server, signs them, and
 * appends the handshake frame (terminator included) to @out. */
ScV1Session *sc_v1_client_handshake (EVP_PKEY       *server_pub,
                                     EVP_PKEY       *client_priv,
                                     const ScRandom *rng,
                                     GByteArray     *out,
                                     GError        **error);

/* Server: checks one handshake frame (JSON without terminator).  On success
 * returns the session and the client's RSA fingerprint. */
ScV1Session *sc_v1_server_accept    (EVP_PKEY      *server_priv,
                                     const guint8  *json,
                                     gsize          len,
                                     char         **client_fingerprint,
                                     GError       **error);

/* Test hook: a session from known key material */
ScV1Session *sc_v1_session_new      (const guint8   key[32],
                                     const guint8   iv[16]);

/* Appends one message frame (terminator included) to @out */
gboolean     sc_v1_seal             (ScV1Session  *self,
                                     const char   *text,
                                     gsize         len,
                                     GByteArray   *out,
                                     GError      **error);
/* Checks and decrypts one message frame (JSON without terminator).
 * Returns valid UTF-8 (bad sequences become U+FFFD). */
char        *sc_v1_open             (ScV1Session  *self,
                                     const guint8 *json,
                                     gsize         len,
                                     GError      **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ScV1Session, sc_v1_session_free)

G_END_DECLS
