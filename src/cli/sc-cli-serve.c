/* sc-cli-serve.c: secure-chat-cli serve
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "sc-cli.h"

#include <glib-unix.h>

#include "sc-server.h"

static void
on_listening (ScServer *server,
              guint     port,
              gpointer  data)
{
  g_autofree char *address = NULL;

  g_object_get (server, "bind-address", &address, NULL);
  sc_cli_print ("listening %s:%u", address, port);
}

/* id -> peer address, so that the line saying why a connection ended
 * names the peer too: one line tells the whole story of a bad connection */
static void
on_client_connected (ScServer   *server,
                     guint       id,
                     const char *peer,
                     GHashTable *peers)
{
  g_hash_table_insert (peers, GUINT_TO_POINTER (id), g_strdup (peer));
  sc_cli_print ("connected #%u %s", id, peer);
}

static void
on_client_ready (ScServer   *server,
                 guint       id,
                 guint       protocol,
                 const char *nickname,
                 const char *fingerprint,
                 const char *code,
                 gpointer    data)
{
  g_autofree char *nick = sc_cli_one_line (nickname);

  sc_cli_print ("ready #%u v%u %s %s%s", id, protocol, nick, fingerprint,
                protocol == 1 ? " (legacy, not authenticated)" : "");
}

static void
on_message (ScServer   *server,
            guint       id,
            const char *nickname,
            const char *text,
            gpointer    data)
{
  g_autofree char *nick = sc_cli_one_line (nickname);
  g_autofree char *line = sc_cli_one_line (text);

  sc_cli_print ("message #%u %s: %s", id, nick, line);
}

static void
on_client_disconnected (ScServer   *server,
                        guint       id,
                        const char *reason,
                        GHashTable *peers)
{
  g_autofree char *line = sc_cli_one_line (reason);
  const char *peer = g_hash_table_lookup (peers, GUINT_TO_POINTER (id));

  sc_cli_print ("disconnected #%u %s: %s", id, peer ? peer : "?", line);
  g_hash_table_remove (peers, GUINT_TO_POINTER (id));
}

static void
on_client_refused (ScServer   *server,
                   const char *peer,
                   const char *reason,
                   gpointer    data)
{
  sc_cli_print ("refused %s: %s", peer, reason);
}

static void
on_accept_failed (ScServer   *server,
                  const char *error,
                  guint       retry_ms,
                  gpointer    data)
{
  g_printerr ("secure-chat-cli: warning: %s; new connections wait, and serve tries again "
              "every %.1f s\n", error, retry_ms / 1000.0);
}

static gboolean
on_signal (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_CONTINUE;
}

int
sc_cli_serve (int    argc,
              char **argv)
{
  g_autofree char *bind = NULL;
  g_autofree char *key_dir = NULL;
  int port = SC_DEFAULT_PORT;
  int max_clients = SC_MAX_CONNECTIONS_DEFAULT;
  double handshake_timeout = SC_HANDSHAKE_TIMEOUT_MS / 1000.0;
  double idle_timeout = 0;
  gboolean no_legacy = FALSE, allow_list = FALSE;
  GOptionEntry entries[] = {
    { "bind", 0, 0, G_OPTION_ARG_STRING, &bind, "Address to listen on (default 127.0.0.1)", "ADDR" },
    { "port", 'p', 0, G_OPTION_ARG_INT, &port, "TCP port (default 5555; 0 picks a free one)", "N" },
    { "key-dir", 0, 0, G_OPTION_ARG_FILENAME, &key_dir, "Key directory", "DIR" },
    { "no-legacy", 0, 0, G_OPTION_ARG_NONE, &no_legacy, "Refuse legacy (v1, seed) clients", NULL },
    { "allow-list", 0, 0, G_OPTION_ARG_NONE, &allow_list,
      "Admit only clients approved with “trust allow”", NULL },
    { "max-clients", 0, 0, G_OPTION_ARG_INT, &max_clients, "Most connections at once (default 1024)", "N" },
    { "handshake-timeout", 0, 0, G_OPTION_ARG_DOUBLE, &handshake_timeout,
      "Seconds a client has to finish its handshake (default 10)", "SECONDS" },
    { "idle-timeout", 0, 0, G_OPTION_ARG_DOUBLE, &idle_timeout,
      "Disconnect a client that sends nothing for this many seconds (default 0: never)", "SECONDS" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- run a Secure Chat server");
  g_autoptr(ScIdentity) identity = NULL;
  g_autoptr(ScTrustStore) trust = NULL;
  g_autoptr(ScServer) server = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autoptr(GHashTable) peers = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  g_autoptr(GError) error = NULL;
  guint sigint, sigterm;
  int rc;

  g_option_context_add_main_entries (context, entries, NULL);
  if ((rc = sc_cli_parse (context, &argc, &argv)) >= 0)
    return rc;
  if (argc > 1)
    return sc_cli_usage_error (context, "unexpected argument “%s”", argv[1]);
  if (port < 0 || port > 65535)
    return sc_cli_usage_error (context, "--port must be between 0 and 65535");
  if (max_clients < 1)
    return sc_cli_usage_error (context, "--max-clients must be at least 1");
  if (!(handshake_timeout >= 0.1 && handshake_timeout <= 3600))
    return sc_cli_usage_error (context, "--handshake-timeout must be between 0.1 and 3600 seconds");
  if (!(idle_timeout == 0 || (idle_timeout >= 0.1 && idle_timeout <= 604800)))
    return sc_cli_usage_error (context, "--idle-timeout must be 0 (never) or between 0.1 and 604800 seconds");

  if (!sc_cli_open_keys (key_dir, TRUE, &identity, &trust))
    return SC_EXIT_ERROR;

  server = sc_server_new (identity, trust);
  g_object_set (server,
                "bind-address", bind ? bind : "127.0.0.1",
                "port", (guint) port,
                "allow-legacy", !no_legacy,
                "allow-list", allow_list,
                "max-clients", (guint) max_clients,
                "handshake-timeout", (guint) (handshake_timeout * 1000 + 0.5),
                "idle-timeout", (guint) (idle_timeout * 1000 + 0.5),
                NULL);
  g_signal_connect (server, "listening", G_CALLBACK (on_listening), NULL);
  g_signal_connect (server, "client-connected", G_CALLBACK (on_client_connected), peers);
  g_signal_connect (server, "client-ready", G_CALLBACK (on_client_ready), NULL);
  g_signal_connect (server, "message", G_CALLBACK (on_message), NULL);
  g_signal_connect (server, "client-disconnected", G_CALLBACK (on_client_disconnected), peers);
  g_signal_connect (server, "client-refused", G_CALLBACK (on_client_refused), NULL);
  g_signal_connect (server, "accept-failed", G_CALLBACK (on_accept_failed), NULL);

  sc_cli_print ("fingerprint %s", sc_identity_get_fingerprint (identity));
  sc_cli_print ("legacy-fingerprint %s", sc_identity_get_rsa_fingerprint (identity));
  if (!sc_server_start (server, &error))
    return sc_cli_error (SC_EXIT_ERROR, "%s", error->message);
  if (sc_server_get_connection_limit (server) < (guint) max_clients)
    g_printerr ("secure-chat-cli: warning: the open-file limit (ulimit -n) leaves room for %u "
                "connections, not the %d of --max-clients; the rest will be refused\n",
                sc_server_get_connection_limit (server), max_clients);

  loop = g_main_loop_new (NULL, FALSE);
  sigint = g_unix_signal_add (SIGINT, on_signal, loop);
  sigterm = g_unix_signal_add (SIGTERM, on_signal, loop);
  g_main_loop_run (loop);
  g_source_remove (sigint);
  g_source_remove (sigterm);

  sc_server_stop (server);
  /* deliver the events the stop produced */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  sc_cli_print ("stopped");
  return SC_EXIT_OK;
}
