/* sc-cli.c: command dispatch and the helpers the commands share
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "sc-cli.h"

#include <stdio.h>
#include <string.h>

static void G_GNUC_PRINTF (1, 0)
print_error (const char *format,
             va_list     args,
             const char *suffix)
{
  g_autofree char *msg = g_strdup_vprintf (format, args);

  g_printerr ("secure-chat-cli: %s%s\n", msg, suffix);
}

int
sc_cli_error (int         code,
              const char *format,
              ...)
{
  va_list args;

  va_start (args, format);
  print_error (format, args, "");
  va_end (args);
  return code;
}

int
sc_cli_usage_error (GOptionContext *context,
                    const char     *format,
                    ...)
{
  va_list args;

  va_start (args, format);
  print_error (format, args, " (see --help)");
  va_end (args);
  return SC_EXIT_USAGE;
}

int
sc_cli_parse (GOptionContext *context,
              int            *argc,
              char         ***argv)
{
  g_autoptr(GError) error = NULL;

  if (!g_option_context_parse (context, argc, argv, &error))
    return sc_cli_usage_error (context, "%s", error->message);
  return -1;
}

gboolean
sc_cli_open_keys (const char    *key_dir,
                  gboolean       need_identity,
                  ScIdentity   **identity,
                  ScTrustStore **trust)
{
  g_autofree char *dir = key_dir ? g_strdup (key_dir) : sc_key_dir_default ();
  g_autoptr(GError) error = NULL;

  if (need_identity)
    {
      *identity = sc_identity_load_or_create (dir, &error);
      if (*identity == NULL)
        {
          sc_cli_error (SC_EXIT_ERROR, "%s", error->message);
          return FALSE;
        }
    }
  if (trust != NULL)
    {
      *trust = sc_trust_store_new (dir, &error);
      if (*trust == NULL)
        {
          sc_cli_error (SC_EXIT_ERROR, "%s", error->message);
          if (need_identity)
            g_clear_pointer (identity, sc_identity_unref);
          return FALSE;
        }
    }
  return TRUE;
}

char *
sc_cli_one_line (const char *text)
{
  GString *out = g_string_sized_new (strlen (text));
  const char *p;

  for (p = text; *p; p++)
    {
      guchar c = (guchar) *p;

      if (c == '\n')
        g_string_append (out, "\\n");
      else if (c == '\r')
        g_string_append (out, "\\r");
      else if (c == '\t')
        g_string_append (out, "\\t");
      else if (c < 0x20 || c == 0x7f)
        g_string_append_printf (out, "\\x%02x", c);
      else
        g_string_append_c (out, (char) c);
    }
  return g_string_free (out, FALSE);
}

void
sc_cli_print (const char *format,
              ...)
{
  va_list args;

  va_start (args, format);
  vfprintf (stdout, format, args);
  va_end (args);
  fputc ('\n', stdout);
  fflush (stdout);
}

static const char usage[] =
  "Usage: secure-chat-cli COMMAND [OPTION…]\n"
  "\n"
  "Commands:\n"
  "  serve        Run a chat server\n"
  "  connect      Connect to a server; stdin lines are sent, messages printed\n"
  "  fingerprint  Show this key directory's identity fingerprints\n"
  "  trust        List, forget or verify pinned server keys; approve clients\n"
  "\n"
  "Run “secure-chat-cli COMMAND --help” for a command's options.\n"
  "Exit codes: 0 success, 1 error, 2 usage, 3 connection or handshake failure,\n"
  "4 server key not trusted or changed, 5 rejected by the server.\n";

int
sc_cli_main (int    argc,
             char **argv)
{
  static const struct {
    const char *name;
    int (*run) (int argc, char **argv);
  } commands[] = {
    { "serve", sc_cli_serve },
    { "connect", sc_cli_connect },
    { "fingerprint", sc_cli_fingerprint },
    { "trust", sc_cli_trust },
  };
  guint i;

  if (argc < 2)
    {
      g_printerr ("%s", usage);
      return SC_EXIT_USAGE;
    }
  if (g_str_equal (argv[1], "--help") || g_str_equal (argv[1], "-h") ||
      g_str_equal (argv[1], "help"))
    {
      g_print ("%s", usage);
      return SC_EXIT_OK;
    }
  for (i = 0; i < G_N_ELEMENTS (commands); i++)
    if (g_str_equal (argv[1], commands[i].name))
      return commands[i].run (argc - 1, argv + 1);

  g_printerr ("secure-chat-cli: unknown command “%s” (see --help)\n", argv[1]);
  return SC_EXIT_USAGE;
}
