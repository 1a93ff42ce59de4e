/* test-server.c: ScServer with real clients over loopback
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define _GNU_SOURCE  /* RTLD_NEXT */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>

#include "sc-frame.h"
#include "sc-v1.h"
#include "sc-v2.h"

#include "net-fixture.h"

#if __has_include (<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

/* Two v2 clients talk through the server; the server sees both messages */
static void
test_v2_relay (void)
{
  TestServer *ts = test_server_new ();
  guint16 port = test_server_start (ts);
  TestClient *alice = test_client_new (1, SC_PROTOCOL_V2, "alice");
  TestClient *bob = test_client_new (2, SC_PROTOCOL_V2, "bob");
  g_autoptr(GError) error = NULL;

  test_client_connect (alice, port);
  test_client_connect (bob, port);
  g_assert_cmpint (sc_client_get_trust_state (alice->client), ==, SC_TRUST_NEW);
  g_assert_cmpstr (sc_client_get_server_fingerprint (alice->client), ==,
                   sc_identity_get_fingerprint (fixture_identity (0)));
  g_assert_nonnull (sc_client_get_session_code (alice->client));
  fixture_wait (has_string (alice->events, "join bob"));

  g_assert_true (sc_client_send (alice->client, "hi bob", &error));
  g_assert_true (sc_client_send (bob->client, "hi alice", &error));
  fixture_wait (bob->messages->len == 1 && alice->messages->len == 1);
  g_assert_cmpstr (g_ptr_array_index (bob->messages, 0), ==, "alice: hi bob");
  g_assert_cmpstr (g_ptr_array_index (alice->messages, 0), ==, "bob: hi alice");
  fixture_wait (ts->messages->len == 2);
  g_assert_true (has_string (ts->messages, "alice: hi bob"));
  g_assert_true (has_string (ts->messages, "bob: hi alice"));

  /* bob leaves properly: alice hears of it, the server calls it closed */
  test_client_free (bob);
  fixture_wait (has_string (alice->events, "leave bob"));
  fixture_wait (has_string (ts->disconnects, "closed by peer"));

  test_client_free (alice);
  test_server_free (ts);
}

/* Three clients, every message reaches the two others, in order */
static void
test_three_clients (void)
{
  TestServer *ts = test_server_new ();
  guint16 port = test_server_start (ts);
  TestClient *c[3];
  guint i, j;

  for (i = 0; i < 3; i++)
    {
      g_autofree char *nick = g_strdup_printf ("user%u", i);

      c[i] = test_client_new (i + 1, SC_PROTOCOL_V2, nick);
      test_client_connect (c[i], port);
    }
  fixture_wait (ts->ready == 3);
  for (i = 0; i < 3; i++)
    for (j = 0; j < 5; j++)
      {
        g_autofree char *text = g_strdup_printf ("%u-%u", i, j);
        g_assert_true (sc_client_send (c[i]->client, text, NULL));
      }
  for (i = 0; i < 3; i++)
    fixture_wait (c[i]->messages->len == 10);
  for (i = 0; i < 3; i++)
    {
      guint seen[3] = { 0 };

      for (j = 0; j < c[i]->messages->len; j++)
        {
          const char *m = g_ptr_array_index (c[i]->messages, j);
          guint from, n;

          g_assert_cmpint (sscanf (m, "user%u: %*u-%u", &from, &n), ==, 2);
          g_assert_cmpuint (from, !=, i);
          g_assert_cmpuint (n, ==, seen[from]++);   /* in order per sender */
        }
    }
  for (i = 0; i < 3; i++)
    test_client_free (c[i]);
  test_server_free (ts);
}

/* v1 and v2 clients on one server relay to each other */
static void
test_mixed_relay (void)
{
  TestServer *ts = test_server_new ();
  guint16 port = test_server_start (ts);
  TestClient *legacy = test_client_new (1, SC_PROTOCOL_V1, "");
  TestClient *modern = test_client_new (2, SC_PROTOCOL_V2, "carol");

  test_client_connect (legacy, port);
  g_assert_cmpint (sc_client_get_trust_state (legacy->client), ==, SC_TRUST_LEGACY);
  g_assert_cmpstr (sc_client_get_server_fingerprint (legacy->client), ==,
                   sc_identity_get_rsa_fingerprint (fixture_identity (0)));
  test_client_connect (modern, port);
  fixture_wait (ts->ready == 2);

  g_assert_true (sc_client_send (legacy->client, "from the past", NULL));
  g_assert_true (sc_client_send (modern->client, "from the future", NULL));
  fixture_wait (legacy->messages->len == 1 && modern->messages->len == 1);
  /* v1 receives "nick: text" as plaintext */
  g_assert_cmpstr (g_ptr_array_index (legacy->messages, 0), ==, "carol: from the future");
  /* a v1 sender has no nickname: it is named by its address */
  g_assert_true (g_str_has_prefix (g_ptr_array_index (modern->messages, 0), "127.0.0.1:"));
  g_assert_true (g_str_has_suffix (g_ptr_array_index (modern->messages, 0), ": from the past"));

  test_client_free (legacy);
  test_client_free (modern);
  test_server_free (ts);
}

/* Stop closes every session properly; the port is free again at once */
static void
test_stop_restart (void)
{
  TestServer *ts = test_server_new ();
  guint16 port = test_server_start (ts);
  TestClient *a = test_client_new (1, SC_PROTOCOL_V2, "a");
  TestClient *b = test_client_new (2, SC_PROTOCOL_V1, "");
  g_autoptr(GError) error = NULL;

  test_client_connect (a, port);
  test_client_connect (b, port);
  fixture_wait (ts->ready == 2);
  sc_server_stop (ts->server);
  g_assert_false (sc_server_get_running (ts->server));
  fixture_wait (a->ended && b->ended);
  g_assert_cmpint (a->end, ==, SC_CLIENT_END_CLOSED);   /* a v2 Close arrived */

  g_object_set (ts->server, "port", (guint) port, NULL);
  g_assert_true (sc_server_start (ts->server, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (sc_server_get_port (ts->server), ==, port);
  a->connected = FALSE;
  test_client_connect (a, port);
  g_assert_true (sc_client_send (a->client, "again", NULL));
  fixture_wait (has_string (ts->messages, "a: again"));

  test_client_free (a);
  test_client_free (b);
  test_server_free (ts);
}

/* The listen backlog holds a burst of connections (GIO's default is 10:
 * past it the kernel answers with SYN cookies and clients waiting for
 * our greeting could hang) */
static void
test_listen_backlog (void)
{
  TestServer *ts = test_server_new ();
  guint16 port = test_server_start (ts);
  g_autofree char *filter = g_strdup_printf ("sport = :%u", port);
  const char *argv[] = { "ss", "-ltnH", filter, NULL };
  g_autofree char *out = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) fields = NULL;
  int status;

  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                               &out, NULL, &status, &error));
  g_assert_no_error (error);
  /* State Recv-Q Send-Q ...: for a listening socket Send-Q is the backlog */
  fields = g_strsplit_set (g_strstrip (out), " \t", -1);
  {
    guint i, n = 0;
    const char *send_q = NULL;

    for (i = 0; fields[i] != NULL; i++)
      if (fields[i][0] != '\0' && ++n == 3)
        send_q = fields[i];
    g_assert_nonnull (send_q);
    g_assert_cmpint (atoi (send_q), ==, SC_LISTEN_BACKLOG);
  }
  test_server_free (ts);
}

/* A second server on a port in use fails with a message naming it */
static void
test_port_in_use (void)
{
  TestServer *ts = test_server_new ();
  guint16 port = test_server_start (ts);
  TestServer *other = test_server_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *expected = g_strdup_printf ("port %u", port);

  g_object_set (other->server, "port", (guint) port, NULL);
  g_assert_false (sc_server_start (other->server, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
  g_assert_nonnull (strstr (error->message, expected));
  g_assert_false (sc_server_get_running (other->server));
  test_server_free (other);
  test_server_free (ts);
}

/* With the allow-list on, unknown keys get a Reject; approved ones enter */
static void
test_allow_list (void)
{
  TestServer *ts = test_server_new ();
  TestClient *stranger = test_client_new (1, SC_PROTOCOL_V2, "stranger");
  TestClient *friend = test_client_new (2, SC_PROTOCOL_V2, "friend");
  g_autoptr(GError) error = NULL;
  guint16 port;

  g_assert_true (sc_trust_store_authorize_client (ts->trust,
                   sc_identity_get_fingerprint (fixture_identity (2)), "friend", &error));
  g_object_set (ts->server, "allow-list", TRUE, NULL);
  port = test_server_start (ts);

  sc_client_connect (stranger->client, "127.0.0.1", port);
  fixture_wait (stranger->ended);
  g_assert_cmpint (stranger->end, ==, SC_CLIENT_END_REJECTED);
  g_assert_nonnull (strstr (stranger->end_message, "approved"));
  fixture_wait (has_string (ts->disconnects, "allow-list"));

  test_client_connect (friend, port);
  test_client_free (stranger);
  test_client_free (friend);
  test_server_free (ts);
}

/* ---- raw peers, for what a well-behaved ScClient never does ---- */

typedef struct {
  GSocketConnection *conn;
  GSocket           *socket;
  ScFrameReader     *reader;
  ScV2Session       *session;
} RawPeer;

static void
raw_read_frame (RawPeer *p,
                ScFrame *frame)
{
  g_autoptr(GError) error = NULL;

  while (!sc_frame_reader_next (p->reader, frame, &error))
    {
      guint8 buf[4096];
      gssize n;

      g_assert_no_error (error);
      n = g_socket_receive (p->socket, (char *) buf, sizeof buf, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpint (n, >, 0);
      sc_frame_reader_feed (p->reader, buf, (gsize) n);
    }
}

static void
raw_send (RawPeer    *p,
          GByteArray *data)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (p->conn)),
                                            data->data, data->len, NULL, NULL, &error));
  g_assert_no_error (error);
  g_byte_array_set_size (data, 0);
}

/* Connects with blocking I/O on this thread and finishes a v2 handshake */
static RawPeer *
raw_v2_peer (guint16     port,
             const char *nick,
             int         rcvbuf)
{
  RawPeer *p = g_new0 (RawPeer, 1);
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  ScFrame frame;
  ScV2Type type;
  guint8 *pt;
  gsize len;

  p->conn = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, &error);
  g_assert_no_error (error);
  p->socket = g_socket_connection_get_socket (p->conn);
  if (rcvbuf > 0)
    g_socket_set_option (p->socket, SOL_SOCKET, SO_RCVBUF, rcvbuf, NULL);
  p->reader = sc_frame_reader_new (SC_FRAME_GREETING_V2);
  p->session = sc_v2_session_new (SC_V2_ROLE_CLIENT, fixture_identity (3), NULL);

  raw_read_frame (p, &frame);
  g_assert_true (sc_v2_client_start (p->session, frame.data, frame.len, out, NULL));
  raw_send (p, out);
  raw_read_frame (p, &frame);
  g_assert_true (sc_v2_client_consume_server_hello (p->session, frame.data, frame.len, NULL));
  g_assert_true (sc_v2_client_send_auth (p->session, nick, out, NULL));
  raw_send (p, out);
  raw_read_frame (p, &frame);
  g_assert_true (sc_v2_session_open (p->session, frame.data, frame.len, &type, &pt, &len, NULL));
  g_assert_cmpint (type, ==, SC_V2_WELCOME);
  sc_frame_reader_set_limit (p->reader, sc_v2_session_get_frame_limit (p->session));
  return p;
}

static void
raw_peer_free (RawPeer *p)
{
  g_io_stream_close (G_IO_STREAM (p->conn), NULL, NULL);
  g_object_unref (p->conn);
  sc_frame_reader_free (p->reader);
  sc_v2_session_free (p->session);
  g_free (p);
}

typedef struct {
  guint16  port;
  RawPeer *peer;
  gboolean done;
} RawTask;

static gpointer
raw_connect_thread (gpointer data)
{
  RawTask *t = data;

  t->peer = raw_v2_peer (t->port, "sloth", 4096);
  g_atomic_int_set (&t->done, TRUE);
  /* the test's loop may already be asleep in poll() */
  g_main_context_wakeup (NULL);
  return NULL;
}

/* A client that never reads is cut off once its queue fills; the others
 * keep getting every message meanwhile */
static void
test_slow_reader (void)
{
  TestServer *ts = test_server_new ();
  TestClient *alice = test_client_new (1, SC_PROTOCOL_V2, "alice");
  TestClient *bob = test_client_new (2, SC_PROTOCOL_V2, "bob");
  g_autofree char *big = g_strnfill (60000, 'x');
  RawTask task = { 0 };
  GThread *thread;
  guint i, sent = 0;

  g_object_set (ts->server, "send-queue-max", (guint64) 256 * 1024, NULL);
  task.port = test_server_start (ts);
  test_client_connect (alice, task.port);
  test_client_connect (bob, task.port);
  /* the raw handshake blocks, so it runs beside this main loop */
  thread = g_thread_new ("raw", raw_connect_thread, &task);
  fixture_wait (g_atomic_int_get (&task.done));
  g_thread_join (thread);
  fixture_wait (ts->ready == 3);

  /* far more than socket buffers and the queue can hold for the sloth */
  for (i = 0; i < 200 && !has_string (ts->disconnects, "not reading"); i++)
    {
      g_assert_true (sc_client_send (alice->client, big, NULL));
      sent++;
      fixture_wait (bob->messages->len == sent);
    }
  fixture_wait (has_string (ts->disconnects, "not reading"));
  g_test_message ("the sloth was cut off after %u messages of 60 kB", sent);

  /* and the room goes on */
  g_assert_true (sc_client_send (bob->client, "still here", NULL));
  fixture_wait (alice->messages->len == 1);
  g_assert_cmpstr (g_ptr_array_index (alice->messages, 0), ==, "bob: still here");

  raw_peer_free (task.peer);
  test_client_free (alice);
  test_client_free (bob);
  test_server_free (ts);
}

/* Many records written in one send() all arrive, in order: short ones,
 * which the server sends on at the end of its batch, and 1 kB ones, which
 * it sends whenever 16 kB wait for a member */
static void
test_back_to_back (void)
{
  TestServer *ts = test_server_new ();
  guint16 port = test_server_start (ts);
  TestClient *bob = test_client_new (2, SC_PROTOCOL_V2, "bob");
  g_autofree char *pad = g_strnfill (1000, 'x');
  RawPeer *p;
  guint i, round;

  test_client_connect (bob, port);
  p = raw_v2_peer (port, "burst", 0);
  for (round = 0; round < 2; round++)
    {
      g_autoptr(GByteArray) out = g_byte_array_new ();

      for (i = 0; i < 50; i++)
        {
          g_autofree char *json = g_strdup_printf ("{\"text\": \"burst %u %s\"}", i,
                                                   round == 0 ? "" : pad);
          g_assert_true (sc_v2_session_seal (p->session, SC_V2_CHAT, (const guint8 *) json,
                                             strlen (json), out, NULL));
        }
      raw_send (p, out);
    }
  fixture_wait (bob->messages->len == 100);
  for (i = 0; i < 100; i++)
    {
      g_autofree char *expected = g_strdup_printf ("burst: burst %u %s", i % 50,
                                                   i < 50 ? "" : pad);
      g_assert_cmpstr (g_ptr_array_index (bob->messages, i), ==, expected);
    }
  raw_peer_free (p);
  test_client_free (bob);
  test_server_free (ts);
}

/* While the owner's thread takes no "message" signals, a flooding client
 * is no longer read once the queue for the owner is full: its sends stop
 * going through (with a 64 MiB flood, TCP's buffers alone would not stop
 * it).  When the owner catches up, every message arrives, in order. */
static void
test_owner_behind (void)
{
  TestServer *ts = test_server_new ();
  guint16 port;
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autofree char *filler = g_strnfill (4000, 'f');
  g_autoptr(GError) error = NULL;
  RawPeer *p;
  gsize sent = 0, off = 0;
  guint sealed = 0, stalls = 0;

  /* the flood is not read for a second or more: that is not idling */
  g_object_set (ts->server, "idle-timeout", 300, NULL);
  port = test_server_start (ts);
  p = raw_v2_peer (port, "flood", 0);
  g_socket_set_blocking (p->socket, FALSE);
  while (sent < 64 * 1024 * 1024 && stalls < 20)
    {
      gssize n;

      if (off == out->len)
        {
          g_autofree char *json = g_strdup_printf ("{\"text\": \"%u %s\"}", sealed++, filler);

          g_byte_array_set_size (out, 0);
          off = 0;
          g_assert_true (sc_v2_session_seal (p->session, SC_V2_CHAT, (const guint8 *) json,
                                             strlen (json), out, NULL));
        }
      n = g_socket_send (p->socket, (const char *) out->data + off, out->len - off, NULL, &error);
      if (n < 0)
        {
          g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
          g_clear_error (&error);
          stalls++;
          g_usleep (50 * 1000);
          continue;
        }
      stalls = 0;
      off += (gsize) n;
      sent += (gsize) n;
    }
  g_test_message ("the server stopped reading after %" G_GSIZE_FORMAT " bytes, %u messages",
                  sent, sealed);
  g_assert_cmpuint (stalls, ==, 20);
  g_assert_cmpuint (ts->messages->len, ==, 0);

  /* the owner catches up */
  while (off < out->len)
    {
      gssize n = g_socket_send (p->socket, (const char *) out->data + off, out->len - off,
                                NULL, NULL);

      if (n > 0)
        off += (gsize) n;
      g_main_context_iteration (NULL, FALSE);
    }
  fixture_wait (ts->messages->len == sealed);
  g_assert_cmpuint (ts->disconnects->len, ==, 0);
  for (guint i = 0; i < sealed; i += sealed - 1)
    {
      g_autofree char *expected = g_strdup_printf ("flood: %u %s", i, filler);

      g_assert_cmpstr (g_ptr_array_index (ts->messages, i), ==, expected);
    }
  raw_peer_free (p);
  test_server_free (ts);
}

/* Large texts reach the "message" signal in their record's own buffer,
 * which then comes back for later records: a burst of large, small and
 * escaped texts, written in one send(), arrives intact and in order, at
 * the server and relayed */
static void
test_large_messages (void)
{
  TestServer *ts = test_server_new ();
  guint16 port = test_server_start (ts);
  TestClient *bob = test_client_new (2, SC_PROTOCOL_V2, "bob");
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autoptr(GPtrArray) texts = g_ptr_array_new_with_free_func (g_free);
  RawPeer *p;
  guint i;

  test_client_connect (bob, port);
  p = raw_v2_peer (port, "big", 0);
  for (i = 0; i < 24; i++)
    {
      /* the largest a client may send, with the escape below (a record
       * holds 65,536 bytes, less the relay's headroom); every third small */
      const gsize largest = SC_V2_MESSAGE_MAX_DEFAULT - SC_V2_RELAY_HEADROOM - 14;
      gsize size = i == 0 ? largest : i % 3 == 2 ? 10 + i : 4096 + (i * 2741) % (largest - 4096);
      char *text = g_malloc (size + 1);
      g_autofree char *json = NULL;
      gsize j;

      for (j = 0; j < size; j++)
        text[j] = 'a' + (char) ((i + j) % 26);
      text[size] = '\0';
      if (i % 4 == 0)
        {
          /* a quote to unescape: the general parser's way */
          json = g_strdup_printf ("{\"text\": \"%.*s\\\"%s\"}", 5, text, text + 5);
          g_ptr_array_add (texts, g_strdup_printf ("%.*s\"%s", 5, text, text + 5));
          g_free (text);
        }
      else
        {
          json = g_strdup_printf ("{\"text\": \"%s\"}", text);
          g_ptr_array_add (texts, text);
        }
      g_assert_true (sc_v2_session_seal (p->session, SC_V2_CHAT, (const guint8 *) json,
                                         strlen (json), out, NULL));
    }
  raw_send (p, out);
  fixture_wait (ts->messages->len == texts->len && bob->messages->len == texts->len);
  for (i = 0; i < texts->len; i++)
    {
      g_autofree char *expected = g_strdup_printf ("big: %s", (char *) g_ptr_array_index (texts, i));

      g_assert_cmpstr (g_ptr_array_index (ts->messages, i), ==, expected);
      g_assert_cmpstr (g_ptr_array_index (bob->messages, i), ==, expected);
    }
  raw_peer_free (p);

  /* A text that fits a record but not once the server has added its
   * sender's name: refused with its sender, and its receivers stay */
  p = raw_v2_peer (port, "huge", 0);
  {
    g_autofree char *text = g_strnfill (SC_V2_MESSAGE_MAX_DEFAULT - 12, 'h');
    g_autofree char *json = g_strdup_printf ("{\"text\":\"%s\"}", text);

    g_byte_array_set_size (out, 0);
    g_assert_true (sc_v2_session_seal (p->session, SC_V2_CHAT, (const guint8 *) json,
                                       strlen (json), out, NULL));
    raw_send (p, out);
  }
  fixture_wait (has_string (ts->disconnects, "too long to pass on"));
  g_assert_cmpuint (ts->messages->len, ==, texts->len);
  g_assert_true (sc_client_send (bob->client, "still here", NULL));
  fixture_wait (ts->messages->len == texts->len + 1);
  g_assert_cmpuint (bob->messages->len, ==, texts->len);
  g_assert_cmpint (sc_client_get_state (bob->client), ==, SC_CLIENT_CONNECTED);
  raw_peer_free (p);

  test_client_free (bob);
  test_server_free (ts);
}

typedef struct {
  guint16  port;
  guint    n;
  gboolean done;
} V1FloodTask;

/* A seed client's way: the handshake and, right behind it in one write,
 * far more messages than the server would hold while it computes */
static gpointer
v1_flood_thread (gpointer data)
{
  V1FloodTask *t = data;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(ScV1Session) session = NULL;
  g_autoptr(EVP_PKEY) server_pub = NULL;
  RawPeer p = { 0 };
  ScFrame frame;
  guint i;

  p.conn = g_socket_client_connect_to_host (client, "127.0.0.1", t->port, NULL, &error);
  g_assert_no_error (error);
  p.socket = g_socket_connection_get_socket (p.conn);
  p.reader = sc_frame_reader_new (SC_FRAME_GREETING_V1);
  raw_read_frame (&p, &frame);
  server_pub = sc_v1_parse_greeting (frame.data, frame.len, &error);
  g_assert_no_error (error);
  session = sc_v1_client_handshake (server_pub, sc_identity_get_rsa (fixture_identity (3)), NULL,
                                    out, &error);
  g_assert_no_error (error);
  for (i = 0; i < t->n; i++)
    {
      g_autofree char *text = g_strdup_printf ("%u %s", i, "flood");
      g_autofree char *padded = g_strdup_printf ("%-60000s|", text);

      g_assert_true (sc_v1_seal (session, padded, strlen (padded), out, NULL));
    }
  g_assert_cmpuint (out->len, >, 2 * 1024 * 1024);
  raw_send (&p, out);
  g_atomic_int_set (&t->done, TRUE);
  g_main_context_wakeup (NULL);
  /* the server reads on; then it goes */
  sc_frame_reader_free (p.reader);
  g_object_unref (p.conn);
  return NULL;
}

/* The server leaves a seed client's messages in the socket while it
 * computes the handshake, and then reads them all: not one is lost, and
 * the client is not cut off for sending them early */
static void
test_v1_flood_behind_handshake (void)
{
  TestServer *ts = test_server_new ();
  V1FloodTask task = { .n = 30 };
  GThread *thread;
  guint i;

  task.port = test_server_start (ts);
  thread = g_thread_new ("v1-flood", v1_flood_thread, &task);
  fixture_wait (ts->messages->len == task.n);
  g_thread_join (thread);
  g_assert_true (g_atomic_int_get (&task.done));
  for (i = 0; i < task.n; i++)
    {
      const char *line = g_ptr_array_index (ts->messages, i);
      g_autofree char *prefix = g_strdup_printf ("%u flood", i);

      g_assert_nonnull (strstr (line, prefix));
      g_assert_true (g_str_has_suffix (line, "|"));
    }
  g_assert_false (has_string (ts->disconnects, "handshake"));
  test_server_free (ts);
}

/* A connection that never finishes its handshake is closed, alone */
static void
test_handshake_timeout (void)
{
  TestServer *ts = test_server_new ();
  g_autoptr(GSocketClient) sc = g_socket_client_new ();
  g_autoptr(GSocketConnection) idle = NULL;
  TestClient *alice = NULL;
  guint16 port;

  g_object_set (ts->server, "handshake-timeout", 300, NULL);
  port = test_server_start (ts);
  idle = g_socket_client_connect_to_host (sc, "127.0.0.1", port, NULL, NULL);
  g_assert_nonnull (idle);
  fixture_wait (has_string (ts->disconnects, "handshake timed out"));

  alice = test_client_new (1, SC_PROTOCOL_V2, "alice");
  test_client_connect (alice, port);
  test_client_free (alice);
  test_server_free (ts);
}

static gboolean
ping_cb (gpointer data)
{
  TestClient *tc = data;
  static guint n;
  g_autofree char *text = g_strdup_printf ("ping %u", n++);

  g_assert_true (sc_client_send (tc->client, text, NULL));
  return G_SOURCE_CONTINUE;
}

/* With idle-timeout, clients that send nothing are sent Close and cut off,
 * v2 and v1 alike; one that keeps talking stays until it too goes quiet */
static void
test_idle_timeout (void)
{
  static const char reason[] = "idle: nothing received for 1.5 s";
  TestServer *ts = test_server_new ();
  TestClient *alice = test_client_new (1, SC_PROTOCOL_V2, "alice");
  TestClient *bob = test_client_new (2, SC_PROTOCOL_V2, "bob");
  TestClient *old = test_client_new (3, SC_PROTOCOL_V1, "");
  gint64 start;
  guint16 port;
  guint ping;

  g_object_set (ts->server, "idle-timeout", 1500, NULL);
  port = test_server_start (ts);
  test_client_connect (alice, port);
  ping = g_timeout_add (200, ping_cb, alice);
  start = g_get_monotonic_time ();
  test_client_connect (bob, port);
  test_client_connect (old, port);

  fixture_wait (bob->ended && old->ended);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 1500 * 1000);
  g_assert_cmpint (bob->end, ==, SC_CLIENT_END_CLOSED);
  fixture_wait (count_string (ts->disconnects, reason) == 2);
  g_assert_false (alice->ended);
  g_assert_cmpuint (sc_server_get_n_clients (ts->server), ==, 1);

  /* the pings got through all along; now alice goes quiet too */
  fixture_wait (ts->messages->len >= 8);
  g_source_remove (ping);
  fixture_wait (alice->ended);
  g_assert_cmpint (alice->end, ==, SC_CLIENT_END_CLOSED);
  fixture_wait (count_string (ts->disconnects, reason) == 3);
  g_assert_cmpuint (ts->disconnects->len, ==, 3);

  test_client_free (alice);
  test_client_free (bob);
  test_client_free (old);
  test_server_free (ts);
}

/* Garbage from one connection closes that connection only */
static void
test_bad_peer_isolated (void)
{
  static const char *garbage[] = {
    "\x00\x00\x10\x00\x01",            /* v2 frame above the handshake limit */
    "\x00\x00\x00\x42\x01\x07",        /* ClientHello for version 7 (then cut) */
    "{\"enc_session\": \"!!\", \"client_pub\": \"QQ==\", \"client_sig\": \"QQ==\"}\n\n",
  };
  TestServer *ts = test_server_new ();
  guint16 port = test_server_start (ts);
  TestClient *alice = test_client_new (1, SC_PROTOCOL_V2, "alice");
  TestClient *bob = test_client_new (2, SC_PROTOCOL_V2, "bob");
  guint i;

  test_client_connect (alice, port);
  test_client_connect (bob, port);
  for (i = 0; i < G_N_ELEMENTS (garbage); i++)
    {
      g_autoptr(GSocketClient) sc = g_socket_client_new ();
      g_autoptr(GSocketConnection) conn = g_socket_client_connect_to_host (sc, "127.0.0.1", port, NULL, NULL);
      guint before = ts->disconnects->len;
      gsize len = i < 2 ? (i == 0 ? 5 : 6) : strlen (garbage[i]);

      g_assert_nonnull (conn);
      g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (conn)),
                                 garbage[i], len, NULL, NULL, NULL);
      if (i == 1)
        {
          /* the rest of a 66-byte ClientHello */
          guint8 zeros[64] = { 0 };
          g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (conn)),
                                     zeros, sizeof zeros, NULL, NULL, NULL);
        }
      fixture_wait (ts->disconnects->len == before + 1);
      g_test_message ("garbage %u: %s", i, (char *) g_ptr_array_index (ts->disconnects, before));
    }
  g_assert_true (has_string (ts->disconnects, "larger than allowed"));
  g_assert_true (has_string (ts->disconnects, "version"));
  g_assert_true (has_string (ts->disconnects, "base64"));

  g_assert_true (sc_client_send (alice->client, "unbothered", NULL));
  fixture_wait (bob->messages->len == 1);
  test_client_free (alice);
  test_client_free (bob);
  test_server_free (ts);
}

/* Past max-clients, new connections are closed at once */
static void
test_max_clients (void)
{
  TestServer *ts = test_server_new ();
  TestClient *a = test_client_new (1, SC_PROTOCOL_V2, "a");
  TestClient *b = test_client_new (2, SC_PROTOCOL_V2, "b");
  guint16 port;

  g_object_set (ts->server, "max-clients", 1, NULL);
  port = test_server_start (ts);
  test_client_connect (a, port);
  sc_client_connect (b->client, "127.0.0.1", port);
  fixture_wait (b->ended);
  g_assert_cmpint (b->end, ==, SC_CLIENT_END_FAILED);
  g_assert_cmpuint (sc_server_get_n_clients (ts->server), ==, 1);
  test_client_free (a);
  test_client_free (b);
  test_server_free (ts);
}

static void
on_accept_failed (ScServer   *server,
                  const char *error,
                  guint       retry_ms,
                  gpointer    data)
{
  g_test_message ("accept-failed: %s (retry every %u ms)", error, retry_ms);
  g_assert_cmpuint (retry_ms, >, 0);
  (*(guint *) data)++;
}

static gint64
cpu_time_us (void)
{
  struct rusage usage;

  g_assert_cmpint (getrusage (RUSAGE_SELF, &usage), ==, 0);
  return (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * G_USEC_PER_SEC +
         usage.ru_utime.tv_usec + usage.ru_stime.tv_usec;
}

/* Out of descriptors for reasons of its own, the process cannot accept:
 * the server says so once, waits instead of spinning on the readable
 * listener, and takes the waiting connection once descriptors are free */
static void
test_accept_failed (void)
{
  TestServer *ts = test_server_new ();
  TestClient *alice = test_client_new (1, SC_PROTOCOL_V2, "alice");
  g_autoptr(GArray) fillers = g_array_new (FALSE, FALSE, sizeof (int));
  g_autoptr(GSocket) waiting = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GError) error = NULL;
  struct rlimit saved, low;
  guint failed = 0, i;
  gboolean rested = FALSE;
  gint64 cpu;
  guint16 port;
  char greeting[16];
  int fd;

  g_object_set (ts->server, "max-clients", 4, NULL);
  g_signal_connect (ts->server, "accept-failed", G_CALLBACK (on_accept_failed), &failed);
  port = test_server_start (ts);
  waiting = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_socket_set_timeout (waiting, 30);

  /* every descriptor taken, under a limit low enough to fill quickly */
  g_assert_cmpint (getrlimit (RLIMIT_NOFILE, &saved), ==, 0);
  low = saved;
  low.rlim_cur = MIN (saved.rlim_cur, 4096);
  g_assert_cmpint (setrlimit (RLIMIT_NOFILE, &low), ==, 0);
  fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  g_assert_cmpint (fd, >=, 0);
  do
    g_array_append_val (fillers, fd);
  while ((fd = dup (fd)) >= 0);
  g_assert_cmpint (errno, ==, EMFILE);

  address = g_inet_socket_address_new_from_string ("127.0.0.1", port);
  g_assert_true (g_socket_connect (waiting, address, NULL, &error));
  g_assert_no_error (error);
  fixture_wait (failed == 1);

  /* a second of failing accepts: no second report, and no busy loop */
  cpu = cpu_time_us ();
  g_timeout_add (1000, fixture_set_flag, &rested);
  fixture_wait (rested);
  cpu = cpu_time_us () - cpu;
  g_test_message ("CPU over the second: %" G_GINT64_FORMAT " µs", cpu);
  g_assert_cmpint (cpu, <, G_USEC_PER_SEC / 4);
  g_assert_cmpuint (failed, ==, 1);
  g_assert_cmpuint (sc_server_get_n_clients (ts->server), ==, 0);

  for (i = 0; i < fillers->len; i++)
    close (g_array_index (fillers, int, i));
  g_assert_cmpint (setrlimit (RLIMIT_NOFILE, &saved), ==, 0);

  /* the connection that waited is served: it gets the greeting.  (Not
   * under valgrind, which keeps a lower limit than the kernel's: there the
   * kernel's accept succeeds and valgrind closes the descriptor.) */
  if (!RUNNING_ON_VALGRIND)
    {
      g_assert_cmpint (g_socket_receive (waiting, greeting, sizeof greeting, NULL, &error), >, 0);
      g_assert_no_error (error);
    }
  test_client_connect (alice, port);
  g_assert_cmpuint (failed, ==, 1);
  g_assert_cmpuint (sc_server_get_n_clients (ts->server), ==, RUNNING_ON_VALGRIND ? 1 : 2);

  test_client_free (alice);
  test_server_free (ts);
}

/* accept4() as the kernel's, except that the calls counted in
 * fail_accepts fail with its errno values, one per call, after taking a
 * connection and dropping it if .take (accept(2)'s errors of a connection
 * that failed while queued), or leaving it queued if not.  An errno of 0
 * instead returns a descriptor that is not a socket (a pipe's read end,
 * whose write end is kept in .pipe_write), in place of the connection. */
static struct {
  int      errors[256];
  int      n_errors;
  gboolean take;
  int      pipe_write;
  int      done;  /* atomic */
} fail_accepts;

int accept4 (int fd, struct sockaddr *addr, socklen_t *addr_len, int flags);

int
accept4 (int              fd,
         struct sockaddr *addr,
         socklen_t       *addr_len,
         int              flags)
{
  static int (*real) (int, struct sockaddr *, socklen_t *, int);
  int done = g_atomic_int_get (&fail_accepts.done);

  if (real == NULL)
    real = (int (*) (int, struct sockaddr *, socklen_t *, int)) dlsym (RTLD_NEXT, "accept4");
  if (done >= fail_accepts.n_errors)
    return real (fd, addr, addr_len, flags);
  if (fail_accepts.take)
    {
      int taken = real (fd, addr, addr_len, flags);

      if (taken < 0)
        return taken;
      close (taken);
    }
  g_atomic_int_set (&fail_accepts.done, done + 1);
  if (fail_accepts.errors[done] == 0)
    {
      int p[2];

      g_assert_cmpint (pipe2 (p, O_CLOEXEC), ==, 0);
      fail_accepts.pipe_write = p[1];
      return p[0];
    }
  errno = fail_accepts.errors[done];
  return -1;
}

static void
fail_accepts_set (const int *errors,
                  guint      n_errors,
                  gboolean   take)
{
  g_assert_cmpuint (n_errors, <=, G_N_ELEMENTS (fail_accepts.errors));
  memcpy (fail_accepts.errors, errors, n_errors * sizeof *errors);
  fail_accepts.n_errors = (int) n_errors;
  fail_accepts.take = take;
  g_atomic_int_set (&fail_accepts.done, 0);
}

/* An accept() error that is one connection's own (the peer reset it while
 * it waited, say) costs that connection alone: no "accept-failed", no rest,
 * and the next connection in the queue is served.  So does a descriptor
 * that GIO cannot take, which is closed, not leaked. */
static void
test_accept_error_one_connection (void)
{
  static const int errors[] = { EPROTO, ECONNABORTED, ENETUNREACH, EPERM, 0 };
  TestServer *ts = test_server_new ();
  TestClient *alice = test_client_new (1, SC_PROTOCOL_V2, "alice");
  GSocket *dropped[G_N_ELEMENTS (errors)];
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GError) error = NULL;
  guint failed = 0, i;
  guint16 port;
  char greeting[16];

  g_signal_connect (ts->server, "accept-failed", G_CALLBACK (on_accept_failed), &failed);
  port = test_server_start (ts);
  address = g_inet_socket_address_new_from_string ("127.0.0.1", port);
  fail_accepts_set (errors, G_N_ELEMENTS (errors), TRUE);

  /* the first connections in the queue are the ones that fail */
  for (i = 0; i < G_N_ELEMENTS (dropped); i++)
    {
      dropped[i] = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP, &error);
      g_assert_no_error (error);
      g_socket_set_timeout (dropped[i], 30);
      g_assert_true (g_socket_connect (dropped[i], address, NULL, &error));
      g_assert_no_error (error);
    }
  test_client_connect (alice, port);
  g_assert_cmpint (g_atomic_int_get (&fail_accepts.done), ==, G_N_ELEMENTS (errors));
  g_assert_cmpuint (failed, ==, 0);
  g_assert_cmpuint (sc_server_get_n_clients (ts->server), ==, 1);
  /* the pipe's read end was closed (GLib ignores SIGPIPE) */
  g_assert_cmpint (write (fail_accepts.pipe_write, "x", 1), ==, -1);
  g_assert_cmpint (errno, ==, EPIPE);
  close (fail_accepts.pipe_write);

  /* the failed ones were closed without a greeting */
  for (i = 0; i < G_N_ELEMENTS (dropped); i++)
    {
      gssize n = g_socket_receive (dropped[i], greeting, sizeof greeting, NULL, &error);

      g_assert_true (n == 0 || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED));
      g_clear_error (&error);
      g_object_unref (dropped[i]);
    }

  test_client_free (alice);
  test_server_free (ts);
}

/* The same errors without a connection taken, as a denial of accept()
 * itself would give: the listener would stay readable, so after a batch of
 * them it rests and the owner hears once, instead of spinning */
static void
test_accept_error_persistent (void)
{
  int errors[200];
  TestServer *ts = test_server_new ();
  TestClient *alice = test_client_new (1, SC_PROTOCOL_V2, "alice");
  guint failed = 0, i;
  guint16 port;

  for (i = 0; i < G_N_ELEMENTS (errors); i++)
    errors[i] = EPERM;
  g_signal_connect (ts->server, "accept-failed", G_CALLBACK (on_accept_failed), &failed);
  port = test_server_start (ts);
  fail_accepts_set (errors, G_N_ELEMENTS (errors), FALSE);

  sc_client_connect (alice->client, "127.0.0.1", port);
  fixture_wait (failed == 1);
  fixture_wait (alice->connected || alice->ended);
  g_assert_true (alice->connected);
  g_assert_cmpint (g_atomic_int_get (&fail_accepts.done), ==, G_N_ELEMENTS (errors));
  g_assert_cmpuint (failed, ==, 1);

  test_client_free (alice);
  test_server_free (ts);
}

/* With legacy off, a v1 client is refused */
static void
test_no_legacy (void)
{
  TestServer *ts = test_server_new ();
  TestClient *old = test_client_new (1, SC_PROTOCOL_V1, "");
  guint16 port;

  g_object_set (ts->server, "allow-legacy", FALSE, NULL);
  port = test_server_start (ts);
  sc_client_connect (old->client, "127.0.0.1", port);
  fixture_wait (has_string (ts->disconnects, "legacy"));
  fixture_wait (old->ended);
  test_client_free (old);
  test_server_free (ts);
}

/* The server can disconnect one client on the operator's request */
static void
test_disconnect_client (void)
{
  TestServer *ts = test_server_new ();
  guint16 port = test_server_start (ts);
  TestClient *a = test_client_new (1, SC_PROTOCOL_V2, "a");

  test_client_connect (a, port);
  fixture_wait (ts->ready == 1);
  sc_server_disconnect_client (ts->server, 1);
  fixture_wait (a->ended);
  g_assert_cmpint (a->end, ==, SC_CLIENT_END_CLOSED);
  fixture_wait (has_string (ts->disconnects, "operator"));
  test_client_free (a);
  test_server_free (ts);
}

/* Join and leave are announced only in rooms up to "presence-limit";
 * messages still reach everyone */
static void
test_presence_limit (void)
{
  TestServer *ts = test_server_new ();
  guint16 port;
  TestClient *alice = test_client_new (1, SC_PROTOCOL_V2, "alice");
  TestClient *bob = test_client_new (2, SC_PROTOCOL_V2, "bob");
  TestClient *carol = test_client_new (3, SC_PROTOCOL_V2, "carol");

  g_object_set (ts->server, "presence-limit", 2, NULL);
  port = test_server_start (ts);
  test_client_connect (alice, port);
  test_client_connect (bob, port);
  fixture_wait (has_string (alice->events, "join bob"));

  /* a third member makes the room larger than the limit */
  test_client_connect (carol, port);
  fixture_wait (ts->ready == 3);
  g_assert_true (sc_client_send (carol->client, "hello", NULL));
  fixture_wait (alice->messages->len == 1 && bob->messages->len == 1);
  g_assert_cmpstr (g_ptr_array_index (alice->messages, 0), ==, "carol: hello");
  g_assert_false (has_string (alice->events, "join carol"));
  g_assert_false (has_string (bob->events, "join carol"));

  /* leaving a room of 3: not announced; leaving a room of 2: announced */
  test_client_free (carol);
  fixture_wait (ts->disconnects->len == 1);
  test_client_free (bob);
  fixture_wait (has_string (alice->events, "leave bob"));
  g_assert_false (has_string (alice->events, "leave carol"));

  test_client_free (alice);
  test_server_free (ts);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/server/v2-relay", test_v2_relay);
  g_test_add_func ("/server/three-clients", test_three_clients);
  g_test_add_func ("/server/presence-limit", test_presence_limit);
  g_test_add_func ("/server/mixed-relay", test_mixed_relay);
  g_test_add_func ("/server/stop-restart", test_stop_restart);
  g_test_add_func ("/server/port-in-use", test_port_in_use);
  g_test_add_func ("/server/listen-backlog", test_listen_backlog);
  g_test_add_func ("/server/allow-list", test_allow_list);
  g_test_add_func ("/server/slow-reader", test_slow_reader);
  g_test_add_func ("/server/back-to-back", test_back_to_back);
  g_test_add_func ("/server/large-messages", test_large_messages);
  g_test_add_func ("/server/owner-behind", test_owner_behind);
  g_test_add_func ("/server/v1-flood-behind-handshake", test_v1_flood_behind_handshake);
  g_test_add_func ("/server/handshake-timeout", test_handshake_timeout);
  g_test_add_func ("/server/idle-timeout", test_idle_timeout);
  g_test_add_func ("/server/bad-peer-isolated", test_bad_peer_isolated);
  g_test_add_func ("/server/max-clients", test_max_clients);
  g_test_add_func ("/server/accept-failed", test_accept_failed);
  g_test_add_func ("/server/accept-error-one-connection", test_accept_error_one_connection);
  g_test_add_func ("/server/accept-error-persistent", test_accept_error_persistent);
  g_test_add_func ("/server/no-legacy", test_no_legacy);
  g_test_add_func ("/server/disconnect-client", test_disconnect_client);

  return g_test_run ();
}
