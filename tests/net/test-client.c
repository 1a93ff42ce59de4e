/* test-client.c: ScClient's trust decisions and failure reports
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <gio/gio.h>

#include "net-fixture.h"

static char *
read_file (const char *dir,
           const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  char *contents = NULL;

  g_file_get_contents (path, &contents, NULL, NULL);
  return contents;
}

/* ask: the caller is asked; yes pins and connects, no ends the attempt */
static void
test_trust_ask (void)
{
  TestServer *ts = test_server_new ();
  guint16 port = test_server_start (ts);
  TestClient *tc = test_client_new (1, SC_PROTOCOL_V2, "asker");
  g_autofree char *host_port = sc_trust_host_port ("127.0.0.1", port);
  g_autofree char *pinned = NULL;

  sc_client_set_trust_policy (tc->client, SC_TRUST_POLICY_ASK);
  sc_client_connect (tc->client, "127.0.0.1", port);
  fixture_wait (tc->trust_asked);
  g_assert_cmpint (sc_client_get_state (tc->client), ==, SC_CLIENT_WAITING_TRUST);
  sc_client_answer_trust (tc->client, FALSE);
  fixture_wait (tc->ended);
  g_assert_cmpint (tc->end, ==, SC_CLIENT_END_UNTRUSTED);
  g_assert_null (sc_trust_store_lookup_server (tc->trust, host_port));

  tc->trust_asked = tc->ended = FALSE;
  sc_client_connect (tc->client, "127.0.0.1", port);
  fixture_wait (tc->trust_asked);
  sc_client_answer_trust (tc->client, TRUE);
  fixture_wait (tc->connected || tc->ended);
  g_assert_true (tc->connected);
  pinned = sc_trust_store_lookup_server (tc->trust, host_port);
  g_assert_cmpstr (pinned, ==, sc_identity_get_fingerprint (fixture_identity (0)));

  /* next time it is simply pinned, then verified once marked */
  sc_client_disconnect (tc->client);
  fixture_wait (tc->ended);
  tc->trust_asked = FALSE;
  test_client_connect (tc, port);
  g_assert_false (tc->trust_asked);
  g_assert_cmpint (sc_client_get_trust_state (tc->client), ==, SC_TRUST_PINNED);
  g_assert_true (sc_trust_store_mark_verified (tc->trust, pinned, NULL));
  sc_client_disconnect (tc->client);
  fixture_wait (tc->ended);
  test_client_connect (tc, port);
  g_assert_cmpint (sc_client_get_trust_state (tc->client), ==, SC_TRUST_VERIFIED);

  test_client_free (tc);
  test_server_free (ts);
}

/* The server gives up while the user thinks: accepting reconnects */
static void
test_trust_ask_slow_answer (void)
{
  TestServer *ts = test_server_new ();
  TestClient *tc = test_client_new (1, SC_PROTOCOL_V2, "slow");
  guint16 port;

  g_object_set (ts->server, "handshake-timeout", 200, NULL);
  port = test_server_start (ts);
  sc_client_set_trust_policy (tc->client, SC_TRUST_POLICY_ASK);
  sc_client_connect (tc->client, "127.0.0.1", port);
  fixture_wait (tc->trust_asked);
  fixture_wait (has_string (ts->disconnects, "timed out"));
  g_assert_false (tc->ended);
  sc_client_answer_trust (tc->client, TRUE);
  fixture_wait (tc->connected || tc->ended);
  g_assert_true (tc->connected);
  test_client_free (tc);
  test_server_free (ts);
}

/* strict: an unknown key is refused and nothing is pinned */
static void
test_trust_strict (void)
{
  TestServer *ts = test_server_new ();
  guint16 port = test_server_start (ts);
  TestClient *tc = test_client_new (1, SC_PROTOCOL_V2, "strict");
  g_autofree char *file = NULL;

  sc_client_set_trust_policy (tc->client, SC_TRUST_POLICY_STRICT);
  sc_client_connect (tc->client, "127.0.0.1", port);
  fixture_wait (tc->ended);
  g_assert_cmpint (tc->end, ==, SC_CLIENT_END_UNTRUSTED);
  g_assert_false (tc->trust_asked);
  file = read_file (tc->dir, "known_servers");
  g_assert_null (file);
  test_client_free (tc);
  test_server_free (ts);
}

/* A changed key is refused under every policy, and the pin stays */
static void
test_key_changed (void)
{
  static const ScTrustPolicy policies[] = {
    SC_TRUST_POLICY_ASK, SC_TRUST_POLICY_ACCEPT_NEW, SC_TRUST_POLICY_STRICT,
  };
  TestServer *ts = test_server_new ();
  guint16 port = test_server_start (ts);
  TestClient *tc = test_client_new (1, SC_PROTOCOL_V2, "pinned");
  g_autofree char *host_port = sc_trust_host_port ("127.0.0.1", port);
  g_autofree char *before = NULL;
  guint i;

  /* pin another server's key for this host:port */
  g_assert_true (sc_trust_store_pin_server (tc->trust, host_port,
                   sc_identity_get_fingerprint (fixture_identity (5)), NULL));
  before = read_file (tc->dir, "known_servers");
  g_assert_nonnull (before);

  for (i = 0; i < G_N_ELEMENTS (policies); i++)
    {
      g_autofree char *after = NULL;

      tc->ended = FALSE;
      sc_client_set_trust_policy (tc->client, policies[i]);
      sc_client_connect (tc->client, "127.0.0.1", port);
      fixture_wait (tc->ended);
      g_assert_cmpint (tc->end, ==, SC_CLIENT_END_KEY_CHANGED);
      g_assert_false (tc->trust_asked);
      g_assert_nonnull (strstr (tc->end_message, sc_identity_get_fingerprint (fixture_identity (5))));
      g_assert_nonnull (strstr (tc->end_message, sc_identity_get_fingerprint (fixture_identity (0))));
      after = read_file (tc->dir, "known_servers");
      g_assert_cmpstr (after, ==, before);
    }
  g_assert_cmpuint (ts->ready, ==, 0);
  test_client_free (tc);
  test_server_free (ts);
}

/* A server that speaks only the seed protocol: it reads the first frame as
 * JSON, fails, and hangs up, as the original program did */
static gboolean
on_legacy_incoming (GSocketService    *service,
                    GSocketConnection *connection,
                    GObject           *source,
                    gpointer           data)
{
  GBytes *greeting = sc_identity_get_greeting (fixture_identity (4));
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (connection));
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (connection));
  char buf[256];

  g_output_stream_write_all (out, g_bytes_get_data (greeting, NULL), g_bytes_get_size (greeting),
                             NULL, NULL, NULL);
  g_input_stream_read (in, buf, sizeof buf, NULL, NULL);
  g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
  return TRUE;
}

static void
test_legacy_only_server (void)
{
  g_autoptr(GSocketService) service = g_threaded_socket_service_new (2);
  TestClient *tc = test_client_new (1, SC_PROTOCOL_V2, "modern");
  guint16 port;

  /* made here, not in the service's thread: fixture_identity() is not
   * thread-safe, and RSA key generation under valgrind takes longer than
   * the client's wait */
  fixture_identity (4);
  port = g_socket_listener_add_any_inet_port (G_SOCKET_LISTENER (service), NULL, NULL);
  g_signal_connect (service, "run", G_CALLBACK (on_legacy_incoming), NULL);
  g_socket_service_start (service);

  sc_client_connect (tc->client, "127.0.0.1", port);
  fixture_wait (tc->ended);
  g_assert_cmpint (tc->end, ==, SC_CLIENT_END_FAILED);
  g_assert_nonnull (strstr (tc->end_message, "legacy"));
  /* it did not fall back by itself */
  g_assert_cmpint (sc_client_get_protocol (tc->client), ==, SC_PROTOCOL_V2);

  g_socket_service_stop (service);
  g_socket_listener_close (G_SOCKET_LISTENER (service));
  test_client_free (tc);
}

static void
test_connection_refused (void)
{
  g_autoptr(GSocketListener) probe = g_socket_listener_new ();
  TestClient *tc = test_client_new (1, SC_PROTOCOL_V2, "nobody");
  guint16 port;

  /* a port that was free a moment ago */
  port = g_socket_listener_add_any_inet_port (probe, NULL, NULL);
  g_socket_listener_close (probe);
  sc_client_connect (tc->client, "127.0.0.1", port);
  fixture_wait (tc->ended);
  g_assert_cmpint (tc->end, ==, SC_CLIENT_END_FAILED);
  g_assert_nonnull (strstr (tc->end_message, "Cannot connect"));
  test_client_free (tc);
}

/* A server that stops without a Close is reported as lost */
static void
test_lost (void)
{
  TestServer *ts = test_server_new ();
  guint16 port = test_server_start (ts);
  TestClient *tc = test_client_new (1, SC_PROTOCOL_V2, "lost");
  g_autoptr(GSocketClient) sc = g_socket_client_new ();
  GSocketConnection *conn;

  /* a proxy would be more faithful; instead, connect a raw socket to the
   * server and drop it to see the server's "connection lost" */
  conn = g_socket_client_connect_to_host (sc, "127.0.0.1", port, NULL, NULL);
  g_assert_nonnull (conn);
  g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (conn)), "\0\0", 2,
                             NULL, NULL, NULL);
  g_object_unref (conn);
  fixture_wait (has_string (ts->disconnects, "connection lost"));

  test_client_connect (tc, port);
  test_client_free (tc);
  test_server_free (ts);
}

/* Sending checks its input before anything goes out */
static void
test_send_checks (void)
{
  TestServer *ts = test_server_new ();
  guint16 port = test_server_start (ts);
  TestClient *tc = test_client_new (1, SC_PROTOCOL_V2, "checker");
  g_autofree char *huge = g_strnfill (70000, 'h');
  g_autoptr(GError) error = NULL;

  g_assert_false (sc_client_send (tc->client, "early", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
  g_clear_error (&error);
  test_client_connect (tc, port);
  g_assert_false (sc_client_send (tc->client, huge, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE);
  g_clear_error (&error);
  g_assert_false (sc_client_send (tc->client, "bad \xff utf-8", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_true (sc_client_send (tc->client, "fine", NULL));
  fixture_wait (has_string (ts->messages, "checker: fine"));
  test_client_free (tc);
  test_server_free (ts);
}

static void
on_drained (ScClient *client,
            gpointer  data)
{
  (*(guint *) data)++;
}

/* A sender faster than the server queues, and hears when the queue is
 * written out; a message the socket takes at once is not reported */
static void
test_drained (void)
{
  TestServer *ts = test_server_new ();
  guint16 port = test_server_start (ts);
  TestClient *tc = test_client_new (1, SC_PROTOCOL_V2, "flood");
  g_autofree char *text = g_strnfill (60000, 'f');
  g_autofree char *last = NULL;
  guint drained = 0, sent = 0;

  g_signal_connect (tc->client, "drained", G_CALLBACK (on_drained), &drained);
  test_client_connect (tc, port);
  g_assert_true (sc_client_send (tc->client, "small", NULL));
  fixture_wait (has_string (ts->messages, "flood: small"));
  g_assert_cmpuint (drained, ==, 0);

  /* this thread owns the server's signals and does not dispatch them now,
   * so the server soon stops reading and the kernel's buffers fill */
  while (sc_client_get_queued (tc->client) == 0 && sent < 2000)
    {
      g_snprintf (text, 12, "%010u", sent++);
      text[10] = ' ';
      g_assert_true (sc_client_send (tc->client, text, NULL));
    }
  g_assert_cmpuint (sc_client_get_queued (tc->client), >, 0);
  g_test_message ("%u messages sent before one was queued", sent);
  fixture_wait (drained > 0);
  g_assert_cmpuint (sc_client_get_queued (tc->client), ==, 0);
  g_assert_cmpuint (drained, ==, 1);
  /* (by count: searching all of them after each one is slow under valgrind) */
  fixture_wait (ts->messages->len >= sent + 1);
  g_assert_cmpuint (ts->messages->len, ==, sent + 1);
  last = g_strdup_printf ("flood: %010u ", sent - 1);
  g_assert_true (g_str_has_prefix (g_ptr_array_index (ts->messages, sent), last));
  g_assert_true (tc->connected);
  test_client_free (tc);
  test_server_free (ts);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/client/trust-ask", test_trust_ask);
  g_test_add_func ("/client/trust-ask-slow-answer", test_trust_ask_slow_answer);
  g_test_add_func ("/client/trust-strict", test_trust_strict);
  g_test_add_func ("/client/key-changed", test_key_changed);
  g_test_add_func ("/client/legacy-only-server", test_legacy_only_server);
  g_test_add_func ("/client/connection-refused", test_connection_refused);
  g_test_add_func ("/client/lost", test_lost);
  g_test_add_func ("/client/send-checks", test_send_checks);
  g_test_add_func ("/client/drained", test_drained);

  return g_test_run ();
}
