/* main.c: secure-chat, the desktop application
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "sc-application.h"

/* The configured locale folder, or share/locale beside the binary's bin/
 * when the installed tree was moved (a staging directory, say) */
static char *
find_localedir (void)
{
  const char *env = g_getenv ("SECURE_CHAT_LOCALEDIR");
  g_autofree char *exe = NULL;
  g_autofree char *bindir = NULL;
  g_autofree char *relative = NULL;

  if (env != NULL)
    return g_strdup (env);
  if (g_file_test (LOCALEDIR, G_FILE_TEST_IS_DIR))
    return g_strdup (LOCALEDIR);
  exe = g_file_read_link ("/proc/self/exe", NULL);
  if (exe == NULL)
    return g_strdup (LOCALEDIR);
  bindir = g_path_get_dirname (exe);
  relative = g_build_filename (bindir, "..", "share", "locale", NULL);
  if (g_file_test (relative, G_FILE_TEST_IS_DIR))
    return g_canonicalize_filename (relative, NULL);
  return g_strdup (LOCALEDIR);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(ScApplication) app = NULL;
  g_autofree char *localedir = find_localedir ();

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, localedir);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  app = sc_application_new ();
  return g_application_run (G_APPLICATION (app), argc, argv);
}
