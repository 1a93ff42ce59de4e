/* sc-crypto.h: the primitives both protocol generations use, over OpenSSL's EVP API
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <openssl/evp.h>

#include "sc-openssl.h"
#include "sc-protocol.h"

G_BEGIN_DECLS

/* Randomness can be injected so tests replay known-answer vectors.  A NULL
 * ScRandom (or one with a NULL func) means OpenSSL's RAND_bytes. */
typedef gboolean (*ScRandomFunc) (guint8  *buf,
                                  gsize    len,
                                  gpointer user_data);
typedef struct {
  ScRandomFunc func;
  gpointer     user_data;
} ScRandom;

gboolean  sc_random_bytes        (const ScRandom *rng,
                                  guint8         *buf,
                                  gsize           len,
                                  GError        **error);

/* SHA-256 and HKDF-SHA256 (RFC 5869) */
void      sc_sha256              (const guint8 *data,
                                  gsize         len,
                                  guint8        out[32]);
gboolean  sc_hkdf_extract        (const guint8 *salt,
                                  gsize         salt_len,
                                  const guint8 *ikm,
                                  gsize         ikm_len,
                                  guint8        prk[32],
                                  GError      **error);
gboolean  sc_hkdf_expand         (const guint8 *prk,
                                  gsize         prk_len,
                                  const char   *label,
                                  guint8       *out,
                                  gsize         out_len,
                                  GError      **error);

/* X25519.  The key pair is made once from the private bytes (OpenSSL
 * computes the public half then) and kept for the derivation, which would
 * otherwise compute it again.  An all-zero shared secret is refused with
 * SC_ERROR_WEAK_KEY. */
EVP_PKEY *sc_x25519_new          (const guint8 priv[32],
                                  guint8       pub[32],
                                  GError     **error);
gboolean  sc_x25519_derive       (EVP_PKEY    *priv,
                                  const guint8 peer_pub[32],
                                  guint8       shared[32],
                                  GError     **error);

/* Ed25519 */
EVP_PKEY *sc_ed25519_new_from_seed (const guint8 seed[32],
                                    GError     **error);
EVP_PKEY *sc_ed25519_generate    (GError      **error);
gboolean  sc_ed25519_raw_public  (EVP_PKEY     *key,
                                  guint8        pub[32],
                                  GError      **error);
gboolean  sc_ed25519_sign        (EVP_PKEY     *key,
                                  const guint8 *msg,
                                  gsize         len,
                                  guint8        sig[64],
                                  GError      **error);
gboolean  sc_ed25519_verify      (const guint8  pub[32],
                                  const guint8 *msg,
                                  gsize         len,
                                  const guint8  sig[64],
                                  GError      **error);

/* AES-256-GCM with a 16-byte tag appended to the ciphertext, over a
 * context that keeps one key's schedule for the records of one direction:
 * new() takes the key (free the context with EVP_CIPHER_CTX_free, which
 * wipes it), each record its own nonce.  open() writes ct_len - 16 bytes
 * and fails with SC_ERROR_DECRYPT on a bad tag; the context stays usable. */
EVP_CIPHER_CTX *sc_aes_gcm_new   (const guint8    key[32],
                                  gboolean        encrypt,
                                  GError        **error);
gboolean  sc_aes_gcm_seal        (EVP_CIPHER_CTX *ctx,
                                  const guint8    nonce[12],
                                  const guint8   *aad,
                                  gsize           aad_len,
                                  const guint8   *pt,
                                  gsize           pt_len,
                                  guint8         *out,
                                  GError        **error);
gboolean  sc_aes_gcm_open        (EVP_CIPHER_CTX *ctx,
                                  const guint8    nonce[12],
                                  const guint8   *aad,
                                  gsize           aad_len,
                                  const guint8   *ct,
                                  gsize           ct_len,
                                  guint8         *out,
                                  GError        **error);

/* AES-256-CBC with strict PKCS#7 and HMAC-SHA256 (the seed protocol) */
GBytes   *sc_aes_cbc_encrypt     (const guint8  key[32],
                                  const guint8  iv[16],
                                  const guint8 *pt,
                                  gsize         len,
                                  GError      **error);
GBytes   *sc_aes_cbc_decrypt     (const guint8  key[32],
                                  const guint8  iv[16],
                                  const guint8 *ct,
                                  gsize         len,
                                  GError      **error);
gboolean  sc_hmac_sha256         (const guint8 *key,
                                  gsize         key_len,
                                  const guint8 *data,
                                  gsize         len,
                                  guint8        mac[32],
                                  GError      **error);

/* RSA (the seed protocol): OAEP and PSS with SHA-256 and MGF1-SHA-256 */
EVP_PKEY *sc_rsa_generate        (GError      **error);
GBytes   *sc_rsa_oaep_encrypt    (EVP_PKEY     *pub,
                                  const guint8 *pt,
                                  gsize         len,
                                  GError      **error);
GBytes   *sc_rsa_oaep_decrypt    (EVP_PKEY     *priv,
                                  const guint8 *ct,
                                  gsize         len,
                                  GError      **error);
GBytes   *sc_rsa_pss_sign        (EVP_PKEY     *priv,
                                  const guint8 *msg,
                                  gsize         len,
                                  GError      **error);
gboolean  sc_rsa_pss_verify      (EVP_PKEY     *pub,
                                  const guint8 *msg,
                                  gsize         len,
                                  const guint8 *sig,
                                  gsize         sig_len,
                                  GError      **error);

/* PEM and DER encodings of keys */
EVP_PKEY *sc_pem_read_public     (const char   *pem,
                                  gsize         len,
                                  GError      **error);
EVP_PKEY *sc_pem_read_private    (const char   *pem,
                                  gsize         len,
                                  GError      **error);
char     *sc_pem_write_public    (EVP_PKEY     *key,
                                  GError      **error);
/* Returned in secure-erasable memory: free with sc_secret_string_free() */
char     *sc_pem_write_private   (EVP_PKEY     *key,
                                  GError      **error);
GBytes   *sc_der_public          (EVP_PKEY     *key,
                                  GError      **error);

/* "SHA256:" || unpadded base64 of SHA-256(key bytes) */
char     *sc_fingerprint         (const guint8 *key_bytes,
                                  gsize         len);
char     *sc_fingerprint_rsa     (EVP_PKEY     *key,
                                  GError      **error);
gboolean  sc_fingerprint_is_valid (const char  *text);

/* base64 (GLib's codec) with strict validation for network input */
GBytes   *sc_base64_decode_strict (const char  *text,
                                   gsize        len,
                                   GError     **error);

/* Reports the failed step with OpenSSL's own reason, then clears OpenSSL's
 * thread-local error queue so it never leaks into later calls; FALSE */
gboolean  sc_crypto_fail         (GError      **error,
                                  ScError       code,
                                  const char   *what);

void      sc_secret_string_free  (char         *str);
void      sc_wipe                (gpointer      mem,
                                  gsize         len);

G_END_DECLS
