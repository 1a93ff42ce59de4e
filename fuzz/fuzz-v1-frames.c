/* fuzz-v1-frames.c: the v1 stream as a server and a client read it: the
 * frame splitter (detect, v1 and greeting modes, fed in pieces), the
 * handshake frame (sc_v1_server_accept with the vectors' server key) and
 * message frames (sc_v1_open with the vectors' session)
 *
 * Input: flags || chunk seed || stream
 *   flags & 3    0 detect (server), 1 and 3 v1, 2 greeting then v1 (client)
 *   flags & 4    a small v1 frame limit: 16 * (chunk seed + 1)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <string.h>

#include "fuzz-common.h"
#include "sc-frame.h"
#include "sc-v1.h"

static ScV1Session *kat_session;
static EVP_PKEY *server_priv;

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  JsonObject *kat = fuzz_kat_v1 ();
  g_autoptr(GBytes) key = fuzz_kat_hex (kat, "key_hex");
  g_autoptr(GBytes) iv = fuzz_kat_hex (kat, "iv_hex");

  fuzz_init ();
  server_priv = EVP_PKEY_dup (sc_identity_get_rsa (fuzz_kat_server ()));
  kat_session = sc_v1_session_new (g_bytes_get_data (key, NULL), g_bytes_get_data (iv, NULL));
  return 0;
}

/* Whatever opens must be valid UTF-8 and survive a seal/open round trip */
static void
check_open (ScV1Session  *session,
            const guint8 *json,
            gsize         len)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GByteArray) sealed = NULL;
  g_autofree char *text = sc_v1_open (session, json, len, &error);
  g_autofree char *again = NULL;
  gsize text_len;

  if (text == NULL)
    {
      fuzz_assert (error != NULL);
      return;
    }
  text_len = strlen (text);
  fuzz_assert (g_utf8_validate (text, (gssize) text_len, NULL));

  sealed = g_byte_array_new ();
  fuzz_assert (sc_v1_seal (session, text, text_len, sealed, NULL));
  fuzz_assert (sealed->len >= 2 && sealed->data[sealed->len - 2] == '\n' &&
               sealed->data[sealed->len - 1] == '\n');
  again = sc_v1_open (session, sealed->data, sealed->len - 2, NULL);
  fuzz_assert (again != NULL && strcmp (again, text) == 0);
}

/* Returns FALSE when the connection would be closed */
static gboolean
handle_frame (ScFrameMode    mode,
              guint          index,
              const ScFrame *frame,
              ScV1Session  **accepted)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *fingerprint = NULL;

  if (mode == SC_FRAME_GREETING_V1 && index == 0)
    {
      g_autoptr(EVP_PKEY) pub = sc_v1_parse_greeting (frame->data, frame->len, &error);

      fuzz_assert ((pub == NULL) == (error != NULL));
      return pub != NULL;
    }

  if (*accepted == NULL && mode != SC_FRAME_GREETING_V1)
    {
      *accepted = sc_v1_server_accept (server_priv, frame->data, frame->len,
                                       &fingerprint, &error);
      fuzz_assert ((*accepted == NULL) == (error != NULL));
      if (*accepted != NULL)
        {
          fuzz_assert (fingerprint != NULL && sc_fingerprint_is_valid (fingerprint));
          return TRUE;
        }
      g_clear_error (&error);
    }
  check_open (*accepted ? *accepted : kat_session, frame->data, frame->len);
  return TRUE;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  static const ScFrameMode modes[] = { SC_FRAME_DETECT, SC_FRAME_V1, SC_FRAME_GREETING_V1, SC_FRAME_V1 };
  g_autoptr(ScFrameReader) reader = NULL;
  g_autoptr(ScV1Session) accepted = NULL;
  g_autoptr(GError) error = NULL;
  ScFrameMode mode;
  FuzzChunker chunker;
  gsize small_limit;
  guint index = 0;
  ScFrame frame;

  if (size < 2)
    return 0;
  mode = modes[data[0] & 3];
  small_limit = (data[0] & 4) ? 16 * ((gsize) data[1] + 1) : 0;
  fuzz_chunker_init (&chunker, data[1]);
  data += 2;
  size -= 2;

  reader = sc_frame_reader_new (mode);
  while (size > 0)
    {
      gsize n = fuzz_chunker_next (&chunker, size);

      sc_frame_reader_feed (reader, data, n);
      data += n;
      size -= n;
      for (;;)
        {
          if (small_limit != 0 && sc_frame_reader_get_mode (reader) == SC_FRAME_V1)
            sc_frame_reader_set_limit (reader, small_limit);
          if (!sc_frame_reader_next (reader, &frame, &error))
            break;
          /* a v2 client is another target's business */
          if (sc_frame_reader_get_mode (reader) == SC_FRAME_V2)
            return 0;
          fuzz_assert (frame.len <= sc_frame_reader_get_limit (reader) ||
                       (mode == SC_FRAME_GREETING_V1 && index == 0));
          if (!handle_frame (mode, index++, &frame, &accepted))
            return 0;
        }
      if (error != NULL)
        return 0;
    }
  return 0;
}
