/* fuzz-common.h: what the libFuzzer targets share: the known-answer
 * vectors, fixed identities, injected randomness, chunking, a scratch dir
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "sc-crypto.h"
#include "sc-frame.h"
#include "sc-keys.h"
#include "sc-v2.h"

G_BEGIN_DECLS

/* libFuzzer's entry points (declared here for -Wmissing-prototypes) */
int         LLVMFuzzerInitialize   (int            *argc,
                                    char         ***argv);
int         LLVMFuzzerTestOneInput (const uint8_t  *data,
                                    size_t          size);

/* Makes GLib criticals and warnings fatal, so that a g_return_* or
 * g_warning reached by hostile input is reported as a crash. */
void        fuzz_init              (void);

/* A broken invariant: abort with a message (libFuzzer saves the input) */
#define fuzz_assert(expr) \
  G_STMT_START { \
    if (G_UNLIKELY (!(expr))) \
      fuzz_fail (__FILE__, __LINE__, #expr); \
  } G_STMT_END
G_NORETURN void fuzz_fail          (const char     *file,
                                    int             line,
                                    const char     *expr);

/* tests/core/kat-v1.json and kat-v2.json, loaded once ($SC_FUZZ_KAT_DIR
 * overrides the source directory compiled in) */
JsonObject *fuzz_kat_v1            (void);
JsonObject *fuzz_kat_v2            (void);
GBytes     *fuzz_kat_hex           (JsonObject     *object,
                                    const char     *member);
/* kat-v2.json's records[i] frame or plaintext */
GBytes     *fuzz_kat_record        (guint           i,
                                    const char     *member);

/* The vectors' identities: the v1 RSA keys with the v2 Ed25519 seeds,
 * built once; the caller does not own them */
ScIdentity *fuzz_kat_server        (void);
ScIdentity *fuzz_kat_client        (void);

/* Randomness that first hands out the given chunks (when their sizes
 * match the request) and then a fixed byte pattern: every run of a target
 * draws the same bytes after fuzz_random_reset(). */
typedef struct {
  GBytes  *chunks[4];
  guint    n;
  guint    next;
  guint32  counter;
  ScRandom rng;
} FuzzRandom;

void        fuzz_random_init       (FuzzRandom     *fr,
                                    GBytes         *first,
                                    GBytes         *second);
void        fuzz_random_reset      (FuzzRandom     *fr);

/* Chunk lengths for feeding a stream in pieces, from a seed byte of the
 * input: seed 0 means one piece; otherwise 1..(4 << (seed & 7)) bytes. */
typedef struct {
  guint32 state;
  guint   max;
} FuzzChunker;

void        fuzz_chunker_init      (FuzzChunker    *ch,
                                    guint8          seed);
gsize       fuzz_chunker_next      (FuzzChunker    *ch,
                                    gsize           remaining);

/* Feeds @data to @reader in pieces chosen by @chunk_seed; each complete
 * frame goes to @handle (with @out emptied first) under the session's frame
 * limit while the reader is in v2 mode.  Stops at the end of @data, at a
 * framing error, or when @handle returns FALSE. */
typedef gboolean (*FuzzFrameFunc) (ScV2Session *session,
                                   ScFrame     *frame,
                                   GByteArray  *out);
void        fuzz_feed_v2_frames    (ScV2Session    *session,
                                    ScFrameReader  *reader,
                                    guint8          chunk_seed,
                                    const guint8   *data,
                                    gsize           size,
                                    GByteArray     *out,
                                    FuzzFrameFunc   handle);

/* A private directory made once per process, removed at exit with the
 * files the target wrote into it */
const char *fuzz_scratch_dir       (void);
/* (Re)writes @name in the scratch dir with mode 0600; returns its path */
char       *fuzz_write_file        (const char     *name,
                                    const guint8   *data,
                                    gsize           len);
void        fuzz_remove_file       (const char     *name);

G_END_DECLS
