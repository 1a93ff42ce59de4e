/* sc-crypto.c: thin, checked wrappers over OpenSSL's EVP API
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "sc-crypto.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

gboolean
sc_crypto_fail (GError    **error,
                ScError     code,
                const char *what)
{
  unsigned long e = ERR_get_error ();
  char buf[256] = "";

  if (e != 0)
    ERR_error_string_n (e, buf, sizeof buf);
  ERR_clear_error ();
  g_set_error (error, SC_ERROR, code, "%s%s%s", what, buf[0] ? ": " : "", buf);
  return FALSE;
}

void
sc_wipe (gpointer mem,
         gsize    len)
{
  if (mem != NULL && len > 0)
    OPENSSL_cleanse (mem, len);
}

void
sc_secret_string_free (char *str)
{
  if (str == NULL)
    return;
  OPENSSL_cleanse (str, strlen (str));
  g_free (str);
}

gboolean
sc_random_bytes (const ScRandom *rng,
                 guint8         *buf,
                 gsize           len,
                 GError        **error)
{
  if (rng != NULL && rng->func != NULL)
    {
      if (!rng->func (buf, len, rng->user_data))
        {
          g_set_error_literal (error, SC_ERROR, SC_ERROR_CRYPTO, "Random source failed");
          return FALSE;
        }
      return TRUE;
    }
  if (len > G_MAXINT || RAND_bytes (buf, (int) len) != 1)
    return sc_crypto_fail (error, SC_ERROR_CRYPTO, "Could not get random bytes");
  return TRUE;
}

/* ---- hashing and key derivation ---- */

void
sc_sha256 (const guint8 *data,
           gsize         len,
           guint8        out[32])
{
  unsigned int out_len = 32;

  /* EVP_Digest with SHA-256 cannot fail short of memory exhaustion */
  if (EVP_Digest (data, len, out, &out_len, EVP_sha256 (), NULL) != 1)
    g_error ("SHA-256 failed");
}

static gboolean
hkdf (int           mode,
      const guint8 *salt,
      gsize         salt_len,
      const guint8 *key,
      gsize         key_len,
      const char   *info,
      guint8       *out,
      gsize         out_len,
      GError      **error)
{
  static EVP_KDF *kdf;
  g_autoptr(EVP_KDF_CTX) ctx = NULL;
  OSSL_PARAM params[5], *p = params;

  /* fetched once: a fetch per derivation costs more than the derivation */
  if (g_once_init_enter (&kdf))
    g_once_init_leave (&kdf, EVP_KDF_fetch (NULL, "HKDF", NULL));
  if (kdf == NULL)
    return sc_crypto_fail (error, SC_ERROR_CRYPTO, "HKDF unavailable");
  ctx = EVP_KDF_CTX_new (kdf);
  if (ctx == NULL)
    return sc_crypto_fail (error, SC_ERROR_CRYPTO, "HKDF context");

  *p++ = OSSL_PARAM_construct_int (OSSL_KDF_PARAM_MODE, &mode);
  *p++ = OSSL_PARAM_construct_utf8_string (OSSL_KDF_PARAM_DIGEST, (char *) "SHA256", 0);
  *p++ = OSSL_PARAM_construct_octet_string (OSSL_KDF_PARAM_KEY, (void *) key, key_len);
  if (salt != NULL)
    *p++ = OSSL_PARAM_construct_octet_string (OSSL_KDF_PARAM_SALT, (void *) salt, salt_len);
  if (info != NULL)
    *p++ = OSSL_PARAM_construct_octet_string (OSSL_KDF_PARAM_INFO, (void *) info, strlen (info));
  *p = OSSL_PARAM_construct_end ();

  if (EVP_KDF_derive (ctx, out, out_len, params) != 1)
    return sc_crypto_fail (error, SC_ERROR_CRYPTO, "HKDF failed");
  return TRUE;
}

gboolean
sc_hkdf_extract (const guint8 *salt,
                 gsize         salt_len,
                 const guint8 *ikm,
                 gsize         ikm_len,
                 guint8        prk[32],
                 GError      **error)
{
  return hkdf (EVP_KDF_HKDF_MODE_EXTRACT_ONLY, salt, salt_len, ikm, ikm_len,
               NULL, prk, 32, error);
}

gboolean
sc_hkdf_expand (const guint8 *prk,
                gsize         prk_len,
                const char   *label,
                guint8       *out,
                gsize         out_len,
                GError      **error)
{
  return hkdf (EVP_KDF_HKDF_MODE_EXPAND_ONLY, NULL, 0, prk, prk_len,
               label, out, out_len, error);
}

/* ---- X25519 ---- */

EVP_PKEY *
sc_x25519_new (const guint8 priv[32],
               guint8       pub[32],
               GError     **error)
{
  EVP_PKEY *key = EVP_PKEY_new_raw_private_key (EVP_PKEY_X25519, NULL, priv, 32);
  size_t len = 32;

  if (key == NULL || EVP_PKEY_get_raw_public_key (key, pub, &len) != 1 || len != 32)
    {
      EVP_PKEY_free (key);
      return sc_crypto_fail (error, SC_ERROR_CRYPTO, "X25519 key"), NULL;
    }
  return key;
}

gboolean
sc_x25519_derive (EVP_PKEY     *key,
                  const guint8  peer_pub[32],
                  guint8        shared[32],
                  GError      **error)
{
  g_autoptr(EVP_PKEY) peer = NULL;
  g_autoptr(EVP_PKEY_CTX) ctx = NULL;
  static const guint8 zero[32] = { 0 };
  size_t len = 32;

  peer = EVP_PKEY_new_raw_public_key (EVP_PKEY_X25519, NULL, peer_pub, 32);
  if (key == NULL || peer == NULL)
    return sc_crypto_fail (error, SC_ERROR_CRYPTO, "X25519 key");

  ctx = EVP_PKEY_CTX_new (key, NULL);
  if (ctx == NULL || EVP_PKEY_derive_init (ctx) != 1 ||
      EVP_PKEY_derive_set_peer (ctx, peer) != 1)
    return sc_crypto_fail (error, SC_ERROR_CRYPTO, "X25519 setup");

  /* OpenSSL itself refuses an all-zero result; we check again so the
   * refusal does not depend on the library version. */
  if (EVP_PKEY_derive (ctx, shared, &len) != 1 || len != 32 ||
      CRYPTO_memcmp (shared, zero, 32) == 0)
    {
      OPENSSL_cleanse (shared, 32);
      ERR_clear_error ();
      g_set_error_literal (error, SC_ERROR, SC_ERROR_WEAK_KEY,
                           "The peer's ephemeral key gives an all-zero shared secret");
      return FALSE;
    }
  return TRUE;
}

/* ---- Ed25519 ---- */

EVP_PKEY *
sc_ed25519_new_from_seed (const guint8 seed[32],
                          GError     **error)
{
  EVP_PKEY *key = EVP_PKEY_new_raw_private_key (EVP_PKEY_ED25519, NULL, seed, 32);

  if (key == NULL)
    sc_crypto_fail (error, SC_ERROR_CRYPTO, "Ed25519 key");
  return key;
}

EVP_PKEY *
sc_ed25519_generate (GError **error)
{
  EVP_PKEY *key = EVP_PKEY_Q_keygen (NULL, NULL, "ED25519");

  if (key == NULL)
    sc_crypto_fail (error, SC_ERROR_CRYPTO, "Ed25519 key generation failed");
  return key;
}

gboolean
sc_ed25519_raw_public (EVP_PKEY *key,
                       guint8    pub[32],
                       GError  **error)
{
  size_t len = 32;

  if (EVP_PKEY_get_base_id (key) != EVP_PKEY_ED25519 ||
      EVP_PKEY_get_raw_public_key (key, pub, &len) != 1 || len != 32)
    return sc_crypto_fail (error, SC_ERROR_CRYPTO, "Not an Ed25519 key");
  return TRUE;
}

gboolean
sc_ed25519_sign (EVP_PKEY     *key,
                 const guint8 *msg,
                 gsize         len,
                 guint8        sig[64],
                 GError      **error)
{
  g_autoptr(EVP_MD_CTX) ctx = EVP_MD_CTX_new ();
  size_t sig_len = 64;

  if (ctx == NULL || EVP_DigestSignInit (ctx, NULL, NULL, NULL, key) != 1 ||
      EVP_DigestSign (ctx, sig, &sig_len, msg, len) != 1 || sig_len != 64)
    return sc_crypto_fail (error, SC_ERROR_CRYPTO, "Ed25519 signing failed");
  return TRUE;
}

gboolean
sc_ed25519_verify (const guint8  pub[32],
                   const guint8 *msg,
                   gsize         len,
                   const guint8  sig[64],
                   GError      **error)
{
  g_autoptr(EVP_PKEY) key = NULL;
  g_autoptr(EVP_MD_CTX) ctx = EVP_MD_CTX_new ();

  key = EVP_PKEY_new_raw_public_key (EVP_PKEY_ED25519, NULL, pub, 32);
  if (key == NULL || ctx == NULL ||
      EVP_DigestVerifyInit (ctx, NULL, NULL, NULL, key) != 1)
    return sc_crypto_fail (error, SC_ERROR_SIGNATURE, "Invalid Ed25519 public key");
  if (EVP_DigestVerify (ctx, sig, 64, msg, len) != 1)
    return sc_crypto_fail (error, SC_ERROR_SIGNATURE, "Ed25519 signature does not verify");
  return TRUE;
}

/* ---- AES-256-GCM ---- */

static EVP_CIPHER *
cipher_aes_gcm (void)
{
  static EVP_CIPHER *cipher;

  if (g_once_init_enter (&cipher))
    g_once_init_leave (&cipher, EVP_CIPHER_fetch (NULL, "AES-256-GCM", NULL));
  return cipher;
}

EVP_CIPHER_CTX *
sc_aes_gcm_new (const guint8  key[32],
                gboolean      encrypt,
                GError      **error)
{
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new ();

  if (ctx == NULL || EVP_CipherInit_ex2 (ctx, cipher_aes_gcm (), key, NULL, encrypt ? 1 : 0, NULL) != 1)
    {
      EVP_CIPHER_CTX_free (ctx);
      sc_crypto_fail (error, SC_ERROR_CRYPTO, "AES-GCM key setup failed");
      return NULL;
    }
  return ctx;
}

gboolean
sc_aes_gcm_seal (EVP_CIPHER_CTX *ctx,
                 const guint8    nonce[12],
                 const guint8   *aad,
                 gsize           aad_len,
                 const guint8   *pt,
                 gsize           pt_len,
                 guint8         *out,
                 GError        **error)
{
  int len = 0, fin = 0;

  if (pt_len > G_MAXINT || aad_len > G_MAXINT ||
      EVP_EncryptInit_ex2 (ctx, NULL, NULL, nonce, NULL) != 1 ||
      EVP_EncryptUpdate (ctx, NULL, &len, aad, (int) aad_len) != 1 ||
      EVP_EncryptUpdate (ctx, out, &len, pt, (int) pt_len) != 1 ||
      EVP_EncryptFinal_ex (ctx, out + len, &fin) != 1 ||
      EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_GCM_GET_TAG, SC_V2_TAG_LEN, out + pt_len) != 1)
    return sc_crypto_fail (error, SC_ERROR_CRYPTO, "AES-GCM encryption failed");
  return TRUE;
}

gboolean
sc_aes_gcm_open (EVP_CIPHER_CTX *ctx,
                 const guint8    nonce[12],
                 const guint8   *aad,
                 gsize           aad_len,
                 const guint8   *ct,
                 gsize           ct_len,
                 guint8         *out,
                 GError        **error)
{
  gsize body_len;
  int len = 0, fin = 0;

  if (ct_len < SC_V2_TAG_LEN)
    {
      g_set_error_literal (error, SC_ERROR, SC_ERROR_DECRYPT, "Record too short");
      return FALSE;
    }
  body_len = ct_len - SC_V2_TAG_LEN;

  if (body_len > G_MAXINT || aad_len > G_MAXINT ||
      EVP_DecryptInit_ex2 (ctx, NULL, NULL, nonce, NULL) != 1 ||
      EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_GCM_SET_TAG, SC_V2_TAG_LEN,
                           (void *) (ct + body_len)) != 1 ||
      EVP_DecryptUpdate (ctx, NULL, &len, aad, (int) aad_len) != 1 ||
      EVP_DecryptUpdate (ctx, out, &len, ct, (int) body_len) != 1)
    return sc_crypto_fail (error, SC_ERROR_CRYPTO, "AES-GCM decryption failed");

  if (EVP_DecryptFinal_ex (ctx, out + len, &fin) != 1)
    {
      OPENSSL_cleanse (out, body_len);
      ERR_clear_error ();
      g_set_error_literal (error, SC_ERROR, SC_ERROR_DECRYPT,
                           "Record failed authentication (tampered, replayed, reordered or dropped)");
      return FALSE;
    }
  return TRUE;
}

/* ---- AES-256-CBC and HMAC (seed protocol) ---- */

static GBytes *
aes_cbc (gboolean      encrypt,
         const guint8  key[32],
         const guint8  iv[16],
         const guint8 *in,
         gsize         len,
         GError      **error)
{
  g_autoptr(EVP_CIPHER_CTX) ctx = EVP_CIPHER_CTX_new ();
  guint8 *out;
  int n = 0, fin = 0;

  if (len > G_MAXINT - 32)
    {
      g_set_error_literal (error, SC_ERROR, SC_ERROR_PROTOCOL, "Message too long");
      return NULL;
    }
  out = g_malloc (len + 16);
  if (ctx == NULL ||
      EVP_CipherInit_ex2 (ctx, EVP_aes_256_cbc (), key, iv, encrypt ? 1 : 0, NULL) != 1 ||
      EVP_CipherUpdate (ctx, out, &n, in, (int) len) != 1 ||
      EVP_CipherFinal_ex (ctx, out + n, &fin) != 1)
    {
      OPENSSL_cleanse (out, len + 16);
      g_free (out);
      /* OpenSSL's PKCS#7 check is strict: every padding byte must match */
      return sc_crypto_fail (error, encrypt ? SC_ERROR_CRYPTO : SC_ERROR_DECRYPT,
                          encrypt ? "AES-CBC encryption failed" : "Bad padding"), NULL;
    }
  return g_bytes_new_take (out, (gsize) n + (gsize) fin);
}

GBytes *
sc_aes_cbc_encrypt (const guint8  key[32],
                    const guint8  iv[16],
                    const guint8 *pt,
                    gsize         len,
                    GError      **error)
{
  return aes_cbc (TRUE, key, iv, pt, len, error);
}

GBytes *
sc_aes_cbc_decrypt (const guint8  key[32],
                    const guint8  iv[16],
                    const guint8 *ct,
                    gsize         len,
                    GError      **error)
{
  if (len == 0 || len % 16 != 0)
    {
      g_set_error_literal (error, SC_ERROR, SC_ERROR_DECRYPT,
                           "Ciphertext is not a whole number of blocks");
      return NULL;
    }
  return aes_cbc (FALSE, key, iv, ct, len, error);
}

gboolean
sc_hmac_sha256 (const guint8 *key,
                gsize         key_len,
                const guint8 *data,
                gsize         len,
                guint8        mac[32],
                GError      **error)
{
  size_t out_len = 32;

  if (EVP_Q_mac (NULL, "HMAC", NULL, "SHA256", NULL, key, key_len,
                 data, len, mac, 32, &out_len) == NULL || out_len != 32)
    return sc_crypto_fail (error, SC_ERROR_CRYPTO, "HMAC failed");
  return TRUE;
}

/* ---- RSA (seed protocol) ---- */

EVP_PKEY *
sc_rsa_generate (GError **error)
{
  EVP_PKEY *key = EVP_PKEY_Q_keygen (NULL, NULL, "RSA", (size_t) SC_RSA_BITS);

  if (key == NULL)
    sc_crypto_fail (error, SC_ERROR_CRYPTO, "RSA key generation failed");
  return key;
}

static gboolean
is_rsa (EVP_PKEY *key,
        GError  **error)
{
  if (key == NULL || EVP_PKEY_get_base_id (key) != EVP_PKEY_RSA)
    {
      g_set_error_literal (error, SC_ERROR, SC_ERROR_PROTOCOL, "Not an RSA key");
      return FALSE;
    }
  return TRUE;
}

static gboolean
set_oaep (EVP_PKEY_CTX *ctx)
{
  return EVP_PKEY_CTX_set_rsa_padding (ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_oaep_md (ctx, EVP_sha256 ()) == 1 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md (ctx, EVP_sha256 ()) == 1;
}

GBytes *
sc_rsa_oaep_encrypt (EVP_PKEY     *pub,
                     const guint8 *pt,
                     gsize         len,
                     GError      **error)
{
  g_autoptr(EVP_PKEY_CTX) ctx = NULL;
  g_autofree guint8 *out = NULL;
  size_t out_len = 0;

  if (!is_rsa (pub, error))
    return NULL;
  ctx = EVP_PKEY_CTX_new (pub, NULL);
  if (ctx == NULL || EVP_PKEY_encrypt_init (ctx) != 1 || !set_oaep (ctx) ||
      EVP_PKEY_encrypt (ctx, NULL, &out_len, pt, len) != 1)
    return sc_crypto_fail (error, SC_ERROR_CRYPTO, "RSA-OAEP setup failed"), NULL;
  out = g_malloc (out_len);
  if (EVP_PKEY_encrypt (ctx, out, &out_len, pt, len) != 1)
    return sc_crypto_fail (error, SC_ERROR_CRYPTO, "RSA-OAEP encryption failed"), NULL;
  return g_bytes_new_take (g_steal_pointer (&out), out_len);
}

GBytes *
sc_rsa_oaep_decrypt (EVP_PKEY     *priv,
                     const guint8 *ct,
                     gsize         len,
                     GError      **error)
{
  g_autoptr(EVP_PKEY_CTX) ctx = NULL;
  guint8 *out;
  size_t out_len = 0;

  if (!is_rsa (priv, error))
    return NULL;
  ctx = EVP_PKEY_CTX_new (priv, NULL);
  if (ctx == NULL || EVP_PKEY_decrypt_init (ctx) != 1 || !set_oaep (ctx) ||
      EVP_PKEY_decrypt (ctx, NULL, &out_len, ct, len) != 1)
    return sc_crypto_fail (error, SC_ERROR_DECRYPT, "RSA-OAEP decryption failed"), NULL;
  out = g_malloc (out_len);
  if (EVP_PKEY_decrypt (ctx, out, &out_len, ct, len) != 1)
    {
      OPENSSL_cleanse (out, out_len);
      g_free (out);
      return sc_crypto_fail (error, SC_ERROR_DECRYPT, "RSA-OAEP decryption failed"), NULL;
    }
  return g_bytes_new_take (out, out_len);
}

static gboolean
set_pss (EVP_PKEY_CTX *ctx,
         int           saltlen)
{
  return EVP_PKEY_CTX_set_rsa_padding (ctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md (ctx, EVP_sha256 ()) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen (ctx, saltlen) == 1;
}

GBytes *
sc_rsa_pss_sign (EVP_PKEY     *priv,
                 const guint8 *msg,
                 gsize         len,
                 GError      **error)
{
  g_autoptr(EVP_MD_CTX) md = EVP_MD_CTX_new ();
  g_autofree guint8 *sig = NULL;
  EVP_PKEY_CTX *pctx = NULL;
  size_t sig_len = 0;

  if (!is_rsa (priv, error))
    return NULL;
  if (md == NULL || EVP_DigestSignInit (md, &pctx, EVP_sha256 (), NULL, priv) != 1 ||
      !set_pss (pctx, RSA_PSS_SALTLEN_MAX) ||
      EVP_DigestSign (md, NULL, &sig_len, msg, len) != 1)
    return sc_crypto_fail (error, SC_ERROR_CRYPTO, "RSA-PSS setup failed"), NULL;
  sig = g_malloc (sig_len);
  if (EVP_DigestSign (md, sig, &sig_len, msg, len) != 1)
    return sc_crypto_fail (error, SC_ERROR_CRYPTO, "RSA-PSS signing failed"), NULL;
  return g_bytes_new_take (g_steal_pointer (&sig), sig_len);
}

gboolean
sc_rsa_pss_verify (EVP_PKEY     *pub,
                   const guint8 *msg,
                   gsize         len,
                   const guint8 *sig,
                   gsize         sig_len,
                   GError      **error)
{
  g_autoptr(EVP_MD_CTX) md = EVP_MD_CTX_new ();
  EVP_PKEY_CTX *pctx = NULL;

  if (!is_rsa (pub, error))
    return FALSE;
  if (md == NULL || EVP_DigestVerifyInit (md, &pctx, EVP_sha256 (), NULL, pub) != 1 ||
      !set_pss (pctx, RSA_PSS_SALTLEN_AUTO))
    return sc_crypto_fail (error, SC_ERROR_CRYPTO, "RSA-PSS setup failed");
  if (EVP_DigestVerify (md, sig, sig_len, msg, len) != 1)
    return sc_crypto_fail (error, SC_ERROR_SIGNATURE, "RSA-PSS signature does not verify");
  return TRUE;
}

/* ---- encodings ---- */

/* Every peer's RSA key is RSA-2048 with e = 65537, whose SubjectPublicKeyInfo
 * is always these bytes around the 256 bytes of n (top bit set).  OpenSSL
 * 3.0's decoders and encoders take 150-650 us per key, more than the RSA
 * operation itself; building the key from n takes a few.  Any other key
 * goes through OpenSSL. */
static const guint8 spki_rsa2048_head[] = {
  0x30, 0x82, 0x01, 0x22,                   /* SEQUENCE, 290 bytes */
  0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
  0x05, 0x00,                               /* rsaEncryption, NULL */
  0x03, 0x82, 0x01, 0x0f, 0x00,             /* BIT STRING, no unused bits */
  0x30, 0x82, 0x01, 0x0a,                   /* RSAPublicKey */
  0x02, 0x82, 0x01, 0x01, 0x00,             /* INTEGER n, 257 bytes */
};
static const guint8 spki_rsa2048_tail[] = { 0x02, 0x03, 0x01, 0x00, 0x01 };  /* e */
#define SPKI_RSA2048_LEN (sizeof spki_rsa2048_head + 256 + sizeof spki_rsa2048_tail)

static EVP_PKEY *
rsa2048_from_spki (const guint8 *der,
                   gsize         len)
{
  const guint8 *n = der + sizeof spki_rsa2048_head;
  g_autoptr(OSSL_PARAM_BLD) bld = NULL;
  g_autoptr(EVP_PKEY_CTX) ctx = NULL;
  OSSL_PARAM *params = NULL;
  BIGNUM *bn_n = NULL, *bn_e = NULL;
  EVP_PKEY *key = NULL;

  if (len != SPKI_RSA2048_LEN ||
      memcmp (der, spki_rsa2048_head, sizeof spki_rsa2048_head) != 0 ||
      memcmp (n + 256, spki_rsa2048_tail, sizeof spki_rsa2048_tail) != 0 ||
      (n[0] & 0x80) == 0)
    return NULL;

  bld = OSSL_PARAM_BLD_new ();
  bn_n = BN_bin2bn (n, 256, NULL);
  bn_e = BN_new ();
  ctx = EVP_PKEY_CTX_new_from_name (NULL, "RSA", NULL);
  if (bld != NULL && bn_n != NULL && bn_e != NULL && ctx != NULL &&
      BN_set_word (bn_e, 65537) == 1 &&
      OSSL_PARAM_BLD_push_BN (bld, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1 &&
      OSSL_PARAM_BLD_push_BN (bld, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1 &&
      (params = OSSL_PARAM_BLD_to_param (bld)) != NULL &&
      EVP_PKEY_fromdata_init (ctx) == 1)
    EVP_PKEY_fromdata (ctx, &key, EVP_PKEY_PUBLIC_KEY, params);
  OSSL_PARAM_free (params);
  BN_free (bn_n);
  BN_free (bn_e);
  ERR_clear_error ();
  return key;
}

/* The SubjectPublicKeyInfo of an RSA-2048, e = 65537 key, or FALSE */
static gboolean
rsa2048_to_spki (EVP_PKEY *key,
                 guint8    der[SPKI_RSA2048_LEN])
{
  BIGNUM *n = NULL, *e = NULL;
  gboolean ok;

  if (EVP_PKEY_get_base_id (key) != EVP_PKEY_RSA || EVP_PKEY_get_bits (key) != 2048 ||
      EVP_PKEY_get_bn_param (key, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
      EVP_PKEY_get_bn_param (key, OSSL_PKEY_PARAM_RSA_E, &e) != 1)
    {
      BN_free (n);
      ERR_clear_error ();
      return FALSE;
    }
  ok = BN_is_word (e, 65537) &&
       BN_bn2binpad (n, der + sizeof spki_rsa2048_head, 256) == 256;
  memcpy (der, spki_rsa2048_head, sizeof spki_rsa2048_head);
  memcpy (der + sizeof spki_rsa2048_head + 256, spki_rsa2048_tail, sizeof spki_rsa2048_tail);
  BN_free (n);
  BN_free (e);
  return ok;
}

#define PEM_PUBLIC_BEGIN "-----BEGIN PUBLIC KEY-----\n"
#define PEM_PUBLIC_END   "-----END PUBLIC KEY-----"

/* The DER inside a PEM public key in the form OpenSSL and Python write:
 * the armour lines and base64 in lines of 64; trailing newlines are
 * ignored (a greeting ends with three) */
static GBytes *
pem_public_body (const char *pem,
                 gsize       len)
{
  gsize begin = strlen (PEM_PUBLIC_BEGIN), end = strlen (PEM_PUBLIC_END);
  g_autoptr(GString) b64 = NULL;
  const char *p, *nl, *stop;

  while (len > 0 && pem[len - 1] == '\n')
    len--;
  if (len < begin + end + 1 || memcmp (pem, PEM_PUBLIC_BEGIN, begin) != 0 ||
      memcmp (pem + len - end, PEM_PUBLIC_END, end) != 0 || pem[len - end - 1] != '\n')
    return NULL;
  b64 = g_string_sized_new (len);
  stop = pem + len - end;
  for (p = pem + begin; p < stop; p = nl + 1)
    {
      /* every line 64 characters but the last, which is 1 to 64 */
      nl = memchr (p, '\n', (gsize) (stop - p));
      if (nl == NULL || nl == p || nl - p > 64 || (nl - p < 64 && nl + 1 != stop))
        return NULL;
      g_string_append_len (b64, p, nl - p);
    }
  return sc_base64_decode_strict (b64->str, b64->len, NULL);
}

EVP_PKEY *
sc_pem_read_public (const char *pem,
                    gsize       len,
                    GError    **error)
{
  g_autoptr(GBytes) der = pem_public_body (pem, len);
  g_autoptr(BIO) bio = NULL;
  EVP_PKEY *key = NULL;

  if (der != NULL)
    key = rsa2048_from_spki (g_bytes_get_data (der, NULL), g_bytes_get_size (der));
  if (key != NULL)
    return key;
  if (len > G_MAXINT)
    return NULL;
  bio = BIO_new_mem_buf (pem, (int) len);
  key = bio ? PEM_read_bio_PUBKEY (bio, NULL, NULL, NULL) : NULL;
  if (key == NULL)
    sc_crypto_fail (error, SC_ERROR_PROTOCOL, "Not a PEM public key");
  return key;
}

EVP_PKEY *
sc_pem_read_private (const char *pem,
                     gsize       len,
                     GError    **error)
{
  g_autoptr(BIO) bio = NULL;
  EVP_PKEY *key;

  if (len > G_MAXINT)
    return NULL;
  bio = BIO_new_mem_buf (pem, (int) len);
  /* An empty passphrase callback: encrypted keys fail instead of prompting */
  key = bio ? PEM_read_bio_PrivateKey (bio, NULL, NULL, (void *) "") : NULL;
  if (key == NULL)
    sc_crypto_fail (error, SC_ERROR_KEY_FILE, "Not a PEM private key");
  return key;
}

static char *
bio_to_string (BIO *bio)
{
  char *data = NULL;
  long len = BIO_get_mem_data (bio, &data);

  return len > 0 ? g_strndup (data, (gsize) len) : NULL;
}

/* As PEM_write_bio_PUBKEY writes it: base64 lines of 64 characters */
char *
sc_pem_write_public (EVP_PKEY *key,
                     GError  **error)
{
  g_autoptr(GBytes) der = sc_der_public (key, error);
  g_autofree char *b64 = NULL;
  GString *pem;
  gsize i, len;

  if (der == NULL)
    return NULL;
  b64 = g_base64_encode (g_bytes_get_data (der, NULL), g_bytes_get_size (der));
  len = strlen (b64);
  pem = g_string_new (PEM_PUBLIC_BEGIN);
  for (i = 0; i < len; i += 64)
    {
      g_string_append_len (pem, b64 + i, MIN (64, len - i));
      g_string_append_c (pem, '\n');
    }
  g_string_append (pem, PEM_PUBLIC_END "\n");
  return g_string_free (pem, FALSE);
}

char *
sc_pem_write_private (EVP_PKEY *key,
                      GError  **error)
{
  /* A secure-memory BIO wipes its buffer when freed */
  g_autoptr(BIO) bio = BIO_new (BIO_s_secmem ());
  char *pem;

  if (bio == NULL || PEM_write_bio_PrivateKey (bio, key, NULL, NULL, 0, NULL, NULL) != 1 ||
      (pem = bio_to_string (bio)) == NULL)
    return sc_crypto_fail (error, SC_ERROR_CRYPTO, "Could not encode private key"), NULL;
  return pem;
}

GBytes *
sc_der_public (EVP_PKEY *key,
               GError  **error)
{
  guint8 spki[SPKI_RSA2048_LEN];
  unsigned char *der = NULL;
  GBytes *bytes;
  int len;

  if (rsa2048_to_spki (key, spki))
    return g_bytes_new (spki, sizeof spki);
  len = i2d_PUBKEY (key, &der);
  if (len <= 0)
    return sc_crypto_fail (error, SC_ERROR_CRYPTO, "Could not encode public key"), NULL;
  bytes = g_bytes_new (der, (gsize) len);
  OPENSSL_free (der);
  return bytes;
}

char *
sc_fingerprint (const guint8 *key_bytes,
                gsize         len)
{
  guint8 digest[32];
  g_autofree char *b64 = NULL;
  char *end;

  sc_sha256 (key_bytes, len, digest);
  b64 = g_base64_encode (digest, sizeof digest);
  end = strchr (b64, '=');
  if (end != NULL)
    *end = '\0';
  return g_strconcat (SC_FINGERPRINT_PREFIX, b64, NULL);
}

char *
sc_fingerprint_rsa (EVP_PKEY *key,
                    GError  **error)
{
  g_autoptr(GBytes) der = sc_der_public (key, error);

  if (der == NULL)
    return NULL;
  return sc_fingerprint (g_bytes_get_data (der, NULL), g_bytes_get_size (der));
}

static gboolean
is_base64_char (char c)
{
  return g_ascii_isalnum (c) || c == '+' || c == '/';
}

gboolean
sc_fingerprint_is_valid (const char *text)
{
  const char *b64;

  if (text == NULL || strlen (text) != SC_FINGERPRINT_LEN ||
      !g_str_has_prefix (text, SC_FINGERPRINT_PREFIX))
    return FALSE;
  for (b64 = text + strlen (SC_FINGERPRINT_PREFIX); *b64; b64++)
    if (!is_base64_char (*b64))
      return FALSE;
  /* 43 characters carry 258 bits: the last one must leave the 2 spare bits zero */
  return strchr ("AEIMQUYcgkosw048", b64[-1]) != NULL;
}

/* GLib's decoder skips characters outside the alphabet and ignores stray
 * bits; network input must be canonical, padded base64, which we check by
 * encoding the result again and comparing. */
GBytes *
sc_base64_decode_strict (const char *text,
                         gsize       len,
                         GError    **error)
{
  g_autofree char *copy = NULL;
  g_autofree char *again = NULL;
  gsize i, out_len = 0;
  guchar *out;

  for (i = 0; i < len; i++)
    if (!is_base64_char (text[i]) && text[i] != '=')
      goto bad;
  if (len % 4 != 0)
    goto bad;

  copy = g_strndup (text, len);
  out = g_base64_decode (copy, &out_len);
  again = g_base64_encode (out, out_len);
  if (strcmp (again, copy) != 0)
    {
      g_free (out);
      goto bad;
    }
  return g_bytes_new_take (out, out_len);

bad:
  g_set_error_literal (error, SC_ERROR, SC_ERROR_PROTOCOL, "Invalid base64");
  return NULL;
}
