/* sc-cli-keys.c: secure-chat-cli fingerprint and trust
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "sc-cli.h"

#include <gio/gio.h>

#include "sc-crypto.h"

int
sc_cli_fingerprint (int    argc,
                    char **argv)
{
  g_autofree char *key_dir = NULL;
  GOptionEntry entries[] = {
    { "key-dir", 0, 0, G_OPTION_ARG_FILENAME, &key_dir, "Key directory", "DIR" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- show this identity's fingerprints");
  g_autoptr(ScIdentity) identity = NULL;
  int rc;

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (context,
    "The keys are created on first use, as the server and client would.\n");
  if ((rc = sc_cli_parse (context, &argc, &argv)) >= 0)
    return rc;
  if (argc > 1)
    return sc_cli_usage_error (context, "unexpected argument “%s”", argv[1]);
  if (!sc_cli_open_keys (key_dir, TRUE, &identity, NULL))
    return SC_EXIT_ERROR;

  sc_cli_print ("identity %s", sc_identity_get_fingerprint (identity));
  sc_cli_print ("legacy-rsa %s", sc_identity_get_rsa_fingerprint (identity));
  return SC_EXIT_OK;
}

static const char trust_description[] =
  "Commands:\n"
  "  list                       Pinned server keys and approved clients\n"
  "  forget HOST:PORT           Forget a server's pinned key (and its verified mark)\n"
  "  verify HOST:PORT           Mark a server's pinned key as verified, after\n"
  "                             comparing the session code or fingerprint\n"
  "  allow FINGERPRINT [NICK]   Approve a client key for servers run with --allow-list\n";

static int
trust_list (ScTrustStore *trust)
{
  g_autoptr(GPtrArray) servers = sc_trust_store_list_servers (trust);
  g_autoptr(GPtrArray) clients = sc_trust_store_list_clients (trust);
  guint i;

  for (i = 0; i < servers->len; i++)
    {
      ScKnownServer *s = g_ptr_array_index (servers, i);

      sc_cli_print ("server %s %s%s", s->host_port, s->fingerprint, s->verified ? " verified" : "");
    }
  for (i = 0; i < clients->len; i++)
    sc_cli_print ("client %s", (char *) g_ptr_array_index (clients, i));
  if (servers->len == 0)
    g_printerr ("No server keys pinned yet.\n");
  if (clients->len == 0)
    g_printerr ("No clients approved yet.\n");
  return SC_EXIT_OK;
}

int
sc_cli_trust (int    argc,
              char **argv)
{
  g_autofree char *key_dir = NULL;
  GOptionEntry entries[] = {
    { "key-dir", 0, 0, G_OPTION_ARG_FILENAME, &key_dir, "Key directory", "DIR" },
    { NULL }
  };
  g_autoptr(GOptionContext) context =
    g_option_context_new ("list|forget HOST:PORT|verify HOST:PORT|allow FINGERPRINT [NICK]");
  g_autoptr(ScTrustStore) trust = NULL;
  g_autoptr(GError) error = NULL;
  const char *command;
  int rc;

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_summary (context, "Manage pinned server keys and approved clients.");
  g_option_context_set_description (context, trust_description);
  if ((rc = sc_cli_parse (context, &argc, &argv)) >= 0)
    return rc;
  if (argc < 2)
    return sc_cli_usage_error (context, "which trust command? list, forget, verify or allow");
  command = argv[1];

  if (g_str_equal (command, "list"))
    {
      if (argc != 2)
        return sc_cli_usage_error (context, "“trust list” takes no argument");
    }
  else if (g_str_equal (command, "forget") || g_str_equal (command, "verify"))
    {
      if (argc != 3)
        return sc_cli_usage_error (context, "“trust %s” needs one HOST:PORT", command);
    }
  else if (g_str_equal (command, "allow"))
    {
      if (argc != 3 && argc != 4)
        return sc_cli_usage_error (context, "“trust allow” needs a FINGERPRINT and an optional NICK");
      if (!sc_fingerprint_is_valid (argv[2]))
        return sc_cli_usage_error (context, "“%s” is not a fingerprint (SHA256:…)", argv[2]);
    }
  else
    return sc_cli_usage_error (context, "unknown trust command “%s”", command);

  if (!sc_cli_open_keys (key_dir, FALSE, NULL, &trust))
    return SC_EXIT_ERROR;

  if (g_str_equal (command, "list"))
    return trust_list (trust);

  if (g_str_equal (command, "forget"))
    {
      if (!sc_trust_store_forget_server (trust, argv[2], &error))
        return sc_cli_error (SC_EXIT_ERROR, "%s", error->message);
      sc_cli_print ("forgot %s", argv[2]);
      return SC_EXIT_OK;
    }
  if (g_str_equal (command, "verify"))
    {
      g_autofree char *fp = sc_trust_store_lookup_server (trust, argv[2]);

      if (fp == NULL)
        return sc_cli_error (SC_EXIT_ERROR, "no key is pinned for %s; connect to it first", argv[2]);
      if (!sc_trust_store_mark_verified (trust, fp, &error))
        return sc_cli_error (SC_EXIT_ERROR, "%s", error->message);
      sc_cli_print ("verified %s %s", argv[2], fp);
      return SC_EXIT_OK;
    }

  if (!sc_trust_store_authorize_client (trust, argv[2], argc == 4 ? argv[3] : NULL, &error))
    return sc_cli_error (SC_EXIT_ERROR, "%s", error->message);
  sc_cli_print ("allowed %s", argv[2]);
  return SC_EXIT_OK;
}
