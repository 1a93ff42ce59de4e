/* test-v2.c: the v2 handshake and records against kat-v2.json, and how
 * they fail
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "sc-crypto.h"
#include "sc-frame.h"
#include "sc-keys.h"
#include "sc-v2.h"

#include "test-util.h"

static JsonObject *kat;
static JsonObject *kat1;

static GBytes *
hex (const char *name)
{
  return test_member_hex (kat, name);
}

static JsonObject *
record (guint i)
{
  return json_array_get_object_element (json_object_get_array_member (kat, "records"), i);
}

static ScIdentity *
kat_identity (const char *rsa_member,
              const char *ed_member)
{
  const char *pem = json_object_get_string_member (kat1, rsa_member);
  g_autoptr(GBytes) seed = hex (ed_member);
  g_autoptr(EVP_PKEY) rsa = sc_pem_read_private (pem, strlen (pem), NULL);
  g_autoptr(EVP_PKEY) ed = sc_ed25519_new_from_seed (g_bytes_get_data (seed, NULL), NULL);
  g_autoptr(GError) error = NULL;
  ScIdentity *id;

  g_assert_nonnull (rsa);
  g_assert_nonnull (ed);
  id = sc_identity_new (rsa, ed, &error);
  g_assert_no_error (error);
  return id;
}

/* ---- known answers ---- */

static void
test_kat_keys (void)
{
  const char *roles[] = { "client", "server" };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (roles); i++)
    {
      g_autofree char *eph_priv = g_strdup_printf ("%s_eph_private_hex", roles[i]);
      g_autofree char *eph_pub = g_strdup_printf ("%s_eph_public_hex", roles[i]);
      g_autofree char *id_priv = g_strdup_printf ("%s_id_private_hex", roles[i]);
      g_autofree char *id_pub = g_strdup_printf ("%s_id_public_hex", roles[i]);
      g_autofree char *fp_name = g_strdup_printf ("%s_fingerprint", roles[i]);
      g_autoptr(GBytes) priv = hex (eph_priv);
      g_autoptr(GBytes) pub = hex (eph_pub);
      g_autoptr(GBytes) seed = hex (id_priv);
      g_autoptr(GBytes) id = hex (id_pub);
      g_autoptr(EVP_PKEY) key = NULL;
      g_autofree char *fp = NULL;
      guint8 out[32];

      g_autoptr(EVP_PKEY) eph = sc_x25519_new (g_bytes_get_data (priv, NULL), out, NULL);

      g_assert_nonnull (eph);
      test_assert_bytes (out, 32, pub);

      key = sc_ed25519_new_from_seed (g_bytes_get_data (seed, NULL), NULL);
      g_assert_true (sc_ed25519_raw_public (key, out, NULL));
      test_assert_bytes (out, 32, id);

      fp = sc_fingerprint (out, 32);
      g_assert_cmpstr (fp, ==, json_object_get_string_member (kat, fp_name));
      g_assert_true (sc_fingerprint_is_valid (fp));
    }
}

static void
test_kat_schedule (void)
{
  g_autoptr(GBytes) cpriv = hex ("client_eph_private_hex");
  g_autoptr(GBytes) spriv = hex ("server_eph_private_hex");
  g_autoptr(GBytes) cpub = hex ("client_eph_public_hex");
  g_autoptr(GBytes) spub = hex ("server_eph_public_hex");
  g_autoptr(GBytes) ss_expected = hex ("shared_secret_hex");
  g_autoptr(GBytes) g = hex ("greeting_hex");
  g_autoptr(GBytes) ch = hex ("client_hello_hex");
  g_autoptr(GBytes) sh = hex ("server_hello_hex");
  g_autoptr(GBytes) th_expected = hex ("transcript_hash_hex");
  g_autoptr(GBytes) prk = hex ("prk_hex");
  g_autoptr(GBytes) c2s = hex ("c2s_secret_hex");
  g_autoptr(GBytes) s2c = hex ("s2c_secret_hex");
  g_autoptr(GByteArray) transcript = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(EVP_PKEY) ceph = NULL;
  g_autoptr(EVP_PKEY) seph = NULL;
  guint8 ss1[32], ss2[32], th[32], pub[32];
  ScV2Schedule sched;

  /* ss = X25519(own_eph_priv, peer_eph), the same from both ends */
  ceph = sc_x25519_new (g_bytes_get_data (cpriv, NULL), pub, &error);
  seph = sc_x25519_new (g_bytes_get_data (spriv, NULL), pub, &error);
  g_assert_no_error (error);
  g_assert_true (sc_x25519_derive (ceph, g_bytes_get_data (spub, NULL), ss1, &error));
  g_assert_true (sc_x25519_derive (seph, g_bytes_get_data (cpub, NULL), ss2, &error));
  test_assert_bytes (ss1, 32, ss_expected);
  test_assert_bytes (ss2, 32, ss_expected);

  /* th = H(G || CH || SH) */
  g_byte_array_append (transcript, g_bytes_get_data (g, NULL), g_bytes_get_size (g));
  g_byte_array_append (transcript, g_bytes_get_data (ch, NULL), g_bytes_get_size (ch));
  g_byte_array_append (transcript, g_bytes_get_data (sh, NULL), g_bytes_get_size (sh));
  sc_sha256 (transcript->data, transcript->len, th);
  test_assert_bytes (th, 32, th_expected);

  g_assert_true (sc_v2_derive_schedule (ss1, th, &sched, &error));
  g_assert_no_error (error);
  test_assert_bytes (sched.prk, 32, prk);
  test_assert_bytes (sched.c2s, 32, c2s);
  test_assert_bytes (sched.s2c, 32, s2c);
  g_assert_cmpstr (sched.code, ==, json_object_get_string_member (kat, "session_code"));
}

/* Every record's key and iv: from the direction's secret, and after the
 * KeyUpdate from HKDF-Expand(S, "sc2 next", 32) */
static void
test_kat_traffic_keys (void)
{
  JsonArray *records = json_object_get_array_member (kat, "records");
  guint i;

  for (i = 0; i < json_array_get_length (records); i++)
    {
      JsonObject *r = record (i);
      const char *dir = json_object_get_string_member (r, "direction");
      g_autofree char *name = g_strdup_printf ("%s_secret_hex", dir);
      g_autoptr(GBytes) secret = hex (name);
      g_autoptr(GBytes) key = test_member_hex (r, "key_hex");
      g_autoptr(GBytes) iv = test_member_hex (r, "iv_hex");
      guint8 s[32], k[32], n[12];
      guint j;

      memcpy (s, g_bytes_get_data (secret, NULL), 32);
      /* the c2s records after the KeyUpdate (the 5th record) use the next secret */
      for (j = 0; j < (i > 4 ? 1u : 0u); j++)
        g_assert_true (sc_hkdf_expand (s, 32, "sc2 next", s, 32, NULL));
      g_assert_true (sc_v2_derive_traffic (s, k, n, NULL));
      test_assert_bytes (k, 32, key);
      test_assert_bytes (n, 12, iv);
    }
}

typedef struct {
  ScIdentity  *server_id;
  ScIdentity  *client_id;
  TestRandom   crng;
  TestRandom   srng;
  ScRandom     crandom;
  ScRandom     srandom;
  ScV2Session *client;
  ScV2Session *server;
  GByteArray  *c_out;
  GByteArray  *s_out;
} KatPair;

static void
kat_pair_init (KatPair *p)
{
  memset (p, 0, sizeof *p);
  p->server_id = kat_identity ("server_rsa_private_pem", "server_id_private_hex");
  p->client_id = kat_identity ("client_rsa_private_pem", "client_id_private_hex");
  p->crng.chunks[p->crng.n++] = hex ("client_random_hex");
  p->crng.chunks[p->crng.n++] = hex ("client_eph_private_hex");
  p->srng.chunks[p->srng.n++] = hex ("server_random_hex");
  p->srng.chunks[p->srng.n++] = hex ("server_eph_private_hex");
  p->crandom = (ScRandom) { test_random_func, &p->crng };
  p->srandom = (ScRandom) { test_random_func, &p->srng };
  p->client = sc_v2_session_new (SC_V2_ROLE_CLIENT, p->client_id, &p->crandom);
  p->server = sc_v2_session_new (SC_V2_ROLE_SERVER, p->server_id, &p->srandom);
  p->c_out = g_byte_array_new ();
  p->s_out = g_byte_array_new ();
}

static void
kat_pair_clear (KatPair *p)
{
  sc_v2_session_free (p->client);
  sc_v2_session_free (p->server);
  sc_identity_unref (p->client_id);
  sc_identity_unref (p->server_id);
  test_random_clear (&p->crng);
  test_random_clear (&p->srng);
  g_byte_array_unref (p->c_out);
  g_byte_array_unref (p->s_out);
}

/* Opens the single frame in @out with @session and checks type and plaintext */
static void
open_expect (ScV2Session *session,
             GByteArray  *out,
             ScV2Type     type,
             GBytes      *plaintext)
{
  g_autoptr(GError) error = NULL;
  ScV2Type t;
  guint8 *pt;
  gsize len;

  g_assert_true (sc_v2_session_open (session, out->data, out->len, &t, &pt, &len, &error));
  g_assert_no_error (error);
  g_assert_cmpint (t, ==, type);
  if (plaintext != NULL)
    test_assert_bytes (pt, len, plaintext);
  g_byte_array_set_size (out, 0);
}

/* @data non-NULL: the pipelined way ScClient and ScServer go, the client's
 * ClientHello before the greeting and the server's ephemeral key drawn
 * ahead, its key schedule run on its own; NULL: one step after the other,
 * the schedule left to the first record.  The bytes are the same. */
static void
test_kat_session (gconstpointer data)
{
  gboolean pipelined = data != NULL;
  g_autoptr(GBytes) g = hex ("greeting_hex");
  g_autoptr(GBytes) ch = hex ("client_hello_hex");
  g_autoptr(GBytes) sh = hex ("server_hello_hex");
  GBytes *greeting = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) f0 = test_member_hex (record (0), "frame_hex");
  g_autoptr(GBytes) p0 = test_member_hex (record (0), "plaintext_hex");
  g_autoptr(GBytes) f1 = test_member_hex (record (1), "frame_hex");
  g_autoptr(GBytes) p1 = test_member_hex (record (1), "plaintext_hex");
  g_autoptr(GBytes) f2 = test_member_hex (record (2), "frame_hex");
  g_autoptr(GBytes) p2 = test_member_hex (record (2), "plaintext_hex");
  g_autoptr(GBytes) f3 = test_member_hex (record (3), "frame_hex");
  g_autoptr(GBytes) p3 = test_member_hex (record (3), "plaintext_hex");
  g_autoptr(GBytes) f4 = test_member_hex (record (4), "frame_hex");
  g_autoptr(GBytes) f5 = test_member_hex (record (5), "frame_hex");
  g_autoptr(GBytes) p5 = test_member_hex (record (5), "plaintext_hex");
  g_autoptr(GBytes) f6 = test_member_hex (record (6), "frame_hex");
  g_autoptr(GByteArray) both = g_byte_array_new ();
  KatPair p;
  ScV2Type t;
  guint8 *pt;
  gsize len;

  kat_pair_init (&p);
  /* The vectors' greeting is the v1 vectors' server key: both come from one identity */
  greeting = sc_identity_get_greeting (p.server_id);
  g_assert_true (g_bytes_equal (greeting, g));
  g_assert_cmpstr (sc_identity_get_fingerprint (p.client_id), ==,
                   json_object_get_string_member (kat, "client_fingerprint"));

  /* ClientHello */
  if (pipelined)
    {
      g_assert_true (sc_v2_client_start (p.client, NULL, 0, p.c_out, &error));
      g_assert_true (sc_v2_client_consume_greeting (p.client, g_bytes_get_data (g, NULL),
                                                    g_bytes_get_size (g), &error));
    }
  else
    g_assert_true (sc_v2_client_start (p.client, g_bytes_get_data (g, NULL), g_bytes_get_size (g),
                                       p.c_out, &error));
  g_assert_no_error (error);
  test_assert_bytes (p.c_out->data, p.c_out->len, ch);
  g_assert_cmpint (sc_v2_session_get_state (p.client), ==, SC_V2_STATE_AWAIT_SERVER_HELLO);

  /* ServerHello, signature included (a second prepare() draws nothing more) */
  if (pipelined)
    {
      g_assert_true (sc_v2_server_prepare (p.server, &error));
      g_assert_true (sc_v2_server_prepare (p.server, &error));
    }
  g_assert_true (sc_v2_server_consume_client_hello (p.server, p.c_out->data, p.c_out->len,
                                                    p.s_out, &error));
  g_assert_no_error (error);
  test_assert_bytes (p.s_out->data, p.s_out->len, sh);
  g_assert_cmpint (sc_v2_session_get_state (p.server), ==, SC_V2_STATE_AWAIT_CLIENT_AUTH);
  g_assert_null (sc_v2_session_get_code (p.server));  /* no schedule yet */
  if (pipelined)
    {
      g_assert_true (sc_v2_server_derive_keys (p.server, &error));
      g_assert_true (sc_v2_server_derive_keys (p.server, &error));  /* once is all */
      g_assert_cmpstr (sc_v2_session_get_code (p.server), ==,
                       json_object_get_string_member (kat, "session_code"));
    }
  g_byte_array_set_size (p.c_out, 0);

  g_assert_true (sc_v2_client_consume_server_hello (p.client, p.s_out->data, p.s_out->len, &error));
  g_assert_no_error (error);
  g_byte_array_set_size (p.s_out, 0);
  g_assert_cmpint (sc_v2_session_get_state (p.client), ==, SC_V2_STATE_PEER_KNOWN);
  g_assert_cmpstr (sc_v2_session_get_peer_fingerprint (p.client), ==,
                   json_object_get_string_member (kat, "server_fingerprint"));
  g_assert_cmpstr (sc_v2_session_get_code (p.client), ==,
                   json_object_get_string_member (kat, "session_code"));

  /* The vectors update keys before seq 3 */
  sc_v2_session_set_key_update_limit (p.client, 3);

  /* c2s #0 ClientAuth */
  g_assert_true (sc_v2_client_send_auth (p.client, json_object_get_string_member (kat, "nickname"),
                                         p.c_out, &error));
  g_assert_no_error (error);
  test_assert_bytes (p.c_out->data, p.c_out->len, f0);
  open_expect (p.server, p.c_out, SC_V2_CLIENT_AUTH, p0);
  g_assert_cmpint (sc_v2_session_get_state (p.server), ==, SC_V2_STATE_AUTHENTICATED);
  g_assert_cmpstr (sc_v2_session_get_code (p.server), ==,
                   json_object_get_string_member (kat, "session_code"));
  g_assert_cmpstr (sc_v2_session_get_peer_nickname (p.server), ==, "alice");
  g_assert_cmpstr (sc_v2_session_get_peer_fingerprint (p.server), ==,
                   json_object_get_string_member (kat, "client_fingerprint"));

  /* s2c #0 Welcome */
  g_assert_true (sc_v2_session_seal (p.server, SC_V2_WELCOME, g_bytes_get_data (p1, NULL),
                                     g_bytes_get_size (p1), p.s_out, &error));
  test_assert_bytes (p.s_out->data, p.s_out->len, f1);
  open_expect (p.client, p.s_out, SC_V2_WELCOME, p1);
  g_assert_cmpint (sc_v2_session_get_state (p.client), ==, SC_V2_STATE_ESTABLISHED);
  g_assert_cmpint (sc_v2_session_get_state (p.server), ==, SC_V2_STATE_ESTABLISHED);

  /* c2s #1 Chat */
  g_assert_true (sc_v2_session_seal (p.client, SC_V2_CHAT, g_bytes_get_data (p2, NULL),
                                     g_bytes_get_size (p2), p.c_out, &error));
  test_assert_bytes (p.c_out->data, p.c_out->len, f2);
  open_expect (p.server, p.c_out, SC_V2_CHAT, p2);

  /* s2c #1 Chat */
  g_assert_true (sc_v2_session_seal (p.server, SC_V2_CHAT, g_bytes_get_data (p3, NULL),
                                     g_bytes_get_size (p3), p.s_out, &error));
  test_assert_bytes (p.s_out->data, p.s_out->len, f3);
  open_expect (p.client, p.s_out, SC_V2_CHAT, p3);

  /* c2s #2 is the KeyUpdate the limit forces before the next Chat (new keys, seq 0) */
  g_assert_true (sc_v2_session_seal (p.client, SC_V2_CHAT, g_bytes_get_data (p5, NULL),
                                     g_bytes_get_size (p5), p.c_out, &error));
  g_byte_array_append (both, g_bytes_get_data (f4, NULL), g_bytes_get_size (f4));
  g_byte_array_append (both, g_bytes_get_data (f5, NULL), g_bytes_get_size (f5));
  g_assert_cmpmem (p.c_out->data, p.c_out->len, both->data, both->len);
  g_assert_true (sc_v2_session_open (p.server, p.c_out->data, g_bytes_get_size (f4),
                                     &t, &pt, &len, &error));
  g_assert_cmpint (t, ==, SC_V2_KEY_UPDATE);
  g_assert_cmpuint (len, ==, 0);
  g_byte_array_remove_range (p.c_out, 0, (guint) g_bytes_get_size (f4));
  open_expect (p.server, p.c_out, SC_V2_CHAT, p5);

  /* c2s #4 Close */
  g_assert_true (sc_v2_session_seal (p.client, SC_V2_CLOSE, NULL, 0, p.c_out, &error));
  test_assert_bytes (p.c_out->data, p.c_out->len, f6);
  g_assert_cmpint (sc_v2_session_get_state (p.client), ==, SC_V2_STATE_CLOSED);
  open_expect (p.server, p.c_out, SC_V2_CLOSE, NULL);
  g_assert_cmpint (sc_v2_session_get_state (p.server), ==, SC_V2_STATE_CLOSED);

  kat_pair_clear (&p);
}

/* ---- behaviour with fresh keys ---- */

static ScIdentity *
fresh_identity (void)
{
  static ScIdentity *ids[2];
  static guint next;

  /* RSA generation is slow and v2 never uses it: make two and reuse them */
  if (ids[next % 2] == NULL)
    {
      g_autoptr(EVP_PKEY) rsa = sc_rsa_generate (NULL);
      g_autoptr(EVP_PKEY) ed = sc_ed25519_generate (NULL);

      ids[next % 2] = sc_identity_new (rsa, ed, NULL);
      g_assert_nonnull (ids[next % 2]);
    }
  return sc_identity_ref (ids[next++ % 2]);
}

typedef enum {
  STAGE_NONE,
  STAGE_GREETING,
  STAGE_CLIENT_HELLO,
  STAGE_SERVER_HELLO,
  STAGE_CLIENT_AUTH,
  STAGE_WELCOME,
} Stage;

typedef struct {
  ScIdentity  *sid;
  ScIdentity  *cid;
  ScV2Session *client;
  ScV2Session *server;
} Pair;

static void
pair_init (Pair *p)
{
  p->sid = fresh_identity ();
  p->cid = fresh_identity ();
  p->client = sc_v2_session_new (SC_V2_ROLE_CLIENT, p->cid, NULL);
  p->server = sc_v2_session_new (SC_V2_ROLE_SERVER, p->sid, NULL);
}

static void
pair_clear (Pair *p)
{
  sc_v2_session_free (p->client);
  sc_v2_session_free (p->server);
  sc_identity_unref (p->sid);
  sc_identity_unref (p->cid);
}

static void
flip (GByteArray *buf,
      Stage       stage,
      Stage       at,
      gsize       bit)
{
  if (stage == at)
    buf->data[bit / 8] ^= (guint8) (1u << (bit % 8));
}

/* Runs the handshake with one bit flipped in transit at @stage; returns
 * whether both sides reached ESTABLISHED, and the error that stopped it */
static gboolean
run_handshake (Pair    *p,
               Stage    stage,
               gsize    bit,
               GError **error)
{
  GBytes *greeting = sc_identity_get_greeting (p->sid);
  g_autoptr(GByteArray) g = g_byte_array_new ();
  g_autoptr(GByteArray) c = g_byte_array_new ();
  g_autoptr(GByteArray) s = g_byte_array_new ();
  ScV2Type t;
  guint8 *pt;
  gsize len;

  g_byte_array_append (g, g_bytes_get_data (greeting, NULL), g_bytes_get_size (greeting));
  flip (g, stage, STAGE_GREETING, bit);
  if (!sc_v2_client_start (p->client, g->data, g->len, c, error))
    return FALSE;
  flip (c, stage, STAGE_CLIENT_HELLO, bit);
  if (!sc_v2_server_consume_client_hello (p->server, c->data, c->len, s, error))
    return FALSE;
  flip (s, stage, STAGE_SERVER_HELLO, bit);
  if (!sc_v2_client_consume_server_hello (p->client, s->data, s->len, error))
    return FALSE;
  g_byte_array_set_size (c, 0);
  g_byte_array_set_size (s, 0);
  if (!sc_v2_client_send_auth (p->client, "bob", c, error))
    return FALSE;
  flip (c, stage, STAGE_CLIENT_AUTH, bit);
  if (!sc_v2_session_open (p->server, c->data, c->len, &t, &pt, &len, error))
    return FALSE;
  g_assert_cmpint (t, ==, SC_V2_CLIENT_AUTH);
  if (!sc_v2_session_seal (p->server, SC_V2_WELCOME, (const guint8 *) "{}", 2, s, error))
    return FALSE;
  flip (s, stage, STAGE_WELCOME, bit);
  if (!sc_v2_session_open (p->client, s->data, s->len, &t, &pt, &len, error))
    return FALSE;
  return sc_v2_session_get_state (p->client) == SC_V2_STATE_ESTABLISHED &&
         sc_v2_session_get_state (p->server) == SC_V2_STATE_ESTABLISHED;
}

static void
test_handshake_fresh (void)
{
  g_autoptr(GError) error = NULL;
  Pair p;

  pair_init (&p);
  g_assert_true (run_handshake (&p, STAGE_NONE, 0, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (sc_v2_session_get_code (p.client), ==, sc_v2_session_get_code (p.server));
  g_assert_cmpstr (sc_v2_session_get_peer_fingerprint (p.client), ==,
                   sc_identity_get_fingerprint (p.sid));
  g_assert_cmpstr (sc_v2_session_get_peer_fingerprint (p.server), ==,
                   sc_identity_get_fingerprint (p.cid));
  pair_clear (&p);
}

/* Negative case 1: a flipped bit anywhere in any handshake message, the
 * greeting included, stops the handshake on one side or the other */
static void
test_flipped_bits (void)
{
  static const struct { Stage stage; gsize len; gsize step; } stages[] = {
    { STAGE_GREETING, 0, 7 },          /* length from the identity; every 7th bit */
    { STAGE_CLIENT_HELLO, 4 + 66, 1 },
    { STAGE_SERVER_HELLO, 4 + 161, 1 },
    { STAGE_CLIENT_AUTH, 4 + 1 + 32 + 64 + 3 + 16, 1 },
    { STAGE_WELCOME, 4 + 1 + 2 + 16, 1 },
  };
  guint i, failures = 0;

  for (i = 0; i < G_N_ELEMENTS (stages); i++)
    {
      gsize len = stages[i].len, bit;

      if (len == 0)
        {
          GBytes *greeting = NULL;
          Pair p;

          pair_init (&p);
          greeting = sc_identity_get_greeting (p.sid);
          len = g_bytes_get_size (greeting);
          pair_clear (&p);
        }
      for (bit = 0; bit < len * 8; bit += stages[i].step)
        {
          g_autoptr(GError) error = NULL;
          Pair p;

          pair_init (&p);
          g_assert_false (run_handshake (&p, stages[i].stage, bit, &error));
          g_assert_nonnull (error);
          g_assert_true (error->domain == SC_ERROR);
          failures++;
          pair_clear (&p);
        }
    }
  g_test_message ("%u corrupted handshakes all refused", failures);
  g_assert_cmpuint (failures, >, 2000);
}

/* An established pair, for the record tests */
static void
pair_establish (Pair *p)
{
  g_autoptr(GError) error = NULL;

  pair_init (p);
  g_assert_true (run_handshake (p, STAGE_NONE, 0, &error));
  g_assert_no_error (error);
}

static GByteArray *
seal (ScV2Session *s,
      ScV2Type     type,
      const char  *text)
{
  g_autoptr(GError) error = NULL;
  GByteArray *out = g_byte_array_new ();

  g_assert_true (sc_v2_session_seal (s, type, (const guint8 *) text, text ? strlen (text) : 0,
                                     out, &error));
  g_assert_no_error (error);
  return out;
}

static gboolean
open_frame (ScV2Session *s,
            GByteArray  *frame,
            GError     **error)
{
  g_autoptr(GByteArray) copy = g_byte_array_new ();
  ScV2Type t;
  guint8 *pt;
  gsize len;

  /* decrypting happens in place: keep the caller's bytes for replays */
  g_byte_array_append (copy, frame->data, frame->len);
  return sc_v2_session_open (s, copy->data, copy->len, &t, &pt, &len, error);
}

/* Negative case 2: a replayed record */
static void
test_replayed (void)
{
  g_autoptr(GByteArray) a = NULL;
  g_autoptr(GError) error = NULL;
  Pair p;

  pair_establish (&p);
  a = seal (p.client, SC_V2_CHAT, "{\"text\": \"once\"}");
  g_assert_true (open_frame (p.server, a, NULL));
  g_assert_false (open_frame (p.server, a, &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_DECRYPT);
  g_assert_cmpint (sc_v2_session_get_state (p.server), ==, SC_V2_STATE_FAILED);
  pair_clear (&p);
}

/* Negative case 3: two records swapped */
static void
test_reordered (void)
{
  g_autoptr(GByteArray) a = NULL;
  g_autoptr(GByteArray) b = NULL;
  g_autoptr(GError) error = NULL;
  Pair p;

  pair_establish (&p);
  a = seal (p.client, SC_V2_CHAT, "{\"text\": \"first\"}");
  b = seal (p.client, SC_V2_CHAT, "{\"text\": \"second\"}");
  g_assert_false (open_frame (p.server, b, &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_DECRYPT);
  pair_clear (&p);
}

/* Negative case 4: a dropped record */
static void
test_dropped (void)
{
  g_autoptr(GByteArray) a = NULL;
  g_autoptr(GByteArray) b = NULL;
  g_autoptr(GByteArray) c = NULL;
  g_autoptr(GError) error = NULL;
  Pair p;

  pair_establish (&p);
  a = seal (p.client, SC_V2_CHAT, "{\"text\": \"1\"}");
  b = seal (p.client, SC_V2_CHAT, "{\"text\": \"2\"}");
  c = seal (p.client, SC_V2_CHAT, "{\"text\": \"3\"}");
  g_assert_true (open_frame (p.server, a, NULL));
  g_assert_false (open_frame (p.server, c, &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_DECRYPT);
  pair_clear (&p);
}

/* Negative case 5: a record reflected back to its sender */
static void
test_reflected (void)
{
  g_autoptr(GByteArray) a = NULL;
  g_autoptr(GError) error = NULL;
  Pair p;

  pair_establish (&p);
  a = seal (p.server, SC_V2_CHAT, "{\"text\": \"echo\"}");
  g_assert_false (open_frame (p.server, a, &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_DECRYPT);
  g_clear_error (&error);
  /* also with the type a client would accept: the keys differ per direction */
  g_byte_array_unref (a);
  a = seal (p.client, SC_V2_CHAT, "{\"text\": \"echo\"}");
  g_assert_false (open_frame (p.client, a, &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_DECRYPT);
  pair_clear (&p);
}

/* Negative case 6: records after Close, received and sent */
static void
test_after_close (void)
{
  g_autoptr(GByteArray) close = NULL;
  g_autoptr(GByteArray) chat = g_byte_array_new ();
  g_autoptr(GByteArray) late = NULL;
  g_autoptr(GError) error = NULL;
  Pair p;

  pair_establish (&p);
  late = seal (p.server, SC_V2_CHAT, "{\"text\": \"late\"}");
  close = seal (p.client, SC_V2_CLOSE, NULL);
  g_assert_false (sc_v2_session_seal (p.client, SC_V2_CHAT, (const guint8 *) "x", 1, chat, &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_CLOSED);
  g_assert_cmpuint (chat->len, ==, 0);
  g_clear_error (&error);

  /* the client closed: a record that was already on its way is refused */
  g_assert_false (open_frame (p.client, late, &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_CLOSED);
  g_clear_error (&error);

  g_assert_true (open_frame (p.server, close, NULL));
  g_assert_cmpint (sc_v2_session_get_state (p.server), ==, SC_V2_STATE_CLOSED);
  g_byte_array_unref (late);
  late = g_byte_array_new ();
  g_assert_false (sc_v2_session_seal (p.server, SC_V2_CHAT, (const guint8 *) "x", 1, late, &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_CLOSED);
  pair_clear (&p);
}

/* Negative case 7: an all-zero X25519 result on either side, with the
 * ServerHello otherwise perfectly signed */
static void
test_zero_shared_secret (void)
{
  /* u = 0 and u = 1 are small-order points: X25519 gives all zeros */
  static const guint8 small_order[2][32] = { { 0 }, { 1 } };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (small_order); i++)
    {
      GBytes *greeting = NULL;
      g_autoptr(GByteArray) c = g_byte_array_new ();
      g_autoptr(GByteArray) s = g_byte_array_new ();
      g_autoptr(GByteArray) msg = g_byte_array_new ();
      g_autoptr(GByteArray) th_input = g_byte_array_new ();
      g_autoptr(GError) error = NULL;
      guint8 digest[32];
      Pair p;

      /* server side: a ClientHello carrying a small-order key */
      pair_init (&p);
      greeting = sc_identity_get_greeting (p.sid);
      g_assert_true (sc_v2_client_start (p.client, g_bytes_get_data (greeting, NULL),
                                         g_bytes_get_size (greeting), c, NULL));
      memcpy (c->data + 4 + 1 + 1 + 32, small_order[i], 32);
      /* the ServerHello goes out first: the key schedule comes after it */
      g_assert_true (sc_v2_server_consume_client_hello (p.server, c->data, c->len, s, NULL));
      g_assert_false (sc_v2_server_derive_keys (p.server, &error));
      g_assert_error (error, SC_ERROR, SC_ERROR_WEAK_KEY);
      g_assert_cmpint (sc_v2_session_get_state (p.server), ==, SC_V2_STATE_FAILED);
      g_assert_null (sc_v2_session_get_code (p.server));
      g_clear_error (&error);
      pair_clear (&p);

      /* and a server that leaves the schedule to the first record fails there */
      pair_init (&p);
      greeting = sc_identity_get_greeting (p.sid);
      g_byte_array_set_size (c, 0);
      g_byte_array_set_size (s, 0);
      g_assert_true (sc_v2_client_start (p.client, g_bytes_get_data (greeting, NULL),
                                         g_bytes_get_size (greeting), c, NULL));
      memcpy (c->data + 4 + 1 + 1 + 32, small_order[i], 32);
      g_assert_true (sc_v2_server_consume_client_hello (p.server, c->data, c->len, s, NULL));
      {
        guint8 record[4 + 1 + 16] = { 0, 0, 0, 17, SC_V2_CLIENT_AUTH };
        ScV2Type t;
        guint8 *pt;
        gsize len;

        g_assert_false (sc_v2_session_open (p.server, record, sizeof record, &t, &pt, &len, &error));
        g_assert_error (error, SC_ERROR, SC_ERROR_WEAK_KEY);
        g_assert_cmpint (sc_v2_session_get_state (p.server), ==, SC_V2_STATE_FAILED);
      }
      g_clear_error (&error);
      g_byte_array_set_size (s, 0);
      pair_clear (&p);

      /* client side: a validly signed ServerHello carrying a small-order key */
      pair_init (&p);
      greeting = sc_identity_get_greeting (p.sid);
      g_byte_array_set_size (c, 0);
      g_assert_true (sc_v2_client_start (p.client, g_bytes_get_data (greeting, NULL),
                                         g_bytes_get_size (greeting), c, NULL));
      g_assert_true (sc_v2_server_consume_client_hello (p.server, c->data, c->len, s, NULL));
      memcpy (s->data + 5 + 32, small_order[i], 32);
      g_byte_array_append (th_input, g_bytes_get_data (greeting, NULL), g_bytes_get_size (greeting));
      g_byte_array_append (th_input, c->data, c->len);
      g_byte_array_append (th_input, s->data, s->len - 64);
      sc_sha256 (th_input->data, th_input->len, digest);
      g_byte_array_append (msg, (const guint8 *) "SecureChat/2 server", 20);
      g_byte_array_append (msg, digest, 32);
      g_assert_true (sc_ed25519_sign (sc_identity_get_ed25519 (p.sid), msg->data, msg->len,
                                      s->data + s->len - 64, NULL));
      g_assert_false (sc_v2_client_consume_server_hello (p.client, s->data, s->len, &error));
      g_assert_error (error, SC_ERROR, SC_ERROR_WEAK_KEY);
      g_assert_cmpint (sc_v2_session_get_state (p.client), ==, SC_V2_STATE_FAILED);
      pair_clear (&p);
    }
}

/* A client that sent its ClientHello before the greeting takes G once,
 * well-formed, and before the ServerHello */
static void
test_early_hello_order (void)
{
  static const guint8 bad_greeting[] = "SERVER_PUB\nnot a key\n\n";
  g_autoptr(GByteArray) c = g_byte_array_new ();
  g_autoptr(GByteArray) s = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  GBytes *greeting;
  Pair p;

  /* the ServerHello while G is still missing */
  pair_init (&p);
  greeting = sc_identity_get_greeting (p.sid);
  g_assert_true (sc_v2_client_start (p.client, NULL, 0, c, NULL));
  g_assert_true (sc_v2_server_consume_client_hello (p.server, c->data, c->len, s, NULL));
  g_assert_false (sc_v2_client_consume_server_hello (p.client, s->data, s->len, &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_STATE);
  g_assert_cmpint (sc_v2_session_get_state (p.client), ==, SC_V2_STATE_FAILED);
  g_clear_error (&error);
  pair_clear (&p);

  /* G twice */
  pair_init (&p);
  g_byte_array_set_size (c, 0);
  g_assert_true (sc_v2_client_start (p.client, NULL, 0, c, NULL));
  g_assert_true (sc_v2_client_consume_greeting (p.client, g_bytes_get_data (greeting, NULL),
                                                g_bytes_get_size (greeting), NULL));
  g_assert_false (sc_v2_client_consume_greeting (p.client, g_bytes_get_data (greeting, NULL),
                                                 g_bytes_get_size (greeting), &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_STATE);
  g_clear_error (&error);
  pair_clear (&p);

  /* G malformed */
  pair_init (&p);
  g_byte_array_set_size (c, 0);
  g_assert_true (sc_v2_client_start (p.client, NULL, 0, c, NULL));
  g_assert_false (sc_v2_client_consume_greeting (p.client, bad_greeting, sizeof bad_greeting - 2,
                                                 &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_PROTOCOL);
  g_assert_cmpint (sc_v2_session_get_state (p.client), ==, SC_V2_STATE_FAILED);
  pair_clear (&p);
}

/* Negative case 8: a version other than 0x02 */
static void
test_wrong_version (void)
{
  static const guint8 versions[] = { 0x00, 0x01, 0x03, 0xff };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (versions); i++)
    {
      GBytes *greeting = NULL;
      g_autoptr(GByteArray) c = g_byte_array_new ();
      g_autoptr(GByteArray) s = g_byte_array_new ();
      g_autoptr(GError) error = NULL;
      Pair p;

      pair_init (&p);
      greeting = sc_identity_get_greeting (p.sid);
      g_assert_true (sc_v2_client_start (p.client, g_bytes_get_data (greeting, NULL),
                                         g_bytes_get_size (greeting), c, NULL));
      c->data[5] = versions[i];
      g_assert_false (sc_v2_server_consume_client_hello (p.server, c->data, c->len, s, &error));
      g_assert_error (error, SC_ERROR, SC_ERROR_VERSION);
      pair_clear (&p);
    }
}

/* Negative case 9: types that are not allowed in the state, or unknown */
static void
test_unexpected_types (void)
{
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autoptr(GByteArray) ev = NULL;
  g_autoptr(GError) error = NULL;
  Pair p;

  pair_establish (&p);
  /* a client may not send Event, Welcome or Reject */
  g_assert_false (sc_v2_session_seal (p.client, SC_V2_EVENT, (const guint8 *) "{}", 2, out, &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_STATE);
  g_clear_error (&error);
  g_assert_false (sc_v2_session_seal (p.server, SC_V2_WELCOME, (const guint8 *) "{}", 2, out, &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_STATE);
  g_clear_error (&error);
  g_assert_cmpuint (out->len, ==, 0);

  /* an Event record arriving at the server: retype a valid frame */
  ev = seal (p.client, SC_V2_CHAT, "{}");
  ev->data[4] = SC_V2_EVENT;
  g_assert_false (open_frame (p.server, ev, &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_PROTOCOL);
  g_clear_error (&error);
  pair_clear (&p);

  /* an unknown type, and a ClientHello after the handshake */
  pair_establish (&p);
  g_byte_array_unref (ev);
  ev = seal (p.client, SC_V2_CHAT, "{}");
  ev->data[4] = 0x7f;
  g_assert_false (open_frame (p.server, ev, &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_PROTOCOL);
  g_clear_error (&error);
  pair_clear (&p);

  /* a Chat before the handshake finished */
  {
    GBytes *greeting = NULL;
    g_autoptr(GByteArray) c = g_byte_array_new ();
    g_autoptr(GByteArray) s = g_byte_array_new ();
    guint8 fake[5 + 2 + 16] = { 0, 0, 0, 19, SC_V2_CHAT };
    ScV2Type t;
    guint8 *pt;
    gsize len;

    pair_init (&p);
    greeting = sc_identity_get_greeting (p.sid);
    g_assert_true (sc_v2_client_start (p.client, g_bytes_get_data (greeting, NULL),
                                       g_bytes_get_size (greeting), c, NULL));
    g_assert_true (sc_v2_server_consume_client_hello (p.server, c->data, c->len, s, NULL));
    g_assert_false (sc_v2_session_open (p.server, fake, sizeof fake, &t, &pt, &len, &error));
    g_assert_error (error, SC_ERROR, SC_ERROR_PROTOCOL);
    pair_clear (&p);
  }
}

/* Negative case 10: a KeyUpdate or Close that carries data, properly
 * encrypted with the vectors' c2s key for seq 1 */
static void
test_control_with_data (void)
{
  static const ScV2Type types[] = { SC_V2_KEY_UPDATE, SC_V2_CLOSE };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (types); i++)
    {
      g_autoptr(GBytes) g = hex ("greeting_hex");
      g_autoptr(GBytes) key = test_member_hex (record (0), "key_hex");
      g_autoptr(GBytes) iv = test_member_hex (record (0), "iv_hex");
      g_autoptr(GByteArray) refused = g_byte_array_new ();
      g_autoptr(GError) error = NULL;
      guint8 frame[5 + 1 + 16], nonce[12];
      KatPair p;

      kat_pair_init (&p);
      g_assert_true (sc_v2_client_start (p.client, g_bytes_get_data (g, NULL), g_bytes_get_size (g),
                                         p.c_out, NULL));
      g_assert_true (sc_v2_server_consume_client_hello (p.server, p.c_out->data, p.c_out->len,
                                                        p.s_out, NULL));
      g_assert_true (sc_v2_client_consume_server_hello (p.client, p.s_out->data, p.s_out->len, NULL));
      g_byte_array_set_size (p.c_out, 0);
      g_byte_array_set_size (p.s_out, 0);
      g_assert_true (sc_v2_client_send_auth (p.client, "alice", p.c_out, NULL));
      open_expect (p.server, p.c_out, SC_V2_CLIENT_AUTH, NULL);
      g_assert_true (sc_v2_session_seal (p.server, SC_V2_WELCOME, (const guint8 *) "{}", 2,
                                         p.s_out, NULL));
      open_expect (p.client, p.s_out, SC_V2_WELCOME, NULL);

      /* our own sender refuses to put data in them */
      g_assert_false (sc_v2_session_seal (p.client, types[i], (const guint8 *) "x", 1, refused, &error));
      g_assert_error (error, SC_ERROR, SC_ERROR_STATE);
      g_assert_cmpuint (refused->len, ==, 0);
      g_clear_error (&error);

      sc_frame_v2_header (frame, types[i], 1 + 16);
      memcpy (nonce, g_bytes_get_data (iv, NULL), 12);
      nonce[11] ^= 1;
      {
        g_autoptr(EVP_CIPHER_CTX) sealer = sc_aes_gcm_new (g_bytes_get_data (key, NULL), TRUE, NULL);

        g_assert_true (sc_aes_gcm_seal (sealer, nonce, frame, 5, (const guint8 *) "x", 1, frame + 5, NULL));
      }
      g_byte_array_append (p.c_out, frame, sizeof frame);
      {
        ScV2Type t;
        guint8 *pt;
        gsize len;

        g_assert_false (sc_v2_session_open (p.server, p.c_out->data, p.c_out->len, &t, &pt, &len, &error));
        g_assert_error (error, SC_ERROR, SC_ERROR_PROTOCOL);
      }
      kat_pair_clear (&p);
    }
}

/* Negative case 11: records above the configured maximum, both ways */
static void
test_oversize_records (void)
{
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autoptr(GByteArray) big = NULL;
  g_autofree char *text = g_strnfill (200, 'a');
  g_autoptr(GError) error = NULL;
  Pair p;

  pair_establish (&p);
  g_assert_cmpuint (sc_v2_session_get_frame_limit (p.server), ==, 1 + 65536 + 16);
  sc_v2_session_set_message_max (p.client, 100);
  g_assert_false (sc_v2_session_seal (p.client, SC_V2_CHAT, (const guint8 *) text, 200, out, &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_OVERSIZE);
  g_assert_cmpuint (out->len, ==, 0);
  g_clear_error (&error);

  /* the server refuses what it did not agree to, even when well formed */
  sc_v2_session_set_message_max (p.client, 1000);
  sc_v2_session_set_message_max (p.server, 100);
  big = seal (p.client, SC_V2_CHAT, text);
  g_assert_false (open_frame (p.server, big, &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_OVERSIZE);
  pair_clear (&p);
}

/* Key updates at a low limit keep both sides in step for many records */
static void
test_key_updates (void)
{
  guint i;
  Pair p;

  pair_establish (&p);
  sc_v2_session_set_key_update_limit (p.client, 2);
  sc_v2_session_set_key_update_limit (p.server, 5);
  for (i = 0; i < 50; i++)
    {
      g_autofree char *text = g_strdup_printf ("{\"text\": \"%u\"}", i);
      g_autoptr(GByteArray) c = seal (p.client, SC_V2_CHAT, text);
      g_autoptr(GByteArray) s = seal (p.server, SC_V2_CHAT, text);
      g_autoptr(GError) error = NULL;
      gsize off;

      /* each output may hold a KeyUpdate and then the Chat */
      for (off = 0; off < c->len;)
        {
          gsize flen = 4 + ((gsize) c->data[off + 2] << 8 | c->data[off + 3]);
          ScV2Type t;
          guint8 *pt;
          gsize len;

          g_assert_true (sc_v2_session_open (p.server, c->data + off, flen, &t, &pt, &len, &error));
          g_assert_no_error (error);
          if (t == SC_V2_CHAT)
            g_assert_cmpmem (pt, len, text, strlen (text));
          off += flen;
        }
      for (off = 0; off < s->len;)
        {
          gsize flen = 4 + ((gsize) s->data[off + 2] << 8 | s->data[off + 3]);
          ScV2Type t;
          guint8 *pt;
          gsize len;

          g_assert_true (sc_v2_session_open (p.client, s->data + off, flen, &t, &pt, &len, &error));
          g_assert_no_error (error);
          off += flen;
        }
      /* with a limit of 2, every Chat is preceded by a KeyUpdate */
      if (i > 0)
        g_assert_cmpuint (c->len, ==, 2 * 4 + 1 + 16 + 1 + strlen (text) + 16 - 1 + 1);
    }
  pair_clear (&p);
}

/* A nickname that is too long or not text is refused before sending */
static void
test_bad_nickname (void)
{
  static const char *bad[] = {
    "0123456789012345678901234567890123456789012345678901234567890123456789",
    "tab\there",
    "\xff\xfe",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      GBytes *greeting = NULL;
      g_autoptr(GByteArray) c = g_byte_array_new ();
      g_autoptr(GByteArray) s = g_byte_array_new ();
      g_autoptr(GError) error = NULL;
      Pair p;

      pair_init (&p);
      greeting = sc_identity_get_greeting (p.sid);
      g_assert_true (sc_v2_client_start (p.client, g_bytes_get_data (greeting, NULL),
                                         g_bytes_get_size (greeting), c, NULL));
      g_assert_true (sc_v2_server_consume_client_hello (p.server, c->data, c->len, s, NULL));
      g_assert_true (sc_v2_client_consume_server_hello (p.client, s->data, s->len, NULL));
      g_byte_array_set_size (c, 0);
      g_assert_false (sc_v2_client_send_auth (p.client, bad[i], c, &error));
      g_assert_nonnull (error);
      g_assert_cmpuint (c->len, ==, 0);
      pair_clear (&p);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  kat = test_load_vectors ("kat-v2.json");
  kat1 = test_load_vectors ("kat-v1.json");

  g_test_add_func ("/v2/kat/keys", test_kat_keys);
  g_test_add_func ("/v2/kat/schedule", test_kat_schedule);
  g_test_add_func ("/v2/kat/traffic-keys", test_kat_traffic_keys);
  g_test_add_data_func ("/v2/kat/session", NULL, test_kat_session);
  g_test_add_data_func ("/v2/kat/session-pipelined", "", test_kat_session);
  g_test_add_func ("/v2/handshake/fresh", test_handshake_fresh);
  g_test_add_func ("/v2/handshake/key-updates", test_key_updates);
  g_test_add_func ("/v2/handshake/bad-nickname", test_bad_nickname);
  g_test_add_func ("/v2/handshake/early-hello-order", test_early_hello_order);
  g_test_add_func ("/v2/negative/01-flipped-bits", test_flipped_bits);
  g_test_add_func ("/v2/negative/02-replayed", test_replayed);
  g_test_add_func ("/v2/negative/03-reordered", test_reordered);
  g_test_add_func ("/v2/negative/04-dropped", test_dropped);
  g_test_add_func ("/v2/negative/05-reflected", test_reflected);
  g_test_add_func ("/v2/negative/06-after-close", test_after_close);
  g_test_add_func ("/v2/negative/07-zero-shared-secret", test_zero_shared_secret);
  g_test_add_func ("/v2/negative/08-wrong-version", test_wrong_version);
  g_test_add_func ("/v2/negative/09-unexpected-types", test_unexpected_types);
  g_test_add_func ("/v2/negative/10-control-with-data", test_control_with_data);
  g_test_add_func ("/v2/negative/11-oversize-records", test_oversize_records);

  return g_test_run ();
}
