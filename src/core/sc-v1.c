/* sc-v1.c: the seed protocol, byte-compatible with the original program
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "sc-v1.h"

#include <string.h>

#include <json-glib/json-glib.h>
#include <openssl/crypto.h>

#include "sc-message.h"
#include "sc-protocol.h"

/* The client's legacy RSA key: the seed made 2048-bit keys; shorter ones
 * are breakable, longer ones only cost the server time */
#define CLIENT_RSA_BITS_MIN SC_RSA_BITS
#define CLIENT_RSA_BITS_MAX 4096

struct _ScV1Session {
  guint8 key[SC_V1_KEY_LEN];
  guint8 iv[SC_V1_IV_LEN];
};

ScV1Session *
sc_v1_session_new (const guint8 key[32],
                   const guint8 iv[16])
{
  ScV1Session *self = g_new (ScV1Session, 1);

  memcpy (self->key, key, SC_V1_KEY_LEN);
  memcpy (self->iv, iv, SC_V1_IV_LEN);
  return self;
}

void
sc_v1_session_free (ScV1Session *self)
{
  if (self == NULL)
    return;
  OPENSSL_cleanse (self, sizeof *self);
  g_free (self);
}

EVP_PKEY *
sc_v1_parse_greeting (const guint8 *greeting,
                      gsize         len,
                      GError      **error)
{
  gsize prefix = strlen (SC_GREETING_PREFIX);

  if (len < prefix || memcmp (greeting, SC_GREETING_PREFIX, prefix) != 0)
    {
      g_set_error_literal (error, SC_ERROR, SC_ERROR_PROTOCOL, "Not a Secure Chat greeting");
      return NULL;
    }
  return sc_pem_read_public ((const char *) greeting + prefix, len - prefix, error);
}

/* Parses a JSON object and fetches the string members named in the
 * NULL-terminated list, in order; the seed's frames have exactly these
 * members, so any other member is refused too.  Every failure is a
 * protocol error. */
static JsonParser *
parse_object (const guint8 *json,
              gsize         len,
              GError      **error,
              ...)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(GError) local = NULL;
  JsonObject *object;
  const char *name;
  guint n_members = 0;
  va_list args;

  /* json-glib's parser recurses: nesting is bounded before it runs */
  if (len == 0 || len > G_MAXSSIZE || json[0] != '{' || !sc_message_nesting_ok (json, len) ||
      !json_parser_load_from_data (parser, (const char *) json, (gssize) len, &local) ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      g_set_error (error, SC_ERROR, SC_ERROR_PROTOCOL, "Malformed JSON frame%s%s",
                   local ? ": " : "", local ? local->message : "");
      return NULL;
    }
  object = json_node_get_object (json_parser_get_root (parser));

  va_start (args, error);
  while ((name = va_arg (args, const char *)) != NULL)
    {
      const char **value = va_arg (args, const char **);
      JsonNode *node = json_object_get_member (object, name);

      if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
          json_node_get_value_type (node) != G_TYPE_STRING)
        {
          va_end (args);
          g_set_error (error, SC_ERROR, SC_ERROR_PROTOCOL,
                       "Frame lacks the string member “%s”", name);
          return NULL;
        }
      *value = json_node_get_string (node);
      n_members++;
    }
  va_end (args);
  if (json_object_get_size (object) != n_members)
    {
      g_set_error_literal (error, SC_ERROR, SC_ERROR_PROTOCOL, "Frame has unexpected members");
      return NULL;
    }
  return g_steal_pointer (&parser);
}

static GBytes *
member_base64 (const char *name,
               const char *value,
               GError    **error)
{
  g_autoptr(GError) local = NULL;
  GBytes *bytes = sc_base64_decode_strict (value, strlen (value), &local);

  if (bytes == NULL)
    g_set_error (error, SC_ERROR, SC_ERROR_PROTOCOL, "Invalid base64 in “%s”", name);
  return bytes;
}

/* The seed wrote its frames with Python's json.dumps; values here are
 * base64, which needs no escaping, so the frame is laid out directly to stay
 * byte-identical with it. */
static void
append_frame (GByteArray *out,
              const char *first_name,
              ...)
{
  const char *name = first_name;
  gboolean first = TRUE;
  va_list args;

  g_byte_array_append (out, (const guint8 *) "{", 1);
  va_start (args, first_name);
  while (name != NULL)
    {
      const char *value = va_arg (args, const char *);
      g_autofree char *member = g_strdup_printf ("%s\"%s\": \"%s\"",
                                                 first ? "" : ", ", name, value);

      g_byte_array_append (out, (const guint8 *) member, strlen (member));
      first = FALSE;
      name = va_arg (args, const char *);
    }
  va_end (args);
  g_byte_array_append (out, (const guint8 *) "}\n\n", 3);
}

ScV1Session *
sc_v1_client_handshake (EVP_PKEY       *server_pub,
                        EVP_PKEY       *client_priv,
                        const ScRandom *rng,
                        GByteArray     *out,
                        GError        **error)
{
  guint8 blob[SC_V1_BLOB_LEN];
  g_autoptr(GBytes) enc = NULL;
  g_autoptr(GBytes) sig = NULL;
  g_autofree char *pem = NULL;
  g_autofree char *enc_b64 = NULL;
  g_autofree char *pub_b64 = NULL;
  g_autofree char *sig_b64 = NULL;
  ScV1Session *session = NULL;

  if (!sc_random_bytes (rng, blob, sizeof blob, error))
    goto out;
  if ((enc = sc_rsa_oaep_encrypt (server_pub, blob, sizeof blob, error)) == NULL ||
      (sig = sc_rsa_pss_sign (client_priv, blob, sizeof blob, error)) == NULL ||
      (pem = sc_pem_write_public (client_priv, error)) == NULL)
    goto out;

  enc_b64 = g_base64_encode (g_bytes_get_data (enc, NULL), g_bytes_get_size (enc));
  pub_b64 = g_base64_encode ((const guchar *) pem, strlen (pem));
  sig_b64 = g_base64_encode (g_bytes_get_data (sig, NULL), g_bytes_get_size (sig));
  append_frame (out, "enc_session", enc_b64, "client_pub", pub_b64,
                "client_sig", sig_b64, NULL);
  session = sc_v1_session_new (blob, blob + SC_V1_KEY_LEN);

out:
  OPENSSL_cleanse (blob, sizeof blob);
  return session;
}

ScV1Session *
sc_v1_server_accept (EVP_PKEY      *server_priv,
                     const guint8  *json,
                     gsize          len,
                     char         **client_fingerprint,
                     GError       **error)
{
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(GBytes) enc = NULL;
  g_autoptr(GBytes) pub_pem = NULL;
  g_autoptr(GBytes) sig = NULL;
  g_autoptr(GBytes) blob = NULL;
  g_autoptr(EVP_PKEY) client_pub = NULL;
  const char *enc_b64, *pub_b64, *sig_b64;
  g_autoptr(GError) local = NULL;
  const guint8 *k;
  char *fingerprint;
  ScV1Session *session;

  parser = parse_object (json, len, error,
                         "enc_session", &enc_b64,
                         "client_pub", &pub_b64,
                         "client_sig", &sig_b64, NULL);
  if (parser == NULL ||
      (enc = member_base64 ("enc_session", enc_b64, error)) == NULL ||
      (pub_pem = member_base64 ("client_pub", pub_b64, error)) == NULL ||
      (sig = member_base64 ("client_sig", sig_b64, error)) == NULL)
    return NULL;

  client_pub = sc_pem_read_public (g_bytes_get_data (pub_pem, NULL),
                                   g_bytes_get_size (pub_pem), NULL);
  if (client_pub == NULL || EVP_PKEY_get_base_id (client_pub) != EVP_PKEY_RSA)
    {
      g_set_error_literal (error, SC_ERROR, SC_ERROR_PROTOCOL,
                           "The client's public key is not an RSA PEM key");
      return NULL;
    }
  if (EVP_PKEY_get_bits (client_pub) < CLIENT_RSA_BITS_MIN ||
      EVP_PKEY_get_bits (client_pub) > CLIENT_RSA_BITS_MAX)
    {
      g_set_error (error, SC_ERROR, SC_ERROR_WEAK_KEY,
                   "The client's RSA key has %d bits; %d to %d are accepted",
                   EVP_PKEY_get_bits (client_pub), CLIENT_RSA_BITS_MIN, CLIENT_RSA_BITS_MAX);
      return NULL;
    }

  blob = sc_rsa_oaep_decrypt (server_priv, g_bytes_get_data (enc, NULL),
                              g_bytes_get_size (enc), &local);
  if (blob == NULL)
    {
      g_set_error_literal (error, SC_ERROR, SC_ERROR_DECRYPT,
                           "The session key does not decrypt with our RSA key");
      return NULL;
    }
  if (g_bytes_get_size (blob) != SC_V1_BLOB_LEN)
    {
      g_set_error (error, SC_ERROR, SC_ERROR_PROTOCOL,
                   "The session key blob is %" G_GSIZE_FORMAT " bytes, not 48",
                   g_bytes_get_size (blob));
      OPENSSL_cleanse ((gpointer) g_bytes_get_data (blob, NULL), g_bytes_get_size (blob));
      return NULL;
    }
  k = g_bytes_get_data (blob, NULL);
  if (!sc_rsa_pss_verify (client_pub, k, SC_V1_BLOB_LEN, g_bytes_get_data (sig, NULL),
                          g_bytes_get_size (sig), error))
    {
      OPENSSL_cleanse ((gpointer) k, SC_V1_BLOB_LEN);
      return NULL;
    }
  if ((fingerprint = sc_fingerprint_rsa (client_pub, error)) == NULL)
    {
      OPENSSL_cleanse ((gpointer) k, SC_V1_BLOB_LEN);
      return NULL;
    }

  session = sc_v1_session_new (k, k + SC_V1_KEY_LEN);
  OPENSSL_cleanse ((gpointer) k, SC_V1_BLOB_LEN);
  if (client_fingerprint != NULL)
    *client_fingerprint = fingerprint;
  else
    g_free (fingerprint);
  return session;
}

gboolean
sc_v1_seal (ScV1Session *self,
            const char  *text,
            gsize        len,
            GByteArray  *out,
            GError     **error)
{
  g_autoptr(GBytes) cipher = NULL;
  g_autofree char *cipher_b64 = NULL;
  g_autofree char *mac_b64 = NULL;
  guint8 mac[SC_V1_HMAC_LEN];

  cipher = sc_aes_cbc_encrypt (self->key, self->iv, (const guint8 *) text, len, error);
  if (cipher == NULL ||
      !sc_hmac_sha256 (self->key, SC_V1_KEY_LEN, g_bytes_get_data (cipher, NULL),
                       g_bytes_get_size (cipher), mac, error))
    return FALSE;

  cipher_b64 = g_base64_encode (g_bytes_get_data (cipher, NULL), g_bytes_get_size (cipher));
  mac_b64 = g_base64_encode (mac, sizeof mac);
  append_frame (out, "cipher", cipher_b64, "hmac", mac_b64, NULL);
  return TRUE;
}

char *
sc_v1_open (ScV1Session  *self,
            const guint8 *json,
            gsize         len,
            GError      **error)
{
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(GBytes) cipher = NULL;
  g_autoptr(GBytes) mac = NULL;
  g_autoptr(GBytes) plain = NULL;
  const char *cipher_b64, *mac_b64;
  guint8 expected[SC_V1_HMAC_LEN];
  char *text;

  parser = parse_object (json, len, error, "cipher", &cipher_b64, "hmac", &mac_b64, NULL);
  if (parser == NULL ||
      (cipher = member_base64 ("cipher", cipher_b64, error)) == NULL ||
      (mac = member_base64 ("hmac", mac_b64, error)) == NULL)
    return NULL;

  /* MAC first, in constant time; only an authentic ciphertext is decrypted */
  if (!sc_hmac_sha256 (self->key, SC_V1_KEY_LEN, g_bytes_get_data (cipher, NULL),
                       g_bytes_get_size (cipher), expected, error))
    return NULL;
  if (g_bytes_get_size (mac) != SC_V1_HMAC_LEN ||
      CRYPTO_memcmp (expected, g_bytes_get_data (mac, NULL), SC_V1_HMAC_LEN) != 0)
    {
      g_set_error_literal (error, SC_ERROR, SC_ERROR_DECRYPT, "Message HMAC does not match");
      return NULL;
    }

  plain = sc_aes_cbc_decrypt (self->key, self->iv, g_bytes_get_data (cipher, NULL),
                              g_bytes_get_size (cipher), error);
  if (plain == NULL)
    return NULL;
  text = g_utf8_make_valid (g_bytes_get_data (plain, NULL), (gssize) g_bytes_get_size (plain));
  OPENSSL_cleanse ((gpointer) g_bytes_get_data (plain, NULL), g_bytes_get_size (plain));
  return text;
}
