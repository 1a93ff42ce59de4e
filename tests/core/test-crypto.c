/* test-crypto.c: the primitive wrappers, beyond what the vectors exercise
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "sc-crypto.h"

#include "test-util.h"

/* RFC 5869, test case 1: the extract step */
static void
test_hkdf_rfc5869 (void)
{
  g_autoptr(GBytes) ikm = test_hex ("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
  g_autoptr(GBytes) salt = test_hex ("000102030405060708090a0b0c");
  g_autoptr(GBytes) prk = test_hex ("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
  guint8 out[32];

  g_assert_true (sc_hkdf_extract (g_bytes_get_data (salt, NULL), g_bytes_get_size (salt),
                                  g_bytes_get_data (ikm, NULL), g_bytes_get_size (ikm), out, NULL));
  test_assert_bytes (out, 32, prk);
}

static void
test_base64_strict (void)
{
  static const struct { const char *text; gboolean ok; gsize len; } cases[] = {
    { "", TRUE, 0 }, { "QQ==", TRUE, 1 }, { "QUI=", TRUE, 2 }, { "QUJD", TRUE, 3 },
    { "QR==", FALSE, 0 }, { "QQ=", FALSE, 0 }, { "Q===", FALSE, 0 }, { "QUJD\n", FALSE, 0 },
    { "QU JD", FALSE, 0 }, { "QU-D", FALSE, 0 }, { "=QUJ", FALSE, 0 }, { "QQ==QQ==", FALSE, 0 },
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GBytes) out = sc_base64_decode_strict (cases[i].text, strlen (cases[i].text), &error);

      if (cases[i].ok)
        {
          g_assert_no_error (error);
          g_assert_cmpuint (g_bytes_get_size (out), ==, cases[i].len);
        }
      else
        {
          g_assert_null (out);
          g_assert_error (error, SC_ERROR, SC_ERROR_PROTOCOL);
        }
    }
}

static void
test_fingerprint_format (void)
{
  guint8 key[32] = { 0 };
  g_autofree char *fp = sc_fingerprint (key, sizeof key);
  g_autofree char *bad_tail = g_strdup (fp);

  g_assert_true (g_str_has_prefix (fp, "SHA256:"));
  g_assert_cmpuint (strlen (fp), ==, 50);
  g_assert_null (strchr (fp, '='));
  g_assert_true (sc_fingerprint_is_valid (fp));

  g_assert_false (sc_fingerprint_is_valid (NULL));
  g_assert_false (sc_fingerprint_is_valid ("SHA256:"));
  g_assert_false (sc_fingerprint_is_valid ("MD5:7RjwhW4WX8geOPGMPeRDVjKMZMiwoNuc8FhRtqUrGhM"));
  g_assert_false (sc_fingerprint_is_valid ("SHA256:7RjwhW4WX8geOPGMPeRDVjKMZMiwoNuc8FhRtqUrGh="));
  g_assert_false (sc_fingerprint_is_valid ("SHA256:7RjwhW4WX8geOPGMPeRDVjKMZMiwoNuc8FhRtqUrGhM "));
  /* a last character that would carry bits beyond 256 */
  bad_tail[49] = 'B';
  g_assert_false (sc_fingerprint_is_valid (bad_tail));
}

static void
test_gcm_tamper (void)
{
  guint8 key[32] = { 7 }, nonce[12] = { 9 }, aad[5] = { 0, 0, 0, 20, 0x20 };
  guint8 ct[3 + 16], pt[3];
  g_autoptr(EVP_CIPHER_CTX) sealer = sc_aes_gcm_new (key, TRUE, NULL);
  g_autoptr(EVP_CIPHER_CTX) opener = sc_aes_gcm_new (key, FALSE, NULL);
  guint i;

  g_assert_nonnull (sealer);
  g_assert_nonnull (opener);
  g_assert_true (sc_aes_gcm_seal (sealer, nonce, aad, sizeof aad, (const guint8 *) "abc", 3, ct, NULL));
  g_assert_true (sc_aes_gcm_open (opener, nonce, aad, sizeof aad, ct, sizeof ct, pt, NULL));
  g_assert_cmpmem (pt, 3, "abc", 3);

  for (i = 0; i < sizeof ct * 8; i++)
    {
      g_autoptr(GError) error = NULL;

      ct[i / 8] ^= (guint8) (1u << (i % 8));
      g_assert_false (sc_aes_gcm_open (opener, nonce, aad, sizeof aad, ct, sizeof ct, pt, &error));
      g_assert_error (error, SC_ERROR, SC_ERROR_DECRYPT);
      ct[i / 8] ^= (guint8) (1u << (i % 8));
    }
  for (i = 0; i < sizeof aad * 8; i++)
    {
      g_autoptr(GError) error = NULL;

      aad[i / 8] ^= (guint8) (1u << (i % 8));
      g_assert_false (sc_aes_gcm_open (opener, nonce, aad, sizeof aad, ct, sizeof ct, pt, &error));
      g_assert_error (error, SC_ERROR, SC_ERROR_DECRYPT);
      aad[i / 8] ^= (guint8) (1u << (i % 8));
    }
  {
    g_autoptr(GError) error = NULL;

    g_assert_false (sc_aes_gcm_open (opener, nonce, aad, sizeof aad, ct, 15, pt, &error));
    g_assert_error (error, SC_ERROR, SC_ERROR_DECRYPT);
  }

  /* the contexts outlive the failures: the next record, under the next
   * nonce, seals and opens; and a record sealed under one nonce does not
   * open under another */
  nonce[11] ^= 1;
  memset (pt, 0, sizeof pt);
  g_assert_true (sc_aes_gcm_seal (sealer, nonce, aad, sizeof aad, (const guint8 *) "xyz", 3, ct, NULL));
  g_assert_true (sc_aes_gcm_open (opener, nonce, aad, sizeof aad, ct, sizeof ct, pt, NULL));
  g_assert_cmpmem (pt, 3, "xyz", 3);
  nonce[11] ^= 1;
  g_assert_false (sc_aes_gcm_open (opener, nonce, aad, sizeof aad, ct, sizeof ct, pt, NULL));
}

static void
test_ed25519_wrong_message (void)
{
  g_autoptr(EVP_PKEY) key = sc_ed25519_generate (NULL);
  g_autoptr(GError) error = NULL;
  guint8 pub[32], sig[64];

  g_assert_true (sc_ed25519_raw_public (key, pub, NULL));
  g_assert_true (sc_ed25519_sign (key, (const guint8 *) "msg", 3, sig, NULL));
  g_assert_true (sc_ed25519_verify (pub, (const guint8 *) "msg", 3, sig, NULL));
  g_assert_false (sc_ed25519_verify (pub, (const guint8 *) "msh", 3, sig, &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_SIGNATURE);
}

/* The verifier takes whatever salt length the signature carries */
static void
test_pss_salt_lengths (void)
{
  g_autoptr(EVP_PKEY) key = sc_rsa_generate (NULL);
  int lens[] = { 0, 32, RSA_PSS_SALTLEN_MAX };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (lens); i++)
    {
      g_autoptr(EVP_MD_CTX) md = EVP_MD_CTX_new ();
      EVP_PKEY_CTX *pctx = NULL;
      guint8 sig[256];
      size_t sig_len = sizeof sig;

      g_assert_cmpint (EVP_DigestSignInit (md, &pctx, EVP_sha256 (), NULL, key), ==, 1);
      g_assert_cmpint (EVP_PKEY_CTX_set_rsa_padding (pctx, RSA_PKCS1_PSS_PADDING), ==, 1);
      g_assert_cmpint (EVP_PKEY_CTX_set_rsa_pss_saltlen (pctx, lens[i]), ==, 1);
      g_assert_cmpint (EVP_DigestSign (md, sig, &sig_len, (const guint8 *) "blob", 4), ==, 1);
      g_assert_true (sc_rsa_pss_verify (key, (const guint8 *) "blob", 4, sig, sig_len, NULL));
    }
}

/* An encrypted private key fails instead of prompting for a passphrase */
static void
test_encrypted_pem (void)
{
  g_autoptr(EVP_PKEY) key = sc_ed25519_generate (NULL);
  g_autoptr(BIO) bio = BIO_new (BIO_s_mem ());
  g_autoptr(GError) error = NULL;
  g_autoptr(EVP_PKEY) back = NULL;
  char *data;
  long len;

  g_assert_cmpint (PEM_write_bio_PrivateKey (bio, key, EVP_aes_256_cbc (), (unsigned char *) "pw", 2,
                                             NULL, NULL), ==, 1);
  len = BIO_get_mem_data (bio, &data);
  back = sc_pem_read_private (data, (gsize) len, &error);
  g_assert_null (back);
  g_assert_error (error, SC_ERROR, SC_ERROR_KEY_FILE);
}

/* OpenSSL's own encoding of a public key, as PEM and as DER */
static char *
openssl_pem (EVP_PKEY *key)
{
  g_autoptr(BIO) bio = BIO_new (BIO_s_mem ());
  char *data = NULL;
  long len;

  g_assert_cmpint (PEM_write_bio_PUBKEY (bio, key), ==, 1);
  len = BIO_get_mem_data (bio, &data);
  return g_strndup (data, (gsize) len);
}

static void
assert_same_public (EVP_PKEY *a,
                    EVP_PKEY *b)
{
  g_assert_nonnull (a);
  g_assert_nonnull (b);
  g_assert_cmpint (EVP_PKEY_eq (a, b), ==, 1);
}

/* RSA-2048 keys with e = 65537 skip OpenSSL's encoders and decoders; every
 * result must be what OpenSSL gives, and any other key or layout must still
 * go through OpenSSL. */
static void
test_rsa_public_encodings (void)
{
  g_autoptr(EVP_PKEY) rsa2048 = sc_rsa_generate (NULL);
  g_autoptr(EVP_PKEY) rsa1024 = EVP_PKEY_Q_keygen (NULL, NULL, "RSA", (size_t) 1024);
  g_autoptr(EVP_PKEY) rsa_e3 = NULL;
  g_autoptr(EVP_PKEY_CTX) ctx = EVP_PKEY_CTX_new_from_name (NULL, "RSA", NULL);
  EVP_PKEY *keys[3];
  guint i;
  BIGNUM *three = BN_new ();

  /* RSA-2048 with e = 3 */
  g_assert_cmpint (BN_set_word (three, 3), ==, 1);
  g_assert_cmpint (EVP_PKEY_keygen_init (ctx), ==, 1);
  g_assert_cmpint (EVP_PKEY_CTX_set_rsa_keygen_bits (ctx, 2048), ==, 1);
  g_assert_cmpint (EVP_PKEY_CTX_set1_rsa_keygen_pubexp (ctx, three), ==, 1);
  g_assert_cmpint (EVP_PKEY_keygen (ctx, &rsa_e3), ==, 1);
  BN_free (three);
  keys[0] = rsa2048;
  keys[1] = rsa1024;
  keys[2] = rsa_e3;

  for (i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      g_autofree char *expected_pem = openssl_pem (keys[i]);
      g_autofree char *pem = sc_pem_write_public (keys[i], NULL);
      g_autoptr(GBytes) der = sc_der_public (keys[i], NULL);
      unsigned char *expected_der = NULL;
      int der_len = i2d_PUBKEY (keys[i], &expected_der);
      g_autofree char *unterminated = NULL;
      g_autofree char *greeting_tail = NULL;
      g_autofree char *long_lines = NULL;
      g_autoptr(EVP_PKEY) back = NULL;
      g_autoptr(EVP_PKEY) back2 = NULL;
      g_autoptr(EVP_PKEY) back3 = NULL;
      g_autoptr(EVP_PKEY) back4 = NULL;
      g_autoptr(GString) joined = NULL;
      char **lines;
      guint j;

      g_assert_cmpstr (pem, ==, expected_pem);
      g_assert_nonnull (der);
      g_assert_cmpmem (g_bytes_get_data (der, NULL), g_bytes_get_size (der),
                       expected_der, der_len);
      OPENSSL_free (expected_der);

      back = sc_pem_read_public (pem, strlen (pem), NULL);
      assert_same_public (back, keys[i]);
      /* as Python writes it, without the last newline, and inside a greeting */
      unterminated = g_strndup (pem, strlen (pem) - 1);
      back2 = sc_pem_read_public (unterminated, strlen (unterminated), NULL);
      assert_same_public (back2, keys[i]);
      greeting_tail = g_strconcat (pem, "\n\n", NULL);
      back3 = sc_pem_read_public (greeting_tail, strlen (greeting_tail), NULL);
      assert_same_public (back3, keys[i]);

      /* base64 in one long line: not the usual layout, but OpenSSL reads it */
      lines = g_strsplit (pem, "\n", -1);
      joined = g_string_new (NULL);
      g_string_append_printf (joined, "%s\n", lines[0]);
      for (j = 1; lines[j + 2] != NULL; j++)
        g_string_append (joined, lines[j]);
      g_string_append_printf (joined, "\n%s\n", lines[j]);
      g_strfreev (lines);
      long_lines = g_string_free (g_steal_pointer (&joined), FALSE);
      back4 = sc_pem_read_public (long_lines, strlen (long_lines), NULL);
      assert_same_public (back4, keys[i]);
    }

  /* a damaged body is refused by both paths */
  {
    g_autofree char *pem = sc_pem_write_public (rsa2048, NULL);
    g_autoptr(GError) error = NULL;
    EVP_PKEY *none;

    pem[40] = '*';
    none = sc_pem_read_public (pem, strlen (pem), &error);
    g_assert_null (none);
    g_assert_error (error, SC_ERROR, SC_ERROR_PROTOCOL);
  }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/crypto/hkdf-rfc5869", test_hkdf_rfc5869);
  g_test_add_func ("/crypto/base64-strict", test_base64_strict);
  g_test_add_func ("/crypto/fingerprint-format", test_fingerprint_format);
  g_test_add_func ("/crypto/gcm-tamper", test_gcm_tamper);
  g_test_add_func ("/crypto/ed25519-wrong-message", test_ed25519_wrong_message);
  g_test_add_func ("/crypto/pss-salt-lengths", test_pss_salt_lengths);
  g_test_add_func ("/crypto/encrypted-pem", test_encrypted_pem);
  g_test_add_func ("/crypto/rsa-public-encodings", test_rsa_public_encodings);

  return g_test_run ();
}
