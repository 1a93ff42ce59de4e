/* sc-cli.h: secure-chat-cli, the headless server and client
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#include "sc-keys.h"
#include "sc-trust.h"

G_BEGIN_DECLS

/* Exit codes; README.md documents them, scripts rely on them */
typedef enum {
  SC_EXIT_OK          = 0,
  SC_EXIT_ERROR       = 1,  /* anything else: key directory, files, ... */
  SC_EXIT_USAGE       = 2,  /* bad command line */
  SC_EXIT_CONNECTION  = 3,  /* cannot connect, handshake failed, connection lost */
  SC_EXIT_UNTRUSTED   = 4,  /* the server's key is unknown and was not accepted, or changed */
  SC_EXIT_REJECTED    = 5,  /* the server refused us */
} ScExit;

int   sc_cli_main         (int    argc,
                           char **argv);

int   sc_cli_serve        (int    argc,
                           char **argv);
int   sc_cli_connect      (int    argc,
                           char **argv);
int   sc_cli_fingerprint  (int    argc,
                           char **argv);
int   sc_cli_trust        (int    argc,
                           char **argv);

/* Shared helpers */
int   sc_cli_usage_error  (GOptionContext *context,
                           const char     *format,
                           ...) G_GNUC_PRINTF (2, 3);
int   sc_cli_error        (int             code,
                           const char     *format,
                           ...) G_GNUC_PRINTF (2, 3);
/* Parses options; returns -1 to go on, or an exit code */
int   sc_cli_parse        (GOptionContext *context,
                           int            *argc,
                           char         ***argv);
/* The key directory (option or default), its identity and trust store */
gboolean sc_cli_open_keys (const char     *key_dir,
                           gboolean        need_identity,
                           ScIdentity    **identity,
                           ScTrustStore  **trust);

/* Text safe for one output line: control characters become escapes */
char    *sc_cli_one_line  (const char     *text);
/* Prints a line on stdout and flushes it */
void     sc_cli_print     (const char     *format,
                           ...) G_GNUC_PRINTF (1, 2);

G_END_DECLS
