/* faults-peer.c: a raw client that dies in the middle of a record
 *
 *   faults-peer PORT 1|2 NICK BEFORE HALF
 *
 * Connects to 127.0.0.1:PORT, completes the handshake of protocol 1 (seed)
 * or 2, sends the message BEFORE as a whole record, then only the first
 * half of a record holding HALF.  Then it prints "half-sent" on standard
 * output and waits to be killed: the test sends it SIGKILL, so the server
 * sees the stream end in the middle of a frame.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>

#include "sc-crypto.h"
#include "sc-frame.h"
#include "sc-message.h"
#include "sc-v1.h"
#include "sc-v2.h"

static GSocketConnection *conn;
static ScFrameReader *reader;

static G_NORETURN void
die (const char *what,
     GError     *error)
{
  fprintf (stderr, "faults-peer: %s: %s\n", what, error ? error->message : "failed");
  exit (1);
}

static void
read_frame (ScFrame *frame)
{
  GError *error = NULL;
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (conn));

  while (!sc_frame_reader_next (reader, frame, &error))
    {
      guint8 buf[4096];
      gssize n;

      if (error != NULL)
        die ("reading", error);
      n = g_input_stream_read (in, buf, sizeof buf, NULL, &error);
      if (n <= 0)
        die ("reading", error);
      sc_frame_reader_feed (reader, buf, (gsize) n);
    }
}

static void
send_bytes (const guint8 *data,
            gsize         len)
{
  GError *error = NULL;

  if (!g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (conn)),
                                  data, len, NULL, NULL, &error))
    die ("writing", error);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autoptr(GByteArray) half = g_byte_array_new ();
  g_autoptr(EVP_PKEY) rsa = NULL;
  g_autoptr(EVP_PKEY) ed = NULL;
  ScIdentity *identity;
  GError *error = NULL;
  ScFrame frame;
  guint16 port;
  int protocol;
  const char *nick, *before, *text;

  if (argc != 6)
    {
      fprintf (stderr, "usage: faults-peer PORT 1|2 NICK BEFORE HALF\n");
      return 2;
    }
  port = (guint16) atoi (argv[1]);
  protocol = atoi (argv[2]);
  nick = argv[3];
  before = argv[4];
  text = argv[5];

  rsa = sc_rsa_generate (NULL);
  ed = sc_ed25519_generate (NULL);
  identity = sc_identity_new (rsa, ed, &error);
  if (identity == NULL)
    die ("identity", error);

  conn = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, &error);
  if (conn == NULL)
    die ("connecting", error);

  if (protocol == 1)
    {
      g_autoptr(EVP_PKEY) server_pub = NULL;
      ScV1Session *session;

      reader = sc_frame_reader_new (SC_FRAME_GREETING_V1);
      read_frame (&frame);
      server_pub = sc_v1_parse_greeting (frame.data, frame.len, &error);
      if (server_pub == NULL)
        die ("greeting", error);
      session = sc_v1_client_handshake (server_pub, sc_identity_get_rsa (identity), NULL, out, &error);
      if (session == NULL)
        die ("handshake", error);
      if (!sc_v1_seal (session, before, strlen (before), out, &error) ||
          !sc_v1_seal (session, text, strlen (text), half, &error))
        die ("sealing", error);
    }
  else
    {
      ScV2Session *session = sc_v2_session_new (SC_V2_ROLE_CLIENT, identity, NULL);
      g_autofree char *json_before = NULL;
      g_autofree char *json_half = NULL;
      gsize len_before, len_half;
      ScV2Type type;
      guint8 *pt;
      gsize len;

      reader = sc_frame_reader_new (SC_FRAME_GREETING_V2);
      read_frame (&frame);
      if (!sc_v2_client_start (session, frame.data, frame.len, out, &error))
        die ("handshake", error);
      send_bytes (out->data, out->len);
      g_byte_array_set_size (out, 0);
      read_frame (&frame);
      if (!sc_v2_client_consume_server_hello (session, frame.data, frame.len, &error) ||
          !sc_v2_client_send_auth (session, nick, out, &error))
        die ("handshake", error);
      send_bytes (out->data, out->len);
      g_byte_array_set_size (out, 0);
      read_frame (&frame);
      if (!sc_v2_session_open (session, frame.data, frame.len, &type, &pt, &len, &error))
        die ("welcome", error);
      if (type != SC_V2_WELCOME)
        die ("welcome", NULL);

      json_before = sc_message_build_chat_request (before, &len_before);
      json_half = sc_message_build_chat_request (text, &len_half);
      if (!sc_v2_session_seal (session, SC_V2_CHAT, (const guint8 *) json_before, len_before,
                               out, &error) ||
          !sc_v2_session_seal (session, SC_V2_CHAT, (const guint8 *) json_half, len_half,
                               half, &error))
        die ("sealing", error);
    }

  /* the whole first record (after the v1 handshake frame), half the second */
  send_bytes (out->data, out->len);
  send_bytes (half->data, half->len / 2);
  printf ("half-sent %u of %u bytes\n", half->len / 2, half->len);
  fflush (stdout);
  for (;;)
    pause ();
}
