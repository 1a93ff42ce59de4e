/* sc-keys.h: the key directory and the long-term identity it holds
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <openssl/evp.h>

G_BEGIN_DECLS

/* A long-term identity: the RSA-2048 legacy key (v1, both roles) and the
 * Ed25519 identity (v2, both roles).  Immutable once built; refcounted and
 * safe to share between threads. */
typedef struct _ScIdentity ScIdentity;

/* g_get_user_data_dir()/secure-chat */
char         *sc_key_dir_default              (void);

/* Loads both keys from @key_dir, generating and saving (atomically, 0600,
 * never overwriting) whichever does not exist yet.  A key file that exists
 * but is unreadable, corrupt, of the wrong type or readable by others is an
 * error naming the file, and the file is left exactly as it was. */
ScIdentity   *sc_identity_load_or_create      (const char *key_dir,
                                               GError    **error);
/* Builds an identity from keys in memory (tests, vectors); takes new refs. */
ScIdentity   *sc_identity_new                 (EVP_PKEY   *rsa,
                                               EVP_PKEY   *ed25519,
                                               GError    **error);
ScIdentity   *sc_identity_ref                 (ScIdentity *self);
void          sc_identity_unref               (ScIdentity *self);

EVP_PKEY     *sc_identity_get_rsa             (ScIdentity *self);
EVP_PKEY     *sc_identity_get_ed25519         (ScIdentity *self);
const guint8 *sc_identity_get_ed25519_public  (ScIdentity *self);  /* 32 bytes */
const char   *sc_identity_get_fingerprint     (ScIdentity *self);  /* Ed25519 */
const char   *sc_identity_get_rsa_fingerprint (ScIdentity *self);  /* DER SPKI */
const char   *sc_identity_get_rsa_public_pem  (ScIdentity *self);
/* G = "SERVER_PUB\n" || PEM || "\n\n" (ends with three newlines).
 * Owned by the identity, like the strings above: g_bytes_ref() to keep it. */
GBytes       *sc_identity_get_greeting        (ScIdentity *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ScIdentity, sc_identity_unref)

G_END_DECLS
