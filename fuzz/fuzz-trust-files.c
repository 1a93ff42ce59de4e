/* fuzz-trust-files.c: sc_trust_store_new on a key directory whose trust
 * files hold the input; every entry it lists must be found again, and
 * (with flags & 4) the files it writes back after changes must load.
 *
 * Input: flags || file contents
 *   flags & 3    0 known_servers, 1 authorized_clients, 2 verified_keys,
 *                3 all three hold the input
 *   flags & 4    forget the first server, pin one, authorize a client,
 *                mark a key verified, then load the result again
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <string.h>

#include "fuzz-common.h"
#include "sc-protocol.h"
#include "sc-trust.h"

#define FUZZ_HOST "fuzz.invalid:5555"

static const char *const files[] = {
  SC_FILE_KNOWN_SERVERS, SC_FILE_AUTHORIZED_CLIENTS, SC_FILE_VERIFIED,
};
static const char *server_fp;
static const char *client_fp;

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  fuzz_init ();
  server_fp = json_object_get_string_member (fuzz_kat_v2 (), "server_fingerprint");
  client_fp = json_object_get_string_member (fuzz_kat_v2 (), "client_fingerprint");
  return 0;
}

/* Whatever the store lists, it finds */
static void
check_store (ScTrustStore *store)
{
  g_autoptr(GPtrArray) servers = sc_trust_store_list_servers (store);
  g_autoptr(GPtrArray) clients = sc_trust_store_list_clients (store);
  guint i;

  for (i = 0; i < servers->len; i++)
    {
      ScKnownServer *s = servers->pdata[i];
      g_autofree char *pinned = sc_trust_store_lookup_server (store, s->host_port);
      ScTrustState state = sc_trust_store_check_server (store, s->host_port, s->fingerprint);

      fuzz_assert (sc_fingerprint_is_valid (s->fingerprint));
      fuzz_assert (g_strcmp0 (pinned, s->fingerprint) == 0);
      fuzz_assert (state == (s->verified ? SC_TRUST_VERIFIED : SC_TRUST_PINNED));
      fuzz_assert (s->verified == sc_trust_store_is_verified (store, s->fingerprint));
    }
  for (i = 0; i < clients->len; i++)
    {
      const char *line = clients->pdata[i];
      g_autofree char *fp = g_strndup (line, strcspn (line, " \t"));

      fuzz_assert (sc_fingerprint_is_valid (fp));
      fuzz_assert (sc_trust_store_is_authorized (store, fp));
    }
}

static void
change_store (ScTrustStore *store)
{
  g_autoptr(GPtrArray) servers = sc_trust_store_list_servers (store);
  g_autoptr(ScTrustStore) again = NULL;
  g_autoptr(GError) error = NULL;
  gboolean pinned;

  if (servers->len > 0)
    {
      ScKnownServer *first = servers->pdata[0];

      fuzz_assert (sc_trust_store_forget_server (store, first->host_port, &error));
      fuzz_assert (sc_trust_store_check_server (store, first->host_port, first->fingerprint) ==
                   SC_TRUST_NEW);
    }
  pinned = sc_trust_store_pin_server (store, FUZZ_HOST, server_fp, &error);
  fuzz_assert (pinned || g_error_matches (error, SC_ERROR, SC_ERROR_KEY_CHANGED));
  g_clear_error (&error);
  fuzz_assert (sc_trust_store_authorize_client (store, client_fp, "fuzz", &error));
  fuzz_assert (sc_trust_store_mark_verified (store, server_fp, &error));

  /* what it wrote loads again, with the changes */
  again = sc_trust_store_new (fuzz_scratch_dir (), &error);
  fuzz_assert (again != NULL);
  if (pinned)
    fuzz_assert (sc_trust_store_check_server (again, FUZZ_HOST, server_fp) == SC_TRUST_VERIFIED);
  fuzz_assert (sc_trust_store_is_authorized (again, client_fp));
  fuzz_assert (sc_trust_store_is_verified (again, server_fp));
  check_store (again);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(ScTrustStore) store = NULL;
  g_autoptr(GError) error = NULL;
  guint i;

  if (size < 1)
    return 0;
  for (i = 0; i < G_N_ELEMENTS (files); i++)
    {
      if ((data[0] & 3) == 3 || (data[0] & 3) == i)
        g_free (fuzz_write_file (files[i], data + 1, size - 1));
      else
        fuzz_remove_file (files[i]);
    }

  store = sc_trust_store_new (fuzz_scratch_dir (), &error);
  fuzz_assert ((store == NULL) == (error != NULL));
  if (store == NULL)
    {
      fuzz_assert (g_error_matches (error, SC_ERROR, SC_ERROR_KEY_FILE));
      return 0;
    }
  check_store (store);
  if (data[0] & 4)
    change_store (store);
  return 0;
}
