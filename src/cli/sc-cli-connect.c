/* sc-cli-connect.c: secure-chat-cli connect
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "sc-cli.h"

#include <string.h>
#include <unistd.h>

#include <gio/gunixinputstream.h>
#include <glib-unix.h>

#include "sc-client.h"

/* Standard input is read on while less than this waits to be sent, so a
 * fast input (a file) waits for a slow server instead of overflowing the
 * client's send queue */
#define INPUT_QUEUE_MAX (256 * 1024)

typedef struct {
  ScClient         *client;
  GMainLoop        *loop;
  GDataInputStream *input;
  GCancellable     *cancellable;
  gboolean          asking;     /* the next stdin line answers the trust question */
  gboolean          input_done;
  gboolean          input_waiting;  /* for the send queue to drain */
  int               exit_code;
} Connect;

static void read_next_line (Connect *c);

static void
on_line (GObject      *source,
         GAsyncResult *result,
         gpointer      data)
{
  Connect *c = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;
  gsize len;

  line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result, &len, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (error != NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA))
    {
      sc_cli_error (0, "cannot read input: %s", error->message);
      line = NULL;
    }
  else if (error != NULL)
    {
      sc_cli_error (0, "skipped an input line that is not UTF-8");
      read_next_line (c);
      return;
    }

  if (c->asking)
    {
      c->asking = FALSE;
      sc_client_answer_trust (c->client, line != NULL &&
                              (g_ascii_strcasecmp (line, "y") == 0 ||
                               g_ascii_strcasecmp (line, "yes") == 0));
      return;
    }
  if (line == NULL)
    {
      /* end of input: close the session properly */
      c->input_done = TRUE;
      sc_client_disconnect (c->client);
      return;
    }
  if (line[0] != '\0')
    {
      g_autoptr(GError) send_error = NULL;

      if (!sc_client_send (c->client, line, &send_error))
        sc_cli_error (0, "not sent: %s", send_error->message);
    }
  if (sc_client_get_queued (c->client) > INPUT_QUEUE_MAX)
    c->input_waiting = TRUE;
  else
    read_next_line (c);
}

static void
on_drained (ScClient *client,
            gpointer  data)
{
  Connect *c = data;

  if (c->input_waiting)
    {
      c->input_waiting = FALSE;
      read_next_line (c);
    }
}

static void
read_next_line (Connect *c)
{
  g_data_input_stream_read_line_async (c->input, G_PRIORITY_DEFAULT, c->cancellable, on_line, c);
}

static const char *
trust_name (ScTrustState state)
{
  return sc_trust_state_to_string (state);
}

static void
on_trust_request (ScClient   *client,
                  const char *host_port,
                  const char *fingerprint,
                  const char *code,
                  gpointer    data)
{
  Connect *c = data;

  if (!isatty (STDIN_FILENO))
    {
      g_printerr ("secure-chat-cli: the server %s presents a key that is not known yet:\n"
                  "    %s\n"
                  "Compare it with what the server's operator sees (secure-chat-cli fingerprint\n"
                  "on the server), then connect again with --trust accept-new to pin it.\n",
                  host_port, fingerprint);
      sc_client_answer_trust (client, FALSE);
      return;
    }
  g_printerr ("The server %s presents a key that is not known yet:\n"
              "    %s\n"
              "Session code: %s\n"
              "Trust it and connect? [y/N] ", host_port, fingerprint, code);
  c->asking = TRUE;
  read_next_line (c);
}

static void
on_connected (ScClient *client,
              gpointer  data)
{
  Connect *c = data;
  ScProtocol protocol = sc_client_get_protocol (client);

  if (protocol == SC_PROTOCOL_V2)
    g_printerr ("Connected to %s with the secure protocol; server key %s (%s), session code %s\n",
                sc_client_get_host_port (client), sc_client_get_server_fingerprint (client),
                trust_name (sc_client_get_trust_state (client)),
                sc_client_get_session_code (client));
  else
    g_printerr ("Connected to %s with the LEGACY protocol: the server is not authenticated and "
                "messages are not protected against replay or tampering\n",
                sc_client_get_host_port (client));
  read_next_line (c);
}

static void
on_message (ScClient   *client,
            const char *from,
            const char *fingerprint,
            const char *text,
            gint64      time_ms,
            gpointer    data)
{
  g_autofree char *line = sc_cli_one_line (text);

  if (from != NULL && from[0] != '\0')
    {
      g_autofree char *nick = sc_cli_one_line (from);
      sc_cli_print ("%s: %s", nick, line);
    }
  else
    sc_cli_print ("%s", line);
}

static void
on_event (ScClient   *client,
          const char *event,
          const char *from,
          const char *fingerprint,
          gpointer    data)
{
  g_autofree char *nick = sc_cli_one_line (from);

  sc_cli_print ("* %s %s", nick, g_str_equal (event, "join") ? "joined" : "left");
}

static void
on_disconnected (ScClient   *client,
                 guint       end,
                 const char *message,
                 gpointer    data)
{
  Connect *c = data;
  /* the message may quote the server (a Reject's reason): one line, and no
   * control characters reach the terminal */
  g_autofree char *line = sc_cli_one_line (message ? message : "");

  message = line;
  switch ((ScClientEnd) end)
    {
    case SC_CLIENT_END_LOCAL:
      c->exit_code = SC_EXIT_OK;
      break;
    case SC_CLIENT_END_CLOSED:
      c->exit_code = c->input_done ? SC_EXIT_OK : SC_EXIT_CONNECTION;
      g_printerr ("secure-chat-cli: %s\n", message);
      break;
    case SC_CLIENT_END_REJECTED:
      c->exit_code = sc_cli_error (SC_EXIT_REJECTED, "%s", message);
      break;
    case SC_CLIENT_END_UNTRUSTED:
    case SC_CLIENT_END_KEY_CHANGED:
      c->exit_code = sc_cli_error (SC_EXIT_UNTRUSTED, "%s", message);
      break;
    case SC_CLIENT_END_LOST:
    case SC_CLIENT_END_FAILED:
    default:
      c->exit_code = sc_cli_error (SC_EXIT_CONNECTION, "%s", message);
      break;
    }
  g_main_loop_quit (c->loop);
}

static gboolean
on_signal (gpointer data)
{
  Connect *c = data;
  gsize queued = sc_client_get_queued (c->client);

  if (!c->input_done)
    {
      /* the first one closes properly, once the queue is sent */
      c->input_done = TRUE;
      if (queued > 0)
        g_printerr ("secure-chat-cli: closing once %lu queued bytes are sent; "
                    "interrupt again to quit now\n", (gulong) queued);
      sc_client_disconnect (c->client);
      return G_SOURCE_CONTINUE;
    }
  /* the second one does not wait for a server that is not reading */
  if (queued > 0)
    c->exit_code = sc_cli_error (SC_EXIT_ERROR, "interrupted: %lu bytes of messages were not sent",
                                 (gulong) queued);
  g_main_loop_quit (c->loop);
  return G_SOURCE_CONTINUE;
}

static gboolean
parse_trust (const char    *text,
             ScTrustPolicy *policy)
{
  if (text == NULL || g_str_equal (text, "ask"))
    *policy = SC_TRUST_POLICY_ASK;
  else if (g_str_equal (text, "accept-new"))
    *policy = SC_TRUST_POLICY_ACCEPT_NEW;
  else if (g_str_equal (text, "strict"))
    *policy = SC_TRUST_POLICY_STRICT;
  else
    return FALSE;
  return TRUE;
}

int
sc_cli_connect (int    argc,
                char **argv)
{
  g_autofree char *nick = NULL;
  g_autofree char *key_dir = NULL;
  g_autofree char *trust_text = NULL;
  int port = SC_DEFAULT_PORT, protocol = 2;
  GOptionEntry entries[] = {
    { "port", 'p', 0, G_OPTION_ARG_INT, &port, "TCP port (default 5555)", "N" },
    { "protocol", 0, 0, G_OPTION_ARG_INT, &protocol,
      "2 (secure, default) or 1 (legacy seed protocol, not authenticated)", "1|2" },
    { "nick", 'n', 0, G_OPTION_ARG_STRING, &nick, "Nickname others see (v2)", "NAME" },
    { "key-dir", 0, 0, G_OPTION_ARG_FILENAME, &key_dir, "Key directory", "DIR" },
    { "trust", 0, 0, G_OPTION_ARG_STRING, &trust_text,
      "Unknown server keys: ask (default), accept-new or strict", "POLICY" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("HOST - chat with a Secure Chat server");
  g_autoptr(ScIdentity) identity = NULL;
  g_autoptr(ScTrustStore) trust = NULL;
  g_autoptr(GInputStream) stdin_stream = NULL;
  ScTrustPolicy policy;
  Connect c = { 0 };
  guint sigint, sigterm;
  int rc;

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (context,
    "Each line of standard input is sent as one message; each message received is\n"
    "printed as one line.  At the end of input the session is closed properly.\n");
  if ((rc = sc_cli_parse (context, &argc, &argv)) >= 0)
    return rc;
  if (argc < 2)
    return sc_cli_usage_error (context, "which server? Give a HOST");
  if (argc > 2)
    return sc_cli_usage_error (context, "unexpected argument “%s”", argv[2]);
  if (port < 1 || port > 65535)
    return sc_cli_usage_error (context, "--port must be between 1 and 65535");
  if (protocol != 1 && protocol != 2)
    return sc_cli_usage_error (context, "--protocol must be 1 or 2");
  if (!parse_trust (trust_text, &policy))
    return sc_cli_usage_error (context, "--trust must be ask, accept-new or strict");
  if (nick != NULL && (strlen (nick) > 64 || !g_utf8_validate (nick, -1, NULL)))
    return sc_cli_usage_error (context, "--nick must be at most 64 bytes of text");

  if (!sc_cli_open_keys (key_dir, TRUE, &identity, &trust))
    return SC_EXIT_ERROR;

  c.client = sc_client_new (identity, trust);
  c.loop = g_main_loop_new (NULL, FALSE);
  c.cancellable = g_cancellable_new ();
  stdin_stream = g_unix_input_stream_new (STDIN_FILENO, FALSE);
  c.input = g_data_input_stream_new (stdin_stream);
  g_data_input_stream_set_newline_type (c.input, G_DATA_STREAM_NEWLINE_TYPE_ANY);
  c.exit_code = SC_EXIT_OK;

  sc_client_set_protocol (c.client, protocol);
  sc_client_set_nickname (c.client, nick ? nick : g_get_user_name ());
  sc_client_set_trust_policy (c.client, policy);
  g_signal_connect (c.client, "trust-request", G_CALLBACK (on_trust_request), &c);
  g_signal_connect (c.client, "connected", G_CALLBACK (on_connected), &c);
  g_signal_connect (c.client, "message", G_CALLBACK (on_message), &c);
  g_signal_connect (c.client, "event", G_CALLBACK (on_event), &c);
  g_signal_connect (c.client, "disconnected", G_CALLBACK (on_disconnected), &c);
  g_signal_connect (c.client, "drained", G_CALLBACK (on_drained), &c);

  sigint = g_unix_signal_add (SIGINT, on_signal, &c);
  sigterm = g_unix_signal_add (SIGTERM, on_signal, &c);
  sc_client_connect (c.client, argv[1], (guint16) port);
  g_main_loop_run (c.loop);
  g_source_remove (sigint);
  g_source_remove (sigterm);

  g_cancellable_cancel (c.cancellable);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_object_unref (c.input);
  g_object_unref (c.cancellable);
  g_object_unref (c.client);
  g_main_loop_unref (c.loop);
  return c.exit_code;
}
