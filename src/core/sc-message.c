/* sc-message.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "sc-message.h"

#include <string.h>

#include <json-glib/json-glib.h>

#include "sc-protocol.h"

/* JSON nested deeper than this is refused before parsing: our messages
 * are flat objects, and json-glib's parser recurses. */
#define MAX_NESTING 8

void
sc_message_clear (ScMessage *msg)
{
  g_clear_pointer (&msg->from, g_free);
  g_clear_pointer (&msg->fingerprint, g_free);
  g_clear_pointer (&msg->text, g_free);
  g_clear_pointer (&msg->event, g_free);
  msg->time_ms = 0;
}

static char *
generate (JsonBuilder *builder,
          gsize       *len)
{
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) root = json_builder_get_root (builder);

  json_generator_set_root (gen, root);
  return json_generator_to_data (gen, len);
}

static void
add_string (JsonBuilder *b,
            const char  *name,
            const char  *value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_string_value (b, value ? value : "");
}

char *
sc_message_build_chat_request (const char *text,
                               gsize      *len)
{
  g_autoptr(JsonBuilder) b = json_builder_new_immutable ();

  json_builder_begin_object (b);
  add_string (b, "text", text);
  json_builder_end_object (b);
  return generate (b, len);
}

char *
sc_message_build_chat (const char *from,
                       const char *fingerprint,
                       const char *text,
                       gint64      time_ms,
                       gsize      *len)
{
  g_autoptr(JsonBuilder) b = json_builder_new_immutable ();

  json_builder_begin_object (b);
  add_string (b, "from", from);
  add_string (b, "fingerprint", fingerprint);
  add_string (b, "text", text);
  json_builder_set_member_name (b, "time");
  json_builder_add_int_value (b, time_ms);
  json_builder_end_object (b);
  return generate (b, len);
}

char *
sc_message_build_event (const char *event,
                        const char *from,
                        const char *fingerprint,
                        gsize      *len)
{
  g_autoptr(JsonBuilder) b = json_builder_new_immutable ();

  json_builder_begin_object (b);
  add_string (b, "event", event);
  add_string (b, "from", from);
  add_string (b, "fingerprint", fingerprint);
  json_builder_end_object (b);
  return generate (b, len);
}

char *
sc_message_build_welcome (const char *server_name,
                          guint       clients,
                          gsize      *len)
{
  g_autoptr(JsonBuilder) b = json_builder_new_immutable ();

  json_builder_begin_object (b);
  add_string (b, "server", server_name);
  json_builder_set_member_name (b, "clients");
  json_builder_add_int_value (b, clients);
  json_builder_end_object (b);
  return generate (b, len);
}

gboolean
sc_message_nesting_ok (const guint8 *data,
                       gsize         len)
{
  gboolean in_string = FALSE, escaped = FALSE;
  guint depth = 0;
  gsize i;

  /* counts brackets outside strings; not a JSON parser, only a bound */
  for (i = 0; i < len; i++)
    {
      guint8 c = data[i];

      if (in_string)
        {
          if (escaped)
            escaped = FALSE;
          else if (c == '\\')
            escaped = TRUE;
          else if (c == '"')
            in_string = FALSE;
        }
      else if (c == '"')
        in_string = TRUE;
      else if ((c == '{' || c == '[') && ++depth > MAX_NESTING)
        return FALSE;
      else if ((c == '}' || c == ']') && depth > 0)
        depth--;
    }
  return TRUE;
}

static JsonObject *
parse_object (JsonParser   *parser,
              const guint8 *data,
              gsize         len,
              GError      **error)
{
  g_autoptr(GError) local = NULL;
  JsonNode *root;

  if (len > G_MAXSSIZE || !g_utf8_validate_len ((const char *) data, len, NULL) ||
      !sc_message_nesting_ok (data, len) ||
      !json_parser_load_from_data (parser, (const char *) data, (gssize) len, &local) ||
      (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, SC_ERROR, SC_ERROR_PROTOCOL, "Malformed message%s%s",
                   local ? ": " : "", local ? local->message : "");
      return NULL;
    }
  return json_node_get_object (root);
}

static gboolean
get_string (JsonObject  *obj,
            const char  *name,
            char       **out,
            GError     **error)
{
  JsonNode *node = json_object_get_member (obj, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    {
      g_set_error (error, SC_ERROR, SC_ERROR_PROTOCOL, "Message lacks the text member “%s”", name);
      return FALSE;
    }
  /* json-glib 1.6 turns a malformed or lone surrogate escape ("\ud800x",
   * "\ud8\u…") into bytes that are not UTF-8 */
  if (!g_utf8_validate (json_node_get_string (node), -1, NULL))
    {
      g_set_error (error, SC_ERROR, SC_ERROR_PROTOCOL, "Message member “%s” is not valid UTF-8", name);
      return FALSE;
    }
  g_free (*out);
  *out = g_strdup (json_node_get_string (node));
  return TRUE;
}

/* Sixteen bytes at a time, with GCC's portable vector extensions */
typedef guint8 Bytes16 __attribute__ ((vector_size (16)));
typedef gint8  Mask16  __attribute__ ((vector_size (16)));

static inline gboolean
mask_any (Mask16 m)
{
  guint64 w[2];

  memcpy (w, &m, sizeof w);
  return (w[0] | w[1]) != 0;
}

/* The length of the prefix of @p that a JSON string holds as it is (no
 * quote, backslash or control character); *@ascii tells whether that
 * prefix is all ASCII. */
static gsize
plain_json_span (const guint8 *p,
                 gsize         len,
                 gboolean     *ascii)
{
  Bytes16 seen = { 0 };
  guint8 high = 0;
  gsize i = 0;

  for (; i + 16 <= len; i += 16)
    {
      Bytes16 v;

      memcpy (&v, p + i, sizeof v);
      if (mask_any ((v < 0x20) | (v == '"') | (v == '\\')))
        break;
      seen |= v;
    }
  for (; i < len && p[i] >= 0x20 && p[i] != '"' && p[i] != '\\'; i++)
    high |= p[i];
  *ascii = !mask_any ((Mask16) (seen >= 0x80)) && high < 0x80;
  return i;
}

/* {"text": "..."} as our own and Python's encoders write it, with nothing
 * in the text to unescape: the text is the bytes between the quotes.  A
 * 64 KiB message costs a scan instead of json-glib's parse. */
static gboolean
plain_chat_text (const guint8 *data,
                 gsize         len,
                 gsize        *offset,
                 gsize        *text_len)
{
  static const char *const heads[] = { "{\"text\":\"", "{\"text\": \"" };
  guint i;

  if (len < 2 || data[len - 2] != '"' || data[len - 1] != '}')
    return FALSE;
  for (i = 0; i < G_N_ELEMENTS (heads); i++)
    {
      gsize head = strlen (heads[i]);
      const guint8 *text = data + head;
      gsize n = len - head - 2;
      gboolean ascii;

      if (len >= head + 2 && memcmp (data, heads[i], head) == 0 &&
          plain_json_span (text, n, &ascii) == n &&
          (ascii || g_utf8_validate_len ((const char *) text, n, NULL)))
        {
          *offset = head;
          *text_len = n;
          return TRUE;
        }
    }
  return FALSE;
}

char *
sc_message_chat_request_text_in_place (guint8 *data,
                                       gsize   len)
{
  gsize offset, text_len;

  if (!plain_chat_text (data, len, &offset, &text_len))
    return NULL;
  data[offset + text_len] = '\0';  /* was the closing quote */
  return (char *) data + offset;
}

gboolean
sc_message_parse_chat_request (const guint8 *data,
                               gsize         len,
                               ScMessage    *out,
                               GError      **error)
{
  g_autoptr(JsonParser) parser = NULL;
  JsonObject *obj;
  gsize offset, text_len;

  if (plain_chat_text (data, len, &offset, &text_len))
    {
      g_free (out->text);
      out->text = g_strndup ((const char *) data + offset, text_len);
      return TRUE;
    }
  parser = json_parser_new ();
  obj = parse_object (parser, data, len, error);
  return obj != NULL && get_string (obj, "text", &out->text, error);
}

gboolean
sc_message_parse_chat (const guint8 *data,
                       gsize         len,
                       ScMessage    *out,
                       GError      **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *obj = parse_object (parser, data, len, error);
  JsonNode *time;

  if (obj == NULL || !get_string (obj, "from", &out->from, error) ||
      !get_string (obj, "text", &out->text, error))
    return FALSE;
  /* fingerprint and time are informative: tolerate their absence */
  if (!get_string (obj, "fingerprint", &out->fingerprint, NULL))
    out->fingerprint = NULL;
  time = json_object_get_member (obj, "time");
  out->time_ms = (time && JSON_NODE_HOLDS_VALUE (time) &&
                  json_node_get_value_type (time) == G_TYPE_INT64)
    ? json_node_get_int (time) : g_get_real_time () / 1000;
  return TRUE;
}

gboolean
sc_message_parse_event (const guint8 *data,
                        gsize         len,
                        ScMessage    *out,
                        GError      **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *obj = parse_object (parser, data, len, error);

  if (obj == NULL || !get_string (obj, "event", &out->event, error) ||
      !get_string (obj, "from", &out->from, error))
    return FALSE;
  if (!g_str_equal (out->event, "join") && !g_str_equal (out->event, "leave"))
    {
      g_set_error (error, SC_ERROR, SC_ERROR_PROTOCOL, "Unknown event “%s”", out->event);
      return FALSE;
    }
  if (!get_string (obj, "fingerprint", &out->fingerprint, NULL))
    out->fingerprint = NULL;
  return TRUE;
}
