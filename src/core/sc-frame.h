/* sc-frame.h: reassembling frames from a TCP byte stream, for both generations
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  SC_FRAME_GREETING_V1,  /* client: G up to and including its first "\n\n" */
  SC_FRAME_GREETING_V2,  /* client: all of G, the third newline included */
  SC_FRAME_DETECT,       /* server: the client's first byte picks v1 or v2 */
  SC_FRAME_V1,           /* "\n\n"-terminated JSON */
  SC_FRAME_V2,           /* u32be(L) || type || body */
} ScFrameMode;

typedef struct {
  guint8       *data;  /* v2: the whole frame, header included (records are
                        *     decrypted in place, so it is writable);
                        * v1: the JSON text without whitespace or terminator;
                        * greeting: all of G as above */
  gsize         len;
  guint8        type;  /* v2 only */
} ScFrame;

/* Bytes go in with feed() in whatever pieces the socket delivers; next()
 * hands out complete frames in order.  Sizes are checked as soon as the
 * header (v2) or the buffered prefix (v1, greeting) shows them, so an
 * oversize frame fails before its body is buffered.  A frame's data stays
 * valid until the next call to feed(). */
typedef struct _ScFrameReader ScFrameReader;

ScFrameReader *sc_frame_reader_new       (ScFrameMode    mode);
void           sc_frame_reader_free      (ScFrameReader *self);
ScFrameMode    sc_frame_reader_get_mode  (ScFrameReader *self);
/* v1: bytes before the terminator; v2: the largest L accepted */
void           sc_frame_reader_set_limit (ScFrameReader *self,
                                          gsize          limit);
gsize          sc_frame_reader_get_limit (ScFrameReader *self);
void           sc_frame_reader_feed      (ScFrameReader *self,
                                          const guint8  *data,
                                          gsize          len);
/* TRUE and a frame; FALSE without error when more bytes are needed;
 * FALSE with an error when the stream is malformed (then it stays failed). */
gboolean       sc_frame_reader_next      (ScFrameReader *self,
                                          ScFrame       *frame,
                                          GError       **error);
/* Bytes buffered and not yet handed out */
gsize          sc_frame_reader_pending   (ScFrameReader *self);

/* Receiving straight into the buffer, without feed()'s copy: reserve() gives
 * room for @len bytes at its end, commit() adds the @len of them written */
guint8        *sc_frame_reader_reserve   (ScFrameReader *self,
                                          gsize          len);
void           sc_frame_reader_commit    (ScFrameReader *self,
                                          gsize          len);
/* v2: the bytes still missing from a frame whose header is in; else 0 */
gsize          sc_frame_reader_missing   (ScFrameReader *self);
/* Hands over the buffer holding @frame, just returned by next(), if the
 * frame starts it and nothing follows it; else NULL.  The reader goes on
 * with a new buffer.  (A large record then goes to its reader uncopied.) */
GByteArray    *sc_frame_reader_take_buffer  (ScFrameReader *self,
                                             const ScFrame *frame);
/* Takes @buf (emptied) as its buffer if it has none; FALSE if it has one */
gboolean       sc_frame_reader_adopt_buffer (ScFrameReader *self,
                                             GByteArray    *buf);
/* Frees the buffer if nothing is left in it (call when the stream pauses) */
void           sc_frame_reader_trim      (ScFrameReader *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ScFrameReader, sc_frame_reader_free)

/* L, the u32be length at the start of a v2 frame */
guint32        sc_frame_v2_length        (const guint8   header[4]);
/* Writes a v2 frame header for a body of @body_len bytes */
void           sc_frame_v2_header        (guint8         header[5],
                                          guint8         type,
                                          gsize          body_len);

G_END_DECLS
