/* test-frame.c: frames survive any split or coalescing of the stream
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "sc-frame.h"
#include "sc-protocol.h"

#include "test-util.h"

static JsonObject *kat1;
static JsonObject *kat2;

typedef struct {
  ScFrameMode  mode;
  GByteArray  *stream;
  GPtrArray   *expected;  /* GBytes: each frame as next() must return it */
} Stream;

static void
stream_clear (Stream *s)
{
  g_byte_array_unref (s->stream);
  g_ptr_array_unref (s->expected);
}

static void
stream_add (Stream       *s,
            const guint8 *wire,
            gsize         wire_len,
            const guint8 *frame,
            gsize         frame_len)
{
  g_byte_array_append (s->stream, wire, (guint) wire_len);
  g_ptr_array_add (s->expected, g_bytes_new (frame, frame_len));
}

static void
stream_add_v2 (Stream     *s,
               GBytes     *frame)
{
  stream_add (s, g_bytes_get_data (frame, NULL), g_bytes_get_size (frame),
              g_bytes_get_data (frame, NULL), g_bytes_get_size (frame));
}

/* v1: the frame returned is the JSON without its terminator */
static void
stream_add_v1 (Stream     *s,
               const char *wire)
{
  gsize len = strlen (wire);

  g_assert_true (g_str_has_suffix (wire, "\n\n"));
  stream_add (s, (const guint8 *) wire, len, (const guint8 *) wire, len - 2);
}

static void
stream_init (Stream      *s,
             ScFrameMode  mode)
{
  s->mode = mode;
  s->stream = g_byte_array_new ();
  s->expected = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
}

static JsonObject *
record (guint i)
{
  return json_array_get_object_element (json_object_get_array_member (kat2, "records"), i);
}

/* What a v2 server reads: ClientHello and the client's records */
static void
make_v2_server_stream (Stream *s)
{
  g_autoptr(GBytes) ch = test_member_hex (kat2, "client_hello_hex");
  guint i;

  stream_init (s, SC_FRAME_DETECT);
  stream_add_v2 (s, ch);
  for (i = 0; i < 7; i++)
    if (g_str_equal (json_object_get_string_member (record (i), "direction"), "c2s"))
      {
        g_autoptr(GBytes) f = test_member_hex (record (i), "frame_hex");
        stream_add_v2 (s, f);
      }
}

/* What a v2 client reads: all of G, the ServerHello and the server's records */
static void
make_v2_client_stream (Stream *s)
{
  g_autoptr(GBytes) g = test_member_hex (kat2, "greeting_hex");
  g_autoptr(GBytes) sh = test_member_hex (kat2, "server_hello_hex");
  guint i;

  stream_init (s, SC_FRAME_GREETING_V2);
  stream_add_v2 (s, g);
  stream_add_v2 (s, sh);
  for (i = 0; i < 7; i++)
    if (g_str_equal (json_object_get_string_member (record (i), "direction"), "s2c"))
      {
        g_autoptr(GBytes) f = test_member_hex (record (i), "frame_hex");
        stream_add_v2 (s, f);
      }
}

static void
add_v1_messages (Stream *s)
{
  JsonArray *messages = json_object_get_array_member (kat1, "messages");
  guint i;

  for (i = 0; i < json_array_get_length (messages); i++)
    stream_add_v1 (s, json_object_get_string_member (json_array_get_object_element (messages, i), "frame"));
}

/* What a v1 server reads: the handshake frame and messages */
static void
make_v1_server_stream (Stream *s)
{
  stream_init (s, SC_FRAME_DETECT);
  stream_add_v1 (s, json_object_get_string_member (kat1, "handshake_frame"));
  add_v1_messages (s);
}

/* What a v1 client reads: G up to its "\n\n"; the third newline is skipped
 * as whitespace before the first message */
static void
make_v1_client_stream (Stream *s)
{
  const char *g = json_object_get_string_member (kat1, "greeting");
  gsize len = strlen (g);

  stream_init (s, SC_FRAME_GREETING_V1);
  stream_add (s, (const guint8 *) g, len, (const guint8 *) g, len - 1);
  add_v1_messages (s);
}

/* Feeds the stream in pieces of the sizes @chunk returns and checks that
 * exactly the expected frames come out, in order */
static void
check_stream (Stream  *s,
              gsize  (*chunk) (gsize offset, gpointer data),
              gpointer data)
{
  g_autoptr(ScFrameReader) reader = sc_frame_reader_new (s->mode);
  gsize offset = 0;
  guint got = 0;

  while (offset < s->stream->len)
    {
      gsize want = chunk (offset, data);  /* once: MIN() evaluates twice */
      gsize n = MIN (want, s->stream->len - offset);
      g_autoptr(GError) error = NULL;
      ScFrame frame;

      sc_frame_reader_feed (reader, s->stream->data + offset, n);
      offset += n;
      while (sc_frame_reader_next (reader, &frame, &error))
        {
          GBytes *expected;

          g_assert_cmpuint (got, <, s->expected->len);
          expected = g_ptr_array_index (s->expected, got);
          test_assert_bytes (frame.data, frame.len, expected);
          got++;
          /* records need the limit of the established phase */
          if (sc_frame_reader_get_mode (reader) == SC_FRAME_V2)
            sc_frame_reader_set_limit (reader, SC_V2_RECORD_MAX (SC_V2_MESSAGE_MAX_DEFAULT));
        }
      g_assert_no_error (error);
    }
  g_assert_cmpuint (got, ==, s->expected->len);
  g_assert_cmpuint (sc_frame_reader_pending (reader), ==, 0);
}

static gsize
chunk_one (gsize offset, gpointer data)
{
  return 1;
}

static gsize
chunk_all (gsize offset, gpointer data)
{
  return G_MAXSIZE;
}

static gsize
chunk_random (gsize offset, gpointer data)
{
  return (gsize) g_rand_int_range (data, 1, 300);
}

static void
check_all_splits (void (*make) (Stream *s))
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (g_test_rand_int ());
  Stream s;
  guint i;

  make (&s);
  check_stream (&s, chunk_one, NULL);
  check_stream (&s, chunk_all, NULL);
  for (i = 0; i < 200; i++)
    check_stream (&s, chunk_random, rand);
  stream_clear (&s);
}

static void
test_v2_server (void)
{
  check_all_splits (make_v2_server_stream);
}

static void
test_v2_client (void)
{
  check_all_splits (make_v2_client_stream);
}

static void
test_v1_server (void)
{
  check_all_splits (make_v1_server_stream);
}

static void
test_v1_client (void)
{
  check_all_splits (make_v1_client_stream);
}

/* Ten frames in one read, as the seed program's peers send them */
static void
test_ten_at_once (void)
{
  JsonArray *messages = json_object_get_array_member (kat1, "messages");
  const char *frame = json_object_get_string_member (json_array_get_object_element (messages, 0), "frame");
  g_autoptr(GBytes) rec = test_member_hex (record (2), "frame_hex");
  Stream v1, v2;
  guint i;

  stream_init (&v1, SC_FRAME_V1);
  stream_init (&v2, SC_FRAME_V2);
  for (i = 0; i < 10; i++)
    {
      stream_add_v1 (&v1, frame);
      stream_add_v2 (&v2, rec);
    }
  check_stream (&v1, chunk_all, NULL);
  check_stream (&v2, chunk_all, NULL);
  stream_clear (&v1);
  stream_clear (&v2);
}

static void
expect_failure (ScFrameReader *reader,
                ScError        code)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) again = NULL;
  ScFrame frame;

  g_assert_false (sc_frame_reader_next (reader, &frame, &error));
  g_assert_error (error, SC_ERROR, (gint) code);
  /* and it stays failed */
  g_assert_false (sc_frame_reader_next (reader, &frame, &again));
  g_assert_nonnull (again);
}

static void
expect_more (ScFrameReader *reader)
{
  g_autoptr(GError) error = NULL;
  ScFrame frame;

  g_assert_false (sc_frame_reader_next (reader, &frame, &error));
  g_assert_no_error (error);
}

/* Oversize frames at every phase fail from the header or the buffered
 * prefix alone, before the body arrives */
static void
test_oversize (void)
{
  const guint8 handshake_hdr[] = { 0, 0, 0x04, 0x01, SC_V2_CLIENT_HELLO };  /* L = 1025 */
  const guint8 handshake_ok[] = { 0, 0, 0x04, 0x00, SC_V2_CLIENT_HELLO };   /* L = 1024 */
  guint32 big = SC_V2_RECORD_MAX (SC_V2_MESSAGE_MAX_DEFAULT) + 1;
  const guint8 record_hdr[] = { big >> 24, (big >> 16) & 0xff, (big >> 8) & 0xff, big & 0xff, SC_V2_CHAT };
  const guint8 empty[] = { 0, 0, 0, 0 };
  g_autofree char *long_greeting = NULL;
  g_autofree char *long_v1 = g_strnfill (SC_V1_FRAME_MAX + 2, 'x');
  g_autofree char *max_v1 = g_strnfill (SC_V1_FRAME_MAX, 'y');
  g_autoptr(ScFrameReader) r = NULL;

  /* 1. v2 handshake phase: L = 1025, seen from the 4-byte header */
  r = sc_frame_reader_new (SC_FRAME_DETECT);
  sc_frame_reader_feed (r, handshake_hdr, sizeof handshake_hdr);
  expect_failure (r, SC_ERROR_OVERSIZE);
  g_clear_pointer (&r, sc_frame_reader_free);

  /* ... while L = 1024 waits for its body */
  r = sc_frame_reader_new (SC_FRAME_DETECT);
  sc_frame_reader_feed (r, handshake_ok, sizeof handshake_ok);
  expect_more (r);
  g_clear_pointer (&r, sc_frame_reader_free);

  /* 2. v2 record phase */
  r = sc_frame_reader_new (SC_FRAME_V2);
  sc_frame_reader_set_limit (r, SC_V2_RECORD_MAX (SC_V2_MESSAGE_MAX_DEFAULT));
  sc_frame_reader_feed (r, record_hdr, sizeof record_hdr);
  expect_failure (r, SC_ERROR_OVERSIZE);
  g_clear_pointer (&r, sc_frame_reader_free);

  /* 3. L = 0 is never a frame */
  r = sc_frame_reader_new (SC_FRAME_V2);
  sc_frame_reader_feed (r, empty, sizeof empty);
  expect_failure (r, SC_ERROR_PROTOCOL);
  g_clear_pointer (&r, sc_frame_reader_free);

  /* 4. greeting without its end */
  long_greeting = g_strnfill (SC_GREETING_MAX + 20, 'A');
  memcpy (long_greeting, "SERVER_PUB\n", 11);
  r = sc_frame_reader_new (SC_FRAME_GREETING_V2);
  sc_frame_reader_feed (r, (const guint8 *) long_greeting, strlen (long_greeting));
  expect_failure (r, SC_ERROR_OVERSIZE);
  g_clear_pointer (&r, sc_frame_reader_free);

  /* 5. v1 frame without a terminator after the limit */
  r = sc_frame_reader_new (SC_FRAME_DETECT);
  sc_frame_reader_feed (r, (const guint8 *) long_v1, strlen (long_v1));
  expect_failure (r, SC_ERROR_OVERSIZE);
  g_clear_pointer (&r, sc_frame_reader_free);

  /* ... and one exactly at the limit passes */
  r = sc_frame_reader_new (SC_FRAME_V1);
  sc_frame_reader_feed (r, (const guint8 *) max_v1, strlen (max_v1));
  expect_more (r);
  sc_frame_reader_feed (r, (const guint8 *) "\n\n", 2);
  {
    ScFrame frame;

    g_assert_true (sc_frame_reader_next (r, &frame, NULL));
    g_assert_cmpuint (frame.len, ==, SC_V1_FRAME_MAX);
  }
}

/* A peer that does not greet like a server is refused at its first bytes */
static void
test_bad_greeting (void)
{
  const char *stream = json_object_get_string_member (kat1, "greeting");
  g_autofree char *two_newlines = g_strndup (stream, strlen (stream) - 1);
  g_autofree char *wrong_third = g_strconcat (two_newlines, "X", NULL);
  g_autoptr(ScFrameReader) r = sc_frame_reader_new (SC_FRAME_GREETING_V2);

  sc_frame_reader_feed (r, (const guint8 *) "HTTP/1.1", 8);
  expect_failure (r, SC_ERROR_PROTOCOL);
  g_clear_pointer (&r, sc_frame_reader_free);

  /* v2 needs the third newline, and waits for it */
  r = sc_frame_reader_new (SC_FRAME_GREETING_V2);
  sc_frame_reader_feed (r, (const guint8 *) two_newlines, strlen (two_newlines));
  expect_more (r);
  g_clear_pointer (&r, sc_frame_reader_free);

  r = sc_frame_reader_new (SC_FRAME_GREETING_V2);
  sc_frame_reader_feed (r, (const guint8 *) wrong_third, strlen (wrong_third));
  expect_failure (r, SC_ERROR_PROTOCOL);
}

/* The server tells the generations apart by the first byte */
static void
test_detect (void)
{
  static const char *v1_starts[] = { "{\"a\": \"b\"}\n\n", " \n{\"a\": \"b\"}\n\n" };
  g_autoptr(GBytes) ch = test_member_hex (kat2, "client_hello_hex");
  guint i;

  for (i = 0; i < G_N_ELEMENTS (v1_starts); i++)
    {
      g_autoptr(ScFrameReader) r = sc_frame_reader_new (SC_FRAME_DETECT);
      ScFrame frame;

      sc_frame_reader_feed (r, (const guint8 *) v1_starts[i], strlen (v1_starts[i]));
      g_assert_true (sc_frame_reader_next (r, &frame, NULL));
      g_assert_cmpint (sc_frame_reader_get_mode (r), ==, SC_FRAME_V1);
      g_assert_cmpmem (frame.data, frame.len, "{\"a\": \"b\"}", 10);
    }
  {
    g_autoptr(ScFrameReader) r = sc_frame_reader_new (SC_FRAME_DETECT);
    ScFrame frame;

    sc_frame_reader_feed (r, g_bytes_get_data (ch, NULL), 1);
    expect_more (r);
    g_assert_cmpint (sc_frame_reader_get_mode (r), ==, SC_FRAME_V2);
    sc_frame_reader_feed (r, (const guint8 *) g_bytes_get_data (ch, NULL) + 1, g_bytes_get_size (ch) - 1);
    g_assert_true (sc_frame_reader_next (r, &frame, NULL));
    g_assert_cmpuint (frame.type, ==, SC_V2_CLIENT_HELLO);
  }
}

/* Once a big frame is handed out, trim() lets go of the buffer, and the
 * reader goes on as if new */
static void
test_buffer_released (void)
{
  g_autoptr(ScFrameReader) r = sc_frame_reader_new (SC_FRAME_V1);
  g_autofree char *big = g_strnfill (100000, 'z');
  ScFrame frame;

  sc_frame_reader_feed (r, (const guint8 *) big, strlen (big));
  sc_frame_reader_feed (r, (const guint8 *) "\n\n", 2);
  sc_frame_reader_trim (r);  /* a whole frame is waiting: nothing to let go */
  g_assert_cmpuint (sc_frame_reader_pending (r), ==, strlen (big) + 2);
  g_assert_true (sc_frame_reader_next (r, &frame, NULL));
  g_assert_cmpuint (frame.len, ==, strlen (big));
  g_assert_cmpuint (sc_frame_reader_pending (r), ==, 0);
  sc_frame_reader_trim (r);
  g_assert_cmpuint (sc_frame_reader_pending (r), ==, 0);
  expect_more (r);
  sc_frame_reader_feed (r, (const guint8 *) "{}\n\n", 4);
  g_assert_true (sc_frame_reader_next (r, &frame, NULL));
  g_assert_cmpmem (frame.data, frame.len, "{}", 2);
}

/* ScChannel's way in: a frame's header, then the rest of it received
 * straight into reserve()d room, in pieces and with short commits */
static void
test_direct (void)
{
  const gsize body = 70000;
  g_autoptr(ScFrameReader) r = sc_frame_reader_new (SC_FRAME_V2);
  g_autoptr(GByteArray) wire = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  guint8 header[5];
  gsize off, i;
  ScFrame frame;

  sc_frame_reader_set_limit (r, body + 1);
  sc_frame_v2_header (header, SC_V2_CHAT, body);
  g_byte_array_append (wire, header, sizeof header);
  for (i = 0; i < body; i++)
    g_byte_array_append (wire, (const guint8 *) &(guint8) { (guint8) (i * 7) }, 1);

  g_assert_cmpuint (sc_frame_reader_missing (r), ==, 0);
  sc_frame_reader_feed (r, wire->data, 3);
  g_assert_cmpuint (sc_frame_reader_missing (r), ==, 0);  /* no length yet */
  sc_frame_reader_feed (r, wire->data + 3, 997);
  off = 1000;
  while (sc_frame_reader_missing (r) > 0)
    {
      gsize missing = sc_frame_reader_missing (r);
      gsize n = MIN (missing, 9001);
      guint8 *room;

      g_assert_cmpuint (missing, ==, wire->len - off);
      expect_more (r);
      room = sc_frame_reader_reserve (r, missing);
      memcpy (room, wire->data + off, n);
      sc_frame_reader_commit (r, n);  /* less than reserved, as recv() may */
      off += n;
    }
  g_assert_cmpuint (off, ==, wire->len);
  g_assert_true (sc_frame_reader_next (r, &frame, NULL));
  g_assert_cmpuint (frame.type, ==, SC_V2_CHAT);
  g_assert_cmpmem (frame.data, frame.len, wire->data, wire->len);
  g_assert_cmpuint (sc_frame_reader_pending (r), ==, 0);

  /* the frame is all the buffer holds: it can be taken away with it, and
   * the reader goes on with another */
  {
    GByteArray *taken = sc_frame_reader_take_buffer (r, &frame);
    g_autoptr(GByteArray) spare = g_byte_array_new ();

    g_assert_nonnull (taken);
    g_assert_true (taken->data == frame.data);
    g_assert_cmpmem (taken->data, taken->len, wire->data, wire->len);
    g_byte_array_unref (taken);
    g_assert_cmpuint (sc_frame_reader_pending (r), ==, 0);
    g_assert_true (sc_frame_reader_adopt_buffer (r, g_byte_array_ref (spare)));
    g_assert_false (sc_frame_reader_adopt_buffer (r, spare));  /* it has one now */
    sc_frame_reader_feed (r, wire->data, wire->len);
    g_assert_true (sc_frame_reader_next (r, &frame, NULL));
    g_assert_true (frame.data == spare->data);
    g_assert_cmpmem (frame.data, frame.len, wire->data, wire->len);
    /* not when something follows it */
    sc_frame_reader_feed (r, wire->data, wire->len);
    sc_frame_reader_feed (r, wire->data, wire->len);
    g_assert_true (sc_frame_reader_next (r, &frame, NULL));
    g_assert_null (sc_frame_reader_take_buffer (r, &frame));
    g_assert_true (sc_frame_reader_next (r, &frame, NULL));
  }
  sc_frame_reader_trim (r);

  /* a header over the limit is next()'s to refuse, not missing()'s to wait for */
  sc_frame_reader_set_limit (r, 100);
  sc_frame_reader_feed (r, wire->data, 10);
  g_assert_cmpuint (sc_frame_reader_missing (r), ==, 0);
  g_assert_false (sc_frame_reader_next (r, &frame, &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_OVERSIZE);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  kat1 = test_load_vectors ("kat-v1.json");
  kat2 = test_load_vectors ("kat-v2.json");

  g_test_add_func ("/frame/splits/v2-server", test_v2_server);
  g_test_add_func ("/frame/splits/v2-client", test_v2_client);
  g_test_add_func ("/frame/splits/v1-server", test_v1_server);
  g_test_add_func ("/frame/splits/v1-client", test_v1_client);
  g_test_add_func ("/frame/ten-at-once", test_ten_at_once);
  g_test_add_func ("/frame/oversize", test_oversize);
  g_test_add_func ("/frame/bad-greeting", test_bad_greeting);
  g_test_add_func ("/frame/detect", test_detect);
  g_test_add_func ("/frame/buffer-released", test_buffer_released);
  g_test_add_func ("/frame/direct", test_direct);

  return g_test_run ();
}
