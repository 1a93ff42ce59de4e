/* sc-file.c: atomic, private, never-clobbering file writes for keys and trust stores
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "sc-file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "sc-crypto.h"
#include "sc-protocol.h"

/* Key and trust files are small; anything bigger is not one of ours. */
#define SC_FILE_READ_MAX (16 * 1024 * 1024)

static gboolean
set_errno_error (GError    **error,
                 int         saved_errno,
                 const char *what,
                 const char *path)
{
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
               "%s “%s”: %s", what, path, g_strerror (saved_errno));
  return FALSE;
}

static gboolean
write_all (int           fd,
           const guint8 *data,
           gsize         len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, MIN (len, (gsize) G_MAXSSIZE));

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return FALSE;
        }
      data += n;
      len -= (gsize) n;
    }
  return TRUE;
}

/* Makes a rename or link in @dir durable.  Best effort: some file systems
 * refuse fsync on directories, which does not make the write itself fail. */
static void
sync_dir (const char *dir)
{
  int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (fd < 0)
    return;
  (void) fsync (fd);
  close (fd);
}

/* Writes @data to a new temporary file beside @path, mode 0600, fsynced and
 * closed.  Returns its name; errors name @path, the file the caller wants. */
static char *
write_temp (const char   *path,
            const guint8 *data,
            gsize         len,
            GError      **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *tmpl = NULL;
  int fd;
  int saved_errno;

  tmpl = g_strdup_printf ("%s%c.%s.XXXXXX", dir, G_DIR_SEPARATOR, base);
  /* g_mkstemp_full() opens with O_CREAT | O_EXCL */
  fd = g_mkstemp_full (tmpl, O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      set_errno_error (error, errno, "Could not create", path);
      return NULL;
    }

  /* The umask may only have removed bits, but make the mode exact */
  if (fchmod (fd, 0600) != 0 || !write_all (fd, data, len) || fsync (fd) != 0)
    {
      saved_errno = errno;
      close (fd);
      g_unlink (tmpl);
      set_errno_error (error, saved_errno, "Could not write", path);
      return NULL;
    }
  if (close (fd) != 0)
    {
      saved_errno = errno;
      g_unlink (tmpl);
      set_errno_error (error, saved_errno, "Could not write", path);
      return NULL;
    }

  return g_steal_pointer (&tmpl);
}

gboolean
sc_file_create_exclusive (const char   *path,
                          const guint8 *data,
                          gsize         len,
                          GError      **error)
{
  g_autofree char *tmp = NULL;
  g_autofree char *dir = NULL;
  int saved_errno;

  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (data != NULL || len == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  tmp = write_temp (path, data, len, error);
  if (tmp == NULL)
    return FALSE;

  /* link() never replaces an existing name: whoever links first wins, and
   * the name only ever points at a complete, synced file. */
  if (link (tmp, path) != 0)
    {
      saved_errno = errno;
      g_unlink (tmp);
      if (saved_errno == EEXIST)
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                     "Could not create “%s”: the file already exists", path);
      else
        set_errno_error (error, saved_errno, "Could not create", path);
      return FALSE;
    }

  g_unlink (tmp);
  dir = g_path_get_dirname (path);
  sync_dir (dir);
  return TRUE;
}

gboolean
sc_file_replace (const char   *path,
                 const guint8 *data,
                 gsize         len,
                 GError      **error)
{
  g_autofree char *tmp = NULL;
  g_autofree char *dir = NULL;
  int saved_errno;

  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (data != NULL || len == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  tmp = write_temp (path, data, len, error);
  if (tmp == NULL)
    return FALSE;

  if (rename (tmp, path) != 0)
    {
      saved_errno = errno;
      g_unlink (tmp);
      return set_errno_error (error, saved_errno, "Could not replace", path);
    }

  dir = g_path_get_dirname (path);
  sync_dir (dir);
  return TRUE;
}

/* Reads @fd to the end into a NUL-terminated buffer.  Buffers that grow are
 * wiped before being freed, since private keys pass through here. */
static char *
read_fd (int     fd,
         gsize   size_hint,
         gsize  *out_len,
         int    *out_errno)
{
  gsize cap = MIN (size_hint, (gsize) SC_FILE_READ_MAX) + 1;
  gsize len = 0;
  char *buf = g_malloc (cap + 1);

  for (;;)
    {
      ssize_t n;

      if (len > SC_FILE_READ_MAX)
        {
          sc_wipe (buf, len);
          g_free (buf);
          *out_errno = EFBIG;
          return NULL;
        }

      if (len == cap)
        {
          gsize new_cap = MIN (cap * 2, (gsize) SC_FILE_READ_MAX + 1);
          char *bigger;

          bigger = g_malloc (new_cap + 1);
          memcpy (bigger, buf, len);
          sc_wipe (buf, len);
          g_free (buf);
          buf = bigger;
          cap = new_cap;
        }

      n = read (fd, buf + len, cap - len);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          *out_errno = errno;
          sc_wipe (buf, len);
          g_free (buf);
          return NULL;
        }
      if (n == 0)
        break;
      len += (gsize) n;
    }

  buf[len] = '\0';
  *out_len = len;
  return buf;
}

gboolean
sc_file_read (const char  *path,
              gboolean     missing_ok,
              gboolean     private_file,
              char       **contents,
              gsize       *len,
              GError     **error)
{
  struct stat st;
  char *data;
  gsize data_len = 0;
  int saved_errno = 0;
  int fd;

  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (contents != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  *contents = NULL;
  if (len != NULL)
    *len = 0;

  /* O_NONBLOCK so that a FIFO in place of the file cannot hang us before
   * fstat() tells us it is not a regular file */
  fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0)
    {
      saved_errno = errno;
      if (saved_errno == ENOENT && missing_ok)
        return FALSE;
      return set_errno_error (error, saved_errno, "Could not open", path);
    }

  if (fstat (fd, &st) != 0)
    {
      saved_errno = errno;
      close (fd);
      return set_errno_error (error, saved_errno, "Could not read", path);
    }

  if (!S_ISREG (st.st_mode))
    {
      close (fd);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE,
                   "“%s” is not a regular file", path);
      return FALSE;
    }

  if (private_file && (st.st_mode & 077) != 0)
    {
      close (fd);
      g_set_error (error, SC_ERROR, SC_ERROR_KEY_FILE,
                   "Permissions %04o for “%s” are too open; "
                   "it must be readable only by you",
                   (unsigned) (st.st_mode & 07777), path);
      return FALSE;
    }

  if (st.st_size > SC_FILE_READ_MAX)
    {
      close (fd);
      return set_errno_error (error, EFBIG, "Could not read", path);
    }

  data = read_fd (fd, (gsize) st.st_size, &data_len, &saved_errno);
  close (fd);
  if (data == NULL)
    return set_errno_error (error, saved_errno, "Could not read", path);

  *contents = data;
  if (len != NULL)
    *len = data_len;
  return TRUE;
}

gboolean
sc_file_ensure_dir (const char  *dir,
                    GError     **error)
{
  g_return_val_if_fail (dir != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (g_mkdir_with_parents (dir, 0700) != 0)
    return set_errno_error (error, errno, "Could not create directory", dir);
  return TRUE;
}
