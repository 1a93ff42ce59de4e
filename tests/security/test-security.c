/* test-security.c: the security properties of issue 7, one named case each
 *
 * The binary is linked with -Wl,--wrap for g_free, sc_wipe, sc_x25519_new
 * and EVP_PKEY_free (see meson.build).  The wrappers below see every call
 * that the project's own code (the static sc-core and sc-net libraries and
 * this file) makes to them, and can copy a buffer's bytes at the moment it
 * is handed back to the allocator: that is how the wiping tests look at
 * freed session memory without reading freed memory.  OpenSSL's own
 * allocations go through the allocator set below with
 * CRYPTO_set_mem_functions(), which does the same for the memory that
 * holds the record keys.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define _GNU_SOURCE   /* memmem */
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <json-glib/json-glib.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/bn.h>

#include "sc-crypto.h"
#include "sc-frame.h"
#include "sc-keys.h"
#include "sc-trust.h"
#include "sc-v1.h"
#include "sc-v2.h"

#include "../core/test-util.h"
#include "../net/net-fixture.h"

/* ------------------------------------------------------------------ */
/* Wrappers                                                             */
/* ------------------------------------------------------------------ */

void __real_g_free (gpointer mem);
void __wrap_g_free (gpointer mem);
void __real_sc_wipe (gpointer mem, gsize len);
void __wrap_sc_wipe (gpointer mem, gsize len);
EVP_PKEY *__real_sc_x25519_new (const guint8 priv[32], guint8 pub[32], GError **error);
EVP_PKEY *__wrap_sc_x25519_new (const guint8 priv[32], guint8 pub[32], GError **error);
void __real_EVP_PKEY_free (EVP_PKEY *key);
void __wrap_EVP_PKEY_free (EVP_PKEY *key);

/* One watched allocation: its bytes are copied when it is g_free()d */
static gpointer watch_ptr;          /* atomic */
static gsize    watch_len;
static guint8  *watch_copy;         /* malloc()ed, watch_len bytes */
static gboolean watch_seen;

/* While set (main thread only): a copy of every g_free()d buffer and of
 * every buffer passed to sc_wipe() before it is wiped */
typedef struct {
  guint8 *data;
  gsize   len;
} Copy;

#define MAX_COPIES 8192
static gint     recording;           /* atomic */
static GThread *recording_thread;
static Copy     freed[MAX_COPIES];
static guint    n_freed;
static Copy     wiped[MAX_COPIES];   /* before the wipe */
static guint    n_wiped;
static guint    n_wiped_clean;       /* checked zero after the wipe */

static void
copy_into (Copy   *slot,
           gconstpointer mem,
           gsize   len)
{
  slot->data = malloc (len ? len : 1);
  g_assert (slot->data != NULL);
  memcpy (slot->data, mem, len);
  slot->len = len;
}

static void
copies_clear (void)
{
  guint i;

  for (i = 0; i < n_freed; i++)
    free (freed[i].data);
  for (i = 0; i < n_wiped; i++)
    free (wiped[i].data);
  n_freed = n_wiped = n_wiped_clean = 0;
}

static gboolean
recording_here (void)
{
  return g_atomic_int_get (&recording) && g_thread_self () == recording_thread;
}

void
__wrap_g_free (gpointer mem)
{
  if (mem != NULL && mem == g_atomic_pointer_get (&watch_ptr))
    {
      memcpy (watch_copy, mem, watch_len);
      watch_seen = TRUE;
      g_atomic_pointer_set (&watch_ptr, NULL);
    }
  if (mem != NULL && recording_here () && n_freed < MAX_COPIES)
    copy_into (&freed[n_freed++], mem, malloc_usable_size (mem));
  __real_g_free (mem);
}

void
__wrap_sc_wipe (gpointer mem,
                gsize    len)
{
  gboolean rec = mem != NULL && len > 0 && recording_here () && n_wiped < MAX_COPIES;
  gsize i;

  if (rec)
    copy_into (&wiped[n_wiped++], mem, len);
  __real_sc_wipe (mem, len);
  if (rec)
    {
      for (i = 0; i < len && ((guint8 *) mem)[i] == 0; i++)
        ;
      if (i == len)
        n_wiped_clean++;
    }
}

/* Every X25519 key pair the core makes, and whether it was freed */
static GMutex    eph_mutex;
static gboolean  eph_tracking;
static EVP_PKEY *eph_keys[64];
static gboolean  eph_freed[64];
static guint     n_eph;

EVP_PKEY *
__wrap_sc_x25519_new (const guint8 priv[32],
                      guint8       pub[32],
                      GError     **error)
{
  EVP_PKEY *key = __real_sc_x25519_new (priv, pub, error);

  g_mutex_lock (&eph_mutex);
  if (eph_tracking && key != NULL && n_eph < G_N_ELEMENTS (eph_keys))
    {
      eph_keys[n_eph] = key;
      eph_freed[n_eph++] = FALSE;
    }
  g_mutex_unlock (&eph_mutex);
  return key;
}

void
__wrap_EVP_PKEY_free (EVP_PKEY *key)
{
  guint i;

  g_mutex_lock (&eph_mutex);
  for (i = 0; key != NULL && i < n_eph; i++)
    if (eph_keys[i] == key && !eph_freed[i])
      eph_freed[i] = TRUE;
  g_mutex_unlock (&eph_mutex);
  __real_EVP_PKEY_free (key);
}

static void
eph_track (gboolean on)
{
  g_mutex_lock (&eph_mutex);
  eph_tracking = on;
  n_eph = 0;
  g_mutex_unlock (&eph_mutex);
}

static guint
eph_live (void)
{
  guint i, live = 0;

  g_mutex_lock (&eph_mutex);
  for (i = 0; i < n_eph; i++)
    live += !eph_freed[i];
  g_mutex_unlock (&eph_mutex);
  return live;
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */
/* ------------------------------------------------------------------ */

static gboolean
contains (const guint8 *hay,
          gsize         hay_len,
          const guint8 *needle,
          gsize         needle_len)
{
  return needle_len > 0 && hay_len >= needle_len &&
         memmem (hay, hay_len, needle, needle_len) != NULL;
}

/* OpenSSL's allocations, while tracked: the size of each live block, and
 * each block freed searched for the needles just before free() */
#define MAX_NEEDLES 6
static GMutex        ossl_mutex;
static GHashTable   *ossl_live;        /* block -> size; NULL when not tracking */
static const guint8 *ossl_needle[MAX_NEEDLES];
static gsize         ossl_needle_len[MAX_NEEDLES];
static guint         ossl_n_needles;
static guint         ossl_freed;       /* tracked blocks freed */
static guint         ossl_freed_hits;  /* ...that still held a needle */

static void
ossl_forget (void *ptr)  /* under ossl_mutex */
{
  gsize len;
  guint i;

  if (ossl_live == NULL || ptr == NULL || !g_hash_table_contains (ossl_live, ptr))
    return;
  len = GPOINTER_TO_SIZE (g_hash_table_lookup (ossl_live, ptr));
  g_hash_table_remove (ossl_live, ptr);
  ossl_freed++;
  for (i = 0; i < ossl_n_needles; i++)
    if (contains (ptr, len, ossl_needle[i], ossl_needle_len[i]))
      {
        ossl_freed_hits++;
        break;
      }
}

static void
ossl_remember (void  *ptr,
               size_t len)
{
  g_mutex_lock (&ossl_mutex);
  if (ossl_live != NULL && ptr != NULL)
    g_hash_table_insert (ossl_live, ptr, GSIZE_TO_POINTER (len));
  g_mutex_unlock (&ossl_mutex);
}

static void *
ossl_malloc (size_t      len,
             const char *file,
             int         line)
{
  void *ptr = malloc (len);

  ossl_remember (ptr, len);
  return ptr;
}

static void *
ossl_realloc (void       *ptr,
              size_t      len,
              const char *file,
              int         line)
{
  g_mutex_lock (&ossl_mutex);
  ossl_forget (ptr);
  g_mutex_unlock (&ossl_mutex);
  ptr = realloc (ptr, len);
  ossl_remember (ptr, len);
  return ptr;
}

static void
ossl_free (void       *ptr,
           const char *file,
           int         line)
{
  g_mutex_lock (&ossl_mutex);
  ossl_forget (ptr);
  g_mutex_unlock (&ossl_mutex);
  free (ptr);
}

static void
ossl_track (gboolean on)
{
  g_mutex_lock (&ossl_mutex);
  if (on)
    ossl_live = g_hash_table_new (NULL, NULL);
  else
    g_clear_pointer (&ossl_live, g_hash_table_unref);
  ossl_n_needles = ossl_freed = ossl_freed_hits = 0;
  g_mutex_unlock (&ossl_mutex);
}

/* From now on, count the tracked blocks freed and those holding a needle */
static void
ossl_search_freed_for (const guint8 *const *needles,
                       const gsize         *lens,
                       guint                n)
{
  g_assert_cmpuint (n, <=, MAX_NEEDLES);
  g_mutex_lock (&ossl_mutex);
  memcpy (ossl_needle, needles, n * sizeof *needles);
  memcpy (ossl_needle_len, lens, n * sizeof *lens);
  ossl_n_needles = n;
  ossl_freed = ossl_freed_hits = 0;
  g_mutex_unlock (&ossl_mutex);
}

/* How many live tracked blocks hold @needle */
static guint
ossl_live_count (const guint8 *needle,
                 gsize         len)
{
  GHashTableIter iter;
  gpointer block, size;
  guint n = 0;

  g_mutex_lock (&ossl_mutex);
  g_hash_table_iter_init (&iter, ossl_live);
  while (g_hash_table_iter_next (&iter, &block, &size))
    n += contains (block, GPOINTER_TO_SIZE (size), needle, len);
  g_mutex_unlock (&ossl_mutex);
  return n;
}

static guint32
be32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

static GBytes *
random_bytes (gsize len)
{
  guint8 *buf = g_malloc (len);

  g_assert_true (sc_random_bytes (NULL, buf, len, NULL));
  return g_bytes_new_take (buf, len);
}

static void
raw_ed25519_seed (EVP_PKEY *key,
                  guint8    seed[32])
{
  size_t len = 32;

  g_assert_true (EVP_PKEY_get_raw_private_key (key, seed, &len) == 1);
  g_assert_cmpuint (len, ==, 32);
}

static void
sha512_head (const guint8 *data,
             gsize         len,
             guint8        out[32])
{
  guint8 full[64];
  unsigned int n = 0;

  g_assert_true (EVP_Digest (data, len, full, &n, EVP_sha512 (), NULL) == 1);
  memcpy (out, full, 32);
}

/* ------------------------------------------------------------------ */
/* v2 transcripts and the attacker                                      */
/* ------------------------------------------------------------------ */

/* Both directions of one v2 connection as seen on the wire, split up */
typedef struct {
  GBytes    *g;
  GBytes    *ch;
  GBytes    *sh;
  GPtrArray *c2s;   /* GBytes record frames, client to server */
  GPtrArray *s2c;
} V2Wire;

static void
v2_wire_clear (V2Wire *w)
{
  g_clear_pointer (&w->g, g_bytes_unref);
  g_clear_pointer (&w->ch, g_bytes_unref);
  g_clear_pointer (&w->sh, g_bytes_unref);
  g_clear_pointer (&w->c2s, g_ptr_array_unref);
  g_clear_pointer (&w->s2c, g_ptr_array_unref);
}

static void
split_frames (const guint8 *data,
              gsize         len,
              GPtrArray    *frames)
{
  gsize off = 0;

  while (off + 4 <= len)
    {
      gsize flen = 4 + be32 (data + off);

      g_assert_cmpuint (off + flen, <=, len);
      g_ptr_array_add (frames, g_bytes_new (data + off, flen));
      off += flen;
    }
  g_assert_cmpuint (off, ==, len);
}

static void
v2_wire_parse (const guint8 *c2s,
               gsize         c2s_len,
               const guint8 *s2c,
               gsize         s2c_len,
               V2Wire       *w)
{
  const guint8 *end = memmem (s2c, s2c_len, "\n\n", 2);
  gsize glen;

  memset (w, 0, sizeof *w);
  g_assert_nonnull (end);
  glen = (gsize) (end - s2c) + 3;
  g_assert_cmpuint (s2c_len, >=, glen + 4 + SC_V2_SERVER_HELLO_LEN);
  g_assert_cmpint (s2c[glen - 1], ==, '\n');
  g_assert_cmpuint (c2s_len, >=, 4 + SC_V2_CLIENT_HELLO_LEN);
  w->g = g_bytes_new (s2c, glen);
  w->sh = g_bytes_new (s2c + glen, 4 + SC_V2_SERVER_HELLO_LEN);
  w->ch = g_bytes_new (c2s, 4 + SC_V2_CLIENT_HELLO_LEN);
  g_assert_cmpint (s2c[glen + 4], ==, SC_V2_SERVER_HELLO);
  g_assert_cmpint (c2s[4], ==, SC_V2_CLIENT_HELLO);
  w->c2s = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  w->s2c = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  split_frames (c2s + 4 + SC_V2_CLIENT_HELLO_LEN, c2s_len - 4 - SC_V2_CLIENT_HELLO_LEN, w->c2s);
  split_frames (s2c + glen + 4 + SC_V2_SERVER_HELLO_LEN,
                s2c_len - glen - 4 - SC_V2_SERVER_HELLO_LEN, w->s2c);
}

static const guint8 *
wire_client_eph (V2Wire *w)
{
  return (const guint8 *) g_bytes_get_data (w->ch, NULL) + 4 + 1 + 1 + 32;
}

static const guint8 *
wire_server_eph (V2Wire *w)
{
  return (const guint8 *) g_bytes_get_data (w->sh, NULL) + 4 + 1 + 32;
}

/* th = H(G || CH || SH): public, anybody on the path computes it */
static void
wire_th (V2Wire *w,
         guint8  th[32])
{
  g_autoptr(GByteArray) all = g_byte_array_new ();

  g_byte_array_append (all, g_bytes_get_data (w->g, NULL), (guint) g_bytes_get_size (w->g));
  g_byte_array_append (all, g_bytes_get_data (w->ch, NULL), (guint) g_bytes_get_size (w->ch));
  g_byte_array_append (all, g_bytes_get_data (w->sh, NULL), (guint) g_bytes_get_size (w->sh));
  sc_sha256 (all->data, all->len, th);
}

/* The schedule as one side computes it, from its ephemeral private key */
static void
wire_schedule (V2Wire       *w,
               const guint8  priv[32],
               const guint8  peer_pub[32],
               ScV2Schedule *sched)
{
  g_autoptr(EVP_PKEY) key = NULL;
  guint8 pub[32], ss[32], th[32];

  key = sc_x25519_new (priv, pub, NULL);
  g_assert_nonnull (key);
  g_assert_true (sc_x25519_derive (key, peer_pub, ss, NULL));
  wire_th (w, th);
  g_assert_true (sc_v2_derive_schedule (ss, th, sched, NULL));
}

static void
nonce_for (const guint8 iv[12],
           guint64      seq,
           guint8       nonce[12])
{
  int i;

  memcpy (nonce, iv, 12);
  for (i = 11; i >= 4; i--, seq >>= 8)
    nonce[i] ^= (guint8) (seq & 0xff);
}

/* One record frame sealed by hand with a direction's secret at @seq */
static void
seal_by_hand (const guint8  secret[32],
              guint64       seq,
              ScV2Type      type,
              const guint8 *pt,
              gsize         len,
              GByteArray   *out)
{
  guint8 key[32], iv[12], nonce[12];
  guint old = out->len;
  g_autoptr(EVP_CIPHER_CTX) ctx = NULL;

  g_assert_true (sc_v2_derive_traffic (secret, key, iv, NULL));
  ctx = sc_aes_gcm_new (key, TRUE, NULL);
  g_assert_nonnull (ctx);
  nonce_for (iv, seq, nonce);
  g_byte_array_set_size (out, old + 5 + (guint) len + 16);
  sc_frame_v2_header (out->data + old, type, len + 16);
  g_assert_true (sc_aes_gcm_seal (ctx, nonce, out->data + old, 5, pt, len,
                                  out->data + old + 5, NULL));
}

static gboolean
try_open (const guint8 secret[32],
          guint64      seq,
          GBytes      *frame,
          GPtrArray   *plaintexts,
          guint8      *type)
{
  const guint8 *f = g_bytes_get_data (frame, NULL);
  gsize len = g_bytes_get_size (frame);
  guint8 key[32], iv[12], nonce[12];
  g_autofree guint8 *pt = NULL;
  g_autoptr(EVP_CIPHER_CTX) ctx = NULL;
  gboolean ok;

  if (len < 5 + 16)
    return FALSE;
  g_assert_true (sc_v2_derive_traffic (secret, key, iv, NULL));
  ctx = sc_aes_gcm_new (key, FALSE, NULL);
  g_assert_nonnull (ctx);
  nonce_for (iv, seq, nonce);
  pt = g_malloc (len - 5 - 16 + 1);
  ok = sc_aes_gcm_open (ctx, nonce, f, 5, f + 5, len - 5, pt, NULL);
  if (ok && plaintexts != NULL)
    g_ptr_array_add (plaintexts, g_strndup ((const char *) pt, len - 5 - 16));
  if (ok && type != NULL)
    *type = f[4];
  return ok;
}

typedef struct {
  guint trials;    /* (key, nonce) pairs tried */
  guint opened;    /* records that decrypted */
} AttackStats;

#define KEY_UPDATE_DEPTH 4

/* Decrypts @frames as a receiver holding @secret would, and where that
 * fails, tries every sequence number and the first few KeyUpdate
 * generations of the secret before giving up on the record */
static void
attack_direction (const guint8  secret[32],
                  GPtrArray    *frames,
                  GPtrArray    *plaintexts,
                  AttackStats  *stats)
{
  guint8 s[32], gen[KEY_UPDATE_DEPTH][32];
  guint64 seq = 0;
  guint i, k, q;

  memcpy (s, secret, 32);
  memcpy (gen[0], secret, 32);
  for (k = 1; k < KEY_UPDATE_DEPTH; k++)
    g_assert_true (sc_hkdf_expand (gen[k - 1], 32, SC_V2_LABEL_NEXT, gen[k], 32, NULL));

  for (i = 0; i < frames->len; i++)
    {
      GBytes *frame = g_ptr_array_index (frames, i);
      guint8 type = 0;
      gboolean ok;

      stats->trials++;
      ok = try_open (s, seq, frame, plaintexts, &type);
      for (k = 0; !ok && k < KEY_UPDATE_DEPTH; k++)
        for (q = 0; !ok && q <= frames->len; q++)
          {
            stats->trials++;
            ok = try_open (gen[k], q, frame, plaintexts, &type);
          }
      if (!ok)
        continue;
      stats->opened++;
      if (type == SC_V2_KEY_UPDATE)
        {
          g_assert_true (sc_hkdf_expand (s, 32, SC_V2_LABEL_NEXT, s, 32, NULL));
          seq = 0;
        }
      else
        seq++;
    }
}

/* Tries one candidate for the X25519 shared secret: the whole schedule,
 * each direction's secret on both directions' records, and prk and the
 * candidate itself as if they were traffic secrets */
static void
attack_with_shared (V2Wire       *w,
                    const guint8  ss[32],
                    GPtrArray    *plaintexts,
                    AttackStats  *stats)
{
  const guint8 *secrets[4];
  ScV2Schedule sched;
  guint8 th[32];
  guint i;

  wire_th (w, th);
  g_assert_true (sc_v2_derive_schedule (ss, th, &sched, NULL));
  secrets[0] = sched.c2s;
  secrets[1] = sched.s2c;
  secrets[2] = sched.prk;
  secrets[3] = ss;
  for (i = 0; i < G_N_ELEMENTS (secrets); i++)
    {
      attack_direction (secrets[i], w->c2s, plaintexts, stats);
      attack_direction (secrets[i], w->s2c, plaintexts, stats);
    }
}

/* The attacker of the forward-secrecy property: the recorded transcript,
 * every long-term private key of both ends, and (for the control only)
 * extra X25519 private keys.  Returns the records it could decrypt. */
static AttackStats
attack_v2 (V2Wire       *w,
           ScIdentity   *server,
           ScIdentity   *client,
           const guint8 (*extra)[32],
           guint         n_extra,
           GPtrArray    *plaintexts)
{
  AttackStats stats = { 0 };
  g_autoptr(GPtrArray) scalars = g_ptr_array_new_with_free_func (g_free);
  ScIdentity *ids[2] = { server, client };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (ids); i++)
    {
      guint8 *seed = g_malloc (32), *conv = g_malloc (32), *rsa_h = g_malloc (32);
      guint8 *d_lo = g_malloc0 (32), *d_hi = g_malloc0 (32);
      unsigned char *der = NULL;
      BIGNUM *d = NULL;
      int der_len, d_len;
      guint8 dbuf[512];

      /* Ed25519: the seed, and the X25519 scalar it converts to */
      raw_ed25519_seed (sc_identity_get_ed25519 (ids[i]), seed);
      sha512_head (seed, 32, conv);
      /* RSA: its private DER's hash and the ends of the exponent d */
      der_len = i2d_PrivateKey (sc_identity_get_rsa (ids[i]), &der);
      g_assert_cmpint (der_len, >, 0);
      sc_sha256 (der, (gsize) der_len, rsa_h);
      OPENSSL_clear_free (der, (size_t) der_len);
      g_assert_true (EVP_PKEY_get_bn_param (sc_identity_get_rsa (ids[i]), OSSL_PKEY_PARAM_RSA_D, &d) == 1);
      d_len = BN_bn2bin (d, dbuf);
      g_assert_cmpint (d_len, >=, 64);
      memcpy (d_hi, dbuf, 32);
      memcpy (d_lo, dbuf + d_len - 32, 32);
      BN_clear_free (d);
      OPENSSL_cleanse (dbuf, sizeof dbuf);
      g_ptr_array_add (scalars, seed);
      g_ptr_array_add (scalars, conv);
      g_ptr_array_add (scalars, rsa_h);
      g_ptr_array_add (scalars, d_lo);
      g_ptr_array_add (scalars, d_hi);
    }
  for (i = 0; i < n_extra; i++)
    g_ptr_array_add (scalars, g_memdup2 (extra[i], 32));
  g_ptr_array_add (scalars, g_malloc0 (32));

  for (i = 0; i < scalars->len; i++)
    {
      const guint8 *scalar = g_ptr_array_index (scalars, i);
      const guint8 *ephs[2] = { wire_client_eph (w), wire_server_eph (w) };
      guint j;

      /* the candidate as the shared secret itself */
      attack_with_shared (w, scalar, plaintexts, &stats);
      /* and as an X25519 private key against either ephemeral */
      for (j = 0; j < G_N_ELEMENTS (ephs); j++)
        {
          g_autoptr(EVP_PKEY) key = NULL;
          guint8 pub[32], ss[32];

          key = sc_x25519_new (scalar, pub, NULL);
          g_assert_nonnull (key);
          if (sc_x25519_derive (key, ephs[j], ss, NULL))
            attack_with_shared (w, ss, plaintexts, &stats);
        }
    }
  return stats;
}

static gboolean
strings_contain (GPtrArray  *strings,
                 const char *needle)
{
  return has_string (strings, needle);
}

/* ------------------------------------------------------------------ */
/* An in-process pair with known randomness, and its wire bytes          */
/* ------------------------------------------------------------------ */

typedef struct {
  ScIdentity  *sid;
  ScIdentity  *cid;
  GBytes      *c_eph;
  GBytes      *s_eph;
  TestRandom   crng;
  TestRandom   srng;
  ScRandom     crandom;
  ScRandom     srandom;
  ScV2Session *client;
  ScV2Session *server;
  GByteArray  *c2s;
  GByteArray  *s2c;
} Known;

static void
known_init (Known      *p,
            ScIdentity *sid,
            ScIdentity *cid)
{
  memset (p, 0, sizeof *p);
  p->sid = sc_identity_ref (sid);
  p->cid = sc_identity_ref (cid);
  p->c_eph = random_bytes (32);
  p->s_eph = random_bytes (32);
  p->crng.chunks[p->crng.n++] = random_bytes (32);
  p->crng.chunks[p->crng.n++] = g_bytes_ref (p->c_eph);
  p->srng.chunks[p->srng.n++] = random_bytes (32);
  p->srng.chunks[p->srng.n++] = g_bytes_ref (p->s_eph);
  p->crandom = (ScRandom) { test_random_func, &p->crng };
  p->srandom = (ScRandom) { test_random_func, &p->srng };
  p->client = sc_v2_session_new (SC_V2_ROLE_CLIENT, p->cid, &p->crandom);
  p->server = sc_v2_session_new (SC_V2_ROLE_SERVER, p->sid, &p->srandom);
  p->c2s = g_byte_array_new ();
  p->s2c = g_byte_array_new ();
}

static void
known_clear (Known *p)
{
  sc_v2_session_free (p->client);
  sc_v2_session_free (p->server);
  sc_identity_unref (p->sid);
  sc_identity_unref (p->cid);
  g_bytes_unref (p->c_eph);
  g_bytes_unref (p->s_eph);
  test_random_clear (&p->crng);
  test_random_clear (&p->srng);
  g_byte_array_unref (p->c2s);
  g_byte_array_unref (p->s2c);
}

/* Opens every frame of @out with @to (on a copy: opening is in place) */
static void
open_all (ScV2Session *to,
          GByteArray  *out)
{
  g_autoptr(GByteArray) copy = g_byte_array_new ();
  gsize off = 0;

  g_byte_array_append (copy, out->data, out->len);
  while (off < copy->len)
    {
      gsize flen = 4 + be32 (copy->data + off);
      g_autoptr(GError) error = NULL;
      ScV2Type t;
      guint8 *pt;
      gsize len;

      g_assert_true (sc_v2_session_open (to, copy->data + off, flen, &t, &pt, &len, &error));
      g_assert_no_error (error);
      off += flen;
    }
}

static void
known_send (Known       *p,
            gboolean     from_client,
            ScV2Type     type,
            const char  *text)
{
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  ScV2Session *from = from_client ? p->client : p->server;

  g_assert_true (sc_v2_session_seal (from, type, (const guint8 *) text, text ? strlen (text) : 0,
                                     out, &error));
  g_assert_no_error (error);
  g_byte_array_append (from_client ? p->c2s : p->s2c, out->data, out->len);
  open_all (from_client ? p->server : p->client, out);
}

static void
known_handshake (Known *p)
{
  GBytes *g = sc_identity_get_greeting (p->sid);
  g_autoptr(GByteArray) ch = g_byte_array_new ();
  g_autoptr(GByteArray) sh = g_byte_array_new ();
  g_autoptr(GByteArray) auth = g_byte_array_new ();
  g_autoptr(GError) error = NULL;

  g_byte_array_append (p->s2c, g_bytes_get_data (g, NULL), (guint) g_bytes_get_size (g));
  g_assert_true (sc_v2_client_start (p->client, g_bytes_get_data (g, NULL), g_bytes_get_size (g),
                                     ch, &error));
  g_byte_array_append (p->c2s, ch->data, ch->len);
  g_assert_true (sc_v2_server_consume_client_hello (p->server, ch->data, ch->len, sh, &error));
  g_byte_array_append (p->s2c, sh->data, sh->len);
  g_assert_true (sc_v2_client_consume_server_hello (p->client, sh->data, sh->len, &error));
  g_assert_true (sc_v2_client_send_auth (p->client, "alice", auth, &error));
  g_assert_no_error (error);
  g_byte_array_append (p->c2s, auth->data, auth->len);
  open_all (p->server, auth);
  known_send (p, FALSE, SC_V2_WELCOME, "{\"server\": \"s\", \"clients\": 1}");
  g_assert_cmpint (sc_v2_session_get_state (p->client), ==, SC_V2_STATE_ESTABLISHED);
}

/* ------------------------------------------------------------------ */
/* A recording TCP proxy on loopback                                     */
/* ------------------------------------------------------------------ */

typedef struct {
  int         listen_fd;
  guint16     port;
  guint16     upstream;
  GThread    *thread;
  GByteArray *c2s;
  GByteArray *s2c;
  /* optional: the server-to-client bytes at [patch_at, patch_at + 32) are
   * replaced by @patch on their way (a man in the middle) */
  gboolean    patching;
  gsize       patch_at;
  guint8      patch[32];
} Proxy;

static gboolean
write_all (int           fd,
           const guint8 *data,
           gsize         len)
{
  while (len > 0)
    {
      ssize_t n = send (fd, data, len, MSG_NOSIGNAL);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      data += n;
      len -= (gsize) n;
    }
  return TRUE;
}

static gpointer
proxy_thread (gpointer data)
{
  Proxy *px = data;
  struct sockaddr_in addr = { 0 };
  struct pollfd pfd[2];
  gboolean eof[2] = { FALSE, FALSE };
  gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  gsize s2c_off = 0;
  int cfd, sfd;

  pfd[0].fd = px->listen_fd;
  pfd[0].events = POLLIN;
  if (poll (pfd, 1, 30000) != 1 || (cfd = accept (px->listen_fd, NULL, NULL)) < 0)
    return NULL;
  sfd = socket (AF_INET, SOCK_STREAM, 0);
  addr.sin_family = AF_INET;
  addr.sin_port = htons (px->upstream);
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (sfd < 0 || connect (sfd, (struct sockaddr *) &addr, sizeof addr) != 0)
    {
      close (cfd);
      if (sfd >= 0)
        close (sfd);
      return NULL;
    }

  while ((!eof[0] || !eof[1]) && g_get_monotonic_time () < deadline)
    {
      int fds[2] = { cfd, sfd };
      guint i;

      for (i = 0; i < 2; i++)
        {
          pfd[i].fd = eof[i] ? -1 : fds[i];
          pfd[i].events = POLLIN;
          pfd[i].revents = 0;
        }
      if (poll (pfd, 2, 1000) < 0 && errno != EINTR)
        break;
      for (i = 0; i < 2; i++)
        {
          guint8 buf[65536];
          ssize_t n;

          if (eof[i] || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
          n = recv (fds[i], buf, sizeof buf, 0);
          if (n < 0 && errno == EINTR)
            continue;
          if (n <= 0)
            {
              eof[i] = TRUE;
              shutdown (fds[1 - i], SHUT_WR);
              continue;
            }
          if (i == 1 && px->patching)
            {
              gsize k;

              for (k = 0; k < (gsize) n; k++)
                if (s2c_off + k >= px->patch_at && s2c_off + k < px->patch_at + 32)
                  buf[k] = px->patch[s2c_off + k - px->patch_at];
            }
          if (i == 1)
            s2c_off += (gsize) n;
          g_byte_array_append (i == 0 ? px->c2s : px->s2c, buf, (guint) n);
          if (!write_all (fds[1 - i], buf, (gsize) n))
            {
              eof[0] = eof[1] = TRUE;
              break;
            }
        }
    }
  close (cfd);
  close (sfd);
  return NULL;
}

static Proxy *
proxy_start (guint16 upstream)
{
  Proxy *px = g_new0 (Proxy, 1);
  struct sockaddr_in addr = { 0 };
  socklen_t addr_len = sizeof addr;

  px->upstream = upstream;
  px->c2s = g_byte_array_new ();
  px->s2c = g_byte_array_new ();
  px->listen_fd = socket (AF_INET, SOCK_STREAM, 0);
  g_assert_cmpint (px->listen_fd, >=, 0);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  g_assert_cmpint (bind (px->listen_fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  g_assert_cmpint (listen (px->listen_fd, 4), ==, 0);
  g_assert_cmpint (getsockname (px->listen_fd, (struct sockaddr *) &addr, &addr_len), ==, 0);
  px->port = ntohs (addr.sin_port);
  return px;
}

static void
proxy_run (Proxy *px)
{
  px->thread = g_thread_new ("sc-test-proxy", proxy_thread, px);
}

static void
proxy_free (Proxy *px)
{
  if (px->thread != NULL)
    g_thread_join (px->thread);
  close (px->listen_fd);
  g_byte_array_unref (px->c2s);
  g_byte_array_unref (px->s2c);
  g_free (px);
}

/* ------------------------------------------------------------------ */
/* A blocking raw client, to send exactly the bytes a test wants          */
/* ------------------------------------------------------------------ */

static GSocket *
raw_connect (guint16 port)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) inet = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) addr = g_inet_socket_address_new (inet, port);
  GSocket *s = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                             G_SOCKET_PROTOCOL_TCP, &error);

  g_assert_no_error (error);
  g_socket_set_timeout (s, 20);
  g_assert_true (g_socket_connect (s, addr, NULL, &error));
  g_assert_no_error (error);
  return s;
}

/* Reads once into @buf: bytes read, 0 at the end, -1 on an error */
static gssize
raw_recv (GSocket    *s,
          GByteArray *buf)
{
  guint8 tmp[4096];
  gssize n = g_socket_receive (s, (char *) tmp, sizeof tmp, NULL, NULL);

  if (n > 0)
    g_byte_array_append (buf, tmp, (guint) n);
  return n;
}

static void
raw_need (GSocket    *s,
          GByteArray *buf,
          gsize       need)
{
  while (buf->len < need)
    g_assert_cmpint (raw_recv (s, buf), >, 0);
}

/* The greeting: up to the first "\n\n" and one more byte */
static GBytes *
raw_greeting (GSocket    *s,
              GByteArray *buf)
{
  const guint8 *end;
  GBytes *g;
  gsize len;

  while ((end = buf->len >= 2 ? memmem (buf->data, buf->len, "\n\n", 2) : NULL) == NULL)
    g_assert_cmpint (raw_recv (s, buf), >, 0);
  len = (gsize) (end - buf->data) + 3;
  raw_need (s, buf, len);
  g = g_bytes_new (buf->data, len);
  g_byte_array_remove_range (buf, 0, (guint) len);
  return g;
}

/* Reads to the end of the connection */
static void
raw_drain (GSocket    *s,
           GByteArray *buf)
{
  while (raw_recv (s, buf) > 0)
    ;
}

/* ------------------------------------------------------------------ */
/* /security/impersonation-...                                           */
/* ------------------------------------------------------------------ */

static char *
read_text (const char *dir,
           const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  char *text = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return g_strdup ("");
  return text;
}

/* A client that pinned the real server's key for host:port meets another
 * identity at that host:port: refused under every policy, no question
 * asked, the pin untouched, and the reason names both keys */
static void
test_impersonation_refused (void)
{
  static const ScTrustPolicy policies[] = {
    SC_TRUST_POLICY_ASK, SC_TRUST_POLICY_STRICT, SC_TRUST_POLICY_ACCEPT_NEW,
  };
  const char *real_fp = sc_identity_get_fingerprint (fixture_identity (3));
  const char *impostor_fp = sc_identity_get_fingerprint (fixture_identity (0));
  TestServer *impostor = test_server_new ();   /* identity 0 */
  guint16 port = test_server_start (impostor);
  g_autofree char *hp = sc_trust_host_port ("127.0.0.1", port);
  guint i;

  g_assert_cmpstr (real_fp, !=, impostor_fp);
  for (i = 0; i < G_N_ELEMENTS (policies); i++)
    {
      TestClient *tc = test_client_new (1, SC_PROTOCOL_V2, "alice");
      g_autofree char *before = NULL;
      g_autofree char *after = NULL;
      g_autofree char *pinned = NULL;
      guint disconnects = impostor->disconnects->len;
      g_autoptr(GError) error = NULL;

      g_assert_true (sc_trust_store_pin_server (tc->trust, hp, real_fp, &error));
      g_assert_no_error (error);
      before = read_text (tc->dir, SC_FILE_KNOWN_SERVERS);
      sc_client_set_trust_policy (tc->client, policies[i]);
      sc_client_connect (tc->client, "127.0.0.1", port);
      fixture_wait (tc->ended);

      g_assert_false (tc->connected);
      g_assert_false (tc->trust_asked);
      g_assert_cmpint (tc->end, ==, SC_CLIENT_END_KEY_CHANGED);
      g_assert_cmpint (sc_client_get_trust_state (tc->client), ==, SC_TRUST_CHANGED);
      g_assert_nonnull (strstr (tc->end_message, real_fp));
      g_assert_nonnull (strstr (tc->end_message, impostor_fp));
      g_assert_nonnull (strstr (tc->end_message, "intercept"));
      g_test_message ("policy %d: %s", policies[i], tc->end_message);

      pinned = sc_trust_store_lookup_server (tc->trust, hp);
      g_assert_cmpstr (pinned, ==, real_fp);
      after = read_text (tc->dir, SC_FILE_KNOWN_SERVERS);
      g_assert_cmpstr (before, ==, after);

      /* the impostor never saw a ClientAuth */
      fixture_wait (impostor->disconnects->len > disconnects);
      g_assert_cmpuint (impostor->ready, ==, 0);
      test_client_free (tc);
    }

  /* strict and nothing pinned: refused too, and nothing gets pinned */
  {
    TestClient *tc = test_client_new (1, SC_PROTOCOL_V2, "alice");
    g_autofree char *pinned = NULL;

    sc_client_set_trust_policy (tc->client, SC_TRUST_POLICY_STRICT);
    sc_client_connect (tc->client, "127.0.0.1", port);
    fixture_wait (tc->ended);
    g_assert_cmpint (tc->end, ==, SC_CLIENT_END_UNTRUSTED);
    g_assert_false (tc->trust_asked);
    pinned = sc_trust_store_lookup_server (tc->trust, hp);
    g_assert_null (pinned);
    test_client_free (tc);
  }
  g_assert_cmpuint (impostor->ready, ==, 0);
  test_server_free (impostor);
}

/* A man in the middle relays the real ServerHello but puts its own X25519
 * key in place of the server's: the client refuses on the signature, even
 * with accept-new, and pins nothing */
static void
test_impersonation_mitm_ephemeral (void)
{
  TestServer *ts = test_server_new ();
  guint16 port = test_server_start (ts);
  Proxy *px = proxy_start (port);
  TestClient *tc = test_client_new (1, SC_PROTOCOL_V2, "alice");
  GBytes *g = sc_identity_get_greeting (fixture_identity (0));
  g_autoptr(GBytes) mitm_priv = random_bytes (32);
  g_autoptr(EVP_PKEY) mitm = NULL;
  g_autofree char *hp = NULL;
  g_autofree char *pinned = NULL;

  mitm = sc_x25519_new (g_bytes_get_data (mitm_priv, NULL), px->patch, NULL);
  g_assert_nonnull (mitm);
  px->patching = TRUE;
  px->patch_at = g_bytes_get_size (g) + 4 + 1 + 32;   /* ServerHello's server_eph */
  proxy_run (px);

  sc_client_set_trust_policy (tc->client, SC_TRUST_POLICY_ACCEPT_NEW);
  sc_client_connect (tc->client, "127.0.0.1", px->port);
  fixture_wait (tc->ended);
  g_assert_false (tc->connected);
  g_assert_cmpint (tc->end, ==, SC_CLIENT_END_FAILED);
  g_assert_nonnull (strstr (tc->end_message, "signature"));
  g_test_message ("%s", tc->end_message);
  hp = sc_trust_host_port ("127.0.0.1", px->port);
  pinned = sc_trust_store_lookup_server (tc->trust, hp);
  g_assert_null (pinned);
  fixture_wait (ts->disconnects->len > 0);
  g_assert_cmpuint (ts->ready, ==, 0);

  /* the substitution really happened on the wire */
  g_assert_true (contains (px->s2c->data, px->s2c->len, px->patch, 32));
  test_client_free (tc);
  test_server_free (ts);
  proxy_free (px);
}

/* The same man in the middle also replaces server_id with its own key and
 * signs the ServerHello itself: the signature now verifies, so what stops
 * it is the pin (the key differs from the pinned one) */
static void
test_impersonation_mitm_resigned (void)
{
  ScIdentity *real = fixture_identity (0);
  ScIdentity *mitm = fixture_identity (3);
  ScV2Session *client = sc_v2_session_new (SC_V2_ROLE_CLIENT, fixture_identity (1), NULL);
  ScV2Session *server = sc_v2_session_new (SC_V2_ROLE_SERVER, real, NULL);
  GBytes *g = sc_identity_get_greeting (real);
  g_autoptr(GByteArray) ch = g_byte_array_new ();
  g_autoptr(GByteArray) sh = g_byte_array_new ();
  g_autoptr(GByteArray) th_input = g_byte_array_new ();
  g_autoptr(GByteArray) msg = g_byte_array_new ();
  g_autoptr(GBytes) mitm_priv = random_bytes (32);
  g_autoptr(EVP_PKEY) eph = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("sc-sec-XXXXXX", NULL);
  g_autoptr(ScTrustStore) trust = sc_trust_store_new (dir, NULL);
  guint8 digest[32];

  g_assert_nonnull (trust);
  g_assert_true (sc_trust_store_pin_server (trust, "chat.example:5555",
                                            sc_identity_get_fingerprint (real), NULL));
  g_assert_true (sc_v2_client_start (client, g_bytes_get_data (g, NULL), g_bytes_get_size (g), ch, NULL));
  g_assert_true (sc_v2_server_consume_client_hello (server, ch->data, ch->len, sh, NULL));

  /* 1: only the ephemeral replaced: the real server's signature fails */
  {
    ScV2Session *c2 = sc_v2_session_new (SC_V2_ROLE_CLIENT, fixture_identity (1), NULL);
    g_autoptr(GByteArray) ch2 = g_byte_array_new ();
    g_autoptr(GByteArray) sh2 = g_byte_array_new ();
    ScV2Session *s2 = sc_v2_session_new (SC_V2_ROLE_SERVER, real, NULL);
    guint8 pub[32];

    /* the man in the middle's public key is all this needs */
    EVP_PKEY_free (sc_x25519_new (g_bytes_get_data (mitm_priv, NULL), pub, NULL));
    g_assert_true (sc_v2_client_start (c2, g_bytes_get_data (g, NULL), g_bytes_get_size (g), ch2, NULL));
    g_assert_true (sc_v2_server_consume_client_hello (s2, ch2->data, ch2->len, sh2, NULL));
    memcpy (sh2->data + 5 + 32, pub, 32);
    g_assert_false (sc_v2_client_consume_server_hello (c2, sh2->data, sh2->len, &error));
    g_assert_error (error, SC_ERROR, SC_ERROR_SIGNATURE);
    g_assert_cmpint (sc_v2_session_get_state (c2), ==, SC_V2_STATE_FAILED);
    g_clear_error (&error);
    sc_v2_session_free (c2);
    sc_v2_session_free (s2);
  }

  /* 2: ephemeral and identity replaced, signed by the man in the middle */
  eph = sc_x25519_new (g_bytes_get_data (mitm_priv, NULL), sh->data + 5 + 32, NULL);
  g_assert_nonnull (eph);
  memcpy (sh->data + 5 + 32 + 32, sc_identity_get_ed25519_public (mitm), 32);
  g_byte_array_append (th_input, g_bytes_get_data (g, NULL), (guint) g_bytes_get_size (g));
  g_byte_array_append (th_input, ch->data, ch->len);
  g_byte_array_append (th_input, sh->data, sh->len - 64);
  sc_sha256 (th_input->data, th_input->len, digest);
  g_byte_array_append (msg, (const guint8 *) SC_V2_SERVER_SIG_CONTEXT, sizeof SC_V2_SERVER_SIG_CONTEXT);
  g_byte_array_append (msg, digest, 32);
  g_assert_true (sc_ed25519_sign (sc_identity_get_ed25519 (mitm), msg->data, msg->len,
                                  sh->data + sh->len - 64, NULL));
  g_assert_true (sc_v2_client_consume_server_hello (client, sh->data, sh->len, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (sc_v2_session_get_peer_fingerprint (client), ==, sc_identity_get_fingerprint (mitm));
  g_assert_cmpint (sc_trust_store_check_server (trust, "chat.example:5555",
                                                sc_v2_session_get_peer_fingerprint (client)),
                   ==, SC_TRUST_CHANGED);
  /* and the man in the middle's session code differs from the real server's */
  g_assert_cmpstr (sc_v2_session_get_code (client), !=, sc_v2_session_get_code (server));

  sc_v2_session_free (client);
  sc_v2_session_free (server);
  remove_dir (dir);
}

/* v1 has no server authentication: a legacy client with the real server's
 * key pinned talks to the impostor without noticing (documents the gap) */
static void
test_v1_no_server_authentication (void)
{
  TestServer *impostor = test_server_new ();
  guint16 port = test_server_start (impostor);
  TestClient *tc = test_client_new (1, SC_PROTOCOL_V1, "alice");
  g_autofree char *hp = sc_trust_host_port ("127.0.0.1", port);

  g_assert_true (sc_trust_store_pin_server (tc->trust, hp, sc_identity_get_fingerprint (fixture_identity (3)), NULL));
  sc_client_set_trust_policy (tc->client, SC_TRUST_POLICY_STRICT);
  test_client_connect (tc, port);
  g_assert_cmpint (sc_client_get_trust_state (tc->client), ==, SC_TRUST_LEGACY);
  fixture_wait (impostor->ready == 1);
  test_client_free (tc);
  test_server_free (impostor);
}

/* ------------------------------------------------------------------ */
/* /security/forward-secrecy...                                          */
/* ------------------------------------------------------------------ */

/* The attacker itself, on an in-process session whose ephemeral keys we
 * know: with every long-term key it opens nothing; handed either side's
 * ephemeral private key it opens every record (so it is a real decryptor) */
static void
test_forward_secrecy_attacker_control (void)
{
  Known p;
  V2Wire w;
  g_autoptr(GPtrArray) none = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) all2 = g_ptr_array_new_with_free_func (g_free);
  guint8 eph[2][32];
  AttackStats st;
  guint records;

  known_init (&p, fixture_identity (0), fixture_identity (1));
  known_handshake (&p);
  sc_v2_session_set_key_update_limit (p.client, 3);
  known_send (&p, TRUE, SC_V2_CHAT, "{\"text\": \"control one\"}");
  known_send (&p, FALSE, SC_V2_CHAT, "{\"from\": \"bob\", \"text\": \"control two\"}");
  known_send (&p, TRUE, SC_V2_CHAT, "{\"text\": \"control three\"}");   /* after a KeyUpdate */
  known_send (&p, TRUE, SC_V2_CLOSE, NULL);
  v2_wire_parse (p.c2s->data, p.c2s->len, p.s2c->data, p.s2c->len, &w);
  records = w.c2s->len + w.s2c->len;
  g_assert_cmpuint (w.c2s->len, ==, 5);   /* ClientAuth, Chat, KeyUpdate, Chat, Close */
  g_assert_cmpuint (w.s2c->len, ==, 2);   /* Welcome, Chat */

  st = attack_v2 (&w, p.sid, p.cid, NULL, 0, none);
  g_test_message ("long-term keys only: %u trials, %u of %u records opened",
                  st.trials, st.opened, records);
  g_assert_cmpuint (st.opened, ==, 0);
  g_assert_cmpuint (none->len, ==, 0);
  g_assert_cmpuint (st.trials, >, 1000);

  memcpy (eph[0], g_bytes_get_data (p.c_eph, NULL), 32);
  st = attack_v2 (&w, p.sid, p.cid, (const guint8 (*)[32]) eph, 1, all);
  g_assert_cmpuint (st.opened, ==, records);
  g_assert_true (strings_contain (all, "control one"));
  g_assert_true (strings_contain (all, "control two"));
  g_assert_true (strings_contain (all, "control three"));

  memcpy (eph[1], g_bytes_get_data (p.s_eph, NULL), 32);
  st = attack_v2 (&w, p.sid, p.cid, (const guint8 (*)[32]) eph + 1, 1, all2);
  g_assert_cmpuint (st.opened, ==, records);

  v2_wire_clear (&w);
  known_clear (&p);
}

/* A real v2 session over loopback, recorded by a proxy in both directions;
 * after it ended, the attacker gets the recording and every long-term
 * private key (server Ed25519 and RSA, client Ed25519 and RSA) and opens
 * no record */
static void
test_forward_secrecy (void)
{
  TestServer *ts = test_server_new ();
  guint16 port = test_server_start (ts);
  Proxy *px = proxy_start (port);
  TestClient *alice = test_client_new (1, SC_PROTOCOL_V2, "alice");
  TestClient *bob = test_client_new (2, SC_PROTOCOL_V2, "bob");
  g_autoptr(GPtrArray) opened = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GByteArray) signed_msg = g_byte_array_new ();
  g_autoptr(GByteArray) head = g_byte_array_new ();
  const guint8 *sh;
  guint8 digest[32];
  AttackStats st;
  V2Wire w;

  proxy_run (px);
  test_client_connect (alice, px->port);
  test_client_connect (bob, port);
  fixture_wait (ts->ready == 2);
  g_assert_true (sc_client_send (alice->client, "fs: alice's secret", NULL));
  fixture_wait (bob->messages->len == 1);
  g_assert_true (sc_client_send (bob->client, "fs: bob's secret", NULL));
  fixture_wait (alice->messages->len == 1);
  g_assert_cmpstr (g_ptr_array_index (alice->messages, 0), ==, "bob: fs: bob's secret");
  sc_client_disconnect (alice->client);
  fixture_wait (alice->ended);
  test_client_free (alice);
  test_client_free (bob);
  test_server_free (ts);
  g_thread_join (g_steal_pointer (&px->thread));

  v2_wire_parse (px->c2s->data, px->c2s->len, px->s2c->data, px->s2c->len, &w);
  /* the recording is the real thing: the ServerHello verifies with the server's key */
  sh = g_bytes_get_data (w.sh, NULL);
  g_byte_array_append (head, g_bytes_get_data (w.g, NULL), (guint) g_bytes_get_size (w.g));
  g_byte_array_append (head, g_bytes_get_data (w.ch, NULL), (guint) g_bytes_get_size (w.ch));
  g_byte_array_append (head, sh, (guint) g_bytes_get_size (w.sh) - 64);
  sc_sha256 (head->data, head->len, digest);
  g_byte_array_append (signed_msg, (const guint8 *) SC_V2_SERVER_SIG_CONTEXT, sizeof SC_V2_SERVER_SIG_CONTEXT);
  g_byte_array_append (signed_msg, digest, 32);
  g_assert_true (sc_ed25519_verify (sh + 5 + 64, signed_msg->data, signed_msg->len,
                                    sh + g_bytes_get_size (w.sh) - 64, NULL));
  g_assert_cmpmem (sh + 5 + 64, 32, sc_identity_get_ed25519_public (fixture_identity (0)), 32);
  /* ClientAuth, Chat, Close / Welcome, Event (bob joined), Chat (at least) */
  g_assert_cmpuint (w.c2s->len, >=, 3);
  g_assert_cmpuint (w.s2c->len, >=, 3);

  st = attack_v2 (&w, fixture_identity (0), fixture_identity (1), NULL, 0, opened);
  g_test_message ("recorded %u + %u records; %u trials with every long-term key; %u opened",
                  w.c2s->len, w.s2c->len, st.trials, st.opened);
  g_assert_cmpuint (st.opened, ==, 0);
  g_assert_cmpuint (opened->len, ==, 0);
  /* neither plaintext is on the wire as such */
  g_assert_false (contains (px->c2s->data, px->c2s->len, (const guint8 *) "alice's secret", 14));
  g_assert_false (contains (px->s2c->data, px->s2c->len, (const guint8 *) "bob's secret", 12));

  v2_wire_clear (&w);
  proxy_free (px);
}

/* After the handshake, neither side holds its ephemeral X25519 key any
 * more: every key pair the core made was freed, on success and failure */
static void
test_forward_secrecy_ephemeral_dropped (void)
{
  GBytes *g = sc_identity_get_greeting (fixture_identity (0));
  ScV2Session *client, *server;
  g_autoptr(GByteArray) ch = g_byte_array_new ();
  g_autoptr(GByteArray) sh = g_byte_array_new ();

  eph_track (TRUE);
  client = sc_v2_session_new (SC_V2_ROLE_CLIENT, fixture_identity (1), NULL);
  server = sc_v2_session_new (SC_V2_ROLE_SERVER, fixture_identity (0), NULL);
  g_assert_true (sc_v2_client_start (client, g_bytes_get_data (g, NULL), g_bytes_get_size (g), ch, NULL));
  g_assert_cmpuint (n_eph, ==, 1);
  g_assert_cmpuint (eph_live (), ==, 1);           /* the client waits with it */
  g_assert_true (sc_v2_server_consume_client_hello (server, ch->data, ch->len, sh, NULL));
  g_assert_cmpuint (n_eph, ==, 2);
  g_assert_cmpuint (eph_live (), ==, 2);           /* the server's waits for its schedule, */
  g_assert_true (sc_v2_server_derive_keys (server, NULL));  /* which ScServer runs at once */
  g_assert_cmpuint (eph_live (), ==, 1);           /* the server's is gone */
  g_assert_true (sc_v2_client_consume_server_hello (client, sh->data, sh->len, NULL));
  g_assert_cmpuint (eph_live (), ==, 0);           /* and so is the client's */
  sc_v2_session_free (client);
  sc_v2_session_free (server);

  /* a handshake that fails (bad signature) drops it too */
  eph_track (TRUE);
  client = sc_v2_session_new (SC_V2_ROLE_CLIENT, fixture_identity (1), NULL);
  server = sc_v2_session_new (SC_V2_ROLE_SERVER, fixture_identity (0), NULL);
  g_byte_array_set_size (ch, 0);
  g_byte_array_set_size (sh, 0);
  g_assert_true (sc_v2_client_start (client, g_bytes_get_data (g, NULL), g_bytes_get_size (g), ch, NULL));
  g_assert_true (sc_v2_server_consume_client_hello (server, ch->data, ch->len, sh, NULL));
  sh->data[sh->len - 1] ^= 1;
  g_assert_false (sc_v2_client_consume_server_hello (client, sh->data, sh->len, NULL));
  g_assert_cmpuint (n_eph, ==, 2);
  g_assert_cmpuint (eph_live (), ==, 1);           /* the server's, schedule not run */
  sc_v2_session_free (server);
  g_assert_cmpuint (eph_live (), ==, 0);
  sc_v2_session_free (client);

  /* one drawn ahead (sc_v2_server_prepare) and never used goes with its session */
  eph_track (TRUE);
  server = sc_v2_session_new (SC_V2_ROLE_SERVER, fixture_identity (0), NULL);
  g_assert_true (sc_v2_server_prepare (server, NULL));
  g_assert_cmpuint (eph_live (), ==, 1);
  sc_v2_session_free (server);
  g_assert_cmpuint (eph_live (), ==, 0);
  eph_track (FALSE);
}

/* v1 splits the recorded bytes at "\n\n" (the greeting's first) */
static GPtrArray *
v1_frames (const guint8 *data,
           gsize         len,
           gboolean      skip_greeting)
{
  GPtrArray *frames = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  gsize off = 0;

  if (skip_greeting)
    {
      const guint8 *end = memmem (data, len, "\n\n", 2);

      g_assert_nonnull (end);
      off = (gsize) (end - data) + 2;
    }
  while (off < len)
    {
      const guint8 *end = memmem (data + off, len - off, "\n\n", 2);
      gsize flen = end ? (gsize) (end - (data + off)) : len - off;

      while (flen > 0 && g_ascii_isspace (data[off]))
        off++, flen--;
      if (flen > 0)
        g_ptr_array_add (frames, g_bytes_new (data + off, flen));
      off += flen + (end ? 2 : 0);
    }
  return frames;
}

/* The contrast: a recorded v1 session, and only the server's RSA key,
 * reveal every message in both directions */
static void
test_forward_secrecy_v1_contrast (void)
{
  TestServer *ts = test_server_new ();
  guint16 port = test_server_start (ts);
  Proxy *px = proxy_start (port);
  TestClient *alice = test_client_new (1, SC_PROTOCOL_V1, "alice");
  TestClient *bob = test_client_new (2, SC_PROTOCOL_V2, "bob");
  g_autoptr(GPtrArray) c2s = NULL;
  g_autoptr(GPtrArray) s2c = NULL;
  g_autoptr(GPtrArray) recovered = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GBytes) enc = NULL;
  g_autoptr(GBytes) blob = NULL;
  g_autoptr(ScV1Session) session = NULL;
  const char *enc_b64;
  GBytes *hs;
  guint i;

  proxy_run (px);
  test_client_connect (alice, px->port);
  test_client_connect (bob, port);
  fixture_wait (ts->ready == 2);
  g_assert_true (sc_client_send (alice->client, "v1: alice's secret", NULL));
  fixture_wait (bob->messages->len == 1);
  g_assert_true (sc_client_send (bob->client, "v1: bob's secret", NULL));
  fixture_wait (alice->messages->len == 1);
  sc_client_disconnect (alice->client);
  fixture_wait (alice->ended);
  test_client_free (alice);
  test_client_free (bob);
  test_server_free (ts);
  g_thread_join (g_steal_pointer (&px->thread));

  /* the attacker: the first client frame's enc_session, RSA-decrypted */
  c2s = v1_frames (px->c2s->data, px->c2s->len, FALSE);
  s2c = v1_frames (px->s2c->data, px->s2c->len, TRUE);
  g_assert_cmpuint (c2s->len, >=, 2);
  g_assert_cmpuint (s2c->len, >=, 1);
  hs = g_ptr_array_index (c2s, 0);
  g_assert_true (json_parser_load_from_data (parser, g_bytes_get_data (hs, NULL),
                                             (gssize) g_bytes_get_size (hs), NULL));
  enc_b64 = json_object_get_string_member (json_node_get_object (json_parser_get_root (parser)),
                                           "enc_session");
  enc = sc_base64_decode_strict (enc_b64, strlen (enc_b64), NULL);
  g_assert_nonnull (enc);
  blob = sc_rsa_oaep_decrypt (sc_identity_get_rsa (fixture_identity (0)),
                              g_bytes_get_data (enc, NULL), g_bytes_get_size (enc), NULL);
  g_assert_nonnull (blob);
  g_assert_cmpuint (g_bytes_get_size (blob), ==, 48);
  session = sc_v1_session_new (g_bytes_get_data (blob, NULL),
                               (const guint8 *) g_bytes_get_data (blob, NULL) + 32);
  for (i = 1; i < c2s->len; i++)
    {
      GBytes *f = g_ptr_array_index (c2s, i);
      char *text = sc_v1_open (session, g_bytes_get_data (f, NULL), g_bytes_get_size (f), NULL);

      if (text != NULL)
        g_ptr_array_add (recovered, text);
    }
  for (i = 0; i < s2c->len; i++)
    {
      GBytes *f = g_ptr_array_index (s2c, i);
      char *text = sc_v1_open (session, g_bytes_get_data (f, NULL), g_bytes_get_size (f), NULL);

      if (text != NULL)
        g_ptr_array_add (recovered, text);
    }
  for (i = 0; i < recovered->len; i++)
    g_test_message ("recovered from the v1 recording: %s", (char *) g_ptr_array_index (recovered, i));
  g_assert_true (strings_contain (recovered, "v1: alice's secret"));
  g_assert_true (strings_contain (recovered, "bob: v1: bob's secret"));
  proxy_free (px);
}

/* v1 has no freshness from the server: the client bytes of a recorded v1
 * connection, sent again on a new connection, are accepted and the
 * messages are relayed a second time (documents the gap) */
static void
test_v1_session_replay (void)
{
  TestServer *ts = test_server_new ();
  guint16 port = test_server_start (ts);
  Proxy *px = proxy_start (port);
  TestClient *alice = test_client_new (1, SC_PROTOCOL_V1, "alice");
  TestClient *bob = test_client_new (2, SC_PROTOCOL_V2, "bob");
  g_autoptr(GByteArray) in = g_byte_array_new ();
  g_autoptr(GBytes) g = NULL;
  GSocket *s;

  proxy_run (px);
  test_client_connect (alice, px->port);
  test_client_connect (bob, port);
  fixture_wait (ts->ready == 2);
  g_assert_true (sc_client_send (alice->client, "pay bob 10", NULL));
  fixture_wait (bob->messages->len == 1);
  sc_client_disconnect (alice->client);
  fixture_wait (alice->ended);
  g_thread_join (g_steal_pointer (&px->thread));

  /* the recorded client bytes, replayed by someone without any key */
  s = raw_connect (port);
  g = raw_greeting (s, in);
  g_assert_cmpint (g_socket_send (s, (const char *) px->c2s->data, px->c2s->len, NULL, NULL),
                   ==, (gssize) px->c2s->len);
  fixture_wait (bob->messages->len == 2);
  g_assert_true (g_str_has_suffix (g_ptr_array_index (bob->messages, 1), ": pay bob 10"));
  fixture_wait (ts->ready == 3);   /* the replayer passed as alice's legacy key */
  g_test_message ("replayed v1 session relayed again: %s", (char *) g_ptr_array_index (bob->messages, 1));
  g_object_unref (s);
  test_client_free (alice);
  test_client_free (bob);
  test_server_free (ts);
  proxy_free (px);
}

/* ------------------------------------------------------------------ */
/* /security/directions                                                  */
/* ------------------------------------------------------------------ */

static GByteArray *
seal_one (ScV2Session *s,
          const char  *text)
{
  GByteArray *out = g_byte_array_new ();

  g_assert_true (sc_v2_session_seal (s, SC_V2_CHAT, (const guint8 *) text, strlen (text), out, NULL));
  return out;
}

static void
test_directions (void)
{
  static const char text[] = "{\"text\": \"same words\"}";
  g_autoptr(GByteArray) a = NULL;
  g_autoptr(GByteArray) b = NULL;
  g_autoptr(GByteArray) c = NULL;
  g_autoptr(GByteArray) copy = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  ScV2Schedule sched_c, sched_s;
  guint8 kc[32], ivc[12], ks[32], ivs[12];
  Known p;
  V2Wire w;
  guint64 q;
  ScV2Type t;
  guint8 *pt;
  gsize len;

  known_init (&p, fixture_identity (0), fixture_identity (1));
  known_handshake (&p);
  v2_wire_parse (p.c2s->data, p.c2s->len, p.s2c->data, p.s2c->len, &w);

  /* both sides compute the same schedule; its two directions differ */
  wire_schedule (&w, g_bytes_get_data (p.c_eph, NULL), wire_server_eph (&w), &sched_c);
  wire_schedule (&w, g_bytes_get_data (p.s_eph, NULL), wire_client_eph (&w), &sched_s);
  g_assert_cmpmem (sched_c.c2s, 32, sched_s.c2s, 32);
  g_assert_cmpmem (sched_c.s2c, 32, sched_s.s2c, 32);
  g_assert_true (memcmp (sched_c.c2s, sched_c.s2c, 32) != 0);
  g_assert_true (sc_v2_derive_traffic (sched_c.c2s, kc, ivc, NULL));
  g_assert_true (sc_v2_derive_traffic (sched_c.s2c, ks, ivs, NULL));
  g_assert_true (memcmp (kc, ks, 32) != 0);
  g_assert_true (memcmp (ivc, ivs, 12) != 0);
  /* and they are what the sessions use: the recorded ClientAuth opens with c2s at seq 0 */
  g_assert_true (try_open (sched_c.c2s, 0, g_ptr_array_index (w.c2s, 0), NULL, NULL));
  g_assert_true (try_open (sched_c.s2c, 0, g_ptr_array_index (w.s2c, 0), NULL, NULL));

  /* the same plaintext twice in one direction, and once the other way */
  a = seal_one (p.client, text);
  b = seal_one (p.client, text);
  c = seal_one (p.server, text);
  g_assert_cmpuint (a->len, ==, b->len);
  g_assert_cmpuint (a->len, ==, c->len);
  g_assert_true (memcmp (a->data + 5, b->data + 5, a->len - 5) != 0);
  g_assert_true (memcmp (a->data + 5, c->data + 5, a->len - 5) != 0);
  g_assert_true (memcmp (b->data + 5, c->data + 5, a->len - 5) != 0);
  /* not even one ciphertext block repeats between them */
  g_assert_true (memcmp (a->data + 5, b->data + 5, 16) != 0);
  g_assert_true (memcmp (a->data + 5, c->data + 5, 16) != 0);

  /* a c2s record under the s2c key fails at any sequence number */
  for (q = 0; q < 16; q++)
    {
      g_autoptr(GBytes) fa = g_bytes_new (a->data, a->len);
      g_autoptr(GBytes) fc = g_bytes_new (c->data, c->len);

      g_assert_false (try_open (sched_c.s2c, q, fa, NULL, NULL));
      g_assert_false (try_open (sched_c.c2s, q, fc, NULL, NULL));
    }

  /* reflected to its sender: the client's own record, back at the client */
  g_byte_array_append (copy, a->data, a->len);
  g_assert_false (sc_v2_session_open (p.client, copy->data, copy->len, &t, &pt, &len, &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_DECRYPT);
  g_clear_error (&error);
  /* and the server's own record back at the server */
  g_byte_array_set_size (copy, 0);
  g_byte_array_append (copy, c->data, c->len);
  g_assert_false (sc_v2_session_open (p.server, copy->data, copy->len, &t, &pt, &len, &error));
  g_assert_error (error, SC_ERROR, SC_ERROR_DECRYPT);

  v2_wire_clear (&w);
  known_clear (&p);
}

/* v1 for contrast: one key and IV for both directions and every message,
 * so equal plaintexts give equal ciphertexts and a reflected message is
 * accepted (documents the weakness) */
static void
test_v1_directions (void)
{
  g_autoptr(GBytes) key = random_bytes (32);
  g_autoptr(GBytes) iv = random_bytes (16);
  g_autoptr(ScV1Session) client = sc_v1_session_new (g_bytes_get_data (key, NULL), g_bytes_get_data (iv, NULL));
  g_autoptr(GByteArray) a = g_byte_array_new ();
  g_autoptr(GByteArray) b = g_byte_array_new ();
  g_autofree char *back = NULL;

  g_assert_true (sc_v1_seal (client, "same words", 10, a, NULL));
  g_assert_true (sc_v1_seal (client, "same words", 10, b, NULL));
  g_assert_cmpmem (a->data, a->len, b->data, b->len);
  back = sc_v1_open (client, a->data, a->len - 2, NULL);
  g_assert_cmpstr (back, ==, "same words");
}

/* ------------------------------------------------------------------ */
/* /security/proof-replay                                                */
/* ------------------------------------------------------------------ */

/* A malicious server A learns the client's ClientAuth plaintext (it is an
 * endpoint).  It then acts as a client towards server B, seals that same
 * ClientAuth correctly for the new session and sends it: B refuses, since
 * the signature covers the other session's transcript.  A control with the
 * attacker's own valid signature shows the hand-sealing is right. */
static void
replay_into (ScIdentity   *b_identity,
             const guint8 *captured,
             gsize         captured_len,
             gboolean      control)
{
  Known m;
  V2Wire w;
  ScV2Schedule sched;
  g_autoptr(GByteArray) frame = g_byte_array_new ();
  g_autoptr(GByteArray) auth = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  ScV2Type t;
  guint8 *pt;
  gsize len;

  known_init (&m, b_identity, fixture_identity (3));   /* the attacker as a client */
  {
    GBytes *g = sc_identity_get_greeting (m.sid);
    g_autoptr(GByteArray) ch = g_byte_array_new ();
    g_autoptr(GByteArray) sh = g_byte_array_new ();

    g_byte_array_append (m.s2c, g_bytes_get_data (g, NULL), (guint) g_bytes_get_size (g));
    g_assert_true (sc_v2_client_start (m.client, g_bytes_get_data (g, NULL), g_bytes_get_size (g), ch, NULL));
    g_byte_array_append (m.c2s, ch->data, ch->len);
    g_assert_true (sc_v2_server_consume_client_hello (m.server, ch->data, ch->len, sh, NULL));
    g_byte_array_append (m.s2c, sh->data, sh->len);
  }
  v2_wire_parse (m.c2s->data, m.c2s->len, m.s2c->data, m.s2c->len, &w);
  wire_schedule (&w, g_bytes_get_data (m.c_eph, NULL), wire_server_eph (&w), &sched);

  if (control)
    {
      /* the attacker's own proof for this session */
      g_autoptr(GByteArray) msg = g_byte_array_new ();
      guint8 th[32];

      wire_th (&w, th);
      g_byte_array_append (msg, (const guint8 *) SC_V2_CLIENT_SIG_CONTEXT, sizeof SC_V2_CLIENT_SIG_CONTEXT);
      g_byte_array_append (msg, th, 32);
      g_byte_array_set_size (auth, 96);
      memcpy (auth->data, sc_identity_get_ed25519_public (m.cid), 32);
      g_assert_true (sc_ed25519_sign (sc_identity_get_ed25519 (m.cid), msg->data, msg->len,
                                      auth->data + 32, NULL));
      g_byte_array_append (auth, (const guint8 *) "mallory", 7);
    }
  else
    g_byte_array_append (auth, captured, (guint) captured_len);

  seal_by_hand (sched.c2s, 0, SC_V2_CLIENT_AUTH, auth->data, auth->len, frame);
  if (control)
    {
      g_assert_true (sc_v2_session_open (m.server, frame->data, frame->len, &t, &pt, &len, &error));
      g_assert_no_error (error);
      g_assert_cmpint (sc_v2_session_get_state (m.server), ==, SC_V2_STATE_AUTHENTICATED);
      g_assert_cmpstr (sc_v2_session_get_peer_fingerprint (m.server), ==,
                       sc_identity_get_fingerprint (m.cid));
    }
  else
    {
      g_assert_false (sc_v2_session_open (m.server, frame->data, frame->len, &t, &pt, &len, &error));
      g_assert_error (error, SC_ERROR, SC_ERROR_SIGNATURE);
      g_assert_cmpint (sc_v2_session_get_state (m.server), ==, SC_V2_STATE_FAILED);
      g_assert_null (sc_v2_session_get_peer_fingerprint (m.server));
    }
  v2_wire_clear (&w);
  known_clear (&m);
}

static void
test_proof_replay (void)
{
  Known a;
  g_autoptr(GByteArray) frame = g_byte_array_new ();
  g_autoptr(GByteArray) raw = g_byte_array_new ();
  g_autoptr(GBytes) captured = NULL;
  g_autoptr(GError) error = NULL;
  ScV2Type t;
  guint8 *pt;
  gsize len;

  /* the honest session with server A; A keeps what ClientAuth said */
  known_init (&a, fixture_identity (0), fixture_identity (1));
  {
    GBytes *g = sc_identity_get_greeting (a.sid);
    g_autoptr(GByteArray) ch = g_byte_array_new ();
    g_autoptr(GByteArray) sh = g_byte_array_new ();

    g_assert_true (sc_v2_client_start (a.client, g_bytes_get_data (g, NULL), g_bytes_get_size (g), ch, NULL));
    g_assert_true (sc_v2_server_consume_client_hello (a.server, ch->data, ch->len, sh, NULL));
    g_assert_true (sc_v2_client_consume_server_hello (a.client, sh->data, sh->len, NULL));
    g_assert_true (sc_v2_client_send_auth (a.client, "alice", frame, NULL));
  }
  g_byte_array_append (raw, frame->data, frame->len);
  g_assert_true (sc_v2_session_open (a.server, frame->data, frame->len, &t, &pt, &len, NULL));
  g_assert_cmpint (t, ==, SC_V2_CLIENT_AUTH);
  captured = g_bytes_new (pt, len);
  g_assert_cmpmem (pt, 32, sc_identity_get_ed25519_public (fixture_identity (1)), 32);

  /* into a different server, and into the same server's next session */
  replay_into (fixture_identity (2), g_bytes_get_data (captured, NULL), g_bytes_get_size (captured), FALSE);
  replay_into (fixture_identity (0), g_bytes_get_data (captured, NULL), g_bytes_get_size (captured), FALSE);
  replay_into (fixture_identity (2), NULL, 0, TRUE);
  replay_into (fixture_identity (0), NULL, 0, TRUE);

  /* the encrypted record as captured on the wire, replayed into a fresh session */
  {
    Known b;
    GBytes *g = NULL;
    g_autoptr(GByteArray) ch = g_byte_array_new ();
    g_autoptr(GByteArray) sh = g_byte_array_new ();

    known_init (&b, fixture_identity (0), fixture_identity (3));
    g = sc_identity_get_greeting (b.sid);
    g_assert_true (sc_v2_client_start (b.client, g_bytes_get_data (g, NULL), g_bytes_get_size (g), ch, NULL));
    g_assert_true (sc_v2_server_consume_client_hello (b.server, ch->data, ch->len, sh, NULL));
    g_assert_false (sc_v2_session_open (b.server, raw->data, raw->len, &t, &pt, &len, &error));
    g_assert_error (error, SC_ERROR, SC_ERROR_DECRYPT);
    known_clear (&b);
  }
  known_clear (&a);
}

/* ------------------------------------------------------------------ */
/* /security/allow-list-before-relay                                     */
/* ------------------------------------------------------------------ */

static void
intruder_v2 (guint16 port)
{
  GSocket *s = raw_connect (port);
  g_autoptr(GByteArray) in = g_byte_array_new ();
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autoptr(GByteArray) ch = g_byte_array_new ();
  g_autoptr(GBytes) g = NULL;
  g_autoptr(GBytes) priv = random_bytes (32);
  g_autoptr(GBytes) rnd = random_bytes (32);
  g_autoptr(EVP_PKEY) eph = NULL;
  static const char chat[] = "{\"text\": \"intruder says hi\"}";
  TestRandom tr = { { g_bytes_ref (rnd), g_bytes_ref (priv) }, 2, 0 };
  ScRandom rng = { test_random_func, &tr };
  ScV2Session *session = sc_v2_session_new (SC_V2_ROLE_CLIENT, fixture_identity (3), &rng);
  g_autoptr(GError) error = NULL;
  g_autoptr(GByteArray) th_input = g_byte_array_new ();
  ScV2Schedule sched;
  guint8 pub[32], ss[32], th[32];
  ScV2Type t;
  guint8 *pt;
  gsize len, flen;
  gssize sent;

  g = raw_greeting (s, in);
  g_assert_true (sc_v2_client_start (session, g_bytes_get_data (g, NULL), g_bytes_get_size (g), ch, NULL));
  g_assert_cmpint (g_socket_send (s, (const char *) ch->data, ch->len, NULL, NULL), ==, (gssize) ch->len);
  raw_need (s, in, 4 + SC_V2_SERVER_HELLO_LEN);
  g_assert_true (sc_v2_client_consume_server_hello (session, in->data, 4 + SC_V2_SERVER_HELLO_LEN, &error));
  g_assert_no_error (error);

  /* c2s keys from our own ephemeral, to seal a Chat at seq 1 by hand */
  eph = sc_x25519_new (g_bytes_get_data (priv, NULL), pub, NULL);
  g_assert_true (sc_x25519_derive (eph, in->data + 5 + 32, ss, NULL));
  g_byte_array_append (th_input, g_bytes_get_data (g, NULL), (guint) g_bytes_get_size (g));
  g_byte_array_append (th_input, ch->data, ch->len);
  g_byte_array_append (th_input, in->data, 4 + SC_V2_SERVER_HELLO_LEN);
  sc_sha256 (th_input->data, th_input->len, th);
  g_assert_true (sc_v2_derive_schedule (ss, th, &sched, NULL));
  g_byte_array_remove_range (in, 0, 4 + SC_V2_SERVER_HELLO_LEN);

  /* ClientAuth and Chat in one send() */
  g_assert_true (sc_v2_client_send_auth (session, "intruder", out, NULL));
  seal_by_hand (sched.c2s, 1, SC_V2_CHAT, (const guint8 *) chat, strlen (chat), out);
  sent = g_socket_send (s, (const char *) out->data, out->len, NULL, NULL);
  g_assert_cmpint (sent, ==, (gssize) out->len);

  /* a Reject comes back, then the end of the connection */
  raw_drain (s, in);
  g_assert_cmpuint (in->len, >=, 5 + 16);
  flen = 4 + be32 (in->data);
  g_assert_cmpuint (flen, <=, in->len);
  g_assert_true (sc_v2_session_open (session, in->data, flen, &t, &pt, &len, &error));
  g_assert_no_error (error);
  g_assert_cmpint (t, ==, SC_V2_REJECT);
  g_test_message ("intruder got Reject: %.*s", (int) len, (const char *) pt);
  g_assert_cmpuint (in->len, ==, flen);   /* nothing after the Reject */

  sc_v2_session_free (session);
  test_random_clear (&tr);
  g_object_unref (s);
}

static void
intruder_v1 (guint16 port)
{
  GSocket *s = raw_connect (port);
  g_autoptr(GByteArray) in = g_byte_array_new ();
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autoptr(GBytes) g = NULL;
  g_autoptr(EVP_PKEY) server_pub = NULL;
  g_autoptr(ScV1Session) session = NULL;
  gsize i;

  g = raw_greeting (s, in);
  server_pub = sc_v1_parse_greeting (g_bytes_get_data (g, NULL), g_bytes_get_size (g), NULL);
  g_assert_nonnull (server_pub);
  session = sc_v1_client_handshake (server_pub, sc_identity_get_rsa (fixture_identity (4)), NULL, out, NULL);
  g_assert_nonnull (session);
  g_assert_true (sc_v1_seal (session, "legacy intruder says hi", 23, out, NULL));
  g_assert_cmpint (g_socket_send (s, (const char *) out->data, out->len, NULL, NULL), ==, (gssize) out->len);
  raw_drain (s, in);
  for (i = 0; i < in->len; i++)
    g_assert_true (g_ascii_isspace (in->data[i]));   /* not one frame for it */
  g_object_unref (s);
}

static void
test_allow_list_before_relay (void)
{
  TestServer *ts = test_server_new ();
  TestClient *alice = test_client_new (1, SC_PROTOCOL_V2, "alice");
  TestClient *bob = test_client_new (2, SC_PROTOCOL_V2, "bob");
  guint16 port;
  guint i, rejected = 0;

  g_object_set (ts->server, "allow-list", TRUE, NULL);
  g_assert_true (sc_trust_store_authorize_client (ts->trust, sc_identity_get_fingerprint (fixture_identity (1)), "alice", NULL));
  g_assert_true (sc_trust_store_authorize_client (ts->trust, sc_identity_get_fingerprint (fixture_identity (2)), "bob", NULL));
  port = test_server_start (ts);
  test_client_connect (alice, port);
  test_client_connect (bob, port);
  fixture_wait (ts->ready == 2);

  intruder_v2 (port);
  fixture_wait (ts->disconnects->len == 1);
  intruder_v1 (port);
  fixture_wait (ts->disconnects->len == 2);
  for (i = 0; i < ts->disconnects->len; i++)
    {
      const char *reason = g_ptr_array_index (ts->disconnects, i);

      g_test_message ("server: %s", reason);
      rejected += strstr (reason, "not on the allow-list") != NULL;
    }
  g_assert_cmpuint (rejected, ==, 2);

  /* a marker after them: whatever the intruders said would be before it */
  g_assert_true (sc_client_send (bob->client, "marker", NULL));
  fixture_wait (alice->messages->len >= 1);
  fixture_wait (ts->messages->len >= 1);
  g_assert_cmpuint (alice->messages->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (alice->messages, 0), ==, "bob: marker");
  g_assert_cmpuint (ts->messages->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (ts->messages, 0), ==, "bob: marker");
  g_assert_cmpuint (bob->messages->len, ==, 0);
  g_assert_false (has_string (alice->events, "intruder"));
  g_assert_cmpuint (ts->ready, ==, 2);

  test_client_free (alice);
  test_client_free (bob);
  test_server_free (ts);
}

/* ------------------------------------------------------------------ */
/* /security/wipe-...                                                    */
/* ------------------------------------------------------------------ */

static gboolean
all_zero (const guint8 *p,
          gsize         len)
{
  gsize i;

  for (i = 0; i < len; i++)
    if (p[i] != 0)
      return FALSE;
  return TRUE;
}

/* Arms the g_free() watch on @mem (its whole allocation) */
static gsize
watch (gpointer mem)
{
  watch_len = malloc_usable_size (mem);
  g_assert_cmpuint (watch_len, >, 0);
  watch_copy = malloc (watch_len);
  g_assert (watch_copy != NULL);
  watch_seen = FALSE;
  g_atomic_pointer_set (&watch_ptr, mem);
  return watch_len;
}

static void
unwatch (void)
{
  g_assert_true (watch_seen);
  free (watch_copy);
  watch_copy = NULL;
}

static void
test_wipe_helpers (void)
{
  guint8 buf[100];
  char *secret;
  gsize len;

  memset (buf, 0xa5, sizeof buf);
  sc_wipe (buf + 10, 50);
  g_assert_true (all_zero (buf + 10, 50));
  g_assert_cmpint (buf[9], ==, 0xa5);
  g_assert_cmpint (buf[60], ==, 0xa5);
  sc_wipe (NULL, 10);
  sc_wipe (buf, 0);

  /* sc_secret_string_free: the bytes are zero when they reach g_free() */
  secret = g_strdup ("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIsecretsecret\n");
  len = strlen (secret);
  watch (secret);
  sc_secret_string_free (secret);
  g_assert_true (all_zero (watch_copy, len));
  unwatch ();
  sc_secret_string_free (NULL);

  /* the control: a plain g_free() leaves the bytes, and the watch sees them */
  secret = g_strdup ("not wiped");
  watch (secret);
  g_free (secret);
  g_assert_cmpmem (watch_copy, 9, "not wiped", 9);
  unwatch ();
}

/* A v2 session's memory holds both directions' secrets and IVs while it
 * lives, and OpenSSL's memory its record keys; none of them is left in
 * either when the session is freed */
static void
test_wipe_v2_session (void)
{
  Known p;
  V2Wire w;
  ScV2Schedule sched;
  guint8 secrets[6][32] = { { 0 } };
  gsize lens[6] = { 32, 32, 32, 32, 12, 12 };
  const guint8 *needles[6];
  ScV2Session *client;
  const guint8 *live;
  gsize size;
  guint i, found = 0, holding[2];

  /* control: the allocator hook sees a freed OpenSSL block that holds a
   * needle, and finds none in a cipher context EVP_CIPHER_CTX_free() wiped */
  {
    guint8 key[32];
    guint8 *block;
    EVP_CIPHER_CTX *ctx;
    const guint8 *needle = key;
    gsize key_len = sizeof key;

    memset (key, 0x3c, sizeof key);
    key[0] = 0x01;
    ossl_track (TRUE);
    block = OPENSSL_malloc (sizeof key);
    memcpy (block, key, sizeof key);
    ctx = sc_aes_gcm_new (key, TRUE, NULL);
    g_assert_nonnull (ctx);
    g_assert_cmpuint (ossl_live_count (key, sizeof key), ==, 2);  /* a schedule starts with it */
    ossl_search_freed_for (&needle, &key_len, 1);
    OPENSSL_free (block);
    g_assert_cmpuint (ossl_freed_hits, ==, 1);
    ossl_search_freed_for (&needle, &key_len, 1);
    EVP_CIPHER_CTX_free (ctx);
    g_assert_cmpuint (ossl_freed, >, 0);
    g_assert_cmpuint (ossl_freed_hits, ==, 0);
    ossl_track (FALSE);
  }

  ossl_track (TRUE);
  known_init (&p, fixture_identity (0), fixture_identity (1));
  known_handshake (&p);
  v2_wire_parse (p.c2s->data, p.c2s->len, p.s2c->data, p.s2c->len, &w);
  wire_schedule (&w, g_bytes_get_data (p.c_eph, NULL), wire_server_eph (&w), &sched);
  memcpy (secrets[0], sched.c2s, 32);
  memcpy (secrets[1], sched.s2c, 32);
  g_assert_true (sc_v2_derive_traffic (sched.c2s, secrets[2], secrets[4], NULL));
  g_assert_true (sc_v2_derive_traffic (sched.s2c, secrets[3], secrets[5], NULL));

  /* control: the live session holds the secrets and IVs (reading our own
   * allocation), and OpenSSL's contexts the keys */
  client = g_steal_pointer (&p.client);
  live = (const guint8 *) client;
  size = malloc_usable_size (client);
  for (i = 0; i < G_N_ELEMENTS (secrets); i++)
    found += contains (live, size, secrets[i], lens[i]);
  g_assert_cmpuint (found, ==, 4);
  g_assert_false (contains (live, size, secrets[2], 32));
  g_assert_false (contains (live, size, secrets[3], 32));
  /* each key: in the client's context for one direction and the server's
   * for the same direction */
  holding[0] = ossl_live_count (secrets[2], 32);
  holding[1] = ossl_live_count (secrets[3], 32);
  g_assert_cmpuint (holding[0], >=, 2);
  g_assert_cmpuint (holding[1], >=, 2);

  for (i = 0; i < G_N_ELEMENTS (secrets); i++)
    needles[i] = secrets[i];
  ossl_search_freed_for (needles, lens, G_N_ELEMENTS (secrets));
  watch (client);
  sc_v2_session_free (client);
  for (i = 0; i < G_N_ELEMENTS (secrets); i++)
    g_assert_false (contains (watch_copy, watch_len, secrets[i], lens[i]));
  unwatch ();
  /* the client's two contexts went, and were wiped before they did */
  g_assert_cmpuint (ossl_live_count (secrets[2], 32), ==, holding[0] - 1);
  g_assert_cmpuint (ossl_live_count (secrets[3], 32), ==, holding[1] - 1);
  g_assert_cmpuint (ossl_freed_hits, ==, 0);
  ossl_track (FALSE);

  v2_wire_clear (&w);
  known_clear (&p);
}

static void
test_wipe_v1_session (void)
{
  g_autoptr(GBytes) key = random_bytes (32);
  g_autoptr(GBytes) iv = random_bytes (16);
  ScV1Session *s = sc_v1_session_new (g_bytes_get_data (key, NULL), g_bytes_get_data (iv, NULL));
  gsize size = malloc_usable_size (s);

  g_assert_true (contains ((const guint8 *) s, size, g_bytes_get_data (key, NULL), 32));
  g_assert_true (contains ((const guint8 *) s, size, g_bytes_get_data (iv, NULL), 16));
  watch (s);
  sc_v1_session_free (s);
  g_assert_false (contains (watch_copy, watch_len, g_bytes_get_data (key, NULL), 32));
  g_assert_false (contains (watch_copy, watch_len, g_bytes_get_data (iv, NULL), 16));
  unwatch ();
}

/* The base64 lines of a PEM private key (the lines that carry key bytes) */
static GPtrArray *
pem_body_lines (const char *dir,
                const char *name)
{
  g_autofree char *text = read_text (dir, name);
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  guint i;

  for (i = 0; lines[i] != NULL; i++)
    if (strlen (lines[i]) >= 40 && !g_str_has_prefix (lines[i], "-----"))
      g_ptr_array_add (out, g_strdup (lines[i]));
  g_assert_cmpuint (out->len, >, 0);
  return out;
}

/* Loading a key directory: the PEM text of both private keys passes through
 * buffers that are wiped (sc_wipe sees the text) and no buffer our code
 * frees still holds a line of it; the same when the keys are created */
static void
test_wipe_key_files (void)
{
  g_autofree char *dir = g_dir_make_tmp ("sc-sec-keys-XXXXXX", NULL);
  const char *names[] = { SC_FILE_RSA_KEY, SC_FILE_IDENTITY };
  guint pass;

  for (pass = 0; pass < 2; pass++)   /* 0: created, 1: loaded */
    {
      ScIdentity *id;
      guint i, j, k;

      copies_clear ();
      recording_thread = g_thread_self ();
      g_atomic_int_set (&recording, TRUE);
      id = sc_identity_load_or_create (dir, NULL);
      g_atomic_int_set (&recording, FALSE);
      g_assert_nonnull (id);
      g_test_message ("%s: %u buffers freed, %u wiped (%u zero afterwards)",
                      pass == 0 ? "create" : "load", n_freed, n_wiped, n_wiped_clean);

      for (k = 0; k < G_N_ELEMENTS (names); k++)
        {
          g_autoptr(GPtrArray) lines = pem_body_lines (dir, names[k]);
          gboolean seen_wiped = FALSE;

          for (i = 0; i < lines->len; i++)
            {
              const char *line = g_ptr_array_index (lines, i);

              for (j = 0; j < n_freed; j++)
                g_assert_false (contains (freed[j].data, freed[j].len, (const guint8 *) line, strlen (line)));
              for (j = 0; j < n_wiped && i == 0; j++)
                seen_wiped |= contains (wiped[j].data, wiped[j].len, (const guint8 *) line, strlen (line));
            }
          /* loading reads the file into a buffer that sc_wipe() clears */
          if (pass == 1)
            g_assert_true (seen_wiped);
        }
      if (pass == 1)
        g_assert_cmpuint (n_wiped_clean, ==, n_wiped);
      copies_clear ();
      sc_identity_unref (id);
    }
  remove_dir (dir);
}

/* ------------------------------------------------------------------ */

int
main (int   argc,
      char *argv[])
{
  /* before OpenSSL allocates anything */
  g_assert_true (CRYPTO_set_mem_functions (ossl_malloc, ossl_realloc, ossl_free));
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/security/impersonation-refused", test_impersonation_refused);
  g_test_add_func ("/security/impersonation-mitm-ephemeral", test_impersonation_mitm_ephemeral);
  g_test_add_func ("/security/impersonation-mitm-resigned", test_impersonation_mitm_resigned);
  g_test_add_func ("/security/forward-secrecy", test_forward_secrecy);
  g_test_add_func ("/security/forward-secrecy-attacker-control", test_forward_secrecy_attacker_control);
  g_test_add_func ("/security/forward-secrecy-ephemeral-dropped", test_forward_secrecy_ephemeral_dropped);
  g_test_add_func ("/security/forward-secrecy-v1-contrast", test_forward_secrecy_v1_contrast);
  g_test_add_func ("/security/directions", test_directions);
  g_test_add_func ("/security/proof-replay", test_proof_replay);
  g_test_add_func ("/security/allow-list-before-relay", test_allow_list_before_relay);
  g_test_add_func ("/security/wipe-helpers", test_wipe_helpers);
  g_test_add_func ("/security/wipe-v2-session", test_wipe_v2_session);
  g_test_add_func ("/security/wipe-v1-session", test_wipe_v1_session);
  g_test_add_func ("/security/wipe-key-files", test_wipe_key_files);
  g_test_add_func ("/security/v1-no-server-authentication", test_v1_no_server_authentication);
  g_test_add_func ("/security/v1-same-key-both-directions", test_v1_directions);
  g_test_add_func ("/security/v1-session-replay", test_v1_session_replay);

  return g_test_run ();
}
