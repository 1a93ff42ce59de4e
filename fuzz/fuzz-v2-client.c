/* fuzz-v2-client.c: the v2 client state machine fed arbitrary bytes: the
 * greeting to sc_v2_client_start, the next frame to
 * sc_v2_client_consume_server_hello, then records to sc_v2_session_open
 * (Chat and Event plaintexts parsed as the client does).  The client's
 * randomness is the vectors', so the vectors' greeting and ServerHello
 * verify and the vectors' server records open.
 *
 * Input: flags || chunk seed || stream
 *   flags & 1    the vectors' greeting and ServerHello are consumed first
 *                and ClientAuth sent: the stream holds only records
 *   flags & 2    small limits: 64-byte messages, a KeyUpdate every 2 records
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <string.h>

#include "fuzz-common.h"
#include "sc-frame.h"
#include "sc-message.h"
#include "sc-v2.h"

static FuzzRandom client_random;
static GBytes *kat_greeting;
static GBytes *kat_server_hello;
static const char *kat_nickname;

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  JsonObject *kat = fuzz_kat_v2 ();

  fuzz_init ();
  fuzz_kat_client ();
  fuzz_random_init (&client_random, fuzz_kat_hex (kat, "client_random_hex"),
                    fuzz_kat_hex (kat, "client_eph_private_hex"));
  kat_greeting = fuzz_kat_hex (kat, "greeting_hex");
  kat_server_hello = fuzz_kat_hex (kat, "server_hello_hex");
  kat_nickname = json_object_get_string_member (kat, "nickname");
  return 0;
}

static void
send_auth (ScV2Session *session,
           GByteArray  *out)
{
  fuzz_assert (sc_v2_session_get_state (session) == SC_V2_STATE_PEER_KNOWN);
  fuzz_assert (sc_fingerprint_is_valid (sc_v2_session_get_peer_fingerprint (session)));
  fuzz_assert (strlen (sc_v2_session_get_code (session)) == 7);
  fuzz_assert (sc_v2_client_send_auth (session, kat_nickname, out, NULL));
  fuzz_assert (sc_v2_session_get_state (session) == SC_V2_STATE_AWAIT_WELCOME);
}

/* Returns FALSE when the client would close the connection */
static gboolean
handle_frame (ScV2Session *session,
              ScFrame     *frame,
              GByteArray  *out)
{
  g_autoptr(GError) error = NULL;
  g_auto(ScMessage) msg = { 0 };
  ScV2Type type;
  guint8 *pt = NULL;
  gsize len = 0;
  gboolean ok;

  switch (sc_v2_session_get_state (session))
    {
    case SC_V2_STATE_START:
      ok = sc_v2_client_start (session, frame->data, frame->len, out, &error);
      fuzz_assert (ok == (error == NULL));
      return ok;

    case SC_V2_STATE_AWAIT_SERVER_HELLO:
      ok = sc_v2_client_consume_server_hello (session, frame->data, frame->len, &error);
      fuzz_assert (ok == (error == NULL));
      if (ok)
        send_auth (session, out);
      else
        fuzz_assert (sc_v2_session_get_state (session) == SC_V2_STATE_FAILED);
      return ok;

    case SC_V2_STATE_PEER_KNOWN:
    case SC_V2_STATE_AWAIT_CLIENT_AUTH:
    case SC_V2_STATE_AUTHENTICATED:
    case SC_V2_STATE_CLOSED:
    case SC_V2_STATE_FAILED:
      fuzz_fail (__FILE__, __LINE__, "a client reading in a state it never reads in");

    case SC_V2_STATE_AWAIT_WELCOME:
    case SC_V2_STATE_ESTABLISHED:
    default:
      break;
    }

  if (!sc_v2_session_open (session, frame->data, frame->len, &type, &pt, &len, &error))
    {
      fuzz_assert (error != NULL);
      return FALSE;
    }
  fuzz_assert (len == 0 || (pt >= frame->data && pt + len <= frame->data + frame->len));

  switch (type)
    {
    case SC_V2_WELCOME:
      {
        g_autofree char *request = NULL;
        gsize request_len;

        fuzz_assert (sc_v2_session_get_state (session) == SC_V2_STATE_ESTABLISHED);
        request = sc_message_build_chat_request ("hello", &request_len);
        fuzz_assert (sc_v2_session_seal (session, SC_V2_CHAT, (const guint8 *) request,
                                         request_len, out, NULL));
        return TRUE;
      }

    case SC_V2_REJECT:
      {
        g_autofree char *reason = g_utf8_make_valid ((const char *) pt, (gssize) len);

        fuzz_assert (sc_v2_session_get_state (session) == SC_V2_STATE_CLOSED);
        fuzz_assert (g_utf8_validate (reason, -1, NULL));
        return FALSE;
      }

    case SC_V2_CHAT:
      fuzz_assert (sc_v2_session_get_state (session) == SC_V2_STATE_ESTABLISHED);
      return sc_message_parse_chat (pt, len, &msg, &error);

    case SC_V2_EVENT:
      fuzz_assert (sc_v2_session_get_state (session) == SC_V2_STATE_ESTABLISHED);
      return sc_message_parse_event (pt, len, &msg, &error);

    case SC_V2_CLOSE:
      fuzz_assert (sc_v2_session_get_state (session) == SC_V2_STATE_CLOSED);
      return FALSE;

    case SC_V2_KEY_UPDATE:
      fuzz_assert (len == 0);
      return TRUE;

    case SC_V2_CLIENT_HELLO:
    case SC_V2_SERVER_HELLO:
    case SC_V2_CLIENT_AUTH:
    default:
      fuzz_fail (__FILE__, __LINE__, "a client opened a record type servers may not send");
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

  fuzz_random_reset (&client_random);
  session = sc_v2_session_new (SC_V2_ROLE_CLIENT, fuzz_kat_client (), &client_random.rng);
  if (data[0] & 2)
    {
      sc_v2_session_set_message_max (session, 64);
      sc_v2_session_set_key_update_limit (session, 2);
    }
  if (data[0] & 1)
    {
      fuzz_assert (sc_v2_client_start (session, g_bytes_get_data (kat_greeting, NULL),
                                       g_bytes_get_size (kat_greeting), out, NULL));
      fuzz_assert (sc_v2_client_consume_server_hello (session, g_bytes_get_data (kat_server_hello, NULL),
                                                      g_bytes_get_size (kat_server_hello), NULL));
      send_auth (session, out);
      reader = sc_frame_reader_new (SC_FRAME_V2);
    }
  else
    reader = sc_frame_reader_new (SC_FRAME_GREETING_V2);
  fuzz_feed_v2_frames (session, reader, data[1], data + 2, size - 2, out, handle_frame);
  return 0;
}
