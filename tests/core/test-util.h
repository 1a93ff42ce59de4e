/* test-util.h: small helpers shared by the core tests
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <string.h>

#include <glib.h>
#include <json-glib/json-glib.h>

/* Loads a vector file copied into tests/core/; the caller keeps the
 * object for the life of the program */
static inline JsonObject *
test_load_vectors (const char *name)
{
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "core", name, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();

  json_parser_load_from_file (parser, path, &error);
  g_assert_no_error (error);
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

static inline GBytes *
test_hex (const char *hex)
{
  gsize len = strlen (hex), i;
  guint8 *out;

  g_assert_cmpuint (len % 2, ==, 0);
  out = g_malloc (len / 2 + 1);
  for (i = 0; i < len / 2; i++)
    {
      int hi = g_ascii_xdigit_value (hex[2 * i]);
      int lo = g_ascii_xdigit_value (hex[2 * i + 1]);

      g_assert_cmpint (hi, >=, 0);
      g_assert_cmpint (lo, >=, 0);
      out[i] = (guint8) (hi << 4 | lo);
    }
  return g_bytes_new_take (out, len / 2);
}

static inline GBytes *
test_member_hex (JsonObject *object,
                 const char *name)
{
  return test_hex (json_object_get_string_member (object, name));
}

static inline void
test_assert_bytes (const guint8 *data,
                   gsize         len,
                   GBytes       *expected)
{
  g_assert_cmpmem (data, len, g_bytes_get_data (expected, NULL), g_bytes_get_size (expected));
}

/* A random source that hands out the given byte strings in order */
typedef struct {
  GBytes *chunks[8];
  guint   n;
  guint   next;
} TestRandom;

static inline gboolean
test_random_func (guint8  *buf,
                  gsize    len,
                  gpointer user_data)
{
  TestRandom *tr = user_data;
  GBytes *chunk;

  g_assert_cmpuint (tr->next, <, tr->n);
  chunk = tr->chunks[tr->next++];
  g_assert_cmpuint (g_bytes_get_size (chunk), ==, len);
  memcpy (buf, g_bytes_get_data (chunk, NULL), len);
  return TRUE;
}

static inline void
test_random_clear (TestRandom *tr)
{
  guint i;

  for (i = 0; i < tr->n; i++)
    g_bytes_unref (tr->chunks[i]);
  tr->n = tr->next = 0;
}
