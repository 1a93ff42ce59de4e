/* sc-v2.c: the v2 handshake as an explicit state machine, and its records
 *
 * Each step checks the state, validates everything into locals, and only
 * then commits to the session; one exit per step wipes what was secret.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "sc-v2.h"

#include <string.h>

#include <openssl/crypto.h>

#include "sc-frame.h"

typedef struct {
  guint8          secret[SC_V2_SECRET_LEN];
  EVP_CIPHER_CTX *aead;    /* holds the key, seals (send) or opens (recv) */
  guint8          iv[SC_V2_IV_LEN];
  guint32         seq;
} Direction;

struct _ScV2Session {
  ScV2Role     role;
  ScV2State    state;
  ScIdentity  *identity;
  ScRandom     rng;
  gsize        message_max;
  guint32      key_update_limit;
  guint        key_update_run;            /* KeyUpdates received in a row */

  GByteArray  *transcript;                /* G || CH (|| SH), handshake only */
  EVP_PKEY    *eph;                       /* our X25519 key pair */
  guint8       th[32];
  guint8       own_random[SC_V2_RANDOM_LEN];  /* server: drawn by prepare() */
  guint8       own_eph[SC_X25519_LEN];        /* server: eph's public half */
  guint8       peer_eph[SC_X25519_LEN];       /* server: until derive_keys() */
  gboolean     keys_pending;
  gboolean     greeting_pending;              /* client: started without G */

  guint8       peer_key[SC_ED25519_PUB_LEN];
  char        *peer_fingerprint;
  char        *peer_nickname;
  char         code[8];

  Direction    send;
  Direction    recv;
};

/* ---- key schedule ---- */

/* prk = HKDF-Extract(th, ss); c2s, s2c, and the session code from prk */
gboolean
sc_v2_derive_schedule (const guint8  shared[32],
                       const guint8  transcript_hash[32],
                       ScV2Schedule *out,
                       GError      **error)
{
  guint8 code[4];
  guint32 n;

  if (!sc_hkdf_extract (transcript_hash, 32, shared, 32, out->prk, error) ||
      !sc_hkdf_expand (out->prk, 32, SC_V2_LABEL_C2S, out->c2s, 32, error) ||
      !sc_hkdf_expand (out->prk, 32, SC_V2_LABEL_S2C, out->s2c, 32, error) ||
      !sc_hkdf_expand (out->prk, 32, SC_V2_LABEL_CODE, code, 4, error))
    {
      OPENSSL_cleanse (out, sizeof *out);
      return FALSE;
    }
  n = (((guint32) code[0] << 24) | ((guint32) code[1] << 16) |
       ((guint32) code[2] << 8) | code[3]) % 1000000;
  g_snprintf (out->code, sizeof out->code, "%03u %03u", n / 1000, n % 1000);
  return TRUE;
}

/* key = HKDF-Expand(S, "sc2 key", 32), iv = HKDF-Expand(S, "sc2 iv", 12) */
gboolean
sc_v2_derive_traffic (const guint8 secret[32],
                      guint8       key[32],
                      guint8       iv[12],
                      GError     **error)
{
  return sc_hkdf_expand (secret, 32, SC_V2_LABEL_KEY, key, 32, error) &&
         sc_hkdf_expand (secret, 32, SC_V2_LABEL_IV, iv, 12, error);
}

static gboolean
direction_init (Direction    *dir,
                const guint8  secret[32],
                gboolean      send,
                GError      **error)
{
  guint8 key[SC_V2_KEY_LEN];

  memcpy (dir->secret, secret, SC_V2_SECRET_LEN);
  dir->seq = 0;
  g_clear_pointer (&dir->aead, EVP_CIPHER_CTX_free);
  if (sc_v2_derive_traffic (dir->secret, key, dir->iv, error))
    dir->aead = sc_aes_gcm_new (key, send, error);
  OPENSSL_cleanse (key, sizeof key);
  return dir->aead != NULL;
}

/* KeyUpdate: S = HKDF-Expand(S, "sc2 next", 32), new key/iv, seq = 0 */
static gboolean
direction_update (Direction *dir,
                  GError   **error)
{
  guint8 next[SC_V2_SECRET_LEN];
  gboolean ok;

  ok = sc_hkdf_expand (dir->secret, 32, SC_V2_LABEL_NEXT, next, 32, error) &&
       direction_init (dir, next, EVP_CIPHER_CTX_is_encrypting (dir->aead), error);
  OPENSSL_cleanse (next, sizeof next);
  return ok;
}

/* nonce = iv XOR (00 00 00 00 || u64be(seq)) */
static void
direction_nonce (const Direction *dir,
                 guint8           nonce[12])
{
  guint64 seq = dir->seq;
  int i;

  memcpy (nonce, dir->iv, 12);
  for (i = 11; i >= 4; i--, seq >>= 8)
    nonce[i] ^= (guint8) (seq & 0xff);
}

/* ---- session object ---- */

ScV2Session *
sc_v2_session_new (ScV2Role        role,
                   ScIdentity     *identity,
                   const ScRandom *rng)
{
  ScV2Session *self = g_new0 (ScV2Session, 1);

  self->role = role;
  self->state = SC_V2_STATE_START;
  self->identity = sc_identity_ref (identity);
  if (rng != NULL)
    self->rng = *rng;
  self->message_max = SC_V2_MESSAGE_MAX_DEFAULT;
  self->key_update_limit = SC_V2_KEY_UPDATE_LIMIT;
  return self;
}

static void
wipe_handshake (ScV2Session *self)
{
  g_clear_pointer (&self->eph, EVP_PKEY_free);  /* OpenSSL wipes the private key */
  g_clear_pointer (&self->transcript, g_byte_array_unref);
}

void
sc_v2_session_free (ScV2Session *self)
{
  if (self == NULL)
    return;
  wipe_handshake (self);
  EVP_CIPHER_CTX_free (self->send.aead);  /* wipes the keys */
  EVP_CIPHER_CTX_free (self->recv.aead);
  g_clear_pointer (&self->identity, sc_identity_unref);
  g_free (self->peer_fingerprint);
  g_free (self->peer_nickname);
  OPENSSL_cleanse (self, sizeof *self);
  g_free (self);
}

ScV2State
sc_v2_session_get_state (ScV2Session *self)
{
  return self->state;
}

ScV2Role
sc_v2_session_get_role (ScV2Session *self)
{
  return self->role;
}

void
sc_v2_session_set_message_max (ScV2Session *self,
                               gsize        max)
{
  self->message_max = MIN (max, (gsize) G_MAXUINT32 - 64);
}

void
sc_v2_session_set_key_update_limit (ScV2Session *self,
                                    guint32      limit)
{
  self->key_update_limit = CLAMP (limit, 2, SC_V2_KEY_UPDATE_LIMIT);
}

gsize
sc_v2_session_get_frame_limit (ScV2Session *self)
{
  if (self->state == SC_V2_STATE_ESTABLISHED)
    return SC_V2_RECORD_MAX (self->message_max);
  return SC_V2_HANDSHAKE_FRAME_MAX;
}

const guint8 *
sc_v2_session_get_peer_key (ScV2Session *self)
{
  return self->peer_fingerprint ? self->peer_key : NULL;
}

const char *
sc_v2_session_get_peer_fingerprint (ScV2Session *self)
{
  return self->peer_fingerprint;
}

const char *
sc_v2_session_get_peer_nickname (ScV2Session *self)
{
  return self->peer_nickname;
}

const char *
sc_v2_session_get_code (ScV2Session *self)
{
  return self->code[0] ? self->code : NULL;
}

static gboolean
fail (ScV2Session *self,
      GError     **error,
      ScError      code,
      const char  *message)
{
  self->state = SC_V2_STATE_FAILED;
  wipe_handshake (self);
  if (message != NULL)
    g_set_error_literal (error, SC_ERROR, code, message);
  return FALSE;
}

static gboolean
expect_state (ScV2Session *self,
              ScV2Role     role,
              ScV2State    state,
              GError     **error)
{
  if (self->role == role && self->state == state)
    return TRUE;
  if (self->state == SC_V2_STATE_CLOSED)
    return fail (self, error, SC_ERROR_CLOSED, "The session is closed");
  return fail (self, error, SC_ERROR_STATE, "Handshake step out of order");
}

/* Checks that @frame is one whole frame of @type with body length @body */
static gboolean
check_frame (ScV2Session  *self,
             const guint8 *frame,
             gsize         len,
             ScV2Type      type,
             gsize         body,
             const char   *name,
             GError      **error)
{
  if (len < SC_V2_HEADER_LEN || sc_frame_v2_length (frame) != len - 4 || frame[4] != type)
    {
      g_autofree char *msg = g_strdup_printf ("Expected a %s frame", name);
      return fail (self, error, SC_ERROR_PROTOCOL, msg);
    }
  if (len != SC_V2_HEADER_LEN + body)
    {
      g_autofree char *msg = g_strdup_printf ("%s has the wrong length", name);
      return fail (self, error, SC_ERROR_PROTOCOL, msg);
    }
  return TRUE;
}

/* H(G || CH || SH[0 .. len-64]) signed under the context string and its \0 */
static void
server_signed_hash (GByteArray   *transcript,
                    const guint8 *server_hello_head,
                    gsize         head_len,
                    GByteArray   *msg)
{
  g_autoptr(GByteArray) copy = g_byte_array_sized_new (transcript->len + (guint) head_len);
  guint8 digest[32];

  g_byte_array_append (copy, transcript->data, transcript->len);
  g_byte_array_append (copy, server_hello_head, (guint) head_len);
  sc_sha256 (copy->data, copy->len, digest);
  g_byte_array_append (msg, (const guint8 *) SC_V2_SERVER_SIG_CONTEXT,
                       sizeof SC_V2_SERVER_SIG_CONTEXT);  /* with its \0 */
  g_byte_array_append (msg, digest, sizeof digest);
}

/* Our ephemeral key pair, its private half drawn from the session's RNG */
static gboolean
new_ephemeral (ScV2Session *self,
               guint8       pub[32],
               GError     **error)
{
  guint8 priv[SC_X25519_LEN];

  if (sc_random_bytes (&self->rng, priv, sizeof priv, error))
    self->eph = sc_x25519_new (priv, pub, error);
  OPENSSL_cleanse (priv, sizeof priv);
  return self->eph != NULL;
}

/* ss, th and the schedule; then both directions for our role */
static gboolean
derive_keys (ScV2Session  *self,
             const guint8  peer_eph[32],
             GError      **error)
{
  guint8 ss[32];
  ScV2Schedule sched;
  gboolean ok = FALSE;

  if (!sc_x25519_derive (self->eph, peer_eph, ss, error))
    goto out;
  sc_sha256 (self->transcript->data, self->transcript->len, self->th);
  if (!sc_v2_derive_schedule (ss, self->th, &sched, error))
    goto out;
  if (self->role == SC_V2_ROLE_CLIENT)
    ok = direction_init (&self->send, sched.c2s, TRUE, error) &&
         direction_init (&self->recv, sched.s2c, FALSE, error);
  else
    ok = direction_init (&self->send, sched.s2c, TRUE, error) &&
         direction_init (&self->recv, sched.c2s, FALSE, error);
  memcpy (self->code, sched.code, sizeof self->code);

out:
  OPENSSL_cleanse (ss, sizeof ss);
  OPENSSL_cleanse (&sched, sizeof sched);
  return ok;
}

/* ---- client handshake ---- */

static gboolean
greeting_is_valid (const guint8 *greeting,
                   gsize         len)
{
  gsize prefix = strlen (SC_GREETING_PREFIX);

  return len >= prefix + 3 && len <= SC_GREETING_MAX &&
         memcmp (greeting, SC_GREETING_PREFIX, prefix) == 0 &&
         memcmp (greeting + len - 3, "\n\n\n", 3) == 0;
}

gboolean
sc_v2_client_start (ScV2Session  *self,
                    const guint8 *greeting,
                    gsize         len,
                    GByteArray   *out,
                    GError      **error)
{
  guint8 hello[SC_V2_HEADER_LEN + SC_V2_CLIENT_HELLO_LEN - 1];
  guint8 *body = hello + SC_V2_HEADER_LEN;

  if (!expect_state (self, SC_V2_ROLE_CLIENT, SC_V2_STATE_START, error))
    return FALSE;
  if (greeting != NULL && !greeting_is_valid (greeting, len))
    return fail (self, error, SC_ERROR_PROTOCOL, "Malformed greeting");

  /* ClientHello: 0x02 || client_random[32] || client_eph[32] */
  sc_frame_v2_header (hello, SC_V2_CLIENT_HELLO, SC_V2_CLIENT_HELLO_LEN - 1);
  body[0] = SC_V2_VERSION;
  if (!sc_random_bytes (&self->rng, body + 1, SC_V2_RANDOM_LEN, error) ||
      !new_ephemeral (self, body + 1 + SC_V2_RANDOM_LEN, error))
    return fail (self, error, SC_ERROR_CRYPTO, NULL);

  /* G || CH, G put in front later if it has not come yet */
  self->transcript = g_byte_array_sized_new ((guint) ((greeting ? len : 512) + sizeof hello + 166));
  if (greeting != NULL)
    g_byte_array_append (self->transcript, greeting, (guint) len);
  self->greeting_pending = greeting == NULL;
  g_byte_array_append (self->transcript, hello, sizeof hello);
  g_byte_array_append (out, hello, sizeof hello);
  self->state = SC_V2_STATE_AWAIT_SERVER_HELLO;
  return TRUE;
}

gboolean
sc_v2_client_consume_greeting (ScV2Session  *self,
                               const guint8 *greeting,
                               gsize         len,
                               GError      **error)
{
  if (!expect_state (self, SC_V2_ROLE_CLIENT, SC_V2_STATE_AWAIT_SERVER_HELLO, error))
    return FALSE;
  if (!self->greeting_pending)
    return fail (self, error, SC_ERROR_STATE, "Handshake step out of order");
  if (!greeting_is_valid (greeting, len))
    return fail (self, error, SC_ERROR_PROTOCOL, "Malformed greeting");
  g_byte_array_prepend (self->transcript, greeting, (guint) len);
  self->greeting_pending = FALSE;
  return TRUE;
}

gboolean
sc_v2_client_consume_server_hello (ScV2Session  *self,
                                   const guint8 *frame,
                                   gsize         len,
                                   GError      **error)
{
  const guint8 *body = frame + SC_V2_HEADER_LEN;
  const guint8 *server_eph = body + SC_V2_RANDOM_LEN;
  const guint8 *server_id = server_eph + SC_X25519_LEN;
  const guint8 *sig = server_id + SC_ED25519_PUB_LEN;
  g_autoptr(GByteArray) signed_msg = g_byte_array_new ();

  if (!expect_state (self, SC_V2_ROLE_CLIENT, SC_V2_STATE_AWAIT_SERVER_HELLO, error))
    return FALSE;
  if (self->greeting_pending)
    return fail (self, error, SC_ERROR_STATE, "ServerHello before the greeting");
  if (!check_frame (self, frame, len, SC_V2_SERVER_HELLO,
                    SC_V2_SERVER_HELLO_LEN - 1, "ServerHello", error))
    return FALSE;

  /* sig = Ed25519(server_id, context || \0 || H(G || CH || SH[0 .. len-64])) */
  server_signed_hash (self->transcript, frame, len - SC_ED25519_SIG_LEN, signed_msg);
  if (!sc_ed25519_verify (server_id, signed_msg->data, signed_msg->len, sig, error))
    return fail (self, error, SC_ERROR_SIGNATURE, NULL);

  g_byte_array_append (self->transcript, frame, (guint) len);
  if (!derive_keys (self, server_eph, error))
    return fail (self, error, SC_ERROR_CRYPTO, NULL);

  memcpy (self->peer_key, server_id, SC_ED25519_PUB_LEN);
  self->peer_fingerprint = sc_fingerprint (server_id, SC_ED25519_PUB_LEN);
  wipe_handshake (self);
  self->state = SC_V2_STATE_PEER_KNOWN;
  return TRUE;
}

static gboolean nickname_is_valid (const char *nick, gsize len);
static gboolean seal_record (ScV2Session *self, ScV2Type type, const guint8 *pt,
                             gsize len, GByteArray *out, GError **error);

gboolean
sc_v2_client_send_auth (ScV2Session *self,
                        const char  *nickname,
                        GByteArray  *out,
                        GError     **error)
{
  guint8 auth[SC_ED25519_PUB_LEN + SC_ED25519_SIG_LEN + SC_V2_NICK_MAX];
  g_autoptr(GByteArray) signed_msg = g_byte_array_new ();
  gsize nick_len = nickname ? strlen (nickname) : 0;

  if (!expect_state (self, SC_V2_ROLE_CLIENT, SC_V2_STATE_PEER_KNOWN, error))
    return FALSE;
  if (!nickname_is_valid (nickname, nick_len))
    {
      /* Our own caller's mistake: refuse without failing the session */
      g_set_error_literal (error, SC_ERROR, SC_ERROR_STATE,
                           "A nickname is at most 64 bytes of text without control characters");
      return FALSE;
    }

  /* client_id || Ed25519(client_id, context || \0 || th) || nickname */
  g_byte_array_append (signed_msg, (const guint8 *) SC_V2_CLIENT_SIG_CONTEXT,
                       sizeof SC_V2_CLIENT_SIG_CONTEXT);
  g_byte_array_append (signed_msg, self->th, sizeof self->th);
  memcpy (auth, sc_identity_get_ed25519_public (self->identity), SC_ED25519_PUB_LEN);
  if (!sc_ed25519_sign (sc_identity_get_ed25519 (self->identity), signed_msg->data,
                        signed_msg->len, auth + SC_ED25519_PUB_LEN, error))
    return fail (self, error, SC_ERROR_CRYPTO, NULL);
  if (nick_len > 0)
    memcpy (auth + SC_ED25519_PUB_LEN + SC_ED25519_SIG_LEN, nickname, nick_len);

  if (!seal_record (self, SC_V2_CLIENT_AUTH, auth,
                    SC_ED25519_PUB_LEN + SC_ED25519_SIG_LEN + nick_len, out, error))
    return fail (self, error, SC_ERROR_CRYPTO, NULL);
  self->state = SC_V2_STATE_AWAIT_WELCOME;
  return TRUE;
}

/* ---- server handshake ---- */

gboolean
sc_v2_server_consume_client_hello (ScV2Session  *self,
                                   const guint8 *frame,
                                   gsize         len,
                                   GByteArray   *out,
                                   GError      **error)
{
  guint8 hello[SC_V2_HEADER_LEN + SC_V2_SERVER_HELLO_LEN - 1];
  guint8 *body = hello + SC_V2_HEADER_LEN;
  guint8 *sig = body + SC_V2_SERVER_HELLO_LEN - 1 - SC_ED25519_SIG_LEN;
  const guint8 *client_eph = frame + SC_V2_HEADER_LEN + 1 + SC_V2_RANDOM_LEN;
  GBytes *greeting = NULL;
  g_autoptr(GByteArray) signed_msg = g_byte_array_new ();

  if (!expect_state (self, SC_V2_ROLE_SERVER, SC_V2_STATE_START, error) ||
      !check_frame (self, frame, len, SC_V2_CLIENT_HELLO,
                    SC_V2_CLIENT_HELLO_LEN - 1, "ClientHello", error))
    return FALSE;
  if (frame[SC_V2_HEADER_LEN] != SC_V2_VERSION)
    return fail (self, error, SC_ERROR_VERSION, "The client speaks a protocol version we do not");

  if (!sc_v2_server_prepare (self, error))
    return FALSE;
  greeting = sc_identity_get_greeting (self->identity);
  self->transcript = g_byte_array_sized_new ((guint) (g_bytes_get_size (greeting) + len + 166));
  g_byte_array_append (self->transcript, g_bytes_get_data (greeting, NULL),
                       (guint) g_bytes_get_size (greeting));
  g_byte_array_append (self->transcript, frame, (guint) len);

  /* ServerHello: server_random || server_eph || server_id || sig */
  sc_frame_v2_header (hello, SC_V2_SERVER_HELLO, SC_V2_SERVER_HELLO_LEN - 1);
  memcpy (body, self->own_random, SC_V2_RANDOM_LEN);
  memcpy (body + SC_V2_RANDOM_LEN, self->own_eph, SC_X25519_LEN);
  memcpy (body + SC_V2_RANDOM_LEN + SC_X25519_LEN,
          sc_identity_get_ed25519_public (self->identity), SC_ED25519_PUB_LEN);
  server_signed_hash (self->transcript, hello, sizeof hello - SC_ED25519_SIG_LEN, signed_msg);
  if (!sc_ed25519_sign (sc_identity_get_ed25519 (self->identity),
                        signed_msg->data, signed_msg->len, sig, error))
    return fail (self, error, SC_ERROR_CRYPTO, NULL);

  g_byte_array_append (self->transcript, hello, sizeof hello);
  memcpy (self->peer_eph, client_eph, SC_X25519_LEN);
  self->keys_pending = TRUE;
  g_byte_array_append (out, hello, sizeof hello);
  self->state = SC_V2_STATE_AWAIT_CLIENT_AUTH;
  return TRUE;
}

gboolean
sc_v2_server_prepare (ScV2Session  *self,
                      GError      **error)
{
  if (!expect_state (self, SC_V2_ROLE_SERVER, SC_V2_STATE_START, error))
    return FALSE;
  if (self->eph != NULL)
    return TRUE;
  if (!sc_random_bytes (&self->rng, self->own_random, SC_V2_RANDOM_LEN, error) ||
      !new_ephemeral (self, self->own_eph, error))
    return fail (self, error, SC_ERROR_CRYPTO, NULL);
  return TRUE;
}

gboolean
sc_v2_server_derive_keys (ScV2Session  *self,
                          GError      **error)
{
  gboolean ok;

  if (!self->keys_pending)
    return TRUE;
  self->keys_pending = FALSE;
  ok = derive_keys (self, self->peer_eph, error);
  wipe_handshake (self);
  return ok || fail (self, error, SC_ERROR_CRYPTO, NULL);
}

static gboolean
nickname_is_valid (const char *nick,
                   gsize       len)
{
  const char *p;

  if (len > SC_V2_NICK_MAX || !g_utf8_validate_len (nick, len, NULL))
    return FALSE;
  for (p = nick; p < nick + len; p = g_utf8_next_char (p))
    if (g_unichar_iscntrl (g_utf8_get_char (p)))
      return FALSE;
  return TRUE;
}

/* ClientAuth plaintext: client_id[32] || sig[64] || nickname */
static gboolean
consume_client_auth (ScV2Session  *self,
                     const guint8 *pt,
                     gsize         len,
                     GError      **error)
{
  const gsize head = SC_ED25519_PUB_LEN + SC_ED25519_SIG_LEN;
  g_autoptr(GByteArray) signed_msg = g_byte_array_new ();

  if (len < head || len > head + SC_V2_NICK_MAX)
    return fail (self, error, SC_ERROR_PROTOCOL, "ClientAuth has the wrong length");
  if (!nickname_is_valid ((const char *) pt + head, len - head))
    return fail (self, error, SC_ERROR_PROTOCOL,
                 "The nickname is not text or contains control characters");

  g_byte_array_append (signed_msg, (const guint8 *) SC_V2_CLIENT_SIG_CONTEXT,
                       sizeof SC_V2_CLIENT_SIG_CONTEXT);
  g_byte_array_append (signed_msg, self->th, sizeof self->th);
  if (!sc_ed25519_verify (pt, signed_msg->data, signed_msg->len, pt + SC_ED25519_PUB_LEN, error))
    return fail (self, error, SC_ERROR_SIGNATURE, NULL);

  memcpy (self->peer_key, pt, SC_ED25519_PUB_LEN);
  self->peer_fingerprint = sc_fingerprint (pt, SC_ED25519_PUB_LEN);
  self->peer_nickname = g_strndup ((const char *) pt + head, len - head);
  self->state = SC_V2_STATE_AUTHENTICATED;
  return TRUE;
}

/* ---- records ---- */

static gboolean
seal_record (ScV2Session  *self,
             ScV2Type      type,
             const guint8 *pt,
             gsize         len,
             GByteArray   *out,
             GError      **error)
{
  guint old = out->len;
  guint8 nonce[12];
  guint8 *frame;

  if (len > G_MAXUINT32 - 64 || (gsize) old + len + 64 > G_MAXUINT)
    {
      g_set_error_literal (error, SC_ERROR, SC_ERROR_PROTOCOL, "Record too large");
      return FALSE;
    }
  g_byte_array_set_size (out, old + SC_V2_HEADER_LEN + (guint) len + SC_V2_TAG_LEN);
  frame = out->data + old;
  sc_frame_v2_header (frame, type, len + SC_V2_TAG_LEN);
  direction_nonce (&self->send, nonce);
  /* aad = u32be(L) || type, the frame's first five bytes */
  if (!sc_aes_gcm_seal (self->send.aead, nonce, frame, SC_V2_HEADER_LEN, pt, len,
                        frame + SC_V2_HEADER_LEN, error))
    {
      g_byte_array_set_size (out, old);
      return FALSE;
    }
  self->send.seq++;
  return TRUE;
}

static gboolean
may_send (ScV2Session *self,
          ScV2Type     type)
{
  switch (type)
    {
    case SC_V2_WELCOME:
    case SC_V2_REJECT:
      return self->role == SC_V2_ROLE_SERVER && self->state == SC_V2_STATE_AUTHENTICATED;
    case SC_V2_EVENT:
      return self->role == SC_V2_ROLE_SERVER && self->state == SC_V2_STATE_ESTABLISHED;
    case SC_V2_CHAT:
    case SC_V2_KEY_UPDATE:
    case SC_V2_CLOSE:
      return self->state == SC_V2_STATE_ESTABLISHED;
    case SC_V2_CLIENT_HELLO:
    case SC_V2_SERVER_HELLO:
    case SC_V2_CLIENT_AUTH:
    default:
      return FALSE;
    }
}

gboolean
sc_v2_session_seal (ScV2Session  *self,
                    ScV2Type      type,
                    const guint8 *plaintext,
                    gsize         len,
                    GByteArray   *out,
                    GError      **error)
{
  if (!may_send (self, type))
    {
      g_set_error (error, SC_ERROR,
                   self->state == SC_V2_STATE_CLOSED ? SC_ERROR_CLOSED : SC_ERROR_STATE,
                   "Cannot send a record of type 0x%02x now", type);
      return FALSE;
    }
  if ((type == SC_V2_KEY_UPDATE || type == SC_V2_CLOSE) && len != 0)
    {
      g_set_error_literal (error, SC_ERROR, SC_ERROR_STATE, "KeyUpdate and Close carry no data");
      return FALSE;
    }
  if (len > self->message_max)
    {
      g_set_error (error, SC_ERROR, SC_ERROR_OVERSIZE,
                   "Message longer than %" G_GSIZE_FORMAT " bytes", self->message_max);
      return FALSE;
    }

  /* Update before seq reaches the limit: the KeyUpdate itself takes the
   * last number under it. */
  if (type != SC_V2_KEY_UPDATE && self->send.seq + 1 >= self->key_update_limit)
    {
      if (!seal_record (self, SC_V2_KEY_UPDATE, NULL, 0, out, error) ||
          !direction_update (&self->send, error))
        return fail (self, error, SC_ERROR_CRYPTO, NULL);
    }

  if (!seal_record (self, type, plaintext, len, out, error))
    return fail (self, error, SC_ERROR_CRYPTO, NULL);

  switch (type)
    {
    case SC_V2_KEY_UPDATE:
      if (!direction_update (&self->send, error))
        return fail (self, error, SC_ERROR_CRYPTO, NULL);
      break;
    case SC_V2_WELCOME:
      self->state = SC_V2_STATE_ESTABLISHED;
      break;
    case SC_V2_REJECT:
    case SC_V2_CLOSE:
      self->state = SC_V2_STATE_CLOSED;
      break;
    default:
      break;
    }
  return TRUE;
}

static gboolean
may_receive (ScV2Session *self,
             guint8       type)
{
  gboolean client = self->role == SC_V2_ROLE_CLIENT;

  switch (type)
    {
    case SC_V2_CLIENT_AUTH:
      return !client && self->state == SC_V2_STATE_AWAIT_CLIENT_AUTH;
    case SC_V2_WELCOME:
    case SC_V2_REJECT:
      return client && self->state == SC_V2_STATE_AWAIT_WELCOME;
    case SC_V2_EVENT:
      return client && self->state == SC_V2_STATE_ESTABLISHED;
    case SC_V2_CHAT:
    case SC_V2_KEY_UPDATE:
    case SC_V2_CLOSE:
      return self->state == SC_V2_STATE_ESTABLISHED;
    default:
      return FALSE;
    }
}

gboolean
sc_v2_session_open (ScV2Session  *self,
                    guint8       *frame,
                    gsize         len,
                    ScV2Type     *type,
                    guint8      **plaintext,
                    gsize        *plaintext_len,
                    GError      **error)
{
  guint8 nonce[12];
  gsize pt_len;
  guint8 t;

  if (self->state == SC_V2_STATE_CLOSED)
    return fail (self, error, SC_ERROR_CLOSED, "Record after Close");
  if (self->state == SC_V2_STATE_FAILED)
    return fail (self, error, SC_ERROR_STATE, "The session has failed");
  if (!sc_v2_server_derive_keys (self, error))
    return FALSE;
  if (len < SC_V2_HEADER_LEN + SC_V2_TAG_LEN || sc_frame_v2_length (frame) != len - 4)
    return fail (self, error, SC_ERROR_PROTOCOL, "Truncated record");
  t = frame[4];
  if (!may_receive (self, t))
    {
      g_autofree char *msg = g_strdup_printf ("Unexpected frame type 0x%02x", t);
      return fail (self, error, SC_ERROR_PROTOCOL, msg);
    }
  pt_len = len - SC_V2_HEADER_LEN - SC_V2_TAG_LEN;
  if (pt_len > self->message_max)
    return fail (self, error, SC_ERROR_OVERSIZE, "Record larger than the message limit");
  if (self->recv.seq >= SC_V2_KEY_UPDATE_LIMIT)
    return fail (self, error, SC_ERROR_PROTOCOL, "The peer did not update its keys in time");

  direction_nonce (&self->recv, nonce);
  if (!sc_aes_gcm_open (self->recv.aead, nonce, frame, SC_V2_HEADER_LEN,
                        frame + SC_V2_HEADER_LEN, pt_len + SC_V2_TAG_LEN,
                        frame + SC_V2_HEADER_LEN, error))
    return fail (self, error, SC_ERROR_DECRYPT, NULL);
  self->recv.seq++;

  if (t != SC_V2_KEY_UPDATE)
    self->key_update_run = 0;
  switch (t)
    {
    case SC_V2_CLIENT_AUTH:
      if (!consume_client_auth (self, frame + SC_V2_HEADER_LEN, pt_len, error))
        return FALSE;
      break;
    case SC_V2_WELCOME:
      self->state = SC_V2_STATE_ESTABLISHED;
      break;
    case SC_V2_KEY_UPDATE:
    case SC_V2_CLOSE:
      if (pt_len != 0)
        return fail (self, error, SC_ERROR_PROTOCOL, "KeyUpdate and Close carry no data");
      if (t == SC_V2_CLOSE)
        self->state = SC_V2_STATE_CLOSED;
      else if (++self->key_update_run > SC_V2_KEY_UPDATE_RUN_MAX)
        /* a sender updates once before a record that needs it: a run of
         * them is a peer making us derive keys for nothing */
        return fail (self, error, SC_ERROR_PROTOCOL, "Too many KeyUpdates in a row");
      else if (!direction_update (&self->recv, error))
        return fail (self, error, SC_ERROR_CRYPTO, NULL);
      break;
    case SC_V2_REJECT:
      self->state = SC_V2_STATE_CLOSED;
      break;
    default:
      break;
    }

  *type = (ScV2Type) t;
  *plaintext = frame + SC_V2_HEADER_LEN;
  *plaintext_len = pt_len;
  return TRUE;
}
