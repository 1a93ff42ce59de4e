/* bench-crypto.h: the cost of the primitives alone, with the same OpenSSL
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  BENCH_OP_X25519_KEYGEN,
  BENCH_OP_X25519_DERIVE,
  BENCH_OP_ED25519_SIGN,
  BENCH_OP_ED25519_VERIFY,
  BENCH_OP_RSA_OAEP_ENCRYPT,
  BENCH_OP_RSA_OAEP_DECRYPT,
  BENCH_OP_RSA_PSS_SIGN,
  BENCH_OP_RSA_PSS_VERIFY,
  BENCH_N_OPS
} BenchOp;

/* Keys made once; every operation reuses what OpenSSL lets it reuse, so
 * the figures are a floor for what a handshake can cost */
typedef struct _BenchCrypto BenchCrypto;

BenchCrypto *bench_crypto_new        (GError      **error);
void         bench_crypto_free       (BenchCrypto  *self);
const char  *bench_op_id             (BenchOp       op);   /* "x25519_keygen" */
const char  *bench_op_label          (BenchOp       op);
/* Seconds per operation over @n runs on this thread */
gboolean     bench_crypto_time_op    (BenchCrypto  *self,
                                      BenchOp       op,
                                      guint         n,
                                      double       *seconds,
                                      GError      **error);

/* How many of each operation one handshake needs, both ends together:
 * v2: 2 X25519 keygens, 2 derives, 2 Ed25519 signs, 2 verifies;
 * v1: one each of RSA-OAEP encrypt and decrypt, RSA-PSS sign and verify */
guint        bench_op_per_v2_handshake (BenchOp     op);
guint        bench_op_per_v1_handshake (BenchOp     op);
/* The operations of @n whole handshakes (v1's or v2's), one after the other */
gboolean     bench_crypto_handshakes (BenchCrypto  *self,
                                      gboolean      v1,
                                      guint64       n,
                                      GError      **error);

/* AES-256-GCM seal of @n messages of @size bytes (5 bytes of AAD, a fresh
 * nonce each) with one reused EVP context: the seconds it took */
gboolean     bench_aes_gcm_seal      (gsize         size,
                                      guint64       n,
                                      double       *seconds,
                                      GError      **error);

G_END_DECLS
