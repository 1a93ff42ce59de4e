/* sc-frame.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "sc-frame.h"

#include <string.h>

#include "sc-protocol.h"

struct _ScFrameReader {
  ScFrameMode  mode;
  gsize        limit;
  GByteArray  *buf;    /* NULL while empty */
  gsize        start;  /* first byte not handed out yet */
  gsize        scan;   /* v1/greeting: where to resume looking for "\n\n" */
  gboolean     failed;
};

ScFrameReader *
sc_frame_reader_new (ScFrameMode mode)
{
  ScFrameReader *self = g_new0 (ScFrameReader, 1);

  self->mode = mode;
  self->limit = (mode == SC_FRAME_V1) ? SC_V1_FRAME_MAX : SC_V2_HANDSHAKE_FRAME_MAX;
  return self;
}

void
sc_frame_reader_free (ScFrameReader *self)
{
  if (self == NULL)
    return;
  g_clear_pointer (&self->buf, g_byte_array_unref);
  g_free (self);
}

ScFrameMode
sc_frame_reader_get_mode (ScFrameReader *self)
{
  return self->mode;
}

void
sc_frame_reader_set_limit (ScFrameReader *self,
                           gsize          limit)
{
  self->limit = limit;
}

gsize
sc_frame_reader_get_limit (ScFrameReader *self)
{
  return self->limit;
}

gsize
sc_frame_reader_pending (ScFrameReader *self)
{
  return self->buf ? self->buf->len - self->start : 0;
}

/* Drops what was handed out.  The buffer itself stays (a stream of large
 * frames would otherwise allocate and fault in a new one for each);
 * sc_frame_reader_trim() gives it back once the stream pauses. */
static void
compact (ScFrameReader *self)
{
  if (self->buf == NULL || self->start == 0)
    return;
  if (self->start == self->buf->len)
    g_byte_array_set_size (self->buf, 0);
  else
    g_byte_array_remove_range (self->buf, 0, self->start);
  self->scan -= MIN (self->scan, self->start);
  self->start = 0;
}

void
sc_frame_reader_feed (ScFrameReader *self,
                      const guint8  *data,
                      gsize          len)
{
  if (len == 0)
    {
      compact (self);
      return;
    }
  memcpy (sc_frame_reader_reserve (self, len), data, len);
  sc_frame_reader_commit (self, len);
}

guint8 *
sc_frame_reader_reserve (ScFrameReader *self,
                         gsize          len)
{
  guint old;

  compact (self);
  if (self->buf == NULL)
    self->buf = g_byte_array_sized_new (MAX (len, 256));
  old = self->buf->len;
  /* grows the allocation; the length goes back until commit() */
  g_byte_array_set_size (self->buf, old + (guint) len);
  g_byte_array_set_size (self->buf, old);
  return self->buf->data + old;
}

void
sc_frame_reader_commit (ScFrameReader *self,
                        gsize          len)
{
  g_return_if_fail (self->buf != NULL || len == 0);

  if (len > 0)
    g_byte_array_set_size (self->buf, self->buf->len + (guint) len);
}

gsize
sc_frame_reader_missing (ScFrameReader *self)
{
  const guint8 *base;
  gsize avail;
  guint32 len;

  if (self->mode != SC_FRAME_V2 || self->failed || self->buf == NULL)
    return 0;
  avail = self->buf->len - self->start;
  if (avail < 4)
    return 0;
  base = self->buf->data + self->start;
  len = sc_frame_v2_length (base);
  /* an empty or oversize frame is next()'s to report */
  if (len == 0 || len > self->limit || avail >= 4 + (gsize) len)
    return 0;
  return 4 + (gsize) len - avail;
}

GByteArray *
sc_frame_reader_take_buffer (ScFrameReader *self,
                             const ScFrame *frame)
{
  GByteArray *buf = self->buf;

  if (buf == NULL || frame->data != buf->data || self->start != buf->len)
    return NULL;
  self->buf = NULL;
  self->start = 0;
  self->scan = 0;
  return buf;
}

gboolean
sc_frame_reader_adopt_buffer (ScFrameReader *self,
                              GByteArray    *buf)
{
  if (self->buf != NULL)
    return FALSE;
  g_byte_array_set_size (buf, 0);
  self->buf = buf;
  self->start = 0;
  self->scan = 0;
  return TRUE;
}

void
sc_frame_reader_trim (ScFrameReader *self)
{
  compact (self);
  if (self->buf != NULL && self->buf->len == 0)
    g_clear_pointer (&self->buf, g_byte_array_unref);
}

static gboolean
fail (ScFrameReader *self,
      GError       **error,
      ScError        code,
      const char    *message)
{
  self->failed = TRUE;
  g_set_error_literal (error, SC_ERROR, code, message);
  return FALSE;
}

/* Finds "\n\n" in the unread bytes, resuming where the last search
 * stopped; returns the offset of its first '\n' from self->start, or -1. */
static gssize
find_terminator (ScFrameReader *self)
{
  const guint8 *data = self->buf->data;
  gsize len = self->buf->len;
  gsize i = MAX (self->scan, self->start);

  if (i > self->start)
    i--;  /* a '\n' at the old end may pair with the first new byte */
  while (i + 1 < len)
    {
      const guint8 *nl = memchr (data + i, '\n', len - 1 - i);

      if (nl == NULL)
        break;
      i = (gsize) (nl - data);
      if (data[i + 1] == '\n')
        return (gssize) (i - self->start);
      i++;
    }
  self->scan = len;
  return -1;
}

static gboolean
next_greeting (ScFrameReader *self,
               ScFrame       *frame,
               GError       **error)
{
  guint8 *base = self->buf->data + self->start;
  gsize avail = self->buf->len - self->start;
  gsize prefix = strlen (SC_GREETING_PREFIX);
  gsize need;
  gssize end;

  if (memcmp (base, SC_GREETING_PREFIX, MIN (avail, prefix)) != 0)
    return fail (self, error, SC_ERROR_PROTOCOL,
                 "The peer is not a Secure Chat server (no SERVER_PUB greeting)");

  end = find_terminator (self);
  if (end < 0)
    {
      if (avail > SC_GREETING_MAX)
        return fail (self, error, SC_ERROR_OVERSIZE, "Greeting too long");
      return FALSE;
    }
  need = (gsize) end + 2;
  if (self->mode == SC_FRAME_GREETING_V2)
    {
      need++;
      if (avail < need)
        return FALSE;
      if (base[need - 1] != '\n')
        return fail (self, error, SC_ERROR_PROTOCOL, "Greeting does not end with three newlines");
    }
  if (need > SC_GREETING_MAX)
    return fail (self, error, SC_ERROR_OVERSIZE, "Greeting too long");

  frame->data = base;
  frame->len = need;
  frame->type = 0;
  self->start += need;
  self->scan = self->start;
  if (self->mode == SC_FRAME_GREETING_V2)
    {
      self->mode = SC_FRAME_V2;
      self->limit = SC_V2_HANDSHAKE_FRAME_MAX;
    }
  else
    {
      self->mode = SC_FRAME_V1;
      self->limit = SC_V1_FRAME_MAX;
    }
  return TRUE;
}

static gboolean
next_v1 (ScFrameReader *self,
         ScFrame       *frame,
         GError       **error)
{
  gssize end;

  /* Whitespace between frames (the greeting's third newline, too) */
  while (self->start < self->buf->len && g_ascii_isspace (self->buf->data[self->start]))
    self->start++;
  if (self->start == self->buf->len)
    return FALSE;

  end = find_terminator (self);
  if (end < 0 ? self->buf->len - self->start > self->limit + 1 : (gsize) end > self->limit)
    return fail (self, error, SC_ERROR_OVERSIZE, "Message frame too long");
  if (end < 0)
    return FALSE;

  frame->data = self->buf->data + self->start;
  frame->len = (gsize) end;
  frame->type = 0;
  self->start += (gsize) end + 2;
  self->scan = self->start;
  return TRUE;
}

static gboolean
next_v2 (ScFrameReader *self,
         ScFrame       *frame,
         GError       **error)
{
  guint8 *base = self->buf->data + self->start;
  gsize avail = self->buf->len - self->start;
  guint32 len;

  if (avail < 4)
    return FALSE;
  len = sc_frame_v2_length (base);
  if (len == 0)
    return fail (self, error, SC_ERROR_PROTOCOL, "Empty frame");
  if (len > self->limit)
    return fail (self, error, SC_ERROR_OVERSIZE, "Frame larger than allowed at this stage");
  if (avail < 4 + (gsize) len)
    return FALSE;

  frame->data = base;
  frame->len = 4 + (gsize) len;
  frame->type = base[4];
  self->start += frame->len;
  return TRUE;
}

gboolean
sc_frame_reader_next (ScFrameReader *self,
                      ScFrame       *frame,
                      GError       **error)
{
  if (self->failed)
    return fail (self, error, SC_ERROR_STATE, "Stream already failed");
  if (self->buf == NULL || self->start >= self->buf->len)
    return FALSE;

  switch (self->mode)
    {
    case SC_FRAME_DETECT:
      if (self->buf->data[self->start] == 0x00)
        {
          self->mode = SC_FRAME_V2;
          self->limit = SC_V2_HANDSHAKE_FRAME_MAX;
          return next_v2 (self, frame, error);
        }
      self->mode = SC_FRAME_V1;
      self->limit = SC_V1_FRAME_MAX;
      return next_v1 (self, frame, error);
    case SC_FRAME_GREETING_V1:
    case SC_FRAME_GREETING_V2:
      return next_greeting (self, frame, error);
    case SC_FRAME_V1:
      return next_v1 (self, frame, error);
    case SC_FRAME_V2:
      return next_v2 (self, frame, error);
    default:
      return fail (self, error, SC_ERROR_STATE, "Unknown framing mode");
    }
}

guint32
sc_frame_v2_length (const guint8 header[4])
{
  return ((guint32) header[0] << 24) | ((guint32) header[1] << 16) |
         ((guint32) header[2] << 8) | header[3];
}

void
sc_frame_v2_header (guint8 header[5],
                    guint8 type,
                    gsize  body_len)
{
  guint32 len = (guint32) (body_len + 1);

  header[0] = (guint8) (len >> 24);
  header[1] = (guint8) (len >> 16);
  header[2] = (guint8) (len >> 8);
  header[3] = (guint8) len;
  header[4] = type;
}
