/* fuzz-v2-server.c: the v2 server state machine fed arbitrary frames:
 * the first to sc_v2_server_consume_client_hello, the rest to
 * sc_v2_session_open, with the replies a server sends (Welcome after
 * ClientAuth, a Chat after each Chat).  The server's randomness is the
 * vectors', so the vectors' ClientHello and client records get through.
 *
 * Input: flags || chunk seed || stream of v2 frames
 *   flags & 1    the vectors' ClientHello is consumed first
 *   flags & 2    small limits: 64-byte messages, a KeyUpdate every 2 records
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <string.h>

#include "fuzz-common.h"
#include "sc-frame.h"
#include "sc-message.h"
#include "sc-v2.h"

static FuzzRandom server_random;
static GBytes *kat_client_hello;
static GBytes *kat_welcome;

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  JsonObject *kat = fuzz_kat_v2 ();

  fuzz_init ();
  fuzz_kat_server ();
  fuzz_random_init (&server_random, fuzz_kat_hex (kat, "server_random_hex"),
                    fuzz_kat_hex (kat, "server_eph_private_hex"));
  kat_client_hello = fuzz_kat_hex (kat, "client_hello_hex");
  kat_welcome = fuzz_kat_record (1, "plaintext_hex");
  return 0;
}

/* Returns FALSE when the server would close the connection */
static gboolean
handle_frame (ScV2Session *session,
              ScFrame     *frame,
              GByteArray  *out)
{
  g_autoptr(GError) error = NULL;
  ScV2Type type;
  guint8 *pt = NULL;
  gsize len = 0;
  const char *nick;

  if (sc_v2_session_get_state (session) == SC_V2_STATE_START)
    {
      gboolean ok = sc_v2_server_consume_client_hello (session, frame->data, frame->len,
                                                       out, &error);

      fuzz_assert (ok == (error == NULL));
      if (ok)
        fuzz_assert (sc_v2_session_get_state (session) == SC_V2_STATE_AWAIT_CLIENT_AUTH);
      else
        fuzz_assert (sc_v2_session_get_state (session) == SC_V2_STATE_FAILED);
      return ok;
    }

  if (!sc_v2_session_open (session, frame->data, frame->len, &type, &pt, &len, &error))
    {
      fuzz_assert (error != NULL);
      return FALSE;
    }
  fuzz_assert (len == 0 || (pt >= frame->data && pt + len <= frame->data + frame->len));

  switch (type)
    {
    case SC_V2_CLIENT_AUTH:
      fuzz_assert (sc_v2_session_get_state (session) == SC_V2_STATE_AUTHENTICATED);
      fuzz_assert (sc_fingerprint_is_valid (sc_v2_session_get_peer_fingerprint (session)));
      nick = sc_v2_session_get_peer_nickname (session);
      fuzz_assert (nick != NULL && strlen (nick) <= SC_V2_NICK_MAX && g_utf8_validate (nick, -1, NULL));
      fuzz_assert (sc_v2_session_seal (session, SC_V2_WELCOME, g_bytes_get_data (kat_welcome, NULL),
                                       g_bytes_get_size (kat_welcome), out, &error));
      fuzz_assert (sc_v2_session_get_state (session) == SC_V2_STATE_ESTABLISHED);
      return TRUE;

    case SC_V2_CHAT:
      {
        g_auto(ScMessage) msg = { 0 };
        g_autofree char *reply = NULL;
        gsize reply_len;

        fuzz_assert (sc_v2_session_get_state (session) == SC_V2_STATE_ESTABLISHED);
        if (!sc_message_parse_chat_request (pt, len, &msg, &error))
          return FALSE;
        reply = sc_message_build_chat (sc_v2_session_get_peer_nickname (session),
                                       sc_v2_session_get_peer_fingerprint (session),
                                       msg.text, 0, &reply_len);
        /* the relayed message may exceed the limit; refusing it is fine */
        if (!sc_v2_session_seal (session, SC_V2_CHAT, (const guint8 *) reply, reply_len, out, &error))
          fuzz_assert (g_error_matches (error, SC_ERROR, SC_ERROR_OVERSIZE));
        return TRUE;
      }

    case SC_V2_CLOSE:
      fuzz_assert (sc_v2_session_get_state (session) == SC_V2_STATE_CLOSED);
      return FALSE;

    case SC_V2_KEY_UPDATE:
      fuzz_assert (len == 0);
      return TRUE;

    case SC_V2_CLIENT_HELLO:
    case SC_V2_SERVER_HELLO:
    case SC_V2_WELCOME:
    case SC_V2_REJECT:
    case SC_V2_EVENT:
    default:
      fuzz_fail (__FILE__, __LINE__, "a server opened a record type clients may not send");
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(ScV2Session) session = NULL;
  g_autoptr(ScFrameReader) reader = NULL;
  g_autoptr(GByteArray) out = g_byte_array_new ();

  if (size < 2)
    return 0;

  fuzz_random_reset (&server_random);
  session = sc_v2_session_new (SC_V2_ROLE_SERVER, fuzz_kat_server (), &server_random.rng);
  if (data[0] & 2)
    {
      sc_v2_session_set_message_max (session, 64);
      sc_v2_session_set_key_update_limit (session, 2);
    }
  if (data[0] & 1)
    fuzz_assert (sc_v2_server_consume_client_hello (session, g_bytes_get_data (kat_client_hello, NULL),
                                                    g_bytes_get_size (kat_client_hello), out, NULL));
  reader = sc_frame_reader_new (SC_FRAME_V2);
  fuzz_feed_v2_frames (session, reader, data[1], data + 2, size - 2, out, handle_frame);
  return 0;
}
