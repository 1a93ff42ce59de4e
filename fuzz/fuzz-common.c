/* fuzz-common.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "fuzz-common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

void
fuzz_init (void)
{
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING | G_LOG_FATAL_MASK);
}

void
fuzz_fail (const char *file,
           int         line,
           const char *expr)
{
  fprintf (stderr, "%s:%d: invariant broken: %s\n", file, line, expr);
  abort ();
}

static JsonObject *
load_kat (const char *name)
{
  const char *dir = g_getenv ("SC_FUZZ_KAT_DIR");
  g_autofree char *path = g_build_filename (dir ? dir : FUZZ_KAT_DIR, name, NULL);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  if (!json_parser_load_from_file (parser, path, &error))
    {
      fprintf (stderr, "cannot load %s: %s\n", path, error->message);
      abort ();
    }
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

JsonObject *
fuzz_kat_v1 (void)
{
  static JsonObject *kat;

  if (kat == NULL)
    kat = load_kat ("kat-v1.json");
  return kat;
}

JsonObject *
fuzz_kat_v2 (void)
{
  static JsonObject *kat;

  if (kat == NULL)
    kat = load_kat ("kat-v2.json");
  return kat;
}

GBytes *
fuzz_kat_hex (JsonObject *object,
              const char *member)
{
  const char *hex = json_object_get_string_member (object, member);
  gsize len = strlen (hex), i;
  guint8 *out = g_malloc (len / 2 + 1);

  fuzz_assert (len % 2 == 0);
  for (i = 0; i < len / 2; i++)
    {
      int hi = g_ascii_xdigit_value (hex[2 * i]);
      int lo = g_ascii_xdigit_value (hex[2 * i + 1]);

      fuzz_assert (hi >= 0 && lo >= 0);
      out[i] = (guint8) (hi << 4 | lo);
    }
  return g_bytes_new_take (out, len / 2);
}

GBytes *
fuzz_kat_record (guint       i,
                 const char *member)
{
  JsonArray *records = json_object_get_array_member (fuzz_kat_v2 (), "records");

  return fuzz_kat_hex (json_array_get_object_element (records, i), member);
}

static ScIdentity *
kat_identity (const char *rsa_member,
              const char *ed_member)
{
  const char *pem = json_object_get_string_member (fuzz_kat_v1 (), rsa_member);
  g_autoptr(GBytes) seed = fuzz_kat_hex (fuzz_kat_v2 (), ed_member);
  g_autoptr(EVP_PKEY) rsa = sc_pem_read_private (pem, strlen (pem), NULL);
  g_autoptr(EVP_PKEY) ed = sc_ed25519_new_from_seed (g_bytes_get_data (seed, NULL), NULL);
  ScIdentity *id;

  fuzz_assert (rsa != NULL && ed != NULL);
  id = sc_identity_new (rsa, ed, NULL);
  fuzz_assert (id != NULL);
  return id;
}

ScIdentity *
fuzz_kat_server (void)
{
  static ScIdentity *id;

  if (id == NULL)
    id = kat_identity ("server_rsa_private_pem", "server_id_private_hex");
  return id;
}

ScIdentity *
fuzz_kat_client (void)
{
  static ScIdentity *id;

  if (id == NULL)
    id = kat_identity ("client_rsa_private_pem", "client_id_private_hex");
  return id;
}

static gboolean
fuzz_random_func (guint8  *buf,
                  gsize    len,
                  gpointer user_data)
{
  FuzzRandom *fr = user_data;
  gsize i;

  if (fr->next < fr->n && g_bytes_get_size (fr->chunks[fr->next]) == len)
    {
      memcpy (buf, g_bytes_get_data (fr->chunks[fr->next++], NULL), len);
      return TRUE;
    }
  fr->next = fr->n;
  for (i = 0; i < len; i++)
    buf[i] = (guint8) (0x5a ^ (++fr->counter * 0x9e3779b1u) >> 24);
  return TRUE;
}

void
fuzz_random_init (FuzzRandom *fr,
                  GBytes     *first,
                  GBytes     *second)
{
  memset (fr, 0, sizeof *fr);
  if (first != NULL)
    fr->chunks[fr->n++] = first;
  if (second != NULL)
    fr->chunks[fr->n++] = second;
  fr->rng.func = fuzz_random_func;
  fr->rng.user_data = fr;
}

void
fuzz_random_reset (FuzzRandom *fr)
{
  fr->next = 0;
  fr->counter = 0;
}

void
fuzz_chunker_init (FuzzChunker *ch,
                   guint8       seed)
{
  ch->state = 0x811c9dc5u ^ seed;
  ch->max = seed == 0 ? 0 : 4u << (seed & 7);
}

gsize
fuzz_chunker_next (FuzzChunker *ch,
                   gsize        remaining)
{
  if (ch->max == 0)
    return remaining;
  /* xorshift32 */
  ch->state ^= ch->state << 13;
  ch->state ^= ch->state >> 17;
  ch->state ^= ch->state << 5;
  return MIN (remaining, 1 + ch->state % ch->max);
}

static char *scratch;

void
fuzz_feed_v2_frames (ScV2Session   *session,
                     ScFrameReader *reader,
                     guint8         chunk_seed,
                     const guint8  *data,
                     gsize          size,
                     GByteArray    *out,
                     FuzzFrameFunc  handle)
{
  FuzzChunker chunker;

  fuzz_chunker_init (&chunker, chunk_seed);
  while (size > 0)
    {
      g_autoptr(GError) error = NULL;
      gsize n = fuzz_chunker_next (&chunker, size);
      ScFrame frame;

      sc_frame_reader_feed (reader, data, n);
      data += n;
      size -= n;
      for (;;)
        {
          if (sc_frame_reader_get_mode (reader) == SC_FRAME_V2)
            sc_frame_reader_set_limit (reader, sc_v2_session_get_frame_limit (session));
          if (!sc_frame_reader_next (reader, &frame, &error))
            break;
          g_byte_array_set_size (out, 0);
          if (!handle (session, &frame, out))
            return;
        }
      if (error != NULL)
        return;
    }
}

static void
remove_scratch (void)
{
  g_autoptr(GDir) dir = g_dir_open (scratch, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (scratch, name, NULL);

      g_unlink (path);
    }
  g_rmdir (scratch);
}

const char *
fuzz_scratch_dir (void)
{
  if (scratch == NULL)
    {
      g_autoptr(GError) error = NULL;

      scratch = g_dir_make_tmp ("sc-fuzz-XXXXXX", &error);
      if (scratch == NULL)
        {
          fprintf (stderr, "cannot make a scratch directory: %s\n", error->message);
          abort ();
        }
      atexit (remove_scratch);
    }
  return scratch;
}

char *
fuzz_write_file (const char   *name,
                 const guint8 *data,
                 gsize         len)
{
  char *path = g_build_filename (fuzz_scratch_dir (), name, NULL);
  int fd;

  g_unlink (path);
  fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      fprintf (stderr, "cannot create %s: %s\n", path, g_strerror (errno));
      abort ();
    }
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);

      if (n < 0 && errno == EINTR)
        continue;
      fuzz_assert (n > 0);
      data += n;
      len -= (gsize) n;
    }
  close (fd);
  return path;
}

void
fuzz_remove_file (const char *name)
{
  g_autofree char *path = g_build_filename (fuzz_scratch_dir (), name, NULL);

  g_unlink (path);
}
