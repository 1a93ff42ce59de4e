/* test-trust.c: pinned servers, verified marks and the client allow-list
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <string.h>
#include <sys/stat.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "sc-crypto.h"
#include "sc-protocol.h"
#include "sc-trust.h"

typedef struct {
  char *tmp_dir;      /* from g_dir_make_tmp(), removed afterwards */
  char *key_dir;      /* tmp_dir/keys, not created by the fixture */
  char *servers_path;
  char *clients_path;
  char *verified_path;
  char *fp_a;         /* three distinct, valid fingerprints */
  char *fp_b;
  char *fp_c;
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

static char *
make_fingerprint (guint8 seed)
{
  guint8 key[32];

  memset (key, seed, sizeof key);
  return sc_fingerprint (key, sizeof key);
}

static void
fixture_setup (Fixture       *fx,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  fx->tmp_dir = g_dir_make_tmp ("sc-test-trust-XXXXXX", &error);
  g_assert_no_error (error);
  fx->key_dir = g_build_filename (fx->tmp_dir, "keys", NULL);
  fx->servers_path = g_build_filename (fx->key_dir, SC_FILE_KNOWN_SERVERS, NULL);
  fx->clients_path = g_build_filename (fx->key_dir, SC_FILE_AUTHORIZED_CLIENTS, NULL);
  fx->verified_path = g_build_filename (fx->key_dir, SC_FILE_VERIFIED, NULL);
  fx->fp_a = make_fingerprint (0xa1);
  fx->fp_b = make_fingerprint (0xb2);
  fx->fp_c = make_fingerprint (0xc3);
  g_assert_true (sc_fingerprint_is_valid (fx->fp_a));
  g_assert_cmpstr (fx->fp_a, !=, fx->fp_b);
}

static void
fixture_teardown (Fixture       *fx,
                  gconstpointer  data)
{
  remove_tree (fx->tmp_dir);
  g_assert_false (g_file_test (fx->tmp_dir, G_FILE_TEST_EXISTS));
  g_free (fx->tmp_dir);
  g_free (fx->key_dir);
  g_free (fx->servers_path);
  g_free (fx->clients_path);
  g_free (fx->verified_path);
  g_free (fx->fp_a);
  g_free (fx->fp_b);
  g_free (fx->fp_c);
}

static char *
read_text (const char *path)
{
  g_autoptr(GError) error = NULL;
  char *text = NULL;

  g_file_get_contents (path, &text, NULL, &error);
  g_assert_no_error (error);
  return text;
}

static void
write_text (const char *path,
            const char *text)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_path_get_dirname (path);

  g_assert_no_errno (g_mkdir_with_parents (dir, 0700));
  g_file_set_contents_full (path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error);
  g_assert_no_error (error);
}

static int
file_mode (const char *path)
{
  struct stat st;

  g_assert_no_errno (g_stat (path, &st));
  return st.st_mode & 07777;
}

static ScTrustStore *
open_store (Fixture *fx)
{
  g_autoptr(GError) error = NULL;
  ScTrustStore *store = sc_trust_store_new (fx->key_dir, &error);

  g_assert_no_error (error);
  g_assert_nonnull (store);
  return store;
}

static void
assert_pin (ScTrustStore *store,
            const char   *host_port,
            const char   *fingerprint)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (sc_trust_store_pin_server (store, host_port, fingerprint, &error));
  g_assert_no_error (error);
}

/* ---- tests ---- */

static void
test_host_port (void)
{
  static const struct {
    const char *host;
    guint16     port;
    const char *expected;
  } cases[] = {
    { "example.org",    5555,  "example.org:5555" },
    { "Chat.Example.ORG", 80,  "chat.example.org:80" },
    { "192.0.2.7",      1,     "192.0.2.7:1" },
    { "::1",            5555,  "[::1]:5555" },
    { "FE80::A:1",      65535, "[fe80::a:1]:65535" },
    { "[2001:DB8::1]",  443,   "[2001:db8::1]:443" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *hp = sc_trust_host_port (cases[i].host, cases[i].port);

      g_assert_cmpstr (hp, ==, cases[i].expected);
    }
}

static void
test_state_strings (void)
{
  g_assert_cmpstr (sc_trust_state_to_string (SC_TRUST_NEW), ==, "new");
  g_assert_cmpstr (sc_trust_state_to_string (SC_TRUST_PINNED), ==, "pinned");
  g_assert_cmpstr (sc_trust_state_to_string (SC_TRUST_VERIFIED), ==, "verified");
  g_assert_cmpstr (sc_trust_state_to_string (SC_TRUST_CHANGED), ==, "changed");
  g_assert_cmpstr (sc_trust_state_to_string (SC_TRUST_LEGACY), ==, "legacy");
}

/* A new store on a missing directory is empty and writes nothing */
static void
test_empty_store (Fixture       *fx,
                  gconstpointer  data)
{
  g_autoptr(ScTrustStore) store = open_store (fx);
  g_autoptr(GPtrArray) servers = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_cmpstr (sc_trust_store_get_key_dir (store), ==, fx->key_dir);
  g_assert_cmpint (sc_trust_store_check_server (store, "example.org:5555", fx->fp_a), ==,
                   SC_TRUST_NEW);
  g_assert_null (sc_trust_store_lookup_server (store, "example.org:5555"));
  g_assert_false (sc_trust_store_is_verified (store, fx->fp_a));
  g_assert_false (sc_trust_store_is_authorized (store, fx->fp_a));
  servers = sc_trust_store_list_servers (store);
  g_assert_cmpuint (servers->len, ==, 0);
  g_assert_true (sc_trust_store_reload (store, &error));
  g_assert_no_error (error);

  g_assert_false (g_file_test (fx->key_dir, G_FILE_TEST_EXISTS));

  /* Forgetting what is not there fails, and still writes nothing */
  g_assert_false (sc_trust_store_forget_server (store, "example.org:5555", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_false (g_file_test (fx->key_dir, G_FILE_TEST_EXISTS));
}

static void
test_pin_and_reload (Fixture       *fx,
                     gconstpointer  data)
{
  g_autoptr(ScTrustStore) store = open_store (fx);
  g_autoptr(ScTrustStore) again = NULL;
  g_autoptr(GPtrArray) servers = NULL;
  g_autofree char *text = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *pinned = NULL;
  ScKnownServer *server;

  assert_pin (store, "chat.example.org:5555", fx->fp_a);
  g_assert_cmpint (sc_trust_store_check_server (store, "chat.example.org:5555", fx->fp_a), ==,
                   SC_TRUST_PINNED);
  /* Another port is another server */
  g_assert_cmpint (sc_trust_store_check_server (store, "chat.example.org:5556", fx->fp_a), ==,
                   SC_TRUST_NEW);

  g_assert_cmpint (file_mode (fx->key_dir), ==, 0700);
  g_assert_cmpint (file_mode (fx->servers_path), ==, 0600);
  text = read_text (fx->servers_path);
  expected = g_strdup_printf ("chat.example.org:5555 %s\n", fx->fp_a);
  g_assert_cmpstr (text, ==, expected);
  /* Only the file that changed was written */
  g_assert_false (g_file_test (fx->verified_path, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (fx->clients_path, G_FILE_TEST_EXISTS));

  again = open_store (fx);
  g_assert_cmpint (sc_trust_store_check_server (again, "chat.example.org:5555", fx->fp_a), ==,
                   SC_TRUST_PINNED);
  g_assert_cmpint (sc_trust_store_check_server (again, "chat.example.org:5555", fx->fp_b), ==,
                   SC_TRUST_CHANGED);
  pinned = sc_trust_store_lookup_server (again, "chat.example.org:5555");
  g_assert_cmpstr (pinned, ==, fx->fp_a);

  servers = sc_trust_store_list_servers (again);
  g_assert_cmpuint (servers->len, ==, 1);
  server = g_ptr_array_index (servers, 0);
  g_assert_cmpstr (server->host_port, ==, "chat.example.org:5555");
  g_assert_cmpstr (server->fingerprint, ==, fx->fp_a);
  g_assert_false (server->verified);

  /* Pinning the same key again is a no-op */
  assert_pin (again, "chat.example.org:5555", fx->fp_a);
  g_clear_pointer (&text, g_free);
  text = read_text (fx->servers_path);
  g_assert_cmpstr (text, ==, expected);
}

/* Hosts are compared in normalised form, as sc_trust_host_port() makes them */
static void
test_host_normalised (Fixture       *fx,
                      gconstpointer  data)
{
  g_autoptr(ScTrustStore) store = open_store (fx);
  g_autofree char *hp = sc_trust_host_port ("::1", 5555);
  g_autofree char *text = NULL;
  g_autofree char *expected = NULL;
  g_autoptr(GError) error = NULL;

  assert_pin (store, "Chat.Example.ORG:5555", fx->fp_a);
  g_assert_cmpint (sc_trust_store_check_server (store, "chat.example.org:5555", fx->fp_a), ==,
                   SC_TRUST_PINNED);
  assert_pin (store, hp, fx->fp_b);
  g_assert_cmpint (sc_trust_store_check_server (store, "[::1]:5555", fx->fp_b), ==,
                   SC_TRUST_PINNED);

  text = read_text (fx->servers_path);
  expected = g_strdup_printf ("chat.example.org:5555 %s\n[::1]:5555 %s\n", fx->fp_a, fx->fp_b);
  g_assert_cmpstr (text, ==, expected);

  /* Invalid arguments write nothing */
  g_assert_false (sc_trust_store_pin_server (store, "::1:5555", fx->fp_c, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (sc_trust_store_pin_server (store, "host:0", fx->fp_c, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (sc_trust_store_pin_server (store, "host:5555", "SHA256:nope", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_pointer (&text, g_free);
  text = read_text (fx->servers_path);
  g_assert_cmpstr (text, ==, expected);
}

static void
test_changed_key_refused (Fixture       *fx,
                          gconstpointer  data)
{
  g_autoptr(ScTrustStore) store = open_store (fx);
  g_autoptr(ScTrustStore) again = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autofree char *pinned = NULL;

  assert_pin (store, "chat.example.org:5555", fx->fp_a);
  before = read_text (fx->servers_path);

  g_assert_false (sc_trust_store_pin_server (store, "chat.example.org:5555", fx->fp_b, &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_KEY_CHANGED);
  g_assert_nonnull (strstr (error->message, fx->fp_a));
  g_assert_nonnull (strstr (error->message, fx->fp_b));
  g_assert_nonnull (strstr (error->message, "chat.example.org:5555"));

  after = read_text (fx->servers_path);
  g_assert_cmpstr (after, ==, before);
  g_assert_cmpint (sc_trust_store_check_server (store, "chat.example.org:5555", fx->fp_b), ==,
                   SC_TRUST_CHANGED);
  pinned = sc_trust_store_lookup_server (store, "chat.example.org:5555");
  g_assert_cmpstr (pinned, ==, fx->fp_a);

  again = open_store (fx);
  g_assert_cmpint (sc_trust_store_check_server (again, "chat.example.org:5555", fx->fp_a), ==,
                   SC_TRUST_PINNED);
}

static void
test_verified (Fixture       *fx,
               gconstpointer  data)
{
  g_autoptr(ScTrustStore) store = open_store (fx);
  g_autoptr(ScTrustStore) again = NULL;
  g_autoptr(GPtrArray) servers = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  g_autofree char *expected = NULL;

  assert_pin (store, "chat.example.org:5555", fx->fp_a);
  g_assert_true (sc_trust_store_mark_verified (store, fx->fp_a, &error));
  g_assert_no_error (error);
  /* Twice is the same as once */
  g_assert_true (sc_trust_store_mark_verified (store, fx->fp_a, &error));
  g_assert_no_error (error);

  g_assert_true (sc_trust_store_is_verified (store, fx->fp_a));
  g_assert_false (sc_trust_store_is_verified (store, fx->fp_b));
  g_assert_cmpint (sc_trust_store_check_server (store, "chat.example.org:5555", fx->fp_a), ==,
                   SC_TRUST_VERIFIED);
  /* A different key is changed, not verified */
  g_assert_cmpint (sc_trust_store_check_server (store, "chat.example.org:5555", fx->fp_b), ==,
                   SC_TRUST_CHANGED);

  text = read_text (fx->verified_path);
  expected = g_strdup_printf ("%s\n", fx->fp_a);
  g_assert_cmpstr (text, ==, expected);
  g_assert_cmpint (file_mode (fx->verified_path), ==, 0600);

  again = open_store (fx);
  g_assert_cmpint (sc_trust_store_check_server (again, "chat.example.org:5555", fx->fp_a), ==,
                   SC_TRUST_VERIFIED);
  servers = sc_trust_store_list_servers (again);
  g_assert_cmpuint (servers->len, ==, 1);
  g_assert_true (((ScKnownServer *) g_ptr_array_index (servers, 0))->verified);

  g_assert_false (sc_trust_store_mark_verified (again, "SHA256:short", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
}

static void
test_forget (Fixture       *fx,
             gconstpointer  data)
{
  g_autoptr(ScTrustStore) store = open_store (fx);
  g_autoptr(ScTrustStore) again = NULL;
  g_autoptr(GPtrArray) servers = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  g_autofree char *expected = NULL;

  assert_pin (store, "one.example:5555", fx->fp_a);
  assert_pin (store, "two.example:5555", fx->fp_b);
  g_assert_true (sc_trust_store_mark_verified (store, fx->fp_a, &error));
  g_assert_true (sc_trust_store_mark_verified (store, fx->fp_b, &error));
  g_assert_no_error (error);

  g_assert_true (sc_trust_store_forget_server (store, "one.example:5555", &error));
  g_assert_no_error (error);

  g_assert_cmpint (sc_trust_store_check_server (store, "one.example:5555", fx->fp_a), ==,
                   SC_TRUST_NEW);
  g_assert_false (sc_trust_store_is_verified (store, fx->fp_a));
  /* The other host and its mark are untouched */
  g_assert_cmpint (sc_trust_store_check_server (store, "two.example:5555", fx->fp_b), ==,
                   SC_TRUST_VERIFIED);

  text = read_text (fx->servers_path);
  expected = g_strdup_printf ("two.example:5555 %s\n", fx->fp_b);
  g_assert_cmpstr (text, ==, expected);
  g_clear_pointer (&text, g_free);
  g_clear_pointer (&expected, g_free);
  text = read_text (fx->verified_path);
  expected = g_strdup_printf ("%s\n", fx->fp_b);
  g_assert_cmpstr (text, ==, expected);

  again = open_store (fx);
  g_assert_cmpint (sc_trust_store_check_server (again, "one.example:5555", fx->fp_a), ==,
                   SC_TRUST_NEW);
  g_assert_false (sc_trust_store_is_verified (again, fx->fp_a));
  servers = sc_trust_store_list_servers (again);
  g_assert_cmpuint (servers->len, ==, 1);

  g_assert_false (sc_trust_store_forget_server (again, "one.example:5555", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
}

/* The mark belongs to the key: it stays while another host pins that key */
static void
test_forget_shared_key (Fixture       *fx,
                        gconstpointer  data)
{
  g_autoptr(ScTrustStore) store = open_store (fx);
  g_autoptr(GError) error = NULL;

  assert_pin (store, "one.example:5555", fx->fp_a);
  assert_pin (store, "alias.example:5555", fx->fp_a);
  g_assert_true (sc_trust_store_mark_verified (store, fx->fp_a, &error));
  g_assert_no_error (error);

  g_assert_true (sc_trust_store_forget_server (store, "one.example:5555", &error));
  g_assert_no_error (error);
  g_assert_true (sc_trust_store_is_verified (store, fx->fp_a));
  g_assert_cmpint (sc_trust_store_check_server (store, "alias.example:5555", fx->fp_a), ==,
                   SC_TRUST_VERIFIED);

  g_assert_true (sc_trust_store_forget_server (store, "alias.example:5555", &error));
  g_assert_no_error (error);
  g_assert_false (sc_trust_store_is_verified (store, fx->fp_a));
}

static void
test_verified_not_carried_over (Fixture       *fx,
                                gconstpointer  data)
{
  g_autoptr(ScTrustStore) store = open_store (fx);
  g_autoptr(ScTrustStore) again = NULL;
  g_autoptr(GError) error = NULL;

  assert_pin (store, "chat.example.org:5555", fx->fp_a);
  g_assert_true (sc_trust_store_mark_verified (store, fx->fp_a, &error));
  g_assert_no_error (error);

  /* The server's key changes; the user forgets the old one and pins the new */
  g_assert_true (sc_trust_store_forget_server (store, "chat.example.org:5555", &error));
  g_assert_no_error (error);
  assert_pin (store, "chat.example.org:5555", fx->fp_b);

  g_assert_cmpint (sc_trust_store_check_server (store, "chat.example.org:5555", fx->fp_b), ==,
                   SC_TRUST_PINNED);
  g_assert_false (sc_trust_store_is_verified (store, fx->fp_b));
  again = open_store (fx);
  g_assert_cmpint (sc_trust_store_check_server (again, "chat.example.org:5555", fx->fp_b), ==,
                   SC_TRUST_PINNED);
  g_assert_cmpint (sc_trust_store_check_server (again, "chat.example.org:5555", fx->fp_a), ==,
                   SC_TRUST_CHANGED);
}

static void
test_allow_list (Fixture       *fx,
                 gconstpointer  data)
{
  g_autoptr(ScTrustStore) store = open_store (fx);
  g_autoptr(ScTrustStore) again = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *long_nick = g_strnfill (SC_V2_NICK_MAX + 1, 'x');

  g_assert_true (sc_trust_store_authorize_client (store, fx->fp_a, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (sc_trust_store_authorize_client (store, fx->fp_b, "Alice Liddell", &error));
  g_assert_no_error (error);
  /* Already listed: nothing changes */
  g_assert_true (sc_trust_store_authorize_client (store, fx->fp_b, "someone else", &error));
  g_assert_no_error (error);

  g_assert_true (sc_trust_store_is_authorized (store, fx->fp_a));
  g_assert_true (sc_trust_store_is_authorized (store, fx->fp_b));
  g_assert_false (sc_trust_store_is_authorized (store, fx->fp_c));

  text = read_text (fx->clients_path);
  expected = g_strdup_printf ("%s\n%s Alice Liddell\n", fx->fp_a, fx->fp_b);
  g_assert_cmpstr (text, ==, expected);
  g_assert_cmpint (file_mode (fx->clients_path), ==, 0600);

  again = open_store (fx);
  g_assert_true (sc_trust_store_is_authorized (again, fx->fp_a));
  g_assert_true (sc_trust_store_is_authorized (again, fx->fp_b));
  g_assert_false (sc_trust_store_is_authorized (again, fx->fp_c));

  /* Bad input changes nothing */
  g_assert_false (sc_trust_store_authorize_client (again, fx->fp_c, "two\nlines", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (sc_trust_store_authorize_client (again, fx->fp_c, long_nick, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (sc_trust_store_authorize_client (again, "alice", NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_assert_false (sc_trust_store_is_authorized (again, fx->fp_c));
  g_clear_pointer (&text, g_free);
  text = read_text (fx->clients_path);
  g_assert_cmpstr (text, ==, expected);
}

/* ---- corrupt files ---- */

typedef struct {
  const char *name;
  const char *file;
  const char *line;      /* printf format; %1$s, %2$s are two valid fingerprints */
  guint       bad_line;  /* where the error must point */
} CorruptCase;

static const CorruptCase corrupt_cases[] = {
  { "servers/bad-fingerprint", SC_FILE_KNOWN_SERVERS, "host.example:5555 SHA256:bad\n", 3 },
  { "servers/missing-key",     SC_FILE_KNOWN_SERVERS, "host.example:5555\n", 3 },
  { "servers/extra-field",     SC_FILE_KNOWN_SERVERS, "host.example:5555 %1$s extra\n", 3 },
  { "servers/no-port",         SC_FILE_KNOWN_SERVERS, "host.example %1$s\n", 3 },
  { "servers/bad-port",        SC_FILE_KNOWN_SERVERS, "host.example:99999 %1$s\n", 3 },
  { "servers/port-zero",       SC_FILE_KNOWN_SERVERS, "host.example:0 %1$s\n", 3 },
  { "servers/text-port",       SC_FILE_KNOWN_SERVERS, "host.example:http %1$s\n", 3 },
  { "servers/bare-ipv6",       SC_FILE_KNOWN_SERVERS, "::1:5555 %1$s\n", 3 },
  { "servers/swapped",         SC_FILE_KNOWN_SERVERS, "%1$s host.example:5555\n", 3 },
  { "servers/duplicate",       SC_FILE_KNOWN_SERVERS,
    "host.example:5555 %1$s\nHOST.example:5555 %2$s\n", 4 },
  { "servers/no-newline",      SC_FILE_KNOWN_SERVERS, "host.example:5555 SHA256:x", 3 },
  { "clients/bad-fingerprint", SC_FILE_AUTHORIZED_CLIENTS, "alice %1$s\n", 3 },
  { "clients/control-nick",    SC_FILE_AUTHORIZED_CLIENTS, "%1$s bad\x01nick\n", 3 },
  { "verified/bad-fingerprint", SC_FILE_VERIFIED, "SHA256:AAAA\n", 3 },
  { "verified/extra-field",    SC_FILE_VERIFIED, "%1$s %2$s\n", 3 },
};

/* The case table holds the formats, with positional arguments */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static char *
format_case_line (const char *format,
                  const char *fp1,
                  const char *fp2)
{
  return g_strdup_printf (format, fp1, fp2);
}
#pragma GCC diagnostic pop

static void
test_corrupt_file (Fixture       *fx,
                   gconstpointer  data)
{
  const CorruptCase *cc = data;
  g_autofree char *path = g_build_filename (fx->key_dir, cc->file, NULL);
  g_autofree char *bad = format_case_line (cc->line, fx->fp_a, fx->fp_b);
  g_autofree char *content = g_strconcat ("# a comment\n\n", bad, NULL);
  g_autofree char *line_text = g_strdup_printf ("line %u:", cc->bad_line);
  g_autofree char *after = NULL;
  g_autoptr(ScTrustStore) early = NULL;
  g_autoptr(ScTrustStore) store = NULL;
  g_autoptr(GError) error = NULL;

  /* A store opened while the directory was still fine */
  early = open_store (fx);
  write_text (path, content);

  store = sc_trust_store_new (fx->key_dir, &error);
  g_assert_null (store);
  g_assert_error (error, SC_ERROR, SC_ERROR_KEY_FILE);
  g_test_message ("%s: %s", cc->name, error->message);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_nonnull (strstr (error->message, line_text));
  g_clear_error (&error);

  g_assert_false (sc_trust_store_reload (early, &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_KEY_FILE);
  g_assert_nonnull (strstr (error->message, path));
  g_clear_error (&error);

  /* Changes to the broken file are refused and leave it as it was */
  if (g_str_equal (cc->file, SC_FILE_KNOWN_SERVERS))
    {
      g_assert_false (sc_trust_store_pin_server (early, "new.example:5555", fx->fp_c, &error));
      g_assert_error (error, SC_ERROR, SC_ERROR_KEY_FILE);
      g_assert_nonnull (strstr (error->message, line_text));
      g_clear_error (&error);
      g_assert_false (sc_trust_store_forget_server (early, "host.example:5555", &error));
      g_assert_error (error, SC_ERROR, SC_ERROR_KEY_FILE);
    }
  else if (g_str_equal (cc->file, SC_FILE_AUTHORIZED_CLIENTS))
    {
      g_assert_false (sc_trust_store_authorize_client (early, fx->fp_c, NULL, &error));
      g_assert_error (error, SC_ERROR, SC_ERROR_KEY_FILE);
    }
  else
    {
      g_assert_false (sc_trust_store_mark_verified (early, fx->fp_c, &error));
      g_assert_error (error, SC_ERROR, SC_ERROR_KEY_FILE);
    }
  g_assert_nonnull (strstr (error->message, path));

  after = read_text (path);
  g_assert_cmpstr (after, ==, content);
  /* The other trust files were not created either */
  {
    g_autoptr(GDir) dir = g_dir_open (fx->key_dir, 0, NULL);
    guint n = 0;

    while (g_dir_read_name (dir) != NULL)
      n++;
    g_assert_cmpuint (n, ==, 1);
  }
}

/* Comments, blank lines and unknown-but-valid lines survive every change */
static void
test_comments_preserved (Fixture       *fx,
                         gconstpointer  data)
{
  g_autoptr(ScTrustStore) store = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *original = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *text = NULL;
  g_autofree char *clients = NULL;
  g_autofree char *clients_expected = NULL;

  original = g_strdup_printf ("# Pinned by hand\n"
                              "\n"
                              "  # indented comment\n"
                              "old.example:5555   %s\n"
                              "keep.example:1234\t%s\n"
                              "# trailing comment\n",
                              fx->fp_a, fx->fp_b);
  write_text (fx->servers_path, original);
  clients = g_strdup_printf ("# allowed people\n%s  bob  the builder \n", fx->fp_a);
  write_text (fx->clients_path, clients);

  store = open_store (fx);
  g_assert_cmpint (sc_trust_store_check_server (store, "old.example:5555", fx->fp_a), ==,
                   SC_TRUST_PINNED);
  g_assert_cmpint (sc_trust_store_check_server (store, "keep.example:1234", fx->fp_b), ==,
                   SC_TRUST_PINNED);
  g_assert_true (sc_trust_store_is_authorized (store, fx->fp_a));

  assert_pin (store, "new.example:5555", fx->fp_c);
  text = read_text (fx->servers_path);
  expected = g_strdup_printf ("%snew.example:5555 %s\n", original, fx->fp_c);
  g_assert_cmpstr (text, ==, expected);

  g_assert_true (sc_trust_store_forget_server (store, "old.example:5555", &error));
  g_assert_no_error (error);
  g_clear_pointer (&text, g_free);
  g_clear_pointer (&expected, g_free);
  text = read_text (fx->servers_path);
  expected = g_strdup_printf ("# Pinned by hand\n"
                              "\n"
                              "  # indented comment\n"
                              "keep.example:1234\t%s\n"
                              "# trailing comment\n"
                              "new.example:5555 %s\n",
                              fx->fp_b, fx->fp_c);
  g_assert_cmpstr (text, ==, expected);

  g_assert_true (sc_trust_store_authorize_client (store, fx->fp_b, "carol", &error));
  g_assert_no_error (error);
  g_clear_pointer (&text, g_free);
  text = read_text (fx->clients_path);
  clients_expected = g_strdup_printf ("%s%s carol\n", clients, fx->fp_b);
  g_assert_cmpstr (text, ==, clients_expected);
}

/* A file without a final newline gets one when a line is added */
static void
test_no_final_newline (Fixture       *fx,
                       gconstpointer  data)
{
  g_autoptr(ScTrustStore) store = NULL;
  g_autofree char *original = g_strdup_printf ("a.example:1 %s", fx->fp_a);
  g_autofree char *expected = NULL;
  g_autofree char *text = NULL;

  write_text (fx->servers_path, original);
  store = open_store (fx);
  g_assert_cmpint (sc_trust_store_check_server (store, "a.example:1", fx->fp_a), ==,
                   SC_TRUST_PINNED);
  assert_pin (store, "b.example:1", fx->fp_b);
  text = read_text (fx->servers_path);
  expected = g_strdup_printf ("%s\nb.example:1 %s\n", original, fx->fp_b);
  g_assert_cmpstr (text, ==, expected);
}

/* Two stores (two processes) on one directory never lose each other's entries */
static void
test_two_stores (Fixture       *fx,
                 gconstpointer  data)
{
  g_autoptr(ScTrustStore) first = open_store (fx);
  g_autoptr(ScTrustStore) second = open_store (fx);
  g_autoptr(ScTrustStore) third = NULL;
  g_autoptr(GPtrArray) servers = NULL;
  g_autoptr(GError) error = NULL;

  assert_pin (first, "one.example:5555", fx->fp_a);
  /* second has not seen it yet: it reads only its in-memory copy */
  g_assert_cmpint (sc_trust_store_check_server (second, "one.example:5555", fx->fp_a), ==,
                   SC_TRUST_NEW);
  assert_pin (second, "two.example:5555", fx->fp_b);
  /* ... and a change refreshes that copy from disk */
  g_assert_cmpint (sc_trust_store_check_server (second, "one.example:5555", fx->fp_a), ==,
                   SC_TRUST_PINNED);

  /* A key pinned meanwhile by someone else is still never replaced */
  g_assert_false (sc_trust_store_pin_server (first, "two.example:5555", fx->fp_c, &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_KEY_CHANGED);
  g_clear_error (&error);

  g_assert_true (sc_trust_store_mark_verified (first, fx->fp_a, &error));
  g_assert_true (sc_trust_store_mark_verified (second, fx->fp_b, &error));
  g_assert_true (sc_trust_store_authorize_client (first, fx->fp_a, "a", &error));
  g_assert_true (sc_trust_store_authorize_client (second, fx->fp_b, "b", &error));
  g_assert_no_error (error);

  third = open_store (fx);
  servers = sc_trust_store_list_servers (third);
  g_assert_cmpuint (servers->len, ==, 2);
  g_assert_cmpstr (((ScKnownServer *) g_ptr_array_index (servers, 0))->host_port, ==,
                   "one.example:5555");
  g_assert_cmpstr (((ScKnownServer *) g_ptr_array_index (servers, 1))->host_port, ==,
                   "two.example:5555");
  g_assert_cmpint (sc_trust_store_check_server (third, "one.example:5555", fx->fp_a), ==,
                   SC_TRUST_VERIFIED);
  g_assert_cmpint (sc_trust_store_check_server (third, "two.example:5555", fx->fp_b), ==,
                   SC_TRUST_VERIFIED);
  g_assert_true (sc_trust_store_is_authorized (third, fx->fp_a));
  g_assert_true (sc_trust_store_is_authorized (third, fx->fp_b));

  /* reload() picks up what others wrote */
  g_assert_false (sc_trust_store_is_authorized (first, fx->fp_b));
  g_assert_true (sc_trust_store_reload (first, &error));
  g_assert_no_error (error);
  g_assert_true (sc_trust_store_is_authorized (first, fx->fp_b));
  g_assert_cmpint (sc_trust_store_check_server (first, "two.example:5555", fx->fp_b), ==,
                   SC_TRUST_VERIFIED);
}

#define N_THREADS 4
#define PINS_PER_THREAD 10

typedef struct {
  ScTrustStore *store;
  guint         index;
} ThreadData;

static gpointer
pin_thread (gpointer user_data)
{
  ThreadData *td = user_data;

  for (guint i = 0; i < PINS_PER_THREAD; i++)
    {
      g_autofree char *host_port = g_strdup_printf ("h%u-%u.example:5555", td->index, i);
      g_autofree char *fp = make_fingerprint ((guint8) (td->index * PINS_PER_THREAD + i));

      if (!sc_trust_store_pin_server (td->store, host_port, fp, NULL))
        return GINT_TO_POINTER (FALSE);
    }
  return GINT_TO_POINTER (TRUE);
}

/* One store shared by threads serialises its changes */
static void
test_threads (Fixture       *fx,
              gconstpointer  data)
{
  g_autoptr(ScTrustStore) store = open_store (fx);
  g_autoptr(ScTrustStore) again = NULL;
  g_autoptr(GPtrArray) servers = NULL;
  ThreadData td[N_THREADS];
  GThread *threads[N_THREADS];

  for (guint t = 0; t < N_THREADS; t++)
    {
      td[t] = (ThreadData) { store, t };
      threads[t] = g_thread_new ("pin", pin_thread, &td[t]);
    }
  for (guint t = 0; t < N_THREADS; t++)
    g_assert_true (GPOINTER_TO_INT (g_thread_join (threads[t])));

  again = open_store (fx);
  servers = sc_trust_store_list_servers (again);
  g_assert_cmpuint (servers->len, ==, N_THREADS * PINS_PER_THREAD);
  for (guint t = 0; t < N_THREADS; t++)
    for (guint i = 0; i < PINS_PER_THREAD; i++)
      {
        g_autofree char *host_port = g_strdup_printf ("h%u-%u.example:5555", t, i);
        g_autofree char *fp = make_fingerprint ((guint8) (t * PINS_PER_THREAD + i));

        g_assert_cmpint (sc_trust_store_check_server (again, host_port, fp), ==,
                         SC_TRUST_PINNED);
      }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  g_test_add_func ("/trust/host-port", test_host_port);
  g_test_add_func ("/trust/state-strings", test_state_strings);
  ADD ("/trust/empty-store", test_empty_store);
  ADD ("/trust/pin-reload", test_pin_and_reload);
  ADD ("/trust/host-normalised", test_host_normalised);
  ADD ("/trust/changed-key-refused", test_changed_key_refused);
  ADD ("/trust/verified", test_verified);
  ADD ("/trust/forget", test_forget);
  ADD ("/trust/forget-shared-key", test_forget_shared_key);
  ADD ("/trust/verified-not-carried-over", test_verified_not_carried_over);
  ADD ("/trust/allow-list", test_allow_list);
  ADD ("/trust/comments-preserved", test_comments_preserved);
  ADD ("/trust/no-final-newline", test_no_final_newline);
  ADD ("/trust/two-stores", test_two_stores);
  ADD ("/trust/threads", test_threads);
#undef ADD

  for (guint i = 0; i < G_N_ELEMENTS (corrupt_cases); i++)
    {
      g_autofree char *path = g_strconcat ("/trust/corrupt/", corrupt_cases[i].name, NULL);

      g_test_add (path, Fixture, &corrupt_cases[i], fixture_setup, test_corrupt_file,
                  fixture_teardown);
    }

  return g_test_run ();
}
