/* test-v1.c: the seed protocol against kat-v1.json, and how it fails
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "sc-crypto.h"
#include "sc-keys.h"
#include "sc-v1.h"

#include "test-util.h"

static JsonObject *kat;

static EVP_PKEY *
kat_key (const char *member)
{
  const char *pem = json_object_get_string_member (kat, member);
  EVP_PKEY *key = sc_pem_read_private (pem, strlen (pem), NULL);

  g_assert_nonnull (key);
  return key;
}

static GBytes *
kat_handshake (void)
{
  const char *frame = json_object_get_string_member (kat, "handshake_frame");

  g_assert_true (g_str_has_suffix (frame, "}\n\n"));
  return g_bytes_new (frame, strlen (frame) - 2);
}

static ScV1Session *
kat_session (void)
{
  g_autoptr(GBytes) key = test_member_hex (kat, "key_hex");
  g_autoptr(GBytes) iv = test_member_hex (kat, "iv_hex");

  return sc_v1_session_new (g_bytes_get_data (key, NULL), g_bytes_get_data (iv, NULL));
}

static void
test_kat_greeting (void)
{
  g_autoptr(EVP_PKEY) rsa = kat_key ("server_rsa_private_pem");
  g_autoptr(EVP_PKEY) ed = sc_ed25519_generate (NULL);
  g_autoptr(ScIdentity) id = sc_identity_new (rsa, ed, NULL);
  g_autoptr(EVP_PKEY) pub = NULL;
  const char *expected = json_object_get_string_member (kat, "greeting");
  GBytes *g = sc_identity_get_greeting (id);

  g_assert_cmpmem (g_bytes_get_data (g, NULL), g_bytes_get_size (g), expected, strlen (expected));
  g_assert_cmpstr (sc_identity_get_rsa_fingerprint (id), ==,
                   json_object_get_string_member (kat, "fingerprint_server_rsa"));

  pub = sc_v1_parse_greeting (g_bytes_get_data (g, NULL), g_bytes_get_size (g), NULL);
  g_assert_nonnull (pub);
  g_assert_true (EVP_PKEY_eq (pub, rsa) == 1);
}

/* Decrypt enc_session, verify client_sig, and accept the whole frame */
static void
test_kat_handshake (void)
{
  g_autoptr(EVP_PKEY) server = kat_key ("server_rsa_private_pem");
  g_autoptr(EVP_PKEY) client = kat_key ("client_rsa_private_pem");
  g_autoptr(GBytes) frame = kat_handshake ();
  g_autoptr(GBytes) key = test_member_hex (kat, "key_hex");
  g_autoptr(GBytes) iv = test_member_hex (kat, "iv_hex");
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GBytes) enc = NULL;
  g_autoptr(GBytes) sig = NULL;
  g_autoptr(GBytes) blob = NULL;
  g_autoptr(GByteArray) expected = g_byte_array_new ();
  g_autoptr(ScV1Session) session = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *fp = NULL;
  g_autofree char *client_fp = NULL;
  JsonObject *obj;
  const char *s;

  g_assert_true (json_parser_load_from_data (parser, g_bytes_get_data (frame, NULL),
                                             (gssize) g_bytes_get_size (frame), NULL));
  obj = json_node_get_object (json_parser_get_root (parser));
  s = json_object_get_string_member (obj, "enc_session");
  enc = sc_base64_decode_strict (s, strlen (s), NULL);
  s = json_object_get_string_member (obj, "client_sig");
  sig = sc_base64_decode_strict (s, strlen (s), NULL);

  blob = sc_rsa_oaep_decrypt (server, g_bytes_get_data (enc, NULL), g_bytes_get_size (enc), &error);
  g_assert_no_error (error);
  g_byte_array_append (expected, g_bytes_get_data (key, NULL), 32);
  g_byte_array_append (expected, g_bytes_get_data (iv, NULL), 16);
  g_assert_cmpmem (g_bytes_get_data (blob, NULL), g_bytes_get_size (blob), expected->data, expected->len);
  g_assert_true (sc_rsa_pss_verify (client, expected->data, 48, g_bytes_get_data (sig, NULL),
                                    g_bytes_get_size (sig), &error));
  g_assert_no_error (error);

  session = sc_v1_server_accept (server, g_bytes_get_data (frame, NULL), g_bytes_get_size (frame),
                                 &client_fp, &error);
  g_assert_no_error (error);
  g_assert_nonnull (session);
  fp = sc_fingerprint_rsa (client, NULL);
  g_assert_cmpstr (client_fp, ==, fp);
}

/* Every message frame, byte for byte, both ways */
static void
test_kat_messages (void)
{
  JsonArray *messages = json_object_get_array_member (kat, "messages");
  g_autoptr(ScV1Session) session = kat_session ();
  guint i;

  for (i = 0; i < json_array_get_length (messages); i++)
    {
      JsonObject *m = json_array_get_object_element (messages, i);
      const char *text = json_object_get_string_member (m, "plaintext");
      const char *frame = json_object_get_string_member (m, "frame");
      g_autoptr(GByteArray) out = g_byte_array_new ();
      g_autoptr(GError) error = NULL;
      g_autofree char *opened = NULL;

      g_assert_true (sc_v1_seal (session, text, strlen (text), out, &error));
      g_assert_no_error (error);
      g_assert_cmpmem (out->data, out->len, frame, strlen (frame));

      opened = sc_v1_open (session, (const guint8 *) frame, strlen (frame) - 2, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (opened, ==, text);
    }
}

/* A fresh client and server agree, and the server learns the client key */
static void
test_roundtrip (void)
{
  g_autoptr(EVP_PKEY) server = kat_key ("server_rsa_private_pem");
  g_autoptr(EVP_PKEY) client = kat_key ("client_rsa_private_pem");
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autoptr(GByteArray) msg = g_byte_array_new ();
  g_autoptr(ScV1Session) cs = NULL;
  g_autoptr(ScV1Session) ss = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *fp = NULL;
  g_autofree char *expected_fp = sc_fingerprint_rsa (client, NULL);
  g_autofree char *text = NULL;

  cs = sc_v1_client_handshake (server, client, NULL, out, &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix ((const char *) out->data, "{\"enc_session\": \""));
  g_assert_cmpmem (out->data + out->len - 3, 3, "}\n\n", 3);
  ss = sc_v1_server_accept (server, out->data, out->len - 2, &fp, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (fp, ==, expected_fp);

  g_assert_true (sc_v1_seal (cs, "ping", 4, msg, NULL));
  text = sc_v1_open (ss, msg->data, msg->len - 2, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (text, ==, "ping");
}

/* Builds a handshake frame from parts, for the negative cases */
static GByteArray *
handshake_with (const char *enc_b64,
                const char *pub_b64,
                const char *sig_b64)
{
  GByteArray *out = g_byte_array_new ();
  g_autofree char *json = g_strdup_printf ("{\"enc_session\": \"%s\", \"client_pub\": \"%s\", "
                                           "\"client_sig\": \"%s\"}", enc_b64, pub_b64, sig_b64);

  g_byte_array_append (out, (const guint8 *) json, strlen (json));
  return out;
}

static char *
b64 (GBytes *bytes)
{
  return g_base64_encode (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
}

/* A handshake for a blob of @len bytes, properly encrypted and signed */
static GByteArray *
handshake_for_blob (EVP_PKEY *server,
                    EVP_PKEY *client,
                    gsize     len)
{
  guint8 blob[64];
  g_autoptr(GBytes) enc = NULL;
  g_autoptr(GBytes) sig = NULL;
  g_autofree char *pem = sc_pem_write_public (client, NULL);
  g_autofree char *enc_b64 = NULL;
  g_autofree char *sig_b64 = NULL;
  g_autofree char *pub_b64 = g_base64_encode ((const guchar *) pem, strlen (pem));

  g_assert_cmpuint (len, <=, sizeof blob);
  memset (blob, 0x5a, sizeof blob);
  enc = sc_rsa_oaep_encrypt (server, blob, len, NULL);
  sig = sc_rsa_pss_sign (client, blob, len, NULL);
  enc_b64 = b64 (enc);
  sig_b64 = b64 (sig);
  return handshake_with (enc_b64, pub_b64, sig_b64);
}

static void
expect_refused (EVP_PKEY   *server,
                GByteArray *frame,
                ScError     code)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *fp = NULL;
  ScV1Session *session;

  session = sc_v1_server_accept (server, frame->data, frame->len, &fp, &error);
  g_assert_null (session);
  g_assert_null (fp);
  g_assert_error (error, SC_ERROR, (gint) code);
  g_test_message ("refused: %s", error->message);
}

/* Negative case 1: 47- and 49-byte session blobs */
static void
test_blob_length (void)
{
  g_autoptr(EVP_PKEY) server = kat_key ("server_rsa_private_pem");
  g_autoptr(EVP_PKEY) client = kat_key ("client_rsa_private_pem");
  gsize lens[] = { 47, 49, 0, 32 };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (lens); i++)
    {
      g_autoptr(GByteArray) frame = handshake_for_blob (server, client, lens[i]);
      expect_refused (server, frame, SC_ERROR_PROTOCOL);
    }
  {
    /* and exactly 48 passes, so the refusals above are about the length */
    g_autoptr(GByteArray) frame = handshake_for_blob (server, client, 48);
    g_autoptr(ScV1Session) session = sc_v1_server_accept (server, frame->data, frame->len, NULL, NULL);
    g_assert_nonnull (session);
  }
}

/* Negative case 2: a PSS signature with one bit flipped, and one made by
 * another key than the one presented */
static void
test_bad_signature (void)
{
  g_autoptr(EVP_PKEY) server = kat_key ("server_rsa_private_pem");
  g_autoptr(GBytes) frame = kat_handshake ();
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GBytes) sig = NULL;
  g_autoptr(GBytes) other_sig = NULL;
  g_autofree char *sig_b64 = NULL;
  g_autofree char *other_b64 = NULL;
  g_autoptr(GByteArray) bad = NULL;
  g_autoptr(GByteArray) other = NULL;
  g_autoptr(GBytes) key = test_member_hex (kat, "key_hex");
  g_autoptr(GBytes) iv = test_member_hex (kat, "iv_hex");
  guint8 blob[48];
  JsonObject *obj;
  const char *s;
  guint8 *copy;

  g_assert_true (json_parser_load_from_data (parser, g_bytes_get_data (frame, NULL),
                                             (gssize) g_bytes_get_size (frame), NULL));
  obj = json_node_get_object (json_parser_get_root (parser));
  s = json_object_get_string_member (obj, "client_sig");
  sig = sc_base64_decode_strict (s, strlen (s), NULL);
  copy = g_memdup2 (g_bytes_get_data (sig, NULL), g_bytes_get_size (sig));
  copy[100] ^= 0x10;
  sig_b64 = g_base64_encode (copy, g_bytes_get_size (sig));
  g_free (copy);
  bad = handshake_with (json_object_get_string_member (obj, "enc_session"),
                        json_object_get_string_member (obj, "client_pub"), sig_b64);
  expect_refused (server, bad, SC_ERROR_SIGNATURE);

  /* signed by the server's key while presenting the client's */
  memcpy (blob, g_bytes_get_data (key, NULL), 32);
  memcpy (blob + 32, g_bytes_get_data (iv, NULL), 16);
  other_sig = sc_rsa_pss_sign (server, blob, 48, NULL);
  other_b64 = b64 (other_sig);
  other = handshake_with (json_object_get_string_member (obj, "enc_session"),
                          json_object_get_string_member (obj, "client_pub"), other_b64);
  expect_refused (server, other, SC_ERROR_SIGNATURE);
}

/* Negative case 3: bad base64 in every field of both frame kinds */
static void
test_bad_base64 (void)
{
  static const char *bad[] = { "@@@@", "abc", "QR==", "QQ=A", "Q Q==", "=QQQ" };
  g_autoptr(EVP_PKEY) server = kat_key ("server_rsa_private_pem");
  g_autoptr(ScV1Session) session = kat_session ();
  JsonArray *messages = json_object_get_array_member (kat, "messages");
  const char *good_frame = json_object_get_string_member (json_array_get_object_element (messages, 0), "frame");
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GBytes) hs = kat_handshake ();
  JsonObject *h, *m;
  guint i, field;

  g_assert_true (json_parser_load_from_data (parser, g_bytes_get_data (hs, NULL),
                                             (gssize) g_bytes_get_size (hs), NULL));
  h = json_node_get_object (json_parser_get_root (parser));
  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    for (field = 0; field < 3; field++)
      {
        g_autoptr(GByteArray) frame = handshake_with (
          field == 0 ? bad[i] : json_object_get_string_member (h, "enc_session"),
          field == 1 ? bad[i] : json_object_get_string_member (h, "client_pub"),
          field == 2 ? bad[i] : json_object_get_string_member (h, "client_sig"));
        expect_refused (server, frame, SC_ERROR_PROTOCOL);
      }

  {
    g_autoptr(JsonParser) mp = json_parser_new ();

    g_assert_true (json_parser_load_from_data (mp, good_frame, -1, NULL));
    m = json_node_get_object (json_parser_get_root (mp));
    for (i = 0; i < G_N_ELEMENTS (bad); i++)
      for (field = 0; field < 2; field++)
        {
          g_autofree char *json = g_strdup_printf ("{\"cipher\": \"%s\", \"hmac\": \"%s\"}",
                                                   field == 0 ? bad[i] : json_object_get_string_member (m, "cipher"),
                                                   field == 1 ? bad[i] : json_object_get_string_member (m, "hmac"));
          g_autoptr(GError) error = NULL;
          char *text = sc_v1_open (session, (const guint8 *) json, strlen (json), &error);

          g_assert_null (text);
          g_assert_error (error, SC_ERROR, SC_ERROR_PROTOCOL);
        }
  }
}

static char *
message_json (GBytes       *cipher,
              const guint8  mac[32])
{
  g_autofree char *c = b64 (cipher);
  g_autofree char *h = g_base64_encode (mac, 32);

  return g_strdup_printf ("{\"cipher\": \"%s\", \"hmac\": \"%s\"}", c, h);
}

/* Negative case 4: bad PKCS#7 padding behind a valid HMAC */
static void
test_bad_padding (void)
{
  g_autoptr(GBytes) key = test_member_hex (kat, "key_hex");
  g_autoptr(GBytes) iv = test_member_hex (kat, "iv_hex");
  g_autoptr(ScV1Session) session = kat_session ();
  /* last bytes that claim padding the block does not have */
  static const guint8 tails[][2] = { { 'A', 0x02 }, { 'A', 0x00 }, { 'A', 0x11 }, { 0x03, 0x03 } };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (tails); i++)
    {
      guint8 block[16];
      g_autoptr(GBytes) two = NULL;
      g_autoptr(GBytes) first = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *json = NULL;
      guint8 mac[32];
      char *text;

      memset (block, 'A', sizeof block);
      block[14] = tails[i][0];
      block[15] = tails[i][1];
      /* CBC's first ciphertext block depends on the first plaintext block
       * only: encrypting 16 bytes and keeping block one gives E(block ^ iv) */
      two = sc_aes_cbc_encrypt (g_bytes_get_data (key, NULL), g_bytes_get_data (iv, NULL), block, 16, NULL);
      first = g_bytes_new_from_bytes (two, 0, 16);
      g_assert_true (sc_hmac_sha256 (g_bytes_get_data (key, NULL), 32, g_bytes_get_data (first, NULL), 16, mac, NULL));
      json = message_json (first, mac);

      text = sc_v1_open (session, (const guint8 *) json, strlen (json), &error);
      g_assert_null (text);
      g_assert_error (error, SC_ERROR, SC_ERROR_DECRYPT);
      g_assert_nonnull (strstr (error->message, "adding"));
    }
}

/* Negative case 5: a wrong, short or flipped HMAC, and another key */
static void
test_bad_hmac (void)
{
  g_autoptr(ScV1Session) session = kat_session ();
  g_autoptr(GByteArray) out = g_byte_array_new ();
  guint8 other_key[32] = { 1 }, other_iv[16] = { 2 };
  g_autoptr(ScV1Session) other = sc_v1_session_new (other_key, other_iv);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GBytes) mac = NULL;
  g_autofree char *json = NULL;
  g_autofree char *short_json = NULL;
  JsonObject *obj;
  const char *s;
  guint8 *m;
  char *text;

  g_assert_true (sc_v1_seal (session, "hello", 5, out, NULL));
  text = sc_v1_open (other, out->data, out->len - 2, &error);
  g_assert_null (text);
  g_assert_error (error, SC_ERROR, SC_ERROR_DECRYPT);
  g_clear_error (&error);

  g_assert_true (json_parser_load_from_data (parser, (const char *) out->data, out->len - 2, NULL));
  obj = json_node_get_object (json_parser_get_root (parser));
  s = json_object_get_string_member (obj, "hmac");
  mac = sc_base64_decode_strict (s, strlen (s), NULL);
  m = g_memdup2 (g_bytes_get_data (mac, NULL), 32);
  m[31] ^= 1;
  {
    g_autofree char *hb = g_base64_encode (m, 32);
    g_autofree char *hs = g_base64_encode (m, 16);

    json = g_strdup_printf ("{\"cipher\": \"%s\", \"hmac\": \"%s\"}",
                            json_object_get_string_member (obj, "cipher"), hb);
    short_json = g_strdup_printf ("{\"cipher\": \"%s\", \"hmac\": \"%s\"}",
                                  json_object_get_string_member (obj, "cipher"), hs);
  }
  g_free (m);
  text = sc_v1_open (session, (const guint8 *) json, strlen (json), &error);
  g_assert_null (text);
  g_assert_error (error, SC_ERROR, SC_ERROR_DECRYPT);
  g_clear_error (&error);
  text = sc_v1_open (session, (const guint8 *) short_json, strlen (short_json), &error);
  g_assert_null (text);
  g_assert_error (error, SC_ERROR, SC_ERROR_DECRYPT);
}

/* Negative case 6: frames that are not the right JSON */
static void
test_bad_json (void)
{
  static const char *bad[] = {
    "", "not json", "[1, 2]", "{\"cipher\": 5, \"hmac\": \"AAAA\"}", "{\"hmac\": \"AAAA\"}",
    "{\"cipher\": \"AAAA\"", "{\"cipher\": null, \"hmac\": null}", "\"string\"",
  };
  g_autoptr(EVP_PKEY) server = kat_key ("server_rsa_private_pem");
  g_autoptr(ScV1Session) session = kat_session ();
  guint i;

  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GError) error2 = NULL;
      char *text = sc_v1_open (session, (const guint8 *) bad[i], strlen (bad[i]), &error);
      ScV1Session *s = sc_v1_server_accept (server, (const guint8 *) bad[i], strlen (bad[i]), NULL, &error2);

      g_assert_null (text);
      g_assert_null (s);
      g_assert_error (error, SC_ERROR, SC_ERROR_PROTOCOL);
      g_assert_error (error2, SC_ERROR, SC_ERROR_PROTOCOL);
    }
}

/* Negative case 7: a session key encrypted to someone else, and a client
 * key that is not RSA */
static void
test_wrong_keys (void)
{
  g_autoptr(EVP_PKEY) server = kat_key ("server_rsa_private_pem");
  g_autoptr(EVP_PKEY) client = kat_key ("client_rsa_private_pem");
  g_autoptr(EVP_PKEY) ed = sc_ed25519_generate (NULL);
  g_autoptr(GByteArray) to_client = handshake_for_blob (client, client, 48);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GBytes) hs = kat_handshake ();
  g_autofree char *ed_pem = sc_pem_write_public (ed, NULL);
  g_autofree char *ed_b64 = g_base64_encode ((const guchar *) ed_pem, strlen (ed_pem));
  g_autoptr(GByteArray) not_rsa = NULL;
  JsonObject *h;

  expect_refused (server, to_client, SC_ERROR_DECRYPT);

  g_assert_true (json_parser_load_from_data (parser, g_bytes_get_data (hs, NULL),
                                             (gssize) g_bytes_get_size (hs), NULL));
  h = json_node_get_object (json_parser_get_root (parser));
  not_rsa = handshake_with (json_object_get_string_member (h, "enc_session"), ed_b64,
                            json_object_get_string_member (h, "client_sig"));
  expect_refused (server, not_rsa, SC_ERROR_PROTOCOL);
}

/* Invalid UTF-8 from a peer becomes U+FFFD instead of failing */
static void
test_invalid_utf8 (void)
{
  g_autoptr(ScV1Session) session = kat_session ();
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autofree char *text = NULL;

  g_assert_true (sc_v1_seal (session, "a\xffz", 3, out, NULL));
  text = sc_v1_open (session, out->data, out->len - 2, NULL);
  g_assert_cmpstr (text, ==, "a\xef\xbf\xbdz");
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  kat = test_load_vectors ("kat-v1.json");

  g_test_add_func ("/v1/kat/greeting", test_kat_greeting);
  g_test_add_func ("/v1/kat/handshake", test_kat_handshake);
  g_test_add_func ("/v1/kat/messages", test_kat_messages);
  g_test_add_func ("/v1/roundtrip", test_roundtrip);
  g_test_add_func ("/v1/invalid-utf8", test_invalid_utf8);
  g_test_add_func ("/v1/negative/01-blob-length", test_blob_length);
  g_test_add_func ("/v1/negative/02-bad-signature", test_bad_signature);
  g_test_add_func ("/v1/negative/03-bad-base64", test_bad_base64);
  g_test_add_func ("/v1/negative/04-bad-padding", test_bad_padding);
  g_test_add_func ("/v1/negative/05-bad-hmac", test_bad_hmac);
  g_test_add_func ("/v1/negative/06-bad-json", test_bad_json);
  g_test_add_func ("/v1/negative/07-wrong-keys", test_wrong_keys);

  return g_test_run ();
}
