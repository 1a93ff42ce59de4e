/* fuzz-key-files.c: sc_identity_load_or_create on a key directory whose
 * RSA key or Ed25519 identity file holds the input (the other file is the
 * vectors' valid key, so nothing is ever generated).  A bad file must be
 * an error and both files must be left exactly as they were.
 *
 * Input: flags || file contents
 *   flags & 1    the input is identity_ed25519.pem (else server_key.pem)
 *   flags & 2    also read the input as a PEM public key
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <string.h>

#include "fuzz-common.h"
#include "sc-protocol.h"

static char *rsa_pem;
static char *ed_pem;

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  fuzz_init ();
  rsa_pem = g_strdup (json_object_get_string_member (fuzz_kat_v1 (), "server_rsa_private_pem"));
  ed_pem = sc_pem_write_private (sc_identity_get_ed25519 (fuzz_kat_server ()), NULL);
  fuzz_assert (ed_pem != NULL);
  return 0;
}

static void
check_unchanged (const char   *path,
                 const guint8 *data,
                 gsize         size)
{
  g_autofree char *contents = NULL;
  gsize len;

  fuzz_assert (g_file_get_contents (path, &contents, &len, NULL));
  fuzz_assert (len == size && memcmp (contents, data, size) == 0);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autofree char *rsa_path = NULL;
  g_autofree char *ed_path = NULL;
  g_autoptr(ScIdentity) id = NULL;
  g_autoptr(GError) error = NULL;
  const guint8 *rsa_data, *ed_data;
  gsize rsa_len, ed_len;

  if (size < 1)
    return 0;
  if (data[0] & 1)
    {
      rsa_data = (const guint8 *) rsa_pem;
      rsa_len = strlen (rsa_pem);
      ed_data = data + 1;
      ed_len = size - 1;
    }
  else
    {
      rsa_data = data + 1;
      rsa_len = size - 1;
      ed_data = (const guint8 *) ed_pem;
      ed_len = strlen (ed_pem);
    }
  if (data[0] & 2)
    {
      g_autoptr(EVP_PKEY) pub = sc_pem_read_public ((const char *) data + 1, size - 1, &error);

      fuzz_assert ((pub == NULL) == (error != NULL));
      g_clear_error (&error);
    }

  rsa_path = fuzz_write_file (SC_FILE_RSA_KEY, rsa_data, rsa_len);
  ed_path = fuzz_write_file (SC_FILE_IDENTITY, ed_data, ed_len);

  id = sc_identity_load_or_create (fuzz_scratch_dir (), &error);
  fuzz_assert ((id == NULL) == (error != NULL));
  if (id == NULL)
    fuzz_assert (g_error_matches (error, SC_ERROR, SC_ERROR_KEY_FILE));
  else
    {
      GBytes *greeting = sc_identity_get_greeting (id);

      fuzz_assert (EVP_PKEY_get_bits (sc_identity_get_rsa (id)) >= 2048);
      fuzz_assert (sc_fingerprint_is_valid (sc_identity_get_fingerprint (id)));
      fuzz_assert (sc_fingerprint_is_valid (sc_identity_get_rsa_fingerprint (id)));
      fuzz_assert (g_bytes_get_size (greeting) <= SC_GREETING_MAX);
    }

  /* loading never writes */
  check_unchanged (rsa_path, rsa_data, rsa_len);
  check_unchanged (ed_path, ed_data, ed_len);
  return 0;
}
