/* bench-crypto.c: the cost of the primitives alone, with the same OpenSSL
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "bench-crypto.h"

#include <string.h>

#include <gio/gio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "sc-openssl.h"
#include "bench-util.h"
#include "sc-crypto.h"

/* What the handshakes sign and encrypt: a context string and a hash, a
 * 48-byte key blob */
#define SIGNED_LEN 52
#define BLOB_LEN   48

struct _BenchCrypto {
  EVP_PKEY     *x25519;
  EVP_PKEY     *x25519_peer;
  EVP_PKEY_CTX *x25519_keygen;
  EVP_PKEY_CTX *x25519_derive;
  EVP_PKEY     *ed25519;
  guint8        ed25519_sig[64];
  EVP_PKEY     *rsa;
  EVP_PKEY_CTX *oaep_encrypt;
  EVP_PKEY_CTX *oaep_decrypt;
  guint8        oaep_ct[512];
  size_t        oaep_ct_len;
  guint8        pss_sig[512];
  size_t        pss_sig_len;
  EVP_MD_CTX   *md;
  guint8        message[SIGNED_LEN];
};

static const struct {
  const char *id;
  const char *label;
  guint       per_v2;
  guint       per_v1;
} ops[BENCH_N_OPS] = {
  [BENCH_OP_X25519_KEYGEN]    = { "x25519_keygen", "X25519 keygen", 2, 0 },
  [BENCH_OP_X25519_DERIVE]    = { "x25519_derive", "X25519 derive", 2, 0 },
  [BENCH_OP_ED25519_SIGN]     = { "ed25519_sign", "Ed25519 sign", 2, 0 },
  [BENCH_OP_ED25519_VERIFY]   = { "ed25519_verify", "Ed25519 verify", 2, 0 },
  [BENCH_OP_RSA_OAEP_ENCRYPT] = { "rsa_oaep_encrypt", "RSA-2048 OAEP encrypt", 0, 1 },
  [BENCH_OP_RSA_OAEP_DECRYPT] = { "rsa_oaep_decrypt", "RSA-2048 OAEP decrypt", 0, 1 },
  [BENCH_OP_RSA_PSS_SIGN]     = { "rsa_pss_sign", "RSA-2048 PSS sign", 0, 1 },
  [BENCH_OP_RSA_PSS_VERIFY]   = { "rsa_pss_verify", "RSA-2048 PSS verify", 0, 1 },
};

const char *
bench_op_id (BenchOp op)
{
  return ops[op].id;
}

const char *
bench_op_label (BenchOp op)
{
  return ops[op].label;
}

guint
bench_op_per_v2_handshake (BenchOp op)
{
  return ops[op].per_v2;
}

guint
bench_op_per_v1_handshake (BenchOp op)
{
  return ops[op].per_v1;
}

/* OAEP and PSS as the seed protocol uses them: SHA-256 and MGF1-SHA-256 */
static gboolean
set_oaep (EVP_PKEY_CTX *ctx)
{
  return EVP_PKEY_CTX_set_rsa_padding (ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_oaep_md (ctx, EVP_sha256 ()) == 1 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md (ctx, EVP_sha256 ()) == 1;
}

static gboolean
set_pss (EVP_PKEY_CTX *ctx,
         int           saltlen)
{
  return EVP_PKEY_CTX_set_rsa_padding (ctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md (ctx, EVP_sha256 ()) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen (ctx, saltlen) == 1;
}

static gboolean op_run (BenchCrypto *self, BenchOp op);

BenchCrypto *
bench_crypto_new (GError **error)
{
  BenchCrypto *self = g_new0 (BenchCrypto, 1);
  guint8 blob[BLOB_LEN] = { 0 };
  size_t len = sizeof self->ed25519_sig;

  memset (self->message, 0x5c, sizeof self->message);
  self->x25519 = EVP_PKEY_Q_keygen (NULL, NULL, "X25519");
  self->x25519_peer = EVP_PKEY_Q_keygen (NULL, NULL, "X25519");
  self->ed25519 = EVP_PKEY_Q_keygen (NULL, NULL, "ED25519");
  self->rsa = EVP_PKEY_Q_keygen (NULL, NULL, "RSA", (size_t) 2048);
  self->md = EVP_MD_CTX_new ();
  if (self->x25519 == NULL || self->x25519_peer == NULL || self->ed25519 == NULL ||
      self->rsa == NULL || self->md == NULL)
    goto failed;

  self->x25519_keygen = EVP_PKEY_CTX_new_from_name (NULL, "X25519", NULL);
  self->x25519_derive = EVP_PKEY_CTX_new (self->x25519, NULL);
  self->oaep_encrypt = EVP_PKEY_CTX_new (self->rsa, NULL);
  self->oaep_decrypt = EVP_PKEY_CTX_new (self->rsa, NULL);
  if (self->x25519_keygen == NULL || EVP_PKEY_keygen_init (self->x25519_keygen) != 1 ||
      self->x25519_derive == NULL ||
      self->oaep_encrypt == NULL || EVP_PKEY_encrypt_init (self->oaep_encrypt) != 1 ||
      !set_oaep (self->oaep_encrypt) ||
      self->oaep_decrypt == NULL || EVP_PKEY_decrypt_init (self->oaep_decrypt) != 1 ||
      !set_oaep (self->oaep_decrypt))
    goto failed;

  /* what verify and decrypt work on */
  self->oaep_ct_len = sizeof self->oaep_ct;
  if (EVP_DigestSignInit (self->md, NULL, NULL, NULL, self->ed25519) != 1 ||
      EVP_DigestSign (self->md, self->ed25519_sig, &len, self->message, SIGNED_LEN) != 1 ||
      EVP_PKEY_encrypt (self->oaep_encrypt, self->oaep_ct, &self->oaep_ct_len,
                        blob, sizeof blob) != 1 ||
      !op_run (self, BENCH_OP_RSA_PSS_SIGN))
    goto failed;
  return self;

failed:
  sc_crypto_fail (error, SC_ERROR_CRYPTO, "Setting up the crypto baseline");
  bench_crypto_free (self);
  return NULL;
}

void
bench_crypto_free (BenchCrypto *self)
{
  if (self == NULL)
    return;
  EVP_PKEY_CTX_free (self->x25519_keygen);
  EVP_PKEY_CTX_free (self->x25519_derive);
  EVP_PKEY_CTX_free (self->oaep_encrypt);
  EVP_PKEY_CTX_free (self->oaep_decrypt);
  EVP_PKEY_free (self->x25519);
  EVP_PKEY_free (self->x25519_peer);
  EVP_PKEY_free (self->ed25519);
  EVP_PKEY_free (self->rsa);
  EVP_MD_CTX_free (self->md);
  g_free (self);
}

static gboolean
op_run (BenchCrypto *self,
        BenchOp      op)
{
  guint8 out[512];
  size_t len = sizeof out;
  EVP_PKEY_CTX *pctx = NULL;

  if (op == BENCH_OP_ED25519_SIGN || op == BENCH_OP_ED25519_VERIFY ||
      op == BENCH_OP_RSA_PSS_SIGN || op == BENCH_OP_RSA_PSS_VERIFY)
    EVP_MD_CTX_reset (self->md);

  switch (op)
    {
    case BENCH_OP_X25519_KEYGEN:
      {
        EVP_PKEY *key = NULL;
        gboolean ok = EVP_PKEY_keygen (self->x25519_keygen, &key) == 1;

        EVP_PKEY_free (key);
        return ok;
      }
    case BENCH_OP_X25519_DERIVE:
      return EVP_PKEY_derive_init (self->x25519_derive) == 1 &&
             EVP_PKEY_derive_set_peer (self->x25519_derive, self->x25519_peer) == 1 &&
             EVP_PKEY_derive (self->x25519_derive, out, &len) == 1;
    case BENCH_OP_ED25519_SIGN:
      return EVP_DigestSignInit (self->md, NULL, NULL, NULL, self->ed25519) == 1 &&
             EVP_DigestSign (self->md, out, &len, self->message, SIGNED_LEN) == 1;
    case BENCH_OP_ED25519_VERIFY:
      return EVP_DigestVerifyInit (self->md, NULL, NULL, NULL, self->ed25519) == 1 &&
             EVP_DigestVerify (self->md, self->ed25519_sig, sizeof self->ed25519_sig,
                               self->message, SIGNED_LEN) == 1;
    case BENCH_OP_RSA_OAEP_ENCRYPT:
      return EVP_PKEY_encrypt (self->oaep_encrypt, out, &len, self->message, BLOB_LEN) == 1;
    case BENCH_OP_RSA_OAEP_DECRYPT:
      return EVP_PKEY_decrypt (self->oaep_decrypt, out, &len, self->oaep_ct,
                               self->oaep_ct_len) == 1;
    case BENCH_OP_RSA_PSS_SIGN:
      self->pss_sig_len = sizeof self->pss_sig;
      return EVP_DigestSignInit (self->md, &pctx, EVP_sha256 (), NULL, self->rsa) == 1 &&
             set_pss (pctx, RSA_PSS_SALTLEN_MAX) &&
             EVP_DigestSign (self->md, self->pss_sig, &self->pss_sig_len,
                             self->message, BLOB_LEN) == 1;
    case BENCH_OP_RSA_PSS_VERIFY:
      return EVP_DigestVerifyInit (self->md, &pctx, EVP_sha256 (), NULL, self->rsa) == 1 &&
             set_pss (pctx, RSA_PSS_SALTLEN_AUTO) &&
             EVP_DigestVerify (self->md, self->pss_sig, self->pss_sig_len,
                               self->message, BLOB_LEN) == 1;
    case BENCH_N_OPS:
    default:
      g_assert_not_reached ();
    }
}

gboolean
bench_crypto_time_op (BenchCrypto *self,
                      BenchOp      op,
                      guint        n,
                      double      *seconds,
                      GError     **error)
{
  double start = bench_now ();
  guint i;

  for (i = 0; i < n; i++)
    if (!op_run (self, op))
      return sc_crypto_fail (error, SC_ERROR_CRYPTO, bench_op_label (op));
  *seconds = (bench_now () - start) / n;
  return TRUE;
}

gboolean
bench_crypto_handshakes (BenchCrypto *self,
                         gboolean     v1,
                         guint64      n,
                         GError     **error)
{
  guint64 i;
  guint op, k;

  for (i = 0; i < n; i++)
    for (op = 0; op < BENCH_N_OPS; op++)
      for (k = 0; k < (v1 ? ops[op].per_v1 : ops[op].per_v2); k++)
        if (!op_run (self, op))
          return sc_crypto_fail (error, SC_ERROR_CRYPTO, bench_op_label (op));
  return TRUE;
}

gboolean
bench_aes_gcm_seal (gsize    size,
                    guint64  n,
                    double  *seconds,
                    GError **error)
{
  g_autoptr(EVP_CIPHER_CTX) ctx = EVP_CIPHER_CTX_new ();
  g_autofree guint8 *pt = g_malloc0 (size);
  g_autofree guint8 *ct = g_malloc (size + 16);
  EVP_CIPHER *cipher = EVP_CIPHER_fetch (NULL, "AES-256-GCM", NULL);
  guint8 key[32] = { 1 }, nonce[12] = { 0 }, aad[5] = { 0 };
  double start;
  guint64 i;
  int len;

  if (ctx == NULL || cipher == NULL ||
      EVP_EncryptInit_ex2 (ctx, cipher, key, NULL, NULL) != 1)
    {
      EVP_CIPHER_free (cipher);
      return sc_crypto_fail (error, SC_ERROR_CRYPTO, "AES-256-GCM");
    }
  start = bench_now ();
  for (i = 0; i < n; i++)
    {
      memcpy (nonce + 4, &i, sizeof i);
      if (EVP_EncryptInit_ex2 (ctx, NULL, NULL, nonce, NULL) != 1 ||
          EVP_EncryptUpdate (ctx, NULL, &len, aad, sizeof aad) != 1 ||
          EVP_EncryptUpdate (ctx, ct, &len, pt, (int) size) != 1 ||
          EVP_EncryptFinal_ex (ctx, ct + len, &len) != 1 ||
          EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_GCM_GET_TAG, 16, ct + size) != 1)
        {
          EVP_CIPHER_free (cipher);
          return sc_crypto_fail (error, SC_ERROR_CRYPTO, "AES-256-GCM");
        }
    }
  *seconds = bench_now () - start;
  EVP_CIPHER_free (cipher);
  return TRUE;
}
