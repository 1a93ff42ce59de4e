/* test-faults.c: the server and clients when things go wrong
 *
 *  - a server stopped with 200 clients connected: every client hears
 *    "closed by server", and the server starts again on the same port
 *    (LeakSanitizer or valgrind checks that the stop freed everything);
 *  - a client process killed in the middle of a record (v2 and v1): the
 *    server calls it "connection lost", nothing of the half record is
 *    logged or relayed, and the others keep chatting.
 *
 * A server killed with SIGKILL and the key directory faults are in
 * test_faults_cli.py; the window's errors in tests/ui/test_faults.py.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>

#include "net-fixture.h"

#define N_CLIENTS 200
#define BATCH     20

/* Each in-process client holds a socket and an epoll descriptor, and the
 * server one socket per client: more than a default soft limit of 1024
 * leaves little room, so take what the hard limit allows */
static void
raise_fd_limit (void)
{
  struct rlimit rl;

  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
    {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
    }
}

static void
test_stop_many (void)
{
  TestServer *ts = test_server_new ();
  guint16 port;
  TestClient *clients[N_CLIENTS];
  TestClient *again;
  guint i, connected = 0, ended = 0, closed = 0, wording = 0;
  gint64 t0, t_connected, t_stopped, t_ended;
  g_autoptr(GError) error = NULL;

  /* one in ten legacy, the rest v2: both must hear the same.  They join
   * in batches, so that under valgrind no handshake waits in line long
   * enough to time out; the server waits for slow handshakes too */
  g_object_set (ts->server, "handshake-timeout", 120000, NULL);
  port = test_server_start (ts);
  t0 = g_get_monotonic_time ();
  for (i = 0; i < N_CLIENTS; i++)
    {
      g_autofree char *nick = g_strdup_printf ("c%u", i);
      gboolean legacy = i % 10 == 0;

      clients[i] = test_client_new (legacy ? 1 : 2, legacy ? SC_PROTOCOL_V1 : SC_PROTOCOL_V2, nick);
      sc_client_connect (clients[i]->client, "127.0.0.1", port);
      if (i % BATCH == BATCH - 1 || i == N_CLIENTS - 1)
        {
          guint j;

          for (j = i + 1 - (i % BATCH + 1); j <= i; j++)
            {
              fixture_wait (clients[j]->connected || clients[j]->ended);
              if (!clients[j]->connected)
                g_test_message ("client %u: %s", j, clients[j]->end_message);
              g_assert_true (clients[j]->connected);
              connected++;
            }
        }
    }
  fixture_wait (ts->ready == N_CLIENTS);
  g_assert_cmpuint (sc_server_get_n_clients (ts->server), ==, N_CLIENTS);
  t_connected = g_get_monotonic_time ();

  sc_server_stop (ts->server);
  t_stopped = g_get_monotonic_time ();
  g_assert_false (sc_server_get_running (ts->server));
  g_assert_cmpuint (sc_server_get_n_clients (ts->server), ==, 0);
  for (i = 0; i < N_CLIENTS; i++)
    fixture_wait (clients[i]->ended);
  t_ended = g_get_monotonic_time ();
  for (i = 0; i < N_CLIENTS; i++)
    {
      TestClient *tc = clients[i];

      ended++;
      if (tc->end == SC_CLIENT_END_CLOSED)
        closed++;
      else
        g_test_message ("client %u (v%d) ended with %d: %s", i, i % 10 == 0 ? 1 : 2,
                        tc->end, tc->end_message);
      if (tc->end_message != NULL && strstr (tc->end_message, "closed by server") != NULL)
        wording++;
      g_assert_cmpint (sc_client_get_state (tc->client), ==, SC_CLIENT_DISCONNECTED);
    }
  g_test_message ("%u clients connected in %.2f s; stop took %.1f ms; all %u ended %.1f ms "
                  "after it; %u ended \"closed\", %u said \"closed by server\"",
                  connected, (t_connected - t0) / 1e6, (t_stopped - t_connected) / 1e3,
                  ended, (t_ended - t_stopped) / 1e3, closed, wording);
  g_assert_cmpuint (closed, ==, N_CLIENTS);
  g_assert_cmpuint (wording, ==, N_CLIENTS);

  /* the server reported every client gone */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpuint (ts->disconnects->len, ==, N_CLIENTS);
  for (i = 0; i < ts->disconnects->len; i++)
    g_assert_cmpstr (g_ptr_array_index (ts->disconnects, i), ==, "server stopped");

  /* the same port, at once */
  g_object_set (ts->server, "port", (guint) port, NULL);
  g_assert_true (sc_server_start (ts->server, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (sc_server_get_port (ts->server), ==, port);
  again = clients[1];
  again->connected = FALSE;
  test_client_connect (again, port);
  g_assert_true (sc_client_send (again->client, "back again", NULL));
  fixture_wait (has_string (ts->messages, "c1: back again"));

  for (i = 0; i < N_CLIENTS; i++)
    test_client_free (clients[i]);
  test_server_free (ts);
}

/* ---- a client process killed in the middle of a record ---- */

/* faults-peer, built beside this program */
static char *
peer_path (void)
{
  g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *dir = NULL;

  g_assert_nonnull (self);
  dir = g_path_get_dirname (self);
  return g_build_filename (dir, "faults-peer", NULL);
}

static void
test_killed_mid_frame (gconstpointer data)
{
  int protocol = GPOINTER_TO_INT (data);
  TestServer *ts = test_server_new ();
  guint16 port = test_server_start (ts);
  TestClient *alice = test_client_new (1, SC_PROTOCOL_V2, "alice");
  TestClient *bob = test_client_new (2, SC_PROTOCOL_V2, "bob");
  g_autofree char *exe = peer_path ();
  g_autofree char *port_text = g_strdup_printf ("%u", port);
  g_autofree char *proto_text = g_strdup_printf ("%d", protocol);
  const char *argv[] = { exe, port_text, proto_text, "cut", "before the cut",
                         "HALF-RECORD never whole", NULL };
  g_autoptr(GError) error = NULL;
  char line[128] = "";
  FILE *out;
  GPid pid;
  int out_fd, status;
  guint i, before;

  test_client_connect (alice, port);
  test_client_connect (bob, port);
  fixture_wait (ts->ready == 2);

  g_assert_true (g_spawn_async_with_pipes (NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                           NULL, NULL, &pid, NULL, &out_fd, NULL, &error));
  g_assert_no_error (error);
  /* blocks this thread only: the server has its own */
  out = fdopen (out_fd, "r");
  g_assert_nonnull (fgets (line, sizeof line, out));
  fclose (out);
  g_test_message ("peer (v%d): %s", protocol, g_strchomp (line));
  g_assert_true (g_str_has_prefix (line, "half-sent"));

  /* the whole record before the half one was relayed */
  fixture_wait (ts->ready == 3);
  fixture_wait (has_string (ts->messages, ": before the cut"));
  fixture_wait (has_string (bob->messages, ": before the cut"));
  before = ts->disconnects->len;

  g_assert_cmpint (kill (pid, SIGKILL), ==, 0);
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_spawn_close_pid (pid);
  g_assert_true (WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL);

  fixture_wait (ts->disconnects->len == before + 1);
  g_test_message ("the server's reason: %s", (char *) g_ptr_array_index (ts->disconnects, before));
  g_assert_cmpstr (g_ptr_array_index (ts->disconnects, before), ==, "connection lost");

  /* the room goes on; nothing of the half record went anywhere */
  g_assert_true (sc_client_send (alice->client, "still chatting", NULL));
  fixture_wait (has_string (bob->messages, "alice: still chatting"));
  g_assert_true (sc_client_send (bob->client, "me too", NULL));
  fixture_wait (has_string (alice->messages, "bob: me too"));
  g_assert_false (has_string (ts->messages, "HALF-RECORD"));
  g_assert_false (has_string (alice->messages, "HALF-RECORD"));
  g_assert_false (has_string (bob->messages, "HALF-RECORD"));
  g_assert_cmpuint (sc_server_get_n_clients (ts->server), ==, 2);
  for (i = 0; i < ts->messages->len; i++)
    g_test_message ("server message %u: %s", i, (char *) g_ptr_array_index (ts->messages, i));

  test_client_free (alice);
  test_client_free (bob);
  test_server_free (ts);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  raise_fd_limit ();

  g_test_add_func ("/faults/stop-200-clients", test_stop_many);
  g_test_add_data_func ("/faults/killed-mid-frame/v2", GINT_TO_POINTER (2), test_killed_mid_frame);
  g_test_add_data_func ("/faults/killed-mid-frame/v1", GINT_TO_POINTER (1), test_killed_mid_frame);

  return g_test_run ();
}
