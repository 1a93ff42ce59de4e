/* test-message.c: the JSON plaintexts, and the chat fast path against
 * json-glib's reading of the same bytes
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "sc-message.h"
#include "sc-protocol.h"

#include "test-util.h"

/* What json-glib makes of @json's "text", or NULL if it refuses it */
static char *
json_glib_text (const char *json,
                gsize       len)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonNode *root;

  if (!g_utf8_validate_len (json, len, NULL) ||
      !json_parser_load_from_data (parser, json, (gssize) len, NULL) ||
      (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root) ||
      !json_object_has_member (json_node_get_object (root), "text"))
    return NULL;
  return g_strdup (json_object_get_string_member (json_node_get_object (root), "text"));
}

static void
assert_parses_as (const char *json,
                  gsize       len,
                  const char *expected)
{
  g_auto(ScMessage) msg = { 0 };
  g_autoptr(GError) error = NULL;
  gboolean ok = sc_message_parse_chat_request ((const guint8 *) json, len, &msg, &error);
  g_autofree guint8 *copy = g_malloc (len + 1);
  const char *in_place;

  /* the in-place reading agrees, or leaves the bytes alone */
  memcpy (copy, json, len);
  in_place = sc_message_chat_request_text_in_place (copy, len);
  if (in_place != NULL)
    g_assert_cmpstr (in_place, ==, expected);
  else
    g_assert_cmpmem (copy, len, json, len);

  if (expected == NULL)
    {
      g_assert_false (ok);
      g_assert_error (error, SC_ERROR, SC_ERROR_PROTOCOL);
      return;
    }
  g_assert_no_error (error);
  g_assert_true (ok);
  g_assert_cmpstr (msg.text, ==, expected);
}

/* The texts that need no unescaping are read where they lie */
static void
test_chat_request_in_place (void)
{
  static const char *plain[] = { "{\"text\":\"hello\"}", "{\"text\": \"hello\"}",
                                 "{\"text\": \"\"}", "{\"text\": \"gr\xc3\xbc\xc3\x9f\"}" };
  static const char *general[] = { "{ \"text\" : \"hello\" }", "{\"text\": \"a\\\"b\"}",
                                   "{\"text\": \"x\", \"extra\": 1}" };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (plain); i++)
    {
      g_autofree char *copy = g_strdup (plain[i]);
      char *text = sc_message_chat_request_text_in_place ((guint8 *) copy, strlen (copy));

      g_assert_nonnull (text);
      g_assert_true (text > copy && text < copy + strlen (plain[i]));
      g_assert_cmpuint (strlen (text), ==, strlen (plain[i]) - (gsize) (text - copy) - 2);
    }
  for (i = 0; i < G_N_ELEMENTS (general); i++)
    {
      g_autofree char *copy = g_strdup (general[i]);

      g_assert_null (sc_message_chat_request_text_in_place ((guint8 *) copy, strlen (copy)));
      g_assert_cmpstr (copy, ==, general[i]);
    }
}

static void
test_chat_request_cases (void)
{
  static const struct { const char *json; const char *text; } cases[] = {
    { "{\"text\":\"hello\"}", "hello" },
    { "{\"text\": \"hello\"}", "hello" },              /* Python's json.dumps */
    { "{ \"text\" : \"hello\" }", "hello" },
    { "{\"text\": \"\"}", "" },
    { "{\"text\": \"gr\xc3\xbc\xc3\x9f dich \xf0\x9f\x91\x8b\"}", "gr\xc3\xbc\xc3\x9f dich \xf0\x9f\x91\x8b" },
    { "{\"text\": \"a\\\"b\\\\c\\nd\"}", "a\"b\\c\nd" },
    { "{\"text\": \"\\u00fc\"}", "\xc3\xbc" },
    { "{\"text\": \"x\", \"extra\": 1}", "x" },
    { "{\"text\": \"a\"b\"}", NULL },                   /* a bare quote */
    { "{\"text\": \"bad \xc3\x28 utf8\"}", NULL },
    { "{\"text\": \"\xed\xa0\x80\"}", NULL },            /* a surrogate */
    { "{\"text\": \"\\ud800x\"}", NULL },          /* json-glib decodes these to */
    { "{\"text\": \"a\\\"b\\\\\\\\c\\nd \\u00fc \\ud8\\ude00\"}", NULL },  /* non-UTF-8 (fuzz-message) */
    { "{\"text\": 5}", NULL },
    { "{\"txt\": \"hello\"}", NULL },
    { "{\"text\": \"hello\"", NULL },
    { "\"text\": \"hello\"}", NULL },
    { "[\"text\", \"hello\"]", NULL },
    { "", NULL },
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *shown = g_strescape (cases[i].json, NULL);  /* TAP wants UTF-8 */

      g_test_message ("case %u: %s", i, shown);
      assert_parses_as (cases[i].json, strlen (cases[i].json), cases[i].text);
    }
}

/* Long texts with one special byte at every offset near the 8-byte word
 * edges: the fast path and json-glib agree on each */
static void
test_chat_request_offsets (void)
{
  static const char *const specials[] = {
    "\"", "\\\\", "\\n", "\x1f", "\x7f", "\xc3\xa4", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
    "\xc3", "\xff", " ", "~",
  };
  guint s, offset;

  for (s = 0; s < G_N_ELEMENTS (specials); s++)
    for (offset = 0; offset < 40; offset++)
      {
        g_autoptr(GString) json = g_string_new ("{\"text\": \"");
        g_autofree char *expected = NULL;
        guint i;

        for (i = 0; i < offset; i++)
          g_string_append_c (json, (char) ('a' + i % 26));
        g_string_append (json, specials[s]);
        for (i = 0; i < 37; i++)
          g_string_append_c (json, (char) ('A' + i % 26));
        g_string_append (json, "\"}");
        expected = json_glib_text (json->str, json->len);
        assert_parses_as (json->str, json->len, expected);
      }
}

/* Whatever we build, we read back */
static void
test_chat_request_round_trip (void)
{
  GRand *rand = g_rand_new_with_seed (6);
  guint n;

  for (n = 0; n < 2000; n++)
    {
      g_autoptr(GString) text = g_string_new (NULL);
      g_autofree char *json = NULL;
      guint len = (guint) g_rand_int_range (rand, 0, 200), i;
      gsize json_len;

      for (i = 0; i < len; i++)
        {
          gunichar c = (gunichar) g_rand_int_range (rand, 1, 0x500);

          if (g_rand_int_range (rand, 0, 20) == 0)
            c = (gunichar) g_rand_int_range (rand, 0x1f600, 0x1f650);
          g_string_append_unichar (text, c);
        }
      json = sc_message_build_chat_request (text->str, &json_len);
      assert_parses_as (json, json_len, text->str);
    }
  g_rand_free (rand);
}

/* Escapes json-glib decodes to bytes that are not UTF-8 are refused by
 * every parser (found by fuzz/fuzz-message) */
static void
test_bad_surrogates (void)
{
  static const char *const texts[] = { "\\ud800x", "\\ud8\\ude00", "ok \\udbff!" };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (texts); i++)
    {
      g_autofree char *chat = g_strdup_printf ("{\"from\": \"%s\", \"text\": \"%s\"}",
                                               texts[i], texts[i]);
      g_autofree char *event = g_strdup_printf ("{\"event\": \"join\", \"from\": \"%s\"}",
                                                texts[i]);
      g_auto(ScMessage) msg = { 0 };
      g_autoptr(GError) error = NULL;

      g_test_message ("case %u: %s", i, texts[i]);
      g_assert_false (sc_message_parse_chat ((const guint8 *) chat, strlen (chat), &msg, &error));
      g_assert_error (error, SC_ERROR, SC_ERROR_PROTOCOL);
      g_clear_error (&error);
      g_assert_false (sc_message_parse_event ((const guint8 *) event, strlen (event), &msg, &error));
      g_assert_error (error, SC_ERROR, SC_ERROR_PROTOCOL);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/message/chat-request/cases", test_chat_request_cases);
  g_test_add_func ("/message/chat-request/in-place", test_chat_request_in_place);
  g_test_add_func ("/message/chat-request/offsets", test_chat_request_offsets);
  g_test_add_func ("/message/chat-request/round-trip", test_chat_request_round_trip);
  g_test_add_func ("/message/bad-surrogates", test_bad_surrogates);
  return g_test_run ();
}
