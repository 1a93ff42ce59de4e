/* test-keys.c: the key directory, its files and the identity they hold
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "sc-crypto.h"
#include "sc-file.h"
#include "sc-keys.h"
#include "sc-protocol.h"

#define NOBODY_ID 65534

typedef struct {
  char *tmp_dir;    /* from g_dir_make_tmp(), removed afterwards */
  char *key_dir;    /* tmp_dir/keys, not created by the fixture */
  char *rsa_path;
  char *ed_path;
} Fixture;

/* ---- helpers ---- */

static void
remove_tree (const char *path)
{
  struct stat st;

  if (lstat (path, &st) != 0)
    return;

  if (S_ISDIR (st.st_mode))
    {
      g_autoptr(GDir) dir = NULL;
      const char *name;

      /* Tests make read-only directories; make them writable to empty them */
      g_chmod (path, 0700);
      dir = g_dir_open (path, 0, NULL);
      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          remove_tree (child);
        }
      g_assert_no_errno (g_rmdir (path));
    }
  else
    {
      g_assert_no_errno (g_unlink (path));
    }
}

static void
fixture_setup (Fixture       *fx,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  fx->tmp_dir = g_dir_make_tmp ("sc-test-keys-XXXXXX", &error);
  g_assert_no_error (error);
  fx->key_dir = g_build_filename (fx->tmp_dir, "keys", NULL);
  fx->rsa_path = g_build_filename (fx->key_dir, SC_FILE_RSA_KEY, NULL);
  fx->ed_path = g_build_filename (fx->key_dir, SC_FILE_IDENTITY, NULL);
}

static void
fixture_teardown (Fixture       *fx,
                  gconstpointer  data)
{
  remove_tree (fx->tmp_dir);
  g_assert_false (g_file_test (fx->tmp_dir, G_FILE_TEST_EXISTS));
  g_free (fx->tmp_dir);
  g_free (fx->key_dir);
  g_free (fx->rsa_path);
  g_free (fx->ed_path);
}

static GBytes *
read_bytes (const char *path)
{
  g_autoptr(GError) error = NULL;
  char *data = NULL;
  gsize len = 0;

  g_file_get_contents (path, &data, &len, &error);
  g_assert_no_error (error);
  return g_bytes_new_take (data, len);
}

static void
write_file (const char   *path,
            const void   *data,
            gsize         len,
            int           mode)
{
  g_autoptr(GError) error = NULL;

  /* CONSISTENT: GLib 2.74 does not truncate an existing file without it */
  g_file_set_contents_full (path, data, (gssize) len, G_FILE_SET_CONTENTS_CONSISTENT, mode,
                            &error);
  g_assert_no_error (error);
  /* g_file_set_contents_full() is subject to the umask: make it exact */
  g_assert_no_errno (g_chmod (path, mode));
}

static int
file_mode (const char *path)
{
  struct stat st;

  g_assert_no_errno (g_stat (path, &st));
  return st.st_mode & 07777;
}

static guint
count_entries (const char *dir_path)
{
  g_autoptr(GDir) dir = g_dir_open (dir_path, 0, NULL);
  guint n = 0;

  g_assert_nonnull (dir);
  while (g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

/* RSA generation is slow (very slow under valgrind): tests that only need
 * some valid key file share one key of each type, made on first use. */
static char *cached_pems[2];

static const char *
cached_pem (gboolean rsa)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EVP_PKEY) key = NULL;
  char *secret;

  if (cached_pems[rsa] != NULL)
    return cached_pems[rsa];

  key = rsa ? sc_rsa_generate (&error) : sc_ed25519_generate (&error);
  g_assert_no_error (error);
  secret = sc_pem_write_private (key, &error);
  g_assert_no_error (error);
  cached_pems[rsa] = g_strdup (secret);
  sc_secret_string_free (secret);
  return cached_pems[rsa];
}

static EVP_PKEY *
cached_key (gboolean rsa)
{
  g_autoptr(GError) error = NULL;
  const char *pem = cached_pem (rsa);
  EVP_PKEY *key = sc_pem_read_private (pem, strlen (pem), &error);

  g_assert_no_error (error);
  return key;
}

static void
seed_key_file (const char *path,
               gboolean    rsa)
{
  g_autofree char *dir = g_path_get_dirname (path);

  g_assert_no_errno (g_mkdir_with_parents (dir, 0700));
  write_file (path, cached_pem (rsa), strlen (cached_pem (rsa)), 0600);
}

/* ---- sc-file ---- */

static void
test_file_create_exclusive (Fixture       *fx,
                            gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (fx->tmp_dir, "file", NULL);
  g_autoptr(GBytes) bytes = NULL;

  g_assert_true (sc_file_create_exclusive (path, (const guint8 *) "first\n", 6, &error));
  g_assert_no_error (error);
  g_assert_cmpint (file_mode (path), ==, 0600);

  /* A second create must refuse and leave the first content */
  g_assert_false (sc_file_create_exclusive (path, (const guint8 *) "second\n", 7, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_assert_nonnull (strstr (error->message, path));
  g_clear_error (&error);

  bytes = read_bytes (path);
  g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), "first\n", 6);
  /* ... and no temporary file is left behind */
  g_assert_cmpuint (count_entries (fx->tmp_dir), ==, 1);
}

static void
test_file_replace (Fixture       *fx,
                   gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (fx->tmp_dir, "file", NULL);
  g_autoptr(GBytes) bytes = NULL;

  write_file (path, "old", 3, 0644);
  g_assert_true (sc_file_replace (path, (const guint8 *) "new content", 11, &error));
  g_assert_no_error (error);

  bytes = read_bytes (path);
  g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), "new content", 11);
  g_assert_cmpint (file_mode (path), ==, 0600);
  g_assert_cmpuint (count_entries (fx->tmp_dir), ==, 1);

  /* Into a directory that does not exist: an error naming the file */
  g_free (path);
  path = g_build_filename (fx->tmp_dir, "missing", "file", NULL);
  g_assert_false (sc_file_replace (path, (const guint8 *) "x", 1, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, path));
}

static void
test_file_read (Fixture       *fx,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (fx->tmp_dir, "file", NULL);
  g_autofree char *fifo = g_build_filename (fx->tmp_dir, "fifo", NULL);
  g_autofree char *contents = NULL;
  gsize len = 1;

  /* Missing and allowed to be: FALSE without an error */
  g_assert_false (sc_file_read (path, TRUE, TRUE, &contents, &len, &error));
  g_assert_no_error (error);
  g_assert_null (contents);
  g_assert_cmpuint (len, ==, 0);

  /* Missing and required */
  g_assert_false (sc_file_read (path, FALSE, TRUE, &contents, &len, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, path));
  g_clear_error (&error);

  /* Readable by others: refused only for private files */
  write_file (path, "abc\0def", 7, 0644);
  g_assert_false (sc_file_read (path, FALSE, TRUE, &contents, &len, &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_KEY_FILE);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_nonnull (strstr (error->message, "0644"));
  g_assert_nonnull (strstr (error->message, "too open"));
  g_assert_null (contents);
  g_clear_error (&error);

  g_assert_true (sc_file_read (path, FALSE, FALSE, &contents, &len, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (contents, len, "abc\0def", 7);
  g_assert_cmpint (contents[len], ==, '\0');
  g_clear_pointer (&contents, g_free);

  g_assert_no_errno (g_chmod (path, 0600));
  g_assert_true (sc_file_read (path, FALSE, TRUE, &contents, &len, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (len, ==, 7);
  g_clear_pointer (&contents, g_free);

  /* Not regular files: a directory, and a FIFO (which must not block) */
  g_assert_false (sc_file_read (fx->tmp_dir, FALSE, FALSE, &contents, &len, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE);
  g_assert_nonnull (strstr (error->message, fx->tmp_dir));
  g_clear_error (&error);

  g_assert_no_errno (mkfifo (fifo, 0600));
  g_assert_false (sc_file_read (fifo, FALSE, FALSE, &contents, &len, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE);
  g_assert_nonnull (strstr (error->message, fifo));
}

static void
test_file_ensure_dir (Fixture       *fx,
                      gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *deep = g_build_filename (fx->key_dir, "a", "b", NULL);
  g_autofree char *file = g_build_filename (fx->tmp_dir, "file", NULL);
  g_autofree char *below_file = g_build_filename (file, "sub", NULL);

  g_assert_true (sc_file_ensure_dir (deep, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_test (deep, G_FILE_TEST_IS_DIR));
  g_assert_cmpint (file_mode (deep), ==, 0700);
  g_assert_cmpint (file_mode (fx->key_dir), ==, 0700);
  /* Existing is fine */
  g_assert_true (sc_file_ensure_dir (deep, &error));
  g_assert_no_error (error);

  write_file (file, "x", 1, 0600);
  g_assert_false (sc_file_ensure_dir (file, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, file));
  g_clear_error (&error);
  g_assert_false (sc_file_ensure_dir (below_file, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, below_file));
}

/* ---- identity ---- */

static void
check_pem_lines (const char *pem)
{
  g_auto(GStrv) lines = g_strsplit (pem, "\n", -1);
  guint n = g_strv_length (lines);

  g_assert_cmpuint (n, >=, 3);
  g_assert_cmpstr (lines[0], ==, "-----BEGIN PUBLIC KEY-----");
  g_assert_cmpstr (lines[n - 2], ==, "-----END PUBLIC KEY-----");
  g_assert_cmpstr (lines[n - 1], ==, "");
  for (guint i = 1; i < n - 2; i++)
    {
      g_assert_cmpuint (strlen (lines[i]), >, 0);
      if (i < n - 3)
        g_assert_cmpuint (strlen (lines[i]), ==, 64);
      else
        g_assert_cmpuint (strlen (lines[i]), <=, 64);
    }
}

static void
check_identity_consistent (ScIdentity *id)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *fp = NULL;
  g_autofree char *rsa_fp = NULL;
  g_autofree char *greeting = NULL;
  guint8 raw[32];
  GBytes *bytes;
  const char *pem;

  g_assert_true (EVP_PKEY_is_a (sc_identity_get_rsa (id), "RSA"));
  g_assert_cmpint (EVP_PKEY_get_bits (sc_identity_get_rsa (id)), ==, SC_RSA_BITS);
  g_assert_true (EVP_PKEY_is_a (sc_identity_get_ed25519 (id), "ED25519"));

  g_assert_true (sc_ed25519_raw_public (sc_identity_get_ed25519 (id), raw, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (sc_identity_get_ed25519_public (id), 32, raw, 32);

  fp = sc_fingerprint (raw, sizeof raw);
  g_assert_cmpstr (sc_identity_get_fingerprint (id), ==, fp);
  g_assert_true (sc_fingerprint_is_valid (sc_identity_get_fingerprint (id)));
  rsa_fp = sc_fingerprint_rsa (sc_identity_get_rsa (id), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (sc_identity_get_rsa_fingerprint (id), ==, rsa_fp);
  g_assert_true (sc_fingerprint_is_valid (sc_identity_get_rsa_fingerprint (id)));
  g_assert_cmpstr (sc_identity_get_fingerprint (id), !=, sc_identity_get_rsa_fingerprint (id));

  pem = sc_identity_get_rsa_public_pem (id);
  check_pem_lines (pem);

  bytes = sc_identity_get_greeting (id);
  greeting = g_strconcat ("SERVER_PUB\n", pem, "\n\n", NULL);
  g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                   greeting, strlen (greeting));
  g_assert_true (g_str_has_suffix (greeting, "-----\n\n\n"));
  g_assert_cmpuint (g_bytes_get_size (bytes), <=, SC_GREETING_MAX);
}

static void
test_identity_create_reload (Fixture       *fx,
                             gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ScIdentity) first = NULL;
  g_autoptr(ScIdentity) second = NULL;
  g_autoptr(GBytes) rsa_bytes = NULL;
  g_autoptr(GBytes) ed_bytes = NULL;

  g_assert_false (g_file_test (fx->key_dir, G_FILE_TEST_EXISTS));
  first = sc_identity_load_or_create (fx->key_dir, &error);
  g_assert_no_error (error);
  g_assert_nonnull (first);
  check_identity_consistent (first);

  g_assert_cmpint (file_mode (fx->key_dir), ==, 0700);
  g_assert_cmpint (file_mode (fx->rsa_path), ==, 0600);
  g_assert_cmpint (file_mode (fx->ed_path), ==, 0600);
  g_assert_cmpuint (count_entries (fx->key_dir), ==, 2);

  /* Unencrypted PKCS#8, as the seed program writes it */
  rsa_bytes = read_bytes (fx->rsa_path);
  ed_bytes = read_bytes (fx->ed_path);
  g_assert_true (g_str_has_prefix (g_bytes_get_data (rsa_bytes, NULL),
                                   "-----BEGIN PRIVATE KEY-----\n"));
  g_assert_true (g_str_has_prefix (g_bytes_get_data (ed_bytes, NULL),
                                   "-----BEGIN PRIVATE KEY-----\n"));

  second = sc_identity_load_or_create (fx->key_dir, &error);
  g_assert_no_error (error);
  g_assert_nonnull (second);
  g_assert_true (first != second);
  check_identity_consistent (second);
  g_assert_cmpstr (sc_identity_get_fingerprint (first), ==, sc_identity_get_fingerprint (second));
  g_assert_cmpstr (sc_identity_get_rsa_fingerprint (first), ==,
                   sc_identity_get_rsa_fingerprint (second));
  g_assert_cmpstr (sc_identity_get_rsa_public_pem (first), ==,
                   sc_identity_get_rsa_public_pem (second));
  g_assert_true (g_bytes_equal (sc_identity_get_greeting (first),
                                sc_identity_get_greeting (second)));
  g_assert_true (EVP_PKEY_eq (sc_identity_get_rsa (first), sc_identity_get_rsa (second)) == 1);
  g_assert_true (EVP_PKEY_eq (sc_identity_get_ed25519 (first),
                              sc_identity_get_ed25519 (second)) == 1);
}

static void
test_identity_generated_once (Fixture       *fx,
                              gconstpointer  data)
{
  const char *paths[] = { fx->rsa_path, fx->ed_path };
  g_autoptr(GError) error = NULL;
  g_autoptr(ScIdentity) id = NULL;
  GBytes *before[2];
  struct stat st_before[2];

  /* Files as a first run would have left them */
  seed_key_file (fx->rsa_path, TRUE);
  seed_key_file (fx->ed_path, FALSE);

  /* Backdate the files so that any rewrite would show in the mtime */
  for (guint i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      struct timespec old[2] = { { 1000000000, 0 }, { 1000000000, 0 } };

      g_assert_no_errno (utimensat (AT_FDCWD, paths[i], old, 0));
      g_assert_no_errno (g_stat (paths[i], &st_before[i]));
      before[i] = read_bytes (paths[i]);
    }

  id = sc_identity_load_or_create (fx->key_dir, &error);
  g_assert_no_error (error);
  g_assert_nonnull (id);

  for (guint i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      g_autoptr(GBytes) after = read_bytes (paths[i]);
      struct stat st;

      g_assert_no_errno (g_stat (paths[i], &st));
      g_assert_true (g_bytes_equal (before[i], after));
      g_assert_cmpint (st.st_mtim.tv_sec, ==, 1000000000);
      g_assert_cmpint (st.st_mtim.tv_nsec, ==, 0);
      g_assert_cmpuint (st.st_ino, ==, st_before[i].st_ino);
      g_bytes_unref (before[i]);
    }
  g_assert_cmpuint (count_entries (fx->key_dir), ==, 2);
}

/* Only the missing file is generated; an existing one is kept and used */
static void
test_identity_partial (Fixture       *fx,
                       gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ScIdentity) id = NULL;
  g_autoptr(GBytes) rsa_before = NULL;
  g_autoptr(GBytes) rsa_after = NULL;
  g_autoptr(EVP_PKEY) seeded = cached_key (TRUE);

  seed_key_file (fx->rsa_path, TRUE);
  rsa_before = read_bytes (fx->rsa_path);

  id = sc_identity_load_or_create (fx->key_dir, &error);
  g_assert_no_error (error);
  g_assert_nonnull (id);
  rsa_after = read_bytes (fx->rsa_path);
  g_assert_true (g_bytes_equal (rsa_before, rsa_after));
  g_assert_true (EVP_PKEY_eq (sc_identity_get_rsa (id), seeded) == 1);
  g_assert_true (g_file_test (fx->ed_path, G_FILE_TEST_IS_REGULAR));
  g_assert_cmpint (file_mode (fx->ed_path), ==, 0600);
  check_identity_consistent (id);
}

static void
test_identity_new (Fixture       *fx,
                   gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EVP_PKEY) rsa = cached_key (TRUE);
  g_autoptr(EVP_PKEY) ed = cached_key (FALSE);
  ScIdentity *id;
  ScIdentity *ref;

  id = sc_identity_new (rsa, ed, &error);
  g_assert_no_error (error);
  g_assert_nonnull (id);
  check_identity_consistent (id);
  g_assert_true (sc_identity_get_rsa (id) == rsa);
  g_assert_true (sc_identity_get_ed25519 (id) == ed);

  /* The identity holds its own references */
  ref = sc_identity_ref (id);
  g_assert_true (ref == id);
  sc_identity_unref (ref);
  g_clear_pointer (&rsa, EVP_PKEY_free);
  g_assert_true (EVP_PKEY_is_a (sc_identity_get_rsa (id), "RSA"));
  check_identity_consistent (id);
  sc_identity_unref (id);

  /* Keys in the wrong roles */
  rsa = cached_key (TRUE);
  g_assert_null (sc_identity_new (ed, rsa, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  g_assert_null (sc_identity_new (ed, ed, &error));
  g_assert_nonnull (error);
}

typedef struct {
  const char *key_dir;
  ScIdentity *id;
  GError     *error;
} RaceData;

static gpointer
race_thread (gpointer user_data)
{
  RaceData *rd = user_data;

  rd->id = sc_identity_load_or_create (rd->key_dir, &rd->error);
  return NULL;
}

/* Several creators at once end up with one identity: losers load the
 * winner's file instead of keeping (or writing) their own key. */
static void
test_identity_race (Fixture       *fx,
                    gconstpointer  data)
{
  RaceData rd[3];
  GThread *threads[G_N_ELEMENTS (rd)];

  for (guint i = 0; i < G_N_ELEMENTS (rd); i++)
    {
      rd[i] = (RaceData) { fx->key_dir, NULL, NULL };
      threads[i] = g_thread_new ("race", race_thread, &rd[i]);
    }
  for (guint i = 0; i < G_N_ELEMENTS (rd); i++)
    g_thread_join (threads[i]);

  for (guint i = 0; i < G_N_ELEMENTS (rd); i++)
    {
      g_assert_no_error (rd[i].error);
      g_assert_nonnull (rd[i].id);
      g_assert_cmpstr (sc_identity_get_fingerprint (rd[i].id), ==,
                       sc_identity_get_fingerprint (rd[0].id));
      g_assert_cmpstr (sc_identity_get_rsa_fingerprint (rd[i].id), ==,
                       sc_identity_get_rsa_fingerprint (rd[0].id));
    }

  {
    g_autoptr(ScIdentity) again = sc_identity_load_or_create (fx->key_dir, NULL);

    g_assert_nonnull (again);
    g_assert_cmpstr (sc_identity_get_fingerprint (again), ==,
                     sc_identity_get_fingerprint (rd[0].id));
  }
  g_assert_cmpuint (count_entries (fx->key_dir), ==, 2);

  for (guint i = 0; i < G_N_ELEMENTS (rd); i++)
    sc_identity_unref (rd[i].id);
}

/* ---- bad key files ---- */

typedef enum {
  BAD_CORRUPT,
  BAD_TRUNCATED,
  BAD_WRONG_TYPE,
  BAD_EMPTY,
  BAD_DIRECTORY,
  BAD_TOO_OPEN,
  BAD_ENCRYPTED,
} BadKind;

typedef struct {
  const char *name;
  gboolean    rsa_file;   /* which file is bad: server_key.pem or identity_ed25519.pem */
  BadKind     kind;
} BadCase;

static const BadCase bad_cases[] = {
  { "rsa/corrupt",          TRUE,  BAD_CORRUPT },
  { "rsa/truncated",        TRUE,  BAD_TRUNCATED },
  { "rsa/wrong-type",       TRUE,  BAD_WRONG_TYPE },
  { "rsa/empty",            TRUE,  BAD_EMPTY },
  { "rsa/directory",        TRUE,  BAD_DIRECTORY },
  { "rsa/too-open",         TRUE,  BAD_TOO_OPEN },
  { "rsa/encrypted",        TRUE,  BAD_ENCRYPTED },
  { "ed25519/corrupt",      FALSE, BAD_CORRUPT },
  { "ed25519/truncated",    FALSE, BAD_TRUNCATED },
  { "ed25519/wrong-type",   FALSE, BAD_WRONG_TYPE },
  { "ed25519/empty",        FALSE, BAD_EMPTY },
  { "ed25519/directory",    FALSE, BAD_DIRECTORY },
  { "ed25519/too-open",     FALSE, BAD_TOO_OPEN },
};

static const char encrypted_pem[] =
  "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
  "MIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQIY2tzZXJ2ZXICAggA\n"
  "-----END ENCRYPTED PRIVATE KEY-----\n";

static void
test_identity_bad_file (Fixture       *fx,
                        gconstpointer  data)
{
  const BadCase *bc = data;
  const char *bad_path = bc->rsa_file ? fx->rsa_path : fx->ed_path;
  const char *other_path = bc->rsa_file ? fx->ed_path : fx->rsa_path;
  g_autoptr(GError) error = NULL;
  g_autoptr(ScIdentity) id = NULL;
  g_autoptr(GBytes) before = NULL;
  g_autofree char *content = NULL;
  int mode = 0600;
  struct stat st;

  g_assert_no_errno (g_mkdir (fx->key_dir, 0700));

  switch (bc->kind)
    {
    case BAD_CORRUPT:
      content = g_strdup ("-----BEGIN PRIVATE KEY-----\n"
                          "This is not base64 at all!\n"
                          "-----END PRIVATE KEY-----\n");
      break;
    case BAD_TRUNCATED:
      content = g_strndup (cached_pem (bc->rsa_file), strlen (cached_pem (bc->rsa_file)) / 2);
      break;
    case BAD_WRONG_TYPE:
      /* A perfectly good key of the other type */
      content = g_strdup (cached_pem (!bc->rsa_file));
      break;
    case BAD_EMPTY:
      content = g_strdup ("");
      break;
    case BAD_TOO_OPEN:
      content = g_strdup (cached_pem (bc->rsa_file));
      mode = 0644;
      break;
    case BAD_ENCRYPTED:
      content = g_strdup (encrypted_pem);
      break;
    case BAD_DIRECTORY:
    default:
      break;
    }

  if (bc->kind == BAD_DIRECTORY)
    g_assert_no_errno (g_mkdir (bad_path, 0700));
  else
    write_file (bad_path, content, strlen (content), mode);
  if (content != NULL)
    before = read_bytes (bad_path);

  id = sc_identity_load_or_create (fx->key_dir, &error);
  g_assert_null (id);
  g_assert_nonnull (error);
  g_test_message ("%s: %s", bc->name, error->message);
  g_assert_nonnull (strstr (error->message, bad_path));
  if (bc->kind == BAD_DIRECTORY)
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE);
  else
    g_assert_error (error, SC_ERROR, SC_ERROR_KEY_FILE);
  if (bc->kind == BAD_TOO_OPEN)
    g_assert_nonnull (strstr (error->message, "0644"));

  /* The bad file is exactly as it was, and nothing else was written */
  g_assert_no_errno (lstat (bad_path, &st));
  if (bc->kind == BAD_DIRECTORY)
    {
      g_assert_true (S_ISDIR (st.st_mode));
      g_assert_cmpuint (count_entries (bad_path), ==, 0);
    }
  else
    {
      g_autoptr(GBytes) after = read_bytes (bad_path);

      g_assert_true (S_ISREG (st.st_mode));
      g_assert_true (g_bytes_equal (before, after));
      g_assert_cmpint (st.st_mode & 07777, ==, mode);
    }
  g_assert_false (g_file_test (other_path, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (count_entries (fx->key_dir), ==, 1);

  /* Asking again changes nothing either: never regenerate */
  g_clear_error (&error);
  id = sc_identity_load_or_create (fx->key_dir, &error);
  g_assert_null (id);
  g_assert_nonnull (error);
  g_assert_cmpuint (count_entries (fx->key_dir), ==, 1);
}

/* A bad file is reported even when the other one is fine */
static void
test_identity_bad_with_good (Fixture       *fx,
                             gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ScIdentity) id = NULL;
  g_autoptr(GBytes) rsa_before = NULL;
  g_autoptr(GBytes) rsa_after = NULL;
  g_autoptr(GBytes) ed_after = NULL;

  seed_key_file (fx->rsa_path, TRUE);
  rsa_before = read_bytes (fx->rsa_path);
  write_file (fx->ed_path, "garbage\n", 8, 0600);

  id = sc_identity_load_or_create (fx->key_dir, &error);
  g_assert_null (id);
  g_assert_error (error, SC_ERROR, SC_ERROR_KEY_FILE);
  g_assert_nonnull (strstr (error->message, fx->ed_path));

  rsa_after = read_bytes (fx->rsa_path);
  ed_after = read_bytes (fx->ed_path);
  g_assert_true (g_bytes_equal (rsa_before, rsa_after));
  g_assert_cmpmem (g_bytes_get_data (ed_after, NULL), g_bytes_get_size (ed_after),
                   "garbage\n", 8);
}

/* In a child process, as an unprivileged user when we are root (root
 * ignores permissions): a read-only key directory is an error naming the
 * file, and nothing gets created. */
static void
test_identity_read_only_dir (Fixture       *fx,
                             gconstpointer  data)
{
  int status = 0;
  pid_t pid;

  /* Let the unprivileged child reach the key directory */
  g_assert_no_errno (g_chmod (fx->tmp_dir, 0755));
  g_assert_no_errno (g_mkdir (fx->key_dir, 0555));
  g_assert_no_errno (g_chmod (fx->key_dir, 0555));

  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      GError *error = NULL;
      ScIdentity *id;
      int ok;

      if (geteuid () == 0 &&
          (setgroups (0, NULL) != 0 || setgid (NOBODY_ID) != 0 || setuid (NOBODY_ID) != 0))
        _exit (10);
      if (geteuid () == 0)
        _exit (11);

      id = sc_identity_load_or_create (fx->key_dir, &error);
      ok = id == NULL && error != NULL &&
           g_error_matches (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED) &&
           strstr (error->message, fx->rsa_path) != NULL;
      if (!ok)
        g_printerr ("unexpected result: %s\n", error ? error->message : "no error");
      g_clear_error (&error);
      if (id != NULL)
        sc_identity_unref (id);
      _exit (ok ? 0 : 1);
    }

  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);

  g_assert_cmpuint (count_entries (fx->key_dir), ==, 0);
  g_assert_cmpint (file_mode (fx->key_dir), ==, 0555);
}

static void
test_key_dir_default (void)
{
  g_autofree char *dir = sc_key_dir_default ();
  g_autofree char *expected = g_build_filename (g_get_user_data_dir (), "secure-chat", NULL);

  g_assert_cmpstr (dir, ==, expected);
}

int
main (int   argc,
      char *argv[])
{
  int ret;

  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("/file/create-exclusive", test_file_create_exclusive);
  ADD ("/file/replace", test_file_replace);
  ADD ("/file/read", test_file_read);
  ADD ("/file/ensure-dir", test_file_ensure_dir);
  g_test_add_func ("/keys/default-dir", test_key_dir_default);
  ADD ("/keys/create-reload", test_identity_create_reload);
  ADD ("/keys/generated-once", test_identity_generated_once);
  ADD ("/keys/partial", test_identity_partial);
  ADD ("/keys/identity-new", test_identity_new);
  ADD ("/keys/race", test_identity_race);
  ADD ("/keys/bad-with-good", test_identity_bad_with_good);
  ADD ("/keys/read-only-dir", test_identity_read_only_dir);
#undef ADD

  for (guint i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      g_autofree char *path = g_strconcat ("/keys/bad-file/", bad_cases[i].name, NULL);

      g_test_add (path, Fixture, &bad_cases[i], fixture_setup, test_identity_bad_file,
                  fixture_teardown);
    }

  ret = g_test_run ();

  for (guint i = 0; i < G_N_ELEMENTS (cached_pems); i++)
    g_free (cached_pems[i]);
  return ret;
}
