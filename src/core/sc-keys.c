/* sc-keys.c: the key directory and the long-term identity it holds
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "sc-keys.h"

#include <string.h>

#include <gio/gio.h>

#include "sc-crypto.h"
#include "sc-file.h"
#include "sc-protocol.h"

struct _ScIdentity
{
  gatomicrefcount  ref_count;
  EVP_PKEY        *rsa;
  EVP_PKEY        *ed25519;
  guint8           ed25519_public[SC_ED25519_PUB_LEN];
  char            *fingerprint;
  char            *rsa_fingerprint;
  char            *rsa_public_pem;
  GBytes          *greeting;
};

typedef enum {
  KEY_KIND_RSA,
  KEY_KIND_ED25519,
} KeyKind;

#define PEM_PUBLIC_BEGIN "-----BEGIN PUBLIC KEY-----\n"

char *
sc_key_dir_default (void)
{
  return g_build_filename (g_get_user_data_dir (), SC_KEY_DIR_NAME, NULL);
}

static void
secret_free (char  *data,
             gsize  len)
{
  if (data == NULL)
    return;
  sc_wipe (data, len);
  g_free (data);
}

/* Whether @key is of the type (and, for RSA, the strength) @kind needs */
static gboolean
key_has_kind (EVP_PKEY *key,
              KeyKind   kind)
{
  switch (kind)
    {
    case KEY_KIND_RSA:
      return EVP_PKEY_is_a (key, "RSA") && EVP_PKEY_get_bits (key) >= SC_RSA_BITS;
    case KEY_KIND_ED25519:
      return EVP_PKEY_is_a (key, "ED25519");
    default:
      g_assert_not_reached ();
    }
}

static const char *
key_kind_name (KeyKind kind)
{
  return kind == KEY_KIND_RSA ? "an RSA key of at least 2048 bits" : "an Ed25519 key";
}

static void
describe_key (EVP_PKEY *key,
              char     *buf,
              gsize     size)
{
  const char *name = EVP_PKEY_get0_type_name (key);

  if (EVP_PKEY_is_a (key, "RSA"))
    g_snprintf (buf, size, "a %d-bit RSA key", EVP_PKEY_get_bits (key));
  else
    g_snprintf (buf, size, "a key of type %s", name != NULL ? name : "unknown");
}

/* Parses the private key PEM read from @path and checks its type.  Every
 * error names @path; the caller wipes @pem. */
static EVP_PKEY *
parse_key (const char *path,
           const char *pem,
           gsize       len,
           KeyKind     kind,
           GError    **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(EVP_PKEY) key = NULL;
  char what[64];

  if (len == 0)
    {
      g_set_error (error, SC_ERROR, SC_ERROR_KEY_FILE,
                   "Key file “%s” is empty", path);
      return NULL;
    }

  if (strstr (pem, "-----BEGIN ENCRYPTED PRIVATE KEY-----") != NULL ||
      strstr (pem, "Proc-Type: 4,ENCRYPTED") != NULL)
    {
      g_set_error (error, SC_ERROR, SC_ERROR_KEY_FILE,
                   "Key file “%s” is protected by a passphrase, which is not supported",
                   path);
      return NULL;
    }

  key = sc_pem_read_private (pem, len, &local_error);
  if (key == NULL)
    {
      g_set_error (error, SC_ERROR, SC_ERROR_KEY_FILE,
                   "Key file “%s” is corrupt or not a PEM private key: %s", path,
                   local_error != NULL ? local_error->message : "unknown error");
      return NULL;
    }

  if (!key_has_kind (key, kind))
    {
      describe_key (key, what, sizeof what);
      g_set_error (error, SC_ERROR, SC_ERROR_KEY_FILE,
                   "Key file “%s” holds %s, but it must hold %s", path, what,
                   key_kind_name (kind));
      return NULL;
    }

  return g_steal_pointer (&key);
}

/* Reads and parses @path.  Returns NULL with no error if it does not exist. */
static EVP_PKEY *
read_key (const char *path,
          KeyKind     kind,
          gboolean    missing_ok,
          GError    **error)
{
  char *pem = NULL;
  gsize len = 0;
  EVP_PKEY *key;

  if (!sc_file_read (path, missing_ok, TRUE, &pem, &len, error))
    return NULL;

  key = parse_key (path, pem, len, kind, error);
  secret_free (pem, len);
  return key;
}

static EVP_PKEY *
generate_key (KeyKind   kind,
              GError  **error)
{
  return kind == KEY_KIND_RSA ? sc_rsa_generate (error) : sc_ed25519_generate (error);
}

/* Generates a key and saves it to @path, which did not exist when we looked.
 * If another process created it meanwhile, that process won: we load its
 * key instead of ours, so both end up with the same identity. */
static EVP_PKEY *
create_key (const char *path,
            KeyKind     kind,
            GError    **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(EVP_PKEY) key = NULL;
  char *pem;
  gboolean saved;

  key = generate_key (kind, error);
  if (key == NULL)
    {
      g_prefix_error (error, "Could not generate a key for “%s”: ", path);
      return NULL;
    }

  pem = sc_pem_write_private (key, error);
  if (pem == NULL)
    {
      g_prefix_error (error, "Could not encode the key for “%s”: ", path);
      return NULL;
    }

  saved = sc_file_create_exclusive (path, (const guint8 *) pem, strlen (pem), &local_error);
  sc_secret_string_free (pem);

  if (saved)
    return g_steal_pointer (&key);

  if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_EXISTS))
    {
      g_debug ("Lost the race to create “%s”; loading the winner's key", path);
      return read_key (path, kind, FALSE, error);
    }

  g_propagate_error (error, g_steal_pointer (&local_error));
  return NULL;
}

ScIdentity *
sc_identity_load_or_create (const char  *key_dir,
                            GError     **error)
{
  g_autofree char *rsa_path = NULL;
  g_autofree char *ed_path = NULL;
  g_autoptr(EVP_PKEY) rsa = NULL;
  g_autoptr(EVP_PKEY) ed25519 = NULL;
  g_autoptr(GError) local_error = NULL;

  g_return_val_if_fail (key_dir != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  rsa_path = g_build_filename (key_dir, SC_FILE_RSA_KEY, NULL);
  ed_path = g_build_filename (key_dir, SC_FILE_IDENTITY, NULL);

  /* Load whatever exists first, so that a bad file is reported before
   * anything at all is written to the directory. */
  rsa = read_key (rsa_path, KEY_KIND_RSA, TRUE, &local_error);
  if (local_error == NULL)
    ed25519 = read_key (ed_path, KEY_KIND_ED25519, TRUE, &local_error);
  if (local_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }

  if (rsa == NULL || ed25519 == NULL)
    {
      if (!sc_file_ensure_dir (key_dir, error))
        return NULL;
    }

  if (rsa == NULL)
    {
      rsa = create_key (rsa_path, KEY_KIND_RSA, error);
      if (rsa == NULL)
        return NULL;
    }

  if (ed25519 == NULL)
    {
      ed25519 = create_key (ed_path, KEY_KIND_ED25519, error);
      if (ed25519 == NULL)
        return NULL;
    }

  return sc_identity_new (rsa, ed25519, error);
}

ScIdentity *
sc_identity_new (EVP_PKEY  *rsa,
                 EVP_PKEY  *ed25519,
                 GError   **error)
{
  g_autoptr(ScIdentity) self = NULL;
  g_autoptr(GByteArray) greeting = NULL;
  gsize pem_len;

  g_return_val_if_fail (rsa != NULL, NULL);
  g_return_val_if_fail (ed25519 != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!key_has_kind (rsa, KEY_KIND_RSA) || !key_has_kind (ed25519, KEY_KIND_ED25519))
    {
      g_set_error_literal (error, SC_ERROR, SC_ERROR_CRYPTO,
                           "An identity needs an RSA key of at least 2048 bits "
                           "and an Ed25519 key");
      return NULL;
    }

  self = g_new0 (ScIdentity, 1);
  g_atomic_ref_count_init (&self->ref_count);

  if (EVP_PKEY_up_ref (rsa) != 1)
    goto crypto_failed;
  self->rsa = rsa;
  if (EVP_PKEY_up_ref (ed25519) != 1)
    goto crypto_failed;
  self->ed25519 = ed25519;

  if (!sc_ed25519_raw_public (ed25519, self->ed25519_public, error))
    return NULL;
  self->fingerprint = sc_fingerprint (self->ed25519_public, sizeof self->ed25519_public);

  self->rsa_fingerprint = sc_fingerprint_rsa (rsa, error);
  if (self->rsa_fingerprint == NULL)
    return NULL;

  self->rsa_public_pem = sc_pem_write_public (rsa, error);
  if (self->rsa_public_pem == NULL)
    return NULL;
  pem_len = strlen (self->rsa_public_pem);
  if (!g_str_has_prefix (self->rsa_public_pem, PEM_PUBLIC_BEGIN) ||
      self->rsa_public_pem[pem_len - 1] != '\n')
    {
      g_set_error_literal (error, SC_ERROR, SC_ERROR_CRYPTO,
                           "The RSA public key is not a SubjectPublicKeyInfo PEM block");
      return NULL;
    }

  /* G = "SERVER_PUB\n" || PEM || "\n\n" */
  greeting = g_byte_array_sized_new (strlen (SC_GREETING_PREFIX) + pem_len + 2);
  g_byte_array_append (greeting, (const guint8 *) SC_GREETING_PREFIX,
                       strlen (SC_GREETING_PREFIX));
  g_byte_array_append (greeting, (const guint8 *) self->rsa_public_pem, pem_len);
  g_byte_array_append (greeting, (const guint8 *) "\n\n", 2);
  if (greeting->len > SC_GREETING_MAX)
    {
      g_set_error (error, SC_ERROR, SC_ERROR_CRYPTO,
                   "The greeting is %u bytes long, above the limit of %d",
                   greeting->len, SC_GREETING_MAX);
      return NULL;
    }
  self->greeting = g_byte_array_free_to_bytes (g_steal_pointer (&greeting));

  return g_steal_pointer (&self);

crypto_failed:
  g_set_error_literal (error, SC_ERROR, SC_ERROR_CRYPTO, "Could not take a key reference");
  return NULL;
}

ScIdentity *
sc_identity_ref (ScIdentity *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

void
sc_identity_unref (ScIdentity *self)
{
  g_return_if_fail (self != NULL);

  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;

  EVP_PKEY_free (self->rsa);
  EVP_PKEY_free (self->ed25519);
  g_free (self->fingerprint);
  g_free (self->rsa_fingerprint);
  g_free (self->rsa_public_pem);
  g_clear_pointer (&self->greeting, g_bytes_unref);
  g_free (self);
}

EVP_PKEY *
sc_identity_get_rsa (ScIdentity *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->rsa;
}

EVP_PKEY *
sc_identity_get_ed25519 (ScIdentity *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->ed25519;
}

const guint8 *
sc_identity_get_ed25519_public (ScIdentity *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->ed25519_public;
}

const char *
sc_identity_get_fingerprint (ScIdentity *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->fingerprint;
}

const char *
sc_identity_get_rsa_fingerprint (ScIdentity *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->rsa_fingerprint;
}

const char *
sc_identity_get_rsa_public_pem (ScIdentity *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->rsa_public_pem;
}

GBytes *
sc_identity_get_greeting (ScIdentity *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->greeting;
}
