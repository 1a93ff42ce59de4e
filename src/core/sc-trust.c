/* sc-trust.c: pinned servers, the client allow-list and verified marks
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "sc-trust.h"

#include <string.h>

#include <gio/gio.h>

#include "sc-crypto.h"
#include "sc-file.h"
#include "sc-protocol.h"

typedef enum {
  TRUST_KNOWN_SERVERS,
  TRUST_AUTHORIZED_CLIENTS,
  TRUST_VERIFIED,
  N_TRUST_FILES
} TrustKind;

static const char * const trust_file_names[N_TRUST_FILES] = {
  [TRUST_KNOWN_SERVERS]      = SC_FILE_KNOWN_SERVERS,
  [TRUST_AUTHORIZED_CLIENTS] = SC_FILE_AUTHORIZED_CLIENTS,
  [TRUST_VERIFIED]           = SC_FILE_VERIFIED,
};

/* One line of a trust file.  Comments and blank lines have no key and are
 * written back exactly as they were read. */
typedef struct {
  char  *raw;      /* the line without its '\n' */
  guint  lineno;   /* 1-based, in the file it was read from */
  char  *key;      /* host:port (normalised) or fingerprint; NULL if no entry */
  char  *value;    /* known_servers: fingerprint; authorized_clients: nickname or NULL */
} TrustLine;

typedef struct {
  GPtrArray  *lines;   /* TrustLine, in file order */
  GHashTable *index;   /* key → first TrustLine with that key (borrowed) */
} TrustFile;

struct _ScTrustStore
{
  GMutex     mutex;
  char      *key_dir;
  char      *paths[N_TRUST_FILES];
  TrustFile *files[N_TRUST_FILES];   /* the in-memory copy, refreshed by each change */
};

/* ---- lines and files ---- */

static void
trust_line_free (TrustLine *line)
{
  g_free (line->raw);
  g_free (line->key);
  g_free (line->value);
  g_free (line);
}

static TrustFile *
trust_file_new (void)
{
  TrustFile *file = g_new0 (TrustFile, 1);

  file->lines = g_ptr_array_new_with_free_func ((GDestroyNotify) trust_line_free);
  file->index = g_hash_table_new (g_str_hash, g_str_equal);
  return file;
}

static void
trust_file_free (TrustFile *file)
{
  if (file == NULL)
    return;
  g_hash_table_unref (file->index);
  g_ptr_array_unref (file->lines);
  g_free (file);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TrustFile, trust_file_free)

static void
trust_file_reindex (TrustFile *file)
{
  g_hash_table_remove_all (file->index);
  for (guint i = 0; i < file->lines->len; i++)
    {
      TrustLine *line = g_ptr_array_index (file->lines, i);

      if (line->key != NULL && !g_hash_table_contains (file->index, line->key))
        g_hash_table_insert (file->index, line->key, line);
    }
}

static TrustLine *
trust_file_lookup (TrustFile  *file,
                   const char *key)
{
  return g_hash_table_lookup (file->index, key);
}

/* Removes every entry for @key; returns whether there was one */
static gboolean
trust_file_remove (TrustFile  *file,
                   const char *key)
{
  gboolean removed = FALSE;

  for (guint i = file->lines->len; i > 0; i--)
    {
      TrustLine *line = g_ptr_array_index (file->lines, i - 1);

      if (g_strcmp0 (line->key, key) == 0)
        {
          g_ptr_array_remove_index (file->lines, i - 1);
          removed = TRUE;
        }
    }
  if (removed)
    trust_file_reindex (file);
  return removed;
}

static GBytes *
trust_file_serialize (TrustFile *file)
{
  GString *text = g_string_new (NULL);

  for (guint i = 0; i < file->lines->len; i++)
    {
      TrustLine *line = g_ptr_array_index (file->lines, i);

      g_string_append (text, line->raw);
      g_string_append_c (text, '\n');
    }
  return g_string_free_to_bytes (text);
}

/* ---- validation ---- */

static gboolean
is_control (gunichar c)
{
  return g_unichar_iscntrl (c) || c == 0x2028 || c == 0x2029;
}

static gboolean
nickname_is_valid (const char *nick)
{
  if (strlen (nick) > SC_V2_NICK_MAX || !g_utf8_validate (nick, -1, NULL))
    return FALSE;
  for (const char *p = nick; *p; p = g_utf8_next_char (p))
    if (is_control (g_utf8_get_char (p)))
      return FALSE;
  return TRUE;
}

static gboolean
host_is_valid (const char *host,
               gsize       len)
{
  if (len == 0)
    return FALSE;

  if (host[0] == '[')
    {
      gboolean has_colon = FALSE;

      /* An IPv6 literal, possibly with a zone ("[fe80::1%eth0]") */
      if (len < 4 || host[len - 1] != ']')
        return FALSE;
      for (gsize i = 1; i < len - 1; i++)
        {
          char c = host[i];

          if (c == ':')
            has_colon = TRUE;
          else if (!g_ascii_isalnum (c) && strchr (".%-_", c) == NULL)
            return FALSE;
        }
      return has_colon;
    }

  for (gsize i = 0; i < len; i++)
    {
      guchar c = (guchar) host[i];

      if (c <= 0x20 || c == 0x7f || strchr (":[]/#", c) != NULL)
        return FALSE;
    }
  return g_utf8_validate (host, (gssize) len, NULL);
}

/* "Host:Port" → "host:port", or NULL if it is not a valid host:port */
static char *
normalize_host_port (const char *text)
{
  g_autofree char *host = NULL;
  const char *colon;
  guint64 port;

  if (text == NULL || (colon = strrchr (text, ':')) == NULL)
    return NULL;
  if (!host_is_valid (text, (gsize) (colon - text)))
    return NULL;
  if (!g_ascii_string_to_unsigned (colon + 1, 10, 1, G_MAXUINT16, &port, NULL))
    return NULL;

  host = g_ascii_strdown (text, colon - text);
  return g_strdup_printf ("%s:%u", host, (guint) port);
}

/* The non-empty, blank-separated fields of @text */
static GStrv
split_fields (const char *text)
{
  g_auto(GStrv) parts = g_strsplit_set (text, " \t", -1);
  GPtrArray *fields = g_ptr_array_new ();

  for (guint i = 0; parts[i] != NULL; i++)
    if (parts[i][0] != '\0')
      g_ptr_array_add (fields, g_strdup (parts[i]));
  g_ptr_array_add (fields, NULL);
  return (GStrv) g_ptr_array_free (fields, FALSE);
}

/* Parses one stripped, non-empty, non-comment line of a @kind file into
 * @line.  Returns a description of the problem, or NULL if it is good. */
static char *
parse_entry (TrustKind   kind,
             const char *stripped,
             TrustLine  *line)
{
  g_auto(GStrv) fields = split_fields (stripped);
  guint n = g_strv_length (fields);
  g_autofree char *nick = NULL;

  g_assert (n >= 1);

  switch (kind)
    {
    case TRUST_KNOWN_SERVERS:
      if (n != 2)
        return g_strdup ("expected “host:port SHA256:…”");
      line->key = normalize_host_port (fields[0]);
      if (line->key == NULL)
        return g_strdup_printf ("“%s” is not a valid host:port", fields[0]);
      if (!sc_fingerprint_is_valid (fields[1]))
        return g_strdup_printf ("“%s” is not a valid fingerprint", fields[1]);
      line->value = g_strdup (fields[1]);
      return NULL;

    case TRUST_AUTHORIZED_CLIENTS:
      if (!sc_fingerprint_is_valid (fields[0]))
        return g_strdup_printf ("“%s” is not a valid fingerprint", fields[0]);
      /* The nickname is everything after the fingerprint, inner blanks kept */
      nick = g_strstrip (g_strdup (stripped + strcspn (stripped, " \t")));
      if (!nickname_is_valid (nick))
        return g_strdup_printf ("the nickname is longer than %d bytes or has control characters",
                                SC_V2_NICK_MAX);
      line->key = g_strdup (fields[0]);
      line->value = nick[0] != '\0' ? g_steal_pointer (&nick) : NULL;
      return NULL;

    case TRUST_VERIFIED:
      if (n != 1)
        return g_strdup ("expected a single fingerprint");
      if (!sc_fingerprint_is_valid (fields[0]))
        return g_strdup_printf ("“%s” is not a valid fingerprint", fields[0]);
      line->key = g_strdup (fields[0]);
      return NULL;

    case N_TRUST_FILES:
    default:
      g_assert_not_reached ();
    }
}

/* Adds one line to @file; on error, @file is unchanged */
static gboolean
trust_file_add_line (TrustFile   *file,
                     TrustKind    kind,
                     const char  *path,
                     const char  *raw,
                     gsize        raw_len,
                     guint        lineno,
                     GError     **error)
{
  g_autofree char *problem = NULL;
  g_autofree char *stripped = NULL;
  TrustLine *line;
  TrustLine *first;

  if (memchr (raw, '\0', raw_len) != NULL)
    problem = g_strdup ("the line contains a NUL byte");
  else if (!g_utf8_validate (raw, (gssize) raw_len, NULL))
    problem = g_strdup ("the line is not valid UTF-8");
  if (problem != NULL)
    goto bad;

  line = g_new0 (TrustLine, 1);
  line->raw = g_strndup (raw, raw_len);
  line->lineno = lineno;

  stripped = g_strstrip (g_strdup (line->raw));
  if (stripped[0] != '\0' && stripped[0] != '#')
    {
      problem = parse_entry (kind, stripped, line);
      if (problem == NULL && kind == TRUST_KNOWN_SERVERS &&
          (first = trust_file_lookup (file, line->key)) != NULL &&
          strcmp (first->value, line->value) != 0)
        problem = g_strdup_printf ("%s is pinned to a different key on line %u",
                                   line->key, first->lineno);
      if (problem != NULL)
        {
          trust_line_free (line);
          goto bad;
        }
    }

  g_ptr_array_add (file->lines, line);
  if (line->key != NULL && !g_hash_table_contains (file->index, line->key))
    g_hash_table_insert (file->index, line->key, line);
  return TRUE;

bad:
  g_set_error (error, SC_ERROR, SC_ERROR_KEY_FILE, "“%s” line %u: %s", path, lineno, problem);
  return FALSE;
}

static TrustFile *
trust_file_parse (TrustKind    kind,
                  const char  *path,
                  const char  *data,
                  gsize        len,
                  GError     **error)
{
  g_autoptr(TrustFile) file = trust_file_new ();
  const char *p = data;
  const char *end = data + len;
  guint lineno = 0;

  while (p < end)
    {
      const char *nl = memchr (p, '\n', (gsize) (end - p));
      const char *line_end = nl != NULL ? nl : end;

      if (!trust_file_add_line (file, kind, path, p, (gsize) (line_end - p), ++lineno, error))
        return NULL;
      p = nl != NULL ? nl + 1 : end;
    }

  return g_steal_pointer (&file);
}

/* ---- the store ---- */

/* Reads the @kind file from disk; a missing file is an empty one */
static TrustFile *
trust_store_read (ScTrustStore  *self,
                  TrustKind      kind,
                  GError       **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autofree char *data = NULL;
  gsize len = 0;

  if (!sc_file_read (self->paths[kind], TRUE, FALSE, &data, &len, &local_error))
    {
      if (local_error != NULL)
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return NULL;
        }
      return trust_file_new ();
    }

  return trust_file_parse (kind, self->paths[kind], data, len, error);
}

/* Writes @file as the @kind file and makes it the in-memory copy */
static gboolean
trust_store_commit (ScTrustStore  *self,
                    TrustKind      kind,
                    TrustFile     *file,
                    GError       **error)
{
  g_autoptr(GBytes) bytes = trust_file_serialize (file);

  if (!sc_file_ensure_dir (self->key_dir, error) ||
      !sc_file_replace (self->paths[kind], g_bytes_get_data (bytes, NULL),
                        g_bytes_get_size (bytes), error))
    return FALSE;

  trust_file_free (self->files[kind]);
  self->files[kind] = file;
  return TRUE;
}

/* Takes a fresh copy of @kind from disk as the in-memory one */
static void
trust_store_adopt (ScTrustStore *self,
                   TrustKind     kind,
                   TrustFile    *file)
{
  trust_file_free (self->files[kind]);
  self->files[kind] = file;
}

static gboolean
trust_store_reload_locked (ScTrustStore  *self,
                           GError       **error)
{
  TrustFile *fresh[N_TRUST_FILES] = { NULL, };

  for (guint kind = 0; kind < N_TRUST_FILES; kind++)
    {
      fresh[kind] = trust_store_read (self, kind, error);
      if (fresh[kind] == NULL)
        {
          for (guint i = 0; i < kind; i++)
            trust_file_free (fresh[i]);
          return FALSE;
        }
    }

  for (guint kind = 0; kind < N_TRUST_FILES; kind++)
    trust_store_adopt (self, kind, fresh[kind]);
  return TRUE;
}

ScTrustStore *
sc_trust_store_new (const char  *key_dir,
                    GError     **error)
{
  g_autoptr(ScTrustStore) self = NULL;

  g_return_val_if_fail (key_dir != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_new0 (ScTrustStore, 1);
  g_mutex_init (&self->mutex);
  self->key_dir = g_strdup (key_dir);
  for (guint kind = 0; kind < N_TRUST_FILES; kind++)
    self->paths[kind] = g_build_filename (key_dir, trust_file_names[kind], NULL);

  if (!trust_store_reload_locked (self, error))
    return NULL;

  return g_steal_pointer (&self);
}

void
sc_trust_store_free (ScTrustStore *self)
{
  if (self == NULL)
    return;

  for (guint kind = 0; kind < N_TRUST_FILES; kind++)
    {
      trust_file_free (self->files[kind]);
      g_free (self->paths[kind]);
    }
  g_free (self->key_dir);
  g_mutex_clear (&self->mutex);
  g_free (self);
}

gboolean
sc_trust_store_reload (ScTrustStore  *self,
                       GError       **error)
{
  g_autoptr(GMutexLocker) locker = NULL;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  locker = g_mutex_locker_new (&self->mutex);
  return trust_store_reload_locked (self, error);
}

const char *
sc_trust_store_get_key_dir (ScTrustStore *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->key_dir;
}

const char *
sc_trust_state_to_string (ScTrustState state)
{
  switch (state)
    {
    case SC_TRUST_NEW:
      return "new";
    case SC_TRUST_PINNED:
      return "pinned";
    case SC_TRUST_VERIFIED:
      return "verified";
    case SC_TRUST_CHANGED:
      return "changed";
    case SC_TRUST_LEGACY:
      return "legacy";
    default:
      return "unknown";
    }
}

void
sc_known_server_free (ScKnownServer *server)
{
  if (server == NULL)
    return;
  g_free (server->host_port);
  g_free (server->fingerprint);
  g_free (server);
}

char *
sc_trust_host_port (const char *host,
                    guint16     port)
{
  g_autofree char *lower = NULL;

  g_return_val_if_fail (host != NULL, NULL);

  lower = g_ascii_strdown (host, -1);
  if (lower[0] != '[' && strchr (lower, ':') != NULL)
    return g_strdup_printf ("[%s]:%u", lower, (guint) port);
  return g_strdup_printf ("%s:%u", lower, (guint) port);
}

static gboolean
check_fingerprint_arg (const char  *fingerprint,
                       GError     **error)
{
  if (sc_fingerprint_is_valid (fingerprint))
    return TRUE;
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
               "“%s” is not a valid fingerprint", fingerprint ? fingerprint : "(null)");
  return FALSE;
}

static char *
check_host_port_arg (const char  *host_port,
                     GError     **error)
{
  char *normal = normalize_host_port (host_port);

  if (normal == NULL)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "“%s” is not a valid host:port", host_port ? host_port : "(null)");
  return normal;
}

/* ---- client side ---- */

ScTrustState
sc_trust_store_check_server (ScTrustStore *self,
                             const char   *host_port,
                             const char   *fingerprint)
{
  g_autoptr(GMutexLocker) locker = NULL;
  g_autofree char *normal = NULL;
  TrustLine *pinned;

  g_return_val_if_fail (self != NULL, SC_TRUST_CHANGED);
  g_return_val_if_fail (fingerprint != NULL, SC_TRUST_CHANGED);

  normal = normalize_host_port (host_port);
  if (normal == NULL)
    return SC_TRUST_NEW;

  locker = g_mutex_locker_new (&self->mutex);
  pinned = trust_file_lookup (self->files[TRUST_KNOWN_SERVERS], normal);
  if (pinned == NULL)
    return SC_TRUST_NEW;
  if (strcmp (pinned->value, fingerprint) != 0)
    return SC_TRUST_CHANGED;
  if (trust_file_lookup (self->files[TRUST_VERIFIED], fingerprint) != NULL)
    return SC_TRUST_VERIFIED;
  return SC_TRUST_PINNED;
}

char *
sc_trust_store_lookup_server (ScTrustStore *self,
                              const char   *host_port)
{
  g_autoptr(GMutexLocker) locker = NULL;
  g_autofree char *normal = NULL;
  TrustLine *pinned;

  g_return_val_if_fail (self != NULL, NULL);

  normal = normalize_host_port (host_port);
  if (normal == NULL)
    return NULL;

  locker = g_mutex_locker_new (&self->mutex);
  pinned = trust_file_lookup (self->files[TRUST_KNOWN_SERVERS], normal);
  return pinned != NULL ? g_strdup (pinned->value) : NULL;
}

gboolean
sc_trust_store_pin_server (ScTrustStore  *self,
                           const char    *host_port,
                           const char    *fingerprint,
                           GError       **error)
{
  g_autoptr(GMutexLocker) locker = NULL;
  g_autoptr(TrustFile) file = NULL;
  g_autofree char *normal = NULL;
  g_autofree char *raw = NULL;
  TrustLine *pinned;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if ((normal = check_host_port_arg (host_port, error)) == NULL ||
      !check_fingerprint_arg (fingerprint, error))
    return FALSE;

  locker = g_mutex_locker_new (&self->mutex);
  file = trust_store_read (self, TRUST_KNOWN_SERVERS, error);
  if (file == NULL)
    return FALSE;

  pinned = trust_file_lookup (file, normal);
  if (pinned != NULL && strcmp (pinned->value, fingerprint) != 0)
    {
      g_set_error (error, SC_ERROR, SC_ERROR_KEY_CHANGED,
                   "The key of %s has changed: %s is pinned, but %s was presented. "
                   "The old key is kept; forget it explicitly if the change is expected.",
                   normal, pinned->value, fingerprint);
      trust_store_adopt (self, TRUST_KNOWN_SERVERS, g_steal_pointer (&file));
      return FALSE;
    }
  if (pinned != NULL)
    {
      trust_store_adopt (self, TRUST_KNOWN_SERVERS, g_steal_pointer (&file));
      return TRUE;
    }

  raw = g_strdup_printf ("%s %s", normal, fingerprint);
  if (!trust_file_add_line (file, TRUST_KNOWN_SERVERS, self->paths[TRUST_KNOWN_SERVERS],
                            raw, strlen (raw), file->lines->len + 1, error) ||
      !trust_store_commit (self, TRUST_KNOWN_SERVERS, file, error))
    return FALSE;

  g_steal_pointer (&file);
  return TRUE;
}

gboolean
sc_trust_store_forget_server (ScTrustStore  *self,
                              const char    *host_port,
                              GError       **error)
{
  g_autoptr(GMutexLocker) locker = NULL;
  g_autoptr(TrustFile) servers = NULL;
  g_autoptr(TrustFile) verified = NULL;
  g_autofree char *normal = NULL;
  g_autofree char *fingerprint = NULL;
  TrustLine *pinned;
  gboolean still_pinned = FALSE;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if ((normal = check_host_port_arg (host_port, error)) == NULL)
    return FALSE;

  locker = g_mutex_locker_new (&self->mutex);
  servers = trust_store_read (self, TRUST_KNOWN_SERVERS, error);
  if (servers == NULL)
    return FALSE;
  verified = trust_store_read (self, TRUST_VERIFIED, error);
  if (verified == NULL)
    return FALSE;

  pinned = trust_file_lookup (servers, normal);
  if (pinned == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   "No key is pinned for %s in “%s”", normal,
                   self->paths[TRUST_KNOWN_SERVERS]);
      trust_store_adopt (self, TRUST_KNOWN_SERVERS, g_steal_pointer (&servers));
      trust_store_adopt (self, TRUST_VERIFIED, g_steal_pointer (&verified));
      return FALSE;
    }
  fingerprint = g_strdup (pinned->value);
  trust_file_remove (servers, normal);

  for (guint i = 0; i < servers->lines->len && !still_pinned; i++)
    {
      TrustLine *line = g_ptr_array_index (servers->lines, i);

      still_pinned = g_strcmp0 (line->value, fingerprint) == 0;
    }

  /* The verified mark goes first: if the second write fails, the key stays
   * pinned but unverified, never verified without a pin. */
  if (!still_pinned && trust_file_remove (verified, fingerprint))
    {
      if (!trust_store_commit (self, TRUST_VERIFIED, verified, error))
        return FALSE;
      g_steal_pointer (&verified);
    }
  else
    {
      trust_store_adopt (self, TRUST_VERIFIED, g_steal_pointer (&verified));
    }

  if (!trust_store_commit (self, TRUST_KNOWN_SERVERS, servers, error))
    return FALSE;
  g_steal_pointer (&servers);
  return TRUE;
}

GPtrArray *
sc_trust_store_list_servers (ScTrustStore *self)
{
  g_autoptr(GMutexLocker) locker = NULL;
  GPtrArray *list;
  TrustFile *servers;

  g_return_val_if_fail (self != NULL, NULL);

  list = g_ptr_array_new_with_free_func ((GDestroyNotify) sc_known_server_free);
  locker = g_mutex_locker_new (&self->mutex);
  servers = self->files[TRUST_KNOWN_SERVERS];
  for (guint i = 0; i < servers->lines->len; i++)
    {
      TrustLine *line = g_ptr_array_index (servers->lines, i);
      ScKnownServer *server;

      /* Repeated lines for one host (always the same key) are listed once */
      if (line->key == NULL || trust_file_lookup (servers, line->key) != line)
        continue;

      server = g_new0 (ScKnownServer, 1);
      server->host_port = g_strdup (line->key);
      server->fingerprint = g_strdup (line->value);
      server->verified = trust_file_lookup (self->files[TRUST_VERIFIED], line->value) != NULL;
      g_ptr_array_add (list, server);
    }

  return list;
}

GPtrArray *
sc_trust_store_list_clients (ScTrustStore *self)
{
  g_autoptr(GMutexLocker) locker = NULL;
  GPtrArray *list;
  TrustFile *clients;

  g_return_val_if_fail (self != NULL, NULL);

  list = g_ptr_array_new_with_free_func (g_free);
  locker = g_mutex_locker_new (&self->mutex);
  clients = self->files[TRUST_AUTHORIZED_CLIENTS];
  for (guint i = 0; i < clients->lines->len; i++)
    {
      TrustLine *line = g_ptr_array_index (clients->lines, i);

      if (line->key == NULL || trust_file_lookup (clients, line->key) != line)
        continue;
      g_ptr_array_add (list, line->value ? g_strdup_printf ("%s %s", line->key, line->value)
                                         : g_strdup (line->key));
    }
  return list;
}

/* ---- verified marks ---- */

/* Whether the in-memory copy of @which lists @fingerprint */
static gboolean
trust_store_has (ScTrustStore *self,
                 TrustKind     which,
                 const char   *fingerprint)
{
  g_autoptr(GMutexLocker) locker = NULL;

  g_return_val_if_fail (self != NULL, FALSE);

  if (fingerprint == NULL)
    return FALSE;
  locker = g_mutex_locker_new (&self->mutex);
  return trust_file_lookup (self->files[which], fingerprint) != NULL;
}

gboolean
sc_trust_store_is_verified (ScTrustStore *self,
                            const char   *fingerprint)
{
  return trust_store_has (self, TRUST_VERIFIED, fingerprint);
}

gboolean
sc_trust_store_mark_verified (ScTrustStore  *self,
                              const char    *fingerprint,
                              GError       **error)
{
  g_autoptr(GMutexLocker) locker = NULL;
  g_autoptr(TrustFile) file = NULL;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!check_fingerprint_arg (fingerprint, error))
    return FALSE;

  locker = g_mutex_locker_new (&self->mutex);
  file = trust_store_read (self, TRUST_VERIFIED, error);
  if (file == NULL)
    return FALSE;

  if (trust_file_lookup (file, fingerprint) != NULL)
    {
      trust_store_adopt (self, TRUST_VERIFIED, g_steal_pointer (&file));
      return TRUE;
    }

  if (!trust_file_add_line (file, TRUST_VERIFIED, self->paths[TRUST_VERIFIED],
                            fingerprint, strlen (fingerprint), file->lines->len + 1, error) ||
      !trust_store_commit (self, TRUST_VERIFIED, file, error))
    return FALSE;

  g_steal_pointer (&file);
  return TRUE;
}

/* ---- server side allow-list ---- */

gboolean
sc_trust_store_is_authorized (ScTrustStore *self,
                              const char   *fingerprint)
{
  return trust_store_has (self, TRUST_AUTHORIZED_CLIENTS, fingerprint);
}

gboolean
sc_trust_store_authorize_client (ScTrustStore  *self,
                                 const char    *fingerprint,
                                 const char    *nickname,
                                 GError       **error)
{
  g_autoptr(GMutexLocker) locker = NULL;
  g_autoptr(TrustFile) file = NULL;
  g_autofree char *nick = NULL;
  g_autofree char *raw = NULL;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!check_fingerprint_arg (fingerprint, error))
    return FALSE;

  nick = g_strstrip (g_strdup (nickname != NULL ? nickname : ""));
  if (!nickname_is_valid (nick))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "A nickname must be valid UTF-8 of at most %d bytes "
                   "without control characters", SC_V2_NICK_MAX);
      return FALSE;
    }

  locker = g_mutex_locker_new (&self->mutex);
  file = trust_store_read (self, TRUST_AUTHORIZED_CLIENTS, error);
  if (file == NULL)
    return FALSE;

  if (trust_file_lookup (file, fingerprint) != NULL)
    {
      trust_store_adopt (self, TRUST_AUTHORIZED_CLIENTS, g_steal_pointer (&file));
      return TRUE;
    }

  raw = nick[0] != '\0' ? g_strdup_printf ("%s %s", fingerprint, nick) : g_strdup (fingerprint);
  if (!trust_file_add_line (file, TRUST_AUTHORIZED_CLIENTS,
                            self->paths[TRUST_AUTHORIZED_CLIENTS],
                            raw, strlen (raw), file->lines->len + 1, error) ||
      !trust_store_commit (self, TRUST_AUTHORIZED_CLIENTS, file, error))
    return FALSE;

  g_steal_pointer (&file);
  return TRUE;
}
