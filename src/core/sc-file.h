/* sc-file.h: atomic, private, never-clobbering file writes for keys and trust stores
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Creates @path with mode 0600 atomically (temporary file, fsync, link).
 * Fails with G_IO_ERROR_EXISTS and leaves the file untouched if it exists. */
gboolean sc_file_create_exclusive (const char   *path,
                                   const guint8 *data,
                                   gsize         len,
                                   GError      **error);

/* Replaces @path atomically (temporary file, fsync, rename) with mode 0600.
 * Used for trust stores, whose content is re-read and merged before writing. */
gboolean sc_file_replace          (const char   *path,
                                   const guint8 *data,
                                   gsize         len,
                                   GError      **error);

/* Reads @path.  Returns FALSE with *contents = NULL and no error if the file
 * does not exist and @missing_ok.  With @private_file, a file readable by
 * group or others is refused (SC_ERROR_KEY_FILE), like OpenSSH does.
 * Errors name the file. */
gboolean sc_file_read             (const char   *path,
                                   gboolean      missing_ok,
                                   gboolean      private_file,
                                   char        **contents,
                                   gsize        *len,
                                   GError      **error);

/* Creates @dir (and parents) with mode 0700 if missing; errors name it. */
gboolean sc_file_ensure_dir       (const char   *dir,
                                   GError      **error);

G_END_DECLS
