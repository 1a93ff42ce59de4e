/* fuzz-message.c: the JSON plaintexts of v2 records, through all three
 * parsers.  Whatever parses must survive a build/parse round trip, and the
 * chat request fast path, copying or in place, must read what json-glib
 * reads.
 *
 * Input: the plaintext
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <string.h>

#include "fuzz-common.h"
#include "sc-message.h"

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  fuzz_init ();
  return 0;
}

/* json-glib's own reading of "text", or NULL */
static char *
json_glib_text (const guint8 *data,
                gsize         len)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonNode *root, *node;

  if (!g_utf8_validate_len ((const char *) data, len, NULL) ||
      !json_parser_load_from_data (parser, (const char *) data, (gssize) len, NULL) ||
      (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return NULL;
  node = json_object_get_member (json_node_get_object (root), "text");
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return g_strdup (json_node_get_string (node));
}

static void
check_chat_request (const guint8 *data,
                    gsize         size)
{
  g_auto(ScMessage) msg = { 0 };
  g_auto(ScMessage) again = { 0 };
  g_autoptr(GError) error = NULL;
  g_autofree char *json = NULL;
  g_autofree char *expected = NULL;
  g_autofree guint8 *copy = g_malloc (size + 1);
  const char *in_place;
  gsize len;

  memcpy (copy, data, size);
  in_place = sc_message_chat_request_text_in_place (copy, size);
  if (!sc_message_parse_chat_request (data, size, &msg, &error))
    {
      fuzz_assert (g_error_matches (error, SC_ERROR, SC_ERROR_PROTOCOL));
      fuzz_assert (in_place == NULL);
      return;
    }
  fuzz_assert (in_place == NULL ? memcmp (copy, data, size) == 0
                                : strcmp (in_place, msg.text) == 0);
  fuzz_assert (msg.text != NULL && g_utf8_validate (msg.text, -1, NULL));
  /* shallow enough for json-glib's recursion: the parser let it through */
  expected = json_glib_text (data, size);
  fuzz_assert (expected != NULL && strcmp (expected, msg.text) == 0);

  json = sc_message_build_chat_request (msg.text, &len);
  fuzz_assert (sc_message_parse_chat_request ((const guint8 *) json, len, &again, NULL));
  fuzz_assert (strcmp (again.text, msg.text) == 0);
}

static void
check_chat (const guint8 *data,
            gsize         size)
{
  g_auto(ScMessage) msg = { 0 };
  g_auto(ScMessage) again = { 0 };
  g_autoptr(GError) error = NULL;
  g_autofree char *json = NULL;
  gsize len;

  if (!sc_message_parse_chat (data, size, &msg, &error))
    {
      fuzz_assert (g_error_matches (error, SC_ERROR, SC_ERROR_PROTOCOL));
      return;
    }
  fuzz_assert (msg.from != NULL && msg.text != NULL);
  fuzz_assert (g_utf8_validate (msg.from, -1, NULL) && g_utf8_validate (msg.text, -1, NULL));

  json = sc_message_build_chat (msg.from, msg.fingerprint, msg.text, msg.time_ms, &len);
  fuzz_assert (sc_message_parse_chat ((const guint8 *) json, len, &again, NULL));
  fuzz_assert (strcmp (again.from, msg.from) == 0 && strcmp (again.text, msg.text) == 0);
  fuzz_assert (g_strcmp0 (again.fingerprint, msg.fingerprint ? msg.fingerprint : "") == 0);
  fuzz_assert (again.time_ms == msg.time_ms);
}

static void
check_event (const guint8 *data,
             gsize         size)
{
  g_auto(ScMessage) msg = { 0 };
  g_auto(ScMessage) again = { 0 };
  g_autoptr(GError) error = NULL;
  g_autofree char *json = NULL;
  gsize len;

  if (!sc_message_parse_event (data, size, &msg, &error))
    {
      fuzz_assert (g_error_matches (error, SC_ERROR, SC_ERROR_PROTOCOL));
      return;
    }
  fuzz_assert (g_str_equal (msg.event, "join") || g_str_equal (msg.event, "leave"));
  fuzz_assert (msg.from != NULL && g_utf8_validate (msg.from, -1, NULL));

  json = sc_message_build_event (msg.event, msg.from, msg.fingerprint, &len);
  fuzz_assert (sc_message_parse_event ((const guint8 *) json, len, &again, NULL));
  fuzz_assert (strcmp (again.event, msg.event) == 0 && strcmp (again.from, msg.from) == 0);
  fuzz_assert (g_strcmp0 (again.fingerprint, msg.fingerprint ? msg.fingerprint : "") == 0);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  check_chat_request (data, size);
  check_chat (data, size);
  check_event (data, size);
  return 0;
}
