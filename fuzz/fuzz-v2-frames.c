/* fuzz-v2-frames.c: ScFrameReader in every mode, fed the same stream once
 * whole and once in pieces: both must hand out the same frames, each
 * within the limit, and fail alike
 *
 * Input: flags || chunk seed || limit byte || stream
 *   flags & 3    0 v2, 1 detect, 2 v2 greeting, 3 v1 greeting
 *   flags & 4    limit 64 * limit byte (v2: L, v1: bytes) from the start
 *                (in detect mode from the second frame on)
 *   flags & 8    after the first frame, the record limit (as after Welcome)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <string.h>

#include "fuzz-common.h"
#include "sc-frame.h"
#include "sc-protocol.h"

typedef struct {
  GPtrArray *frames;   /* GBytes, type byte appended */
  gboolean   failed;
  gsize      pending;
} Run;

typedef struct {
  guint8   flags;
  gsize    limit;
  gboolean detect;
} Policy;

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  fuzz_init ();
  return 0;
}

static void
apply_limit (ScFrameReader *reader,
             const Policy  *policy,
             guint          n_frames)
{
  ScFrameMode mode = sc_frame_reader_get_mode (reader);

  if (mode != SC_FRAME_V1 && mode != SC_FRAME_V2)
    return;
  /* after detection, the first frame is read with the detected mode's
   * default limit (a caller cannot set one in between): like the server,
   * set limits only from the second frame on */
  if (policy->detect && n_frames == 0)
    return;
  if ((policy->flags & 8) && n_frames > 0)
    sc_frame_reader_set_limit (reader, SC_V2_RECORD_MAX (SC_V2_MESSAGE_MAX_DEFAULT));
  else if (policy->flags & 4)
    sc_frame_reader_set_limit (reader, policy->limit);
}

static guint32
be32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

/* What every frame must look like */
static void
check_frame (ScFrameMode    mode_before,
             ScFrameReader *reader,
             const ScFrame *frame)
{
  gsize limit = sc_frame_reader_get_limit (reader);

  switch (mode_before)
    {
    case SC_FRAME_GREETING_V1:
    case SC_FRAME_GREETING_V2:
      fuzz_assert (frame->len <= SC_GREETING_MAX);
      /* the prefix's newline may start the terminator */
      fuzz_assert (frame->len >= strlen (SC_GREETING_PREFIX) +
                   (mode_before == SC_FRAME_GREETING_V2 ? 2 : 1));
      fuzz_assert (memcmp (frame->data, SC_GREETING_PREFIX, strlen (SC_GREETING_PREFIX)) == 0);
      if (mode_before == SC_FRAME_GREETING_V2)
        fuzz_assert (memcmp (frame->data + frame->len - 3, "\n\n\n", 3) == 0);
      else
        fuzz_assert (memcmp (frame->data + frame->len - 2, "\n\n", 2) == 0);
      /* the terminator is the first "\n\n" */
      fuzz_assert (g_strstr_len ((const char *) frame->data, (gssize) frame->len, "\n\n") ==
                   (const char *) frame->data + frame->len -
                   (mode_before == SC_FRAME_GREETING_V2 ? 3 : 2) ||
                   memchr (frame->data, '\0', frame->len) != NULL);
      break;
    case SC_FRAME_DETECT:
    case SC_FRAME_V1:
    case SC_FRAME_V2:
    default:
      if (sc_frame_reader_get_mode (reader) == SC_FRAME_V2)
        {
          fuzz_assert (frame->len >= 5);
          fuzz_assert (be32 (frame->data) == frame->len - 4);
          fuzz_assert (frame->len - 4 <= limit);
          fuzz_assert (frame->type == frame->data[4]);
        }
      else
        {
          fuzz_assert (sc_frame_reader_get_mode (reader) == SC_FRAME_V1);
          fuzz_assert (frame->len <= limit);
          fuzz_assert (frame->len == 0 || !g_ascii_isspace (frame->data[0]));
          fuzz_assert (frame->len < 2 ||
                       g_strstr_len ((const char *) frame->data, (gssize) frame->len, "\n\n") == NULL ||
                       memchr (frame->data, '\0', frame->len) != NULL);
        }
      break;
    }
}

static void
run (ScFrameMode    mode,
     const Policy  *policy,
     guint8         seed,
     const guint8  *data,
     gsize          size,
     Run           *out)
{
  g_autoptr(ScFrameReader) reader = sc_frame_reader_new (mode);
  g_autoptr(GError) error = NULL;
  FuzzChunker chunker;
  ScFrame frame;

  out->frames = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  fuzz_chunker_init (&chunker, seed);
  while (size > 0 && !out->failed)
    {
      gsize n = fuzz_chunker_next (&chunker, size);

      sc_frame_reader_feed (reader, data, n);
      data += n;
      size -= n;
      for (;;)
        {
          ScFrameMode before;
          guint8 *copy;

          apply_limit (reader, policy, out->frames->len);
          before = sc_frame_reader_get_mode (reader);
          if (!sc_frame_reader_next (reader, &frame, &error))
            break;
          check_frame (before, reader, &frame);
          copy = g_malloc (frame.len + 1);
          memcpy (copy, frame.data, frame.len);
          copy[frame.len] = frame.type;
          g_ptr_array_add (out->frames, g_bytes_new_take (copy, frame.len + 1));
        }
      if (error != NULL)
        {
          out->failed = TRUE;
          /* a failed reader stays failed */
          g_clear_error (&error);
          fuzz_assert (!sc_frame_reader_next (reader, &frame, &error));
          fuzz_assert (g_error_matches (error, SC_ERROR, SC_ERROR_STATE));
        }
    }
  out->pending = sc_frame_reader_pending (reader);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  static const ScFrameMode modes[] = {
    SC_FRAME_V2, SC_FRAME_DETECT, SC_FRAME_GREETING_V2, SC_FRAME_GREETING_V1
  };
  Run whole = { 0 }, pieces = { 0 };
  Policy policy;
  ScFrameMode mode;
  guint i;

  if (size < 3)
    return 0;
  mode = modes[data[0] & 3];
  policy.flags = data[0];
  policy.limit = 64 * (gsize) data[2];
  policy.detect = mode == SC_FRAME_DETECT;

  run (mode, &policy, 0, data + 3, size - 3, &whole);
  run (mode, &policy, data[1], data + 3, size - 3, &pieces);

  fuzz_assert (whole.failed == pieces.failed);
  fuzz_assert (whole.frames->len == pieces.frames->len);
  for (i = 0; i < whole.frames->len; i++)
    fuzz_assert (g_bytes_equal (whole.frames->pdata[i], pieces.frames->pdata[i]));
  if (!whole.failed)
    fuzz_assert (whole.pending == pieces.pending);

  g_ptr_array_unref (whole.frames);
  g_ptr_array_unref (pieces.frames);
  return 0;
}
