/* secure-chat-bench.c: Secure Chat against its baselines, on loopback
 *
 * The rows of issue 6: handshakes, message throughput, fan-out, scale and
 * the window (a child program, secure-chat-bench-window, since it needs
 * GTK and a display).
 * Each row is a median and min–max over rounds, and the baselines (TLS 1.3
 * through libssl, the crypto lower bound, raw AES-256-GCM) are measured in
 * the same run.  The ScServer runs in-process on its own thread; clients
 * drive the core API over blocking sockets on client threads.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <openssl/crypto.h>

#include "sc-crypto.h"
#include "sc-server.h"
#include "sc-trust.h"

#include "bench-crypto.h"
#include "bench-peer.h"
#include "bench-tls.h"
#include "bench-util.h"
#include "bench-window.h"

#define HANDSHAKE_MESSAGE_SIZE  32
#define CONCURRENT_CLIENTS      32
/* 64 KiB of text plus its JSON does not fit the default limit of 64 KiB */
#define THROUGHPUT_MESSAGE_MAX  (128 * 1024)
#define FANOUT_MESSAGE_SIZE     100
#define FANOUT_SMOKE_DIVISOR    10
#define SCALE_SESSIONS_DEFAULT  10000
#define SCALE_SESSIONS_SMOKE    200
#define SCALE_CHILD_TIMEOUT_S   3600.0
#define DRAIN_LAZY_MS           100  /* readers of idle sessions and of join storms */

#define GROUP_CRYPTO     "Crypto lower bound (in-process, same OpenSSL, one thread unless it says 2)"
#define GROUP_HANDSHAKE  "Handshakes (new TCP connection, full handshake, one 32-byte message delivered, close)"
#define GROUP_THROUGHPUT "Throughput (one connection, client -> server -> \"message\" signal, streaming)"
#define GROUP_FANOUT     "Fan-out (one v2 sender, 100-byte messages, deliveries to all receivers combined)"
#define GROUP_SCALE      "Scale (idle v2 sessions held by a child process)"

static const gsize throughput_sizes[] = { 100, 1024, 65536 };
static const guint fanout_receivers[] = { 100, 1000 };

typedef enum {
  KIND_V2,
  KIND_V1,
  KIND_TLS,
  KIND_AES_GCM,   /* throughput only */
} Kind;

static const char *kind_ids[] = { "v2", "v1", "tls", "aesgcm" };
static const char *kind_names[] = { "v2", "v1 (legacy)", "TLS 1.3", "raw AES-256-GCM seal" };

typedef struct {
  /* options */
  gboolean      smoke;
  guint         rounds;
  double        round_time;
  guint         sessions;
  char        **only;

  BenchReport  *report;
  BenchSink    *sink;
  ScIdentity   *server_identity;
  ScIdentity   *client_identity;
  ScTrustStore *trust;
  char         *trust_dir;
  BenchTls     *tls;
  guint64       nofile;
  JsonObject   *window;     /* the window program's report, for its targets */
  gboolean      window_run;
} Bench;

/* --only takes groups ("handshake") or row ids and their prefixes
 * ("handshake.v2", "throughput.tls.100") */
static gboolean
wants_row (Bench      *b,
           const char *id)
{
  guint i;

  for (i = 0; b->only != NULL && b->only[i] != NULL; i++)
    if (g_str_has_prefix (id, b->only[i]))
      return TRUE;
  return b->only == NULL;
}

static gboolean
wants_group (Bench      *b,
             const char *group)
{
  guint i;

  for (i = 0; b->only != NULL && b->only[i] != NULL; i++)
    if (g_str_has_prefix (b->only[i], group) || g_str_has_prefix (group, b->only[i]))
      return TRUE;
  return b->only == NULL;
}

static ScIdentity *
make_identity (GError **error)
{
  g_autoptr(EVP_PKEY) rsa = sc_rsa_generate (error);
  g_autoptr(EVP_PKEY) ed = NULL;

  if (rsa == NULL || (ed = sc_ed25519_generate (error)) == NULL)
    return NULL;
  return sc_identity_new (rsa, ed, error);
}

/* ---- the server ---- */

static void
on_server_message (ScServer   *server,
                   guint       id,
                   const char *nickname,
                   const char *text,
                   gpointer    data)
{
  bench_sink_deliver (data, text, strlen (text));
}

static ScServer *
server_start (Bench   *b,
              guint    max_clients,
              gsize    message_max,
              GError **error)
{
  g_autoptr(ScServer) server = sc_server_new (b->server_identity, b->trust);

  g_object_set (server,
                "port", 0,
                "max-clients", max_clients,
                "message-max", (guint) message_max,
                NULL);
  g_signal_connect (server, "message", G_CALLBACK (on_server_message), b->sink);
  if (!sc_server_start (server, error))
    return NULL;
  return g_steal_pointer (&server);
}

static void
server_stop (ScServer *server)
{
  if (server == NULL)
    return;
  sc_server_stop (server);
  /* the stop's events hold references until delivered */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_object_unref (server);
}

/* ---- rounds ---- */

typedef gboolean (*RoundFunc) (Bench    *b,
                               gpointer  data,
                               guint64   units,
                               double   *elapsed,
                               GError  **error);

/* One row's rounds.  @units is per round: sized from a trial run of
 * @trial_units (which also warms up), or @smoke_units in smoke mode, unless
 * set beforehand.  A sample is units * per_unit / seconds. */
typedef struct {
  BenchRow  *row;       /* NULL: not measured */
  RoundFunc  func;
  gpointer   data;
  guint64    trial_units;
  guint64    smoke_units;
  double     per_unit;
  guint64    units;
  gboolean   failed;
} Series;

static void
series_fail (Series       *s,
             const GError *error)
{
  s->failed = TRUE;
  bench_row_set_error (s->row, error->message);
  bench_progress ("%s: ERROR %s", s->row->label, error->message);
}

static gboolean
series_round (Bench   *b,
              Series  *s,
              guint64  units,
              double  *elapsed)
{
  g_autoptr(GError) error = NULL;

  if (s->row == NULL || s->failed)
    return FALSE;
  if (!s->func (b, s->data, units, elapsed, &error))
    {
      series_fail (s, error);
      return FALSE;
    }
  return TRUE;
}

/* Runs round r of every series before round r + 1 of any.  These machines
 * drift by tens of percent within a run; interleaved, a row and the
 * baselines it is divided by see the same drift. */
static void
measure (Bench  *b,
         Series *series,
         guint   n)
{
  double elapsed;
  guint i, r;

  for (i = 0; i < n; i++)
    {
      Series *s = &series[i];

      if (s->units > 0 || s->row == NULL)
        continue;
      s->units = s->smoke_units;
      if (!b->smoke && series_round (b, s, s->trial_units, &elapsed))
        s->units = (guint64) CLAMP (s->trial_units * b->round_time / MAX (elapsed, 1e-6),
                                    (double) s->trial_units, 1e8);
      s->row->count = s->units;
    }
  for (r = 0; r < b->rounds; r++)
    for (i = 0; i < n; i++)
      if (series_round (b, &series[i], series[i].units, &elapsed))
        bench_row_add_sample (series[i].row,
                              (double) series[i].units * series[i].per_unit / elapsed);
  /* (a series sized beforehand reports itself) */
  for (i = 0; i < n; i++)
    if (series[i].row != NULL && !series[i].failed && series[i].trial_units > 0)
      bench_progress ("%-52s median %.1f %s (%" G_GUINT64_FORMAT " per round)",
                      series[i].row->label, bench_row_median (series[i].row),
                      series[i].row->unit, series[i].units);
}

/* ---- row 0: the crypto lower bound ---- */

typedef struct {
  BenchCrypto *crypto;
  gboolean     v1;
  guint64      n;
  GError      *error;
} BoundThread;

typedef struct {
  BenchCrypto *crypto;
  BenchRow    *v2;
  BenchRow    *v1;
  BenchRow    *op_rows[BENCH_N_OPS];
  guint        n[BENCH_N_OPS];   /* runs per operation and round */
  BenchCrypto *thread_crypto[2];
  BoundThread  threads[2][2];    /* [v1][thread] */
} Bound;

static void
bound_fail (Bound        *bound,
            const GError *error)
{
  guint op;

  bench_row_set_error (bound->v1, error->message);
  for (op = 0; op < BENCH_N_OPS; op++)
    bench_row_set_error (bound->op_rows[op], error->message);
}

/* One round times every operation; its "elapsed" is the time of one v2
 * handshake's operations, so the series' sample is the v2 bound.  The v1
 * bound and the operations get their samples here. */
static gboolean
bound_round (Bench    *b,
             gpointer  data,
             guint64   units,
             double   *elapsed,
             GError  **error)
{
  Bound *bound = data;
  double cost_v2 = 0, cost_v1 = 0;
  guint op;

  for (op = 0; op < BENCH_N_OPS; op++)
    {
      double t;

      if (!bench_crypto_time_op (bound->crypto, op, bound->n[op], &t, error))
        {
          bound_fail (bound, *error);
          return FALSE;
        }
      bench_row_add_sample (bound->op_rows[op], t * 1e6);
      cost_v2 += bench_op_per_v2_handshake (op) * t;
      cost_v1 += bench_op_per_v1_handshake (op) * t;
    }
  bench_row_add_sample (bound->v1, 1 / cost_v1);
  *elapsed = cost_v2;
  return TRUE;
}

/* The bound on two cores, measured: two threads, each with its own keys,
 * run whole handshakes' operations at the same time.  Twice the one-core
 * bound assumes the two vCPUs double the rate; this row shows what they
 * give. */
static gpointer
bound_thread (gpointer data)
{
  BoundThread *t = data;

  bench_crypto_handshakes (t->crypto, t->v1, t->n, &t->error);
  return NULL;
}

static gboolean
bound_threads_round (Bench    *b,
                     gpointer  data,
                     guint64   units,
                     double   *elapsed,
                     GError  **error)
{
  BoundThread *t = data;   /* two */
  GThread *threads[2];
  double start = bench_now ();
  guint i;

  t[0].n = units - units / 2;
  t[1].n = units / 2;
  for (i = 0; i < 2; i++)
    threads[i] = g_thread_new ("bench-bound", bound_thread, &t[i]);
  for (i = 0; i < 2; i++)
    g_thread_join (threads[i]);
  *elapsed = bench_now () - start;
  for (i = 0; i < 2; i++)
    if (t[i].error != NULL)
      {
        g_propagate_error (error, g_steal_pointer (&t[i].error));
        g_clear_error (&t[1 - i].error);
        return FALSE;
      }
  return TRUE;
}

/* The rows (three series: the one-core bound, then v2's and v1's on two
 * threads), and the runs per operation that make about 1/20 of a round each */
static gboolean
bound_init (Bench  *b,
            Bound  *bound,
            Series *series)
{
  g_autoptr(GError) error = NULL;
  BenchRow *v2_threads, *v1_threads;
  guint op, i;

  bound->v2 = bench_report_add_row (b->report, "crypto.bound.v2", GROUP_CRYPTO,
                                    "v2 handshake crypto bound", "handshakes/s");
  bound->v1 = bench_report_add_row (b->report, "crypto.bound.v1", GROUP_CRYPTO,
                                    "v1 handshake crypto bound (RSA)", "handshakes/s");
  for (op = 0; op < BENCH_N_OPS; op++)
    {
      g_autofree char *id = g_strdup_printf ("crypto.op.%s", bench_op_id (op));
      g_autofree char *label = g_strdup_printf ("  %s", bench_op_label (op));

      bound->op_rows[op] = bench_report_add_row (b->report, id, GROUP_CRYPTO, label, "us/op");
    }
  v2_threads = bench_report_add_row (b->report, "crypto.bound.v2.two_threads", GROUP_CRYPTO,
                                    "v2 crypto bound, 2 threads at once", "handshakes/s");
  v1_threads = bench_report_add_row (b->report, "crypto.bound.v1.two_threads", GROUP_CRYPTO,
                                    "v1 crypto bound (RSA), 2 threads at once", "handshakes/s");
  bench_row_set_note (bound->v2, "1 / (2 X25519 keygen + 2 derive + 2 Ed25519 sign + 2 verify)");
  bench_row_set_note (bound->v1, "1 / (RSA-2048 OAEP encrypt + decrypt + PSS sign + verify)");
  bench_row_set_note (v2_threads, "two threads, each running those operations handshake after handshake");
  bench_row_set_note (v1_threads, "two threads, each running those operations handshake after handshake");

  series[0] = (Series) { bound->v2, bound_round, bound, 0, 0, 1, 1, FALSE };
  series[1] = (Series) { v2_threads, bound_threads_round, bound->threads[0], 200, 4, 1, 0, FALSE };
  series[2] = (Series) { v1_threads, bound_threads_round, bound->threads[1], 40, 2, 1, 0, FALSE };
  bound->crypto = bench_crypto_new (&error);
  for (i = 0; i < 2 && error == NULL; i++)
    {
      bound->thread_crypto[i] = bench_crypto_new (&error);
      bound->threads[0][i] = (BoundThread) { bound->thread_crypto[i], FALSE, 0, NULL };
      bound->threads[1][i] = (BoundThread) { bound->thread_crypto[i], TRUE, 0, NULL };
    }
  for (op = 0; bound->crypto != NULL && op < BENCH_N_OPS; op++)
    {
      double t;

      if (!bench_crypto_time_op (bound->crypto, op, 10, &t, &error))
        break;
      bound->n[op] = b->smoke ? 10 : (guint) CLAMP (b->round_time / 20 / t, 10, 1e6);
      bound->op_rows[op]->count = bound->n[op];
    }
  if (error != NULL)
    {
      for (i = 0; i < 3; i++)
        series_fail (&series[i], error);
      bound_fail (bound, error);
      return FALSE;
    }
  return TRUE;
}

static void
bound_clear (Bound *bound)
{
  bench_crypto_free (bound->crypto);
  bench_crypto_free (bound->thread_crypto[0]);
  bench_crypto_free (bound->thread_crypto[1]);
}

/* ---- row 1: handshakes ---- */

typedef struct {
  Bench   *b;
  Kind     kind;
  guint16  port;
  guint    n_threads;
  gboolean bare;      /* v2: the handshake and a Close, no message */
  GBytes  *payload[BENCH_MAX_SLOTS];  /* per client slot */
} HandshakeJob;

static void
handshake_job_init (HandshakeJob *job,
                    Bench        *b,
                    Kind          kind,
                    guint16       port)
{
  guint i;

  job->b = b;
  job->kind = kind;
  job->port = port;
  for (i = 0; i < BENCH_MAX_SLOTS; i++)
    {
      g_autofree char *text = bench_message_text (i, HANDSHAKE_MESSAGE_SIZE);

      job->payload[i] = kind == KIND_TLS ? g_bytes_new (text, strlen (text))
                                         : bench_peer_payload (kind == KIND_V1 ? SC_PROTOCOL_V1
                                                                               : SC_PROTOCOL_V2,
                                                               text);
    }
}

static void
handshake_job_clear (HandshakeJob *job)
{
  guint i;

  for (i = 0; i < BENCH_MAX_SLOTS; i++)
    g_clear_pointer (&job->payload[i], g_bytes_unref);
}

/* New connection, full handshake, one message, wait for its delivery,
 * close; or, if the job is bare, the handshake (to Welcome) and a close */
static gboolean
handshake_unit (BenchWorker *w,
                GError     **error)
{
  HandshakeJob *job = w->data;
  Bench *b = job->b;
  GBytes *payload = job->payload[w->index];

  switch (job->kind)
    {
    case KIND_V2:
      {
        g_autoptr(BenchPeer) peer = bench_peer_connect_v2 (job->port, b->client_identity, "bench",
                                                           SC_V2_MESSAGE_MAX_DEFAULT, error);

        if (job->bare)
          return peer != NULL && bench_peer_send (peer, NULL, TRUE, error);
        return peer != NULL &&
               bench_peer_send (peer, payload, TRUE, error) &&
               bench_sink_wait_slot (b->sink, w->index, w->done + 1, error);
      }
    case KIND_V1:
      {
        g_autoptr(BenchPeer) peer =
          bench_peer_connect_v1 (job->port, sc_identity_get_rsa (b->client_identity), error);

        return peer != NULL &&
               bench_peer_send (peer, payload, FALSE, error) &&
               bench_sink_wait_slot (b->sink, w->index, w->done + 1, error);
      }
    case KIND_TLS:
      {
        BenchTlsConn *conn = bench_tls_connect (b->tls, job->port, error);
        gsize len;
        const guint8 *data = g_bytes_get_data (payload, &len);
        gboolean ok;

        ok = conn != NULL &&
             bench_tls_conn_write (conn, data, len, error) &&
             bench_sink_wait_slot (b->sink, w->index, w->done + 1, error);
        bench_tls_conn_close (conn);
        return ok;
      }
    default:
      g_assert_not_reached ();
    }
}

static gboolean
handshake_round (Bench    *b,
                 gpointer  data,
                 guint64   units,
                 double   *elapsed,
                 GError  **error)
{
  HandshakeJob *job = data;

  bench_sink_reset (b->sink);
  return bench_crew_run (job->n_threads, units, handshake_unit, job, elapsed, error);
}

/* The crypto bound and the handshake rows, their rounds interleaved */
static void
run_handshakes (Bench    *b,
                gboolean  crypto,
                gboolean  handshakes)
{
  static const guint64 trial_seq[] = { 100, 20, 100 };
  static const guint64 trial_conc[] = { 200, 64, 200 };
  static const guint64 smoke_seq[] = { 5, 3, 5 };
  g_autoptr(GError) error = NULL;
  ScServer *server = NULL;
  BenchTlsServer *tls_server = NULL;
  Bound bound = { 0 };
  HandshakeJob jobs[KIND_TLS + 1][2] = { 0 };
  Series series[3 + G_N_ELEMENTS (jobs) * 2] = { 0 };
  gboolean bound_ok = crypto && bound_init (b, &bound, series);
  guint n = bound_ok ? 3 : 0;
  Kind kind;

  if (handshakes)
    {
      server = server_start (b, SC_MAX_CONNECTIONS_DEFAULT, SC_V2_MESSAGE_MAX_DEFAULT, &error);
      if (server != NULL)
        tls_server = bench_tls_server_new (b->tls, b->sink, &error);
      if (tls_server != NULL)
        bench_tls_server_set_message_size (tls_server, HANDSHAKE_MESSAGE_SIZE);
    }

  for (kind = KIND_V2; handshakes && kind <= KIND_TLS; kind++)
    {
      guint concurrent;

      for (concurrent = 0; concurrent < 2; concurrent++)
        {
          g_autofree char *id = g_strdup_printf ("handshake.%s.%s", kind_ids[kind],
                                                 concurrent ? "concurrent" : "sequential");
          g_autofree char *label = concurrent
            ? g_strdup_printf ("%s, %u concurrent clients", kind_names[kind], CONCURRENT_CLIENTS)
            : g_strdup_printf ("%s, sequential", kind_names[kind]);
          HandshakeJob *job = &jobs[kind][concurrent];
          BenchRow *row;

          if (!wants_row (b, id))
            continue;
          row = bench_report_add_row (b->report, id, GROUP_HANDSHAKE, label, "handshakes/s");
          if (tls_server == NULL)
            {
              bench_row_set_error (row, error->message);
              continue;
            }
          handshake_job_init (job, b, kind,
                              kind == KIND_TLS ? bench_tls_server_get_port (tls_server)
                                               : sc_server_get_port (server));
          job->n_threads = concurrent ? CONCURRENT_CLIENTS : 1;
          series[n++] = (Series) { row, handshake_round, job,
                                   concurrent ? trial_conc[kind] : trial_seq[kind],
                                   concurrent ? CONCURRENT_CLIENTS : smoke_seq[kind], 1, 0, FALSE };
        }
    }

  measure (b, series, n);
  if (bound_ok && !series[0].failed)
    bench_progress ("crypto bound: v2 %.0f, v1 %.0f handshakes/s on one core",
                    bench_row_median (bound.v2), bench_row_median (bound.v1));
  bound_clear (&bound);
  for (kind = KIND_V2; kind <= KIND_TLS; kind++)
    {
      handshake_job_clear (&jobs[kind][0]);
      handshake_job_clear (&jobs[kind][1]);
    }
  bench_tls_server_free (tls_server);
  server_stop (server);
}

/* ---- row 2: throughput ---- */

typedef struct {
  Bench        *b;
  Kind          kind;
  gsize         size;
  BenchPeer    *peer;
  BenchTlsConn *tls;
  GBytes       *payload;   /* SC: sealed for each message; TLS: written as is */
  guint64       count;
} StreamJob;

static gboolean
stream_unit (BenchWorker *w,
             GError     **error)
{
  StreamJob *job = w->data;
  gsize len;
  const guint8 *data = g_bytes_get_data (job->payload, &len);
  guint64 i;

  for (i = 0; i < job->count; i++)
    {
      gboolean ok = job->kind == KIND_TLS ? bench_tls_conn_write (job->tls, data, len, error)
                                          : bench_peer_send (job->peer, job->payload, FALSE, error);
      if (!ok)
        return FALSE;
    }
  if (job->kind == KIND_TLS)
    return bench_sink_wait_bytes (job->b->sink, job->count * len, error);
  return bench_sink_wait_messages (job->b->sink, job->count, error);
}

static gboolean
stream_round (Bench    *b,
              gpointer  data,
              guint64   units,
              double   *elapsed,
              GError  **error)
{
  StreamJob *job = data;

  bench_sink_reset (b->sink);
  job->count = units;
  return bench_crew_run (1, 1, stream_unit, job, elapsed, error);
}

static gboolean
aes_round (Bench    *b,
           gpointer  data,
           guint64   units,
           double   *elapsed,
           GError  **error)
{
  StreamJob *job = data;

  return bench_aes_gcm_seal (job->size, units, elapsed, error);
}

static void
run_throughput (Bench *b)
{
  g_autoptr(GError) error = NULL;
  /* one server each: with both clients on one, every v2 message would be
   * relayed to the v1 client, and the other way round */
  ScServer *server = server_start (b, SC_MAX_CONNECTIONS_DEFAULT, THROUGHPUT_MESSAGE_MAX, &error);
  ScServer *server_v1 = NULL;
  BenchTlsServer *tls_server = NULL;
  guint i;

  if (server != NULL)
    server_v1 = server_start (b, SC_MAX_CONNECTIONS_DEFAULT, THROUGHPUT_MESSAGE_MAX, &error);
  if (server_v1 != NULL)
    tls_server = bench_tls_server_new (b->tls, b->sink, &error);
  if (tls_server != NULL)
    bench_tls_server_set_message_size (tls_server, 0);

  for (i = 0; i < G_N_ELEMENTS (throughput_sizes); i++)
    {
      gsize size = throughput_sizes[i];
      guint64 trial = size >= 65536 ? 200 : 5000;
      guint64 smoke = size >= 65536 ? 10 : 50;
      g_autofree char *text = bench_message_text (0, size);
      g_autofree char *size_name = size >= 1024 ? g_strdup_printf ("%" G_GSIZE_FORMAT " KiB", size / 1024)
                                                : g_strdup_printf ("%" G_GSIZE_FORMAT " B", size);
      StreamJob jobs[KIND_AES_GCM + 1] = { 0 };
      Series series[KIND_AES_GCM + 1] = { 0 };
      Kind kind;

      /* every connection first, then the rounds of the four interleaved */
      for (kind = KIND_V2; kind <= KIND_AES_GCM; kind++)
        {
          g_autofree char *id = g_strdup_printf ("throughput.%s.%" G_GSIZE_FORMAT,
                                                 kind_ids[kind], size);
          g_autofree char *label = g_strdup_printf ("%s, %s messages", kind_names[kind], size_name);
          StreamJob *job = &jobs[kind];
          g_autoptr(GError) local = NULL;
          BenchRow *row;

          if (!wants_row (b, id))
            continue;
          row = bench_report_add_row (b->report, id, GROUP_THROUGHPUT, label, "messages/s");
          row->bytes_per_item = size;
          if (tls_server == NULL)
            {
              bench_row_set_error (row, error->message);
              continue;
            }
          *job = (StreamJob) { b, kind, size, NULL, NULL, NULL, 0 };
          if (kind == KIND_AES_GCM)
            {
              bench_row_set_note (row, "in-process, one core, one reused EVP context");
              series[kind] = (Series) { row, aes_round, job, trial * 10, smoke, 1, 0, FALSE };
              continue;
            }
          if (kind == KIND_TLS)
            {
              job->tls = bench_tls_connect (b->tls, bench_tls_server_get_port (tls_server), &local);
              job->payload = g_bytes_new (text, size);
              bench_row_set_note (row, "SSL_write per message; the server thread counts bytes");
            }
          else
            {
              job->peer = kind == KIND_V2
                ? bench_peer_connect_v2 (sc_server_get_port (server), b->client_identity, "stream",
                                         THROUGHPUT_MESSAGE_MAX, &local)
                : bench_peer_connect_v1 (sc_server_get_port (server_v1),
                                         sc_identity_get_rsa (b->client_identity), &local);
              job->payload = bench_peer_payload (kind == KIND_V1 ? SC_PROTOCOL_V1 : SC_PROTOCOL_V2,
                                                 text);
              bench_row_set_note (row, "one record and one send() per message; server "
                                  "message-max raised to %u for 64 KiB of text in JSON",
                                  THROUGHPUT_MESSAGE_MAX);
            }
          series[kind] = (Series) { row, stream_round, job, trial, smoke, 1, 0, FALSE };
          if (local != NULL)
            series_fail (&series[kind], local);
        }
      measure (b, series, G_N_ELEMENTS (series));
      for (kind = KIND_V2; kind <= KIND_AES_GCM; kind++)
        {
          bench_peer_free (jobs[kind].peer);
          bench_tls_conn_close (jobs[kind].tls);
          g_clear_pointer (&jobs[kind].payload, g_bytes_unref);
        }
    }
  bench_tls_server_free (tls_server);
  server_stop (server_v1);
  server_stop (server);
}

/* ---- row 3: fan-out ---- */

typedef struct {
  Bench      *b;
  guint16     port;
  BenchDrain *drain;
  BenchPeer  *sender;
  GBytes     *payload;
  guint       n_receivers;
  guint64     window;   /* messages in flight, at most */
  guint64     count;
} FanoutJob;

/* One receiver: handshake, then the drain reads it */
static gboolean
receiver_unit (BenchWorker *w,
               GError     **error)
{
  FanoutJob *job = w->data;
  BenchPeer *peer = bench_peer_connect_v2 (job->port, job->b->client_identity, "receiver",
                                           SC_V2_MESSAGE_MAX_DEFAULT, error);

  if (peer == NULL)
    return FALSE;
  bench_drain_add (job->drain, peer);
  return TRUE;
}

static gboolean
fanout_unit (BenchWorker *w,
             GError     **error)
{
  FanoutJob *job = w->data;
  guint64 base = bench_drain_get_chats (job->drain);
  guint64 i;

  for (i = 0; i < job->count; i++)
    {
      /* keep the server's queues short: it cuts off receivers that lag by 1 MiB */
      if (i >= job->window && i % 8 == 0 &&
          !bench_drain_wait_chats (job->drain, base + (i - job->window) * job->n_receivers, error))
        return FALSE;
      if (!bench_peer_send (job->sender, job->payload, FALSE, error))
        return FALSE;
    }
  return bench_drain_wait_chats (job->drain, base + job->count * job->n_receivers, error);
}

static gboolean
fanout_round (Bench    *b,
              gpointer  data,
              guint64   units,
              double   *elapsed,
              GError  **error)
{
  FanoutJob *job = data;

  job->count = units;
  return bench_crew_run (1, 1, fanout_unit, job, elapsed, error);
}

static void
run_fanout_row (Bench      *b,
                const char *id,
                guint       full_n)
{
  g_autoptr(GError) error = NULL;
  /* smoke mode scales the receivers down to keep to a few seconds */
  guint n = b->smoke ? MAX (1, full_n / FANOUT_SMOKE_DIVISOR) : full_n;
  g_autofree char *label = n == 1 ? g_strdup ("one-to-one (1 receiver)")
                                  : n == full_n ? g_strdup_printf ("to %u receivers", n)
                                  : g_strdup_printf ("to %u receivers (smoke; %u in full)",
                                                     n, full_n);
  g_autofree char *text = bench_message_text (0, FANOUT_MESSAGE_SIZE);
  BenchRow *row = bench_report_add_row (b->report, id, GROUP_FANOUT, label, "deliveries/s");
  ScServer *server = server_start (b, n + 64, SC_V2_MESSAGE_MAX_DEFAULT, &error);
  FanoutJob job = { 0 };
  Series series;
  double setup = 0, start;

  row->bytes_per_item = FANOUT_MESSAGE_SIZE;
  if (server == NULL)
    goto failed;
  job.b = b;
  job.port = sc_server_get_port (server);
  job.n_receivers = n;
  job.window = CLAMP (65536 / n, 8, 1024);
  job.payload = bench_peer_payload (SC_PROTOCOL_V2, text);
  /* lazy while the join announcements pour in, eager once measuring */
  job.drain = bench_drain_new (2, TRUE, DRAIN_LAZY_MS);

  /* receivers first, so the sender gets no join events */
  start = bench_now ();
  if (!bench_crew_run (4, n, receiver_unit, &job, &setup, &error))
    goto failed;
  bench_drain_wait_quiet (job.drain, 0.3);
  job.sender = bench_peer_connect_v2 (job.port, b->client_identity, "sender",
                                      SC_V2_MESSAGE_MAX_DEFAULT, &error);
  if (job.sender == NULL)
    goto failed;
  bench_drain_wait_quiet (job.drain, 0.2);
  bench_drain_set_lazy (job.drain, 0);
  setup = MAX (0, bench_drain_get_last_byte (job.drain) - start);
  bench_row_set_note (row, "%u receiver(s); joining took %.2f s (%u handshakes, "
                      "%" G_GUINT64_FORMAT " join events); receivers frame records without "
                      "decrypting", n, setup, n + 1, (guint64) n * (n + 1) / 2);
  bench_progress ("fan-out: %u receiver(s) joined in %.2f s", n, setup);

  series = (Series) { row, fanout_round, &job, MAX (20, 20000 / n), MAX (5, 500 / n), n, 0, FALSE };
  measure (b, &series, 1);
  goto out;

failed:
  bench_row_set_error (row, error->message);
  bench_progress ("fan-out %s: ERROR %s", label, error->message);
out:
  /* stop first: receivers leaving one by one would each be announced to all */
  server_stop (server);
  bench_drain_free (job.drain);
  bench_peer_free (job.sender);
  g_clear_pointer (&job.payload, g_bytes_unref);
}

static void
run_fanout (Bench *b)
{
  guint i;

  if (wants_row (b, "fanout.one-to-one"))
    run_fanout_row (b, "fanout.one-to-one", 1);
  for (i = 0; i < G_N_ELEMENTS (fanout_receivers); i++)
    {
      g_autofree char *id = g_strdup_printf ("fanout.%u", fanout_receivers[i]);

      if (wants_row (b, id))
        run_fanout_row (b, id, fanout_receivers[i]);
    }
}

/* ---- row 4: scale ---- */

/* The child: holds sessions and reads (and drops) all they receive.
 * Commands on stdin: "add N" (answered "ready TOTAL SECONDS" once the new
 * sessions are up and the join announcements stopped) and "exit". */
static int
scale_child (guint16 port)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ScIdentity) identity = make_identity (&error);
  FanoutJob job = { 0 };
  guint64 old_soft;
  char line[128];
  int status = 0;

  bench_raise_nofile (&old_soft);
  if (identity == NULL)
    {
      printf ("error %s\n", error->message);
      return 1;
    }
  job.port = port;
  job.drain = bench_drain_new (2, FALSE, DRAIN_LAZY_MS);
  job.b = &(Bench) { .client_identity = identity };

  while (fgets (line, sizeof line, stdin) != NULL)
    {
      guint n;
      double elapsed;

      if (sscanf (line, "add %u", &n) != 1)
        break;
      if (!bench_crew_run (4, n, receiver_unit, &job, &elapsed, &error))
        {
          printf ("error %s\n", error->message);
          fflush (stdout);
          status = 1;
          break;
        }
      bench_drain_wait_quiet (job.drain, 0.3);
      printf ("ready %u %.3f\n", bench_drain_get_n_peers (job.drain), elapsed);
      fflush (stdout);
    }
  bench_drain_free (job.drain);
  return status;
}

typedef struct {
  GString *buf;
  gint     replied;   /* atomic flag */
  gboolean eof;
  guint    total;
  double   seconds;
  char    *error;
} ChildReply;

static gboolean
on_child_output (int          fd,
                 GIOCondition condition,
                 gpointer     data)
{
  ChildReply *reply = data;
  char chunk[512];
  gssize n = read (fd, chunk, sizeof chunk);
  char *nl;

  if (n <= 0)
    {
      reply->eof = TRUE;
      g_atomic_int_set (&reply->replied, TRUE);
      return G_SOURCE_REMOVE;
    }
  g_string_append_len (reply->buf, chunk, n);
  while ((nl = strchr (reply->buf->str, '\n')) != NULL)
    {
      g_autofree char *line = g_strndup (reply->buf->str, nl - reply->buf->str);

      g_string_erase (reply->buf, 0, nl - reply->buf->str + 1);
      if (sscanf (line, "ready %u %lf", &reply->total, &reply->seconds) != 2)
        {
          g_free (reply->error);
          reply->error = g_strdup (g_str_has_prefix (line, "error ") ? line + 6 : line);
        }
      g_atomic_int_set (&reply->replied, TRUE);
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
child_command (int          in_fd,
               ChildReply  *reply,
               const char  *command,
               GError     **error)
{
  g_atomic_int_set (&reply->replied, FALSE);
  if (write (in_fd, command, strlen (command)) != (gssize) strlen (command))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE, "The session holder went away");
      return FALSE;
    }
  if (!bench_wait_flag (&reply->replied, SCALE_CHILD_TIMEOUT_S) || reply->eof || reply->error)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "The session holder failed: %s",
                   reply->error ? reply->error : "no answer");
      return FALSE;
    }
  return TRUE;
}

static void
run_scale (Bench *b)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *port_arg = NULL;
  guint sessions = b->smoke ? MIN (b->sessions, SCALE_SESSIONS_SMOKE) : b->sessions;
  g_autofree char *hs_label = NULL;
  BenchRow *rss = bench_report_add_row (b->report, "scale.rss_per_session", GROUP_SCALE,
                                        "server RSS per idle v2 session", "bytes");
  BenchRow *hs, *hs_empty;
  ScServer *server = NULL, *empty = NULL;
  ChildReply reply = { g_string_new (NULL), FALSE, FALSE, 0, 0, NULL };
  HandshakeJob job = { 0 }, empty_job = { 0 };
  Series series[2];
  GPid pid = 0;
  int in_fd = -1, out_fd = -1;
  guint watch = 0, step, step_size, total = 0;
  gsize rss_start, rss_prev, rss_untrimmed = 0;
  double build = 0;

  /* each side needs one descriptor per session, and a few more */
  if (b->nofile < (guint64) sessions + 256)
    {
      guint allowed = b->nofile > 512 ? (guint) b->nofile - 256 : 0;

      bench_progress ("scale: RLIMIT_NOFILE %" G_GUINT64_FORMAT " allows %u sessions, not %u",
                b->nofile, allowed, sessions);
      sessions = allowed;
    }
  hs_label = g_strdup_printf ("v2 handshakes/s, no message, %u idle", sessions);
  hs = bench_report_add_row (b->report, "scale.handshake.v2.sequential", GROUP_SCALE, hs_label,
                             "handshakes/s");
  hs_empty = bench_report_add_row (b->report, "scale.handshake.v2.sequential.empty", GROUP_SCALE,
                                   "v2 handshakes/s, no message, empty server",
                                   "handshakes/s");
  step_size = MAX (1, sessions / b->rounds);

  server = server_start (b, sessions + 64, SC_V2_MESSAGE_MAX_DEFAULT, &error);
  if (server == NULL)
    goto failed;
  handshake_job_init (&job, b, KIND_V2, sc_server_get_port (server));
  job.n_threads = 1;
  /* warm up: what the first connections allocate once is not per session */
  if (!handshake_round (b, &job, 20, &build, &error))
    goto failed;

  port_arg = g_strdup_printf ("%u", sc_server_get_port (server));
  if (!g_spawn_async_with_pipes (NULL, (char *[]) { exe, (char *) "--scale-child", port_arg, NULL },
                                 NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid,
                                 &in_fd, &out_fd, NULL, &error))
    goto failed;
  watch = g_unix_fd_add (out_fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_child_output, &reply);

  while (g_main_context_iteration (NULL, FALSE))
    ;
  bench_trim_heap ();
  rss_start = rss_prev = bench_rss_bytes ();
  build = 0;
  for (step = 0; step < b->rounds; step++)
    {
      guint add = step + 1 == b->rounds ? sessions - total : step_size;
      g_autofree char *command = g_strdup_printf ("add %u\n", add);
      gsize rss_now;

      if (!child_command (in_fd, &reply, command, &error))
        goto failed;
      total = reply.total;
      build += reply.seconds;
      while (g_main_context_iteration (NULL, FALSE))
        ;
      if (sc_server_get_n_clients (server) != total)
        {
          g_set_error (&error, G_IO_ERROR, G_IO_ERROR_FAILED,
                       "The server holds %u sessions, the child %u",
                       sc_server_get_n_clients (server), total);
          goto failed;
        }
      rss_untrimmed = bench_rss_bytes ();
      bench_trim_heap ();
      rss_now = bench_rss_bytes ();
      bench_row_add_sample (rss, ((double) rss_now - (double) rss_prev) / add);
      bench_progress ("scale: %u sessions (+%u in %.1f s), server RSS +%.0f bytes per session",
                total, add, reply.seconds, ((double) rss_now - (double) rss_prev) / add);
      rss_prev = rss_now;
    }
  rss->count = step_size;
  bench_row_set_note (rss, "per step of %u sessions, heap trimmed; overall %.0f bytes/session "
                      "trimmed, %.0f untrimmed; joining all took %.1f s "
                      "(joins are announced only while the room has up to %u members)",
                      step_size, ((double) rss_prev - (double) rss_start) / total,
                      ((double) rss_untrimmed - (double) rss_start) / total, build,
                      SC_PRESENCE_LIMIT_DEFAULT);

  /* Handshakes without a message: one would be relayed to every idle
   * session, and the row would measure that fan-out.  The baseline is a
   * second server in this process with no sessions, rounds alternating. */
  empty = server_start (b, SC_MAX_CONNECTIONS_DEFAULT, SC_V2_MESSAGE_MAX_DEFAULT, &error);
  if (empty == NULL)
    goto failed;
  handshake_job_init (&empty_job, b, KIND_V2, sc_server_get_port (empty));
  empty_job.n_threads = 1;
  job.bare = empty_job.bare = TRUE;
  series[0] = (Series) { hs, handshake_round, &job, 100, 5, 1, 0, FALSE };
  series[1] = (Series) { hs_empty, handshake_round, &empty_job, 100, 5, 1, 0, FALSE };
  measure (b, series, G_N_ELEMENTS (series));
  bench_row_set_note (hs, "connect, handshake to Welcome, Close; the %u sessions stay connected "
                      "(joins and leaves are not announced: the room is over the presence limit)",
                      total);
  goto out;

failed:
  bench_row_set_error (rss, error->message);
  bench_row_set_error (hs, error->message);
  bench_row_set_error (hs_empty, error->message);
  bench_progress ("scale: ERROR %s", error->message);
out:
  server_stop (empty);
  server_stop (server);
  if (in_fd >= 0)
    close (in_fd);   /* EOF: the child closes everything and exits */
  if (pid != 0)
    {
      waitpid (pid, NULL, 0);
      g_spawn_close_pid (pid);
    }
  if (watch != 0)
    g_source_remove (watch);
  if (out_fd >= 0)
    close (out_fd);
  handshake_job_clear (&job);
  handshake_job_clear (&empty_job);
  g_string_free (reply.buf, TRUE);
  g_free (reply.error);
}

/* ---- row 5: the window ---- */

static void
window_rows_fail (Bench      *b,
                  const char *reason,
                  gboolean    skipped)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (bench_window_rows); i++)
    {
      const BenchWindowRow *def = &bench_window_rows[i];
      BenchRow *row = bench_report_add_row (b->report, def->id, BENCH_WINDOW_GROUP, def->label,
                                            def->unit);

      if (skipped)
        bench_row_set_skipped (row, reason);
      else
        bench_row_set_error (row, reason);
    }
}

/* The window program runs from beside this one, on the display we have;
 * its JSON report is merged here */
static void
run_window (Bench *b)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *dir = self ? g_path_get_dirname (self) : g_strdup (".");
  g_autofree char *exe = g_build_filename (dir, BENCH_WINDOW_PROGRAM, NULL);
  g_autofree char *json = g_build_filename (b->trust_dir, "window.json", NULL);
  g_autofree char *out = NULL;
  g_auto(GStrv) lines = NULL;
  g_auto(GStrv) envp = NULL;
  char *argv[] = { exe, (char *) "--json", json, b->smoke ? (char *) "--smoke" : NULL, NULL };
  int status = 0;
  guint i;

  b->window_run = TRUE;
  if (g_getenv ("DISPLAY") == NULL && g_getenv ("WAYLAND_DISPLAY") == NULL)
    {
      printf ("window: skipped, no display (run under xvfb-run)\n");
      fflush (stdout);
      window_rows_fail (b, "no display (run under xvfb-run)", TRUE);
      return;
    }
  if (!g_file_test (exe, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_autofree char *reason = g_strdup_printf ("%s is missing", exe);

      bench_progress ("window: %s", reason);
      window_rows_fail (b, reason, FALSE);
      return;
    }

  /* Under Xvfb GTK's GL renderer runs on llvmpipe, in software, and its
   * frames alone take up to 130 ms; the cairo renderer is GTK's renderer
   * for machines without a GPU.  GSK_RENDERER set by the caller wins. */
  envp = g_environ_setenv (g_get_environ (), "GSK_RENDERER", "cairo", FALSE);
  bench_progress ("window: running %s%s with GSK_RENDERER=%s", BENCH_WINDOW_PROGRAM,
            b->smoke ? " --smoke" : "", g_environ_getenv (envp, "GSK_RENDERER"));
  /* its summary comes back as progress lines; its own progress goes
   * straight to stderr */
  if (!g_spawn_sync (NULL, argv, envp, G_SPAWN_DEFAULT, NULL, NULL, &out, NULL, &status, &error))
    {
      bench_progress ("window: ERROR %s", error->message);
      window_rows_fail (b, error->message, FALSE);
      return;
    }
  lines = g_strsplit (out, "\n", -1);
  for (i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], "window: "))
      bench_progress ("%s", lines[i]);

  b->window = bench_report_read_json (json, &error);
  g_unlink (json);
  if (b->window == NULL)
    {
      g_autofree char *reason = g_strdup_printf ("%s wrote no report (%s): %s",
                                                 BENCH_WINDOW_PROGRAM,
                                                 g_spawn_check_wait_status (status, NULL)
                                                 ? "exit status 0" : "it failed",
                                                 error->message);

      bench_progress ("window: ERROR %s", reason);
      window_rows_fail (b, reason, FALSE);
      return;
    }
  bench_report_merge_rows (b->report, b->window);
}

/* ---- ratios and targets ---- */

static void
add_results (Bench *b)
{
  BenchReport *r = b->report;
  BenchRow *rss = bench_report_lookup (r, "scale.rss_per_session");
  double v2_tls, v2_conc_bound, v1_bound, v1_conc_bound, fanout;
  double bulk_tls = NAN, bulk_aes = NAN, small_tls = NAN;
  guint i;

  v2_tls = bench_report_add_ratio (r, "handshake.v2.sequential/tls", "v2 sequential / TLS 1.3 sequential",
                                   "handshake.v2.sequential", "handshake.tls.sequential", 1);
  bench_report_add_ratio (r, "handshake.v2.concurrent/tls", "v2 concurrent / TLS 1.3 concurrent",
                          "handshake.v2.concurrent", "handshake.tls.concurrent", 1);
  bench_report_add_ratio (r, "handshake.v2.sequential/bound", "v2 sequential / crypto bound (1 core)",
                          "handshake.v2.sequential", "crypto.bound.v2", 1);
  v2_conc_bound = bench_report_add_ratio (r, "handshake.v2.concurrent/bound",
                                          "v2 concurrent / crypto bound (2 x one core)",
                                          "handshake.v2.concurrent", "crypto.bound.v2", 2);
  bench_report_add_ratio (r, "handshake.v2.concurrent/bound.two_threads",
                          "v2 concurrent / crypto bound (2 threads at once)",
                          "handshake.v2.concurrent", "crypto.bound.v2.two_threads", 1);
  v1_bound = bench_report_add_ratio (r, "handshake.v1.sequential/bound",
                                     "v1 sequential / RSA bound (1 core)",
                                     "handshake.v1.sequential", "crypto.bound.v1", 1);
  v1_conc_bound = bench_report_add_ratio (r, "handshake.v1.concurrent/bound",
                                          "v1 concurrent / RSA bound (2 x one core)",
                                          "handshake.v1.concurrent", "crypto.bound.v1", 2);
  bench_report_add_ratio (r, "handshake.v1.concurrent/bound.two_threads",
                          "v1 concurrent / RSA bound (2 threads at once)",
                          "handshake.v1.concurrent", "crypto.bound.v1.two_threads", 1);
  bench_report_add_ratio (r, "crypto.bound.v2.two_threads/bound",
                          "v2 crypto bound: 2 threads / one thread",
                          "crypto.bound.v2.two_threads", "crypto.bound.v2", 1);
  bench_report_add_ratio (r, "crypto.bound.v1.two_threads/bound",
                          "v1 crypto bound: 2 threads / one thread",
                          "crypto.bound.v1.two_threads", "crypto.bound.v1", 1);
  bench_report_add_ratio (r, "handshake.tls.sequential/bound", "TLS 1.3 sequential / v2 crypto bound (1 core)",
                          "handshake.tls.sequential", "crypto.bound.v2", 1);
  for (i = 0; i < G_N_ELEMENTS (throughput_sizes); i++)
    {
      gsize size = throughput_sizes[i];
      g_autofree char *v2 = g_strdup_printf ("throughput.v2.%" G_GSIZE_FORMAT, size);
      g_autofree char *v1 = g_strdup_printf ("throughput.v1.%" G_GSIZE_FORMAT, size);
      g_autofree char *tls = g_strdup_printf ("throughput.tls.%" G_GSIZE_FORMAT, size);
      g_autofree char *aes = g_strdup_printf ("throughput.aesgcm.%" G_GSIZE_FORMAT, size);
      g_autofree char *v2_tls_id = g_strdup_printf ("%s/tls", v2);
      g_autofree char *v2_aes_id = g_strdup_printf ("%s/aesgcm", v2);
      g_autofree char *v1_tls_id = g_strdup_printf ("%s/tls", v1);
      g_autofree char *v2_tls_label = g_strdup_printf ("v2 / TLS 1.3, %" G_GSIZE_FORMAT " B messages", size);
      g_autofree char *v2_aes_label = g_strdup_printf ("v2 / raw AES-256-GCM, %" G_GSIZE_FORMAT " B messages", size);
      g_autofree char *v1_tls_label = g_strdup_printf ("v1 / TLS 1.3, %" G_GSIZE_FORMAT " B messages", size);
      double to_tls = bench_report_add_ratio (r, v2_tls_id, v2_tls_label, v2, tls, 1);
      double to_aes = bench_report_add_ratio (r, v2_aes_id, v2_aes_label, v2, aes, 1);

      bench_report_add_ratio (r, v1_tls_id, v1_tls_label, v1, tls, 1);
      if (size == 65536)
        {
          bulk_tls = to_tls;
          bulk_aes = to_aes;
        }
      if (size == 100)
        small_tls = to_tls;
    }
  bench_report_add_ratio (r, "fanout.100/one-to-one", "fan-out to 100 / one-to-one",
                          "fanout.100", "fanout.one-to-one", 1);
  fanout = bench_report_add_ratio (r, "fanout.1000/one-to-one", "fan-out to 1000 / one-to-one",
                                   "fanout.1000", "fanout.one-to-one", 1);
  bench_report_add_ratio (r, "scale.handshake/empty",
                          "v2, no message: with idle sessions / without",
                          "scale.handshake.v2.sequential", "scale.handshake.v2.sequential.empty", 1);

  bench_report_add_target (r, "handshake.v2.sequential", "v2 sequential handshakes >= 2x TLS 1.3",
                           v2_tls, BENCH_AT_LEAST, 2.0);
  bench_report_add_target (r, "handshake.v2.concurrent", "v2 concurrent >= 50% of the two-core bound",
                           v2_conc_bound, BENCH_AT_LEAST, 0.5);
  bench_report_add_target (r, "handshake.v1.sequential", "v1 sequential >= 80% of its RSA bound",
                           v1_bound, BENCH_AT_LEAST, 0.8);
  bench_report_add_target (r, "handshake.v1.concurrent", "v1 concurrent >= 80% of its two-core RSA bound",
                           v1_conc_bound, BENCH_AT_LEAST, 0.8);
  bench_report_add_target (r, "throughput.64k.tls", "v2 64 KiB throughput >= 1.25x TLS 1.3 bulk",
                           bulk_tls, BENCH_AT_LEAST, 1.25);
  bench_report_add_target (r, "throughput.64k.aesgcm", "v2 64 KiB throughput >= 40% of raw AES-GCM",
                           bulk_aes, BENCH_AT_LEAST, 0.4);
  bench_report_add_target (r, "throughput.100.tls", "v2 100 B messages >= 0.5x TLS 1.3",
                           small_tls, BENCH_AT_LEAST, 0.5);
  bench_report_add_target (r, "fanout.1000", "fan-out to 1000 >= 50% of one-to-one",
                           fanout, BENCH_AT_LEAST, 0.5);
  bench_report_add_target (r, "scale.rss", "server RSS per idle session <= 10 KiB (bytes)",
                           rss ? bench_row_median (rss) : NAN, BENCH_AT_MOST, 10240);
  if (b->window != NULL)
    bench_report_merge_targets (r, b->window);
  else if (b->window_run)
    {
      bench_report_add_target (r, BENCH_WINDOW_STALL_TARGET, BENCH_WINDOW_STALL_LABEL, NAN,
                               BENCH_AT_MOST, BENCH_WINDOW_STALL_MAX_MS);
      bench_report_add_target (r, BENCH_WINDOW_RSS_TARGET, BENCH_WINDOW_RSS_LABEL, NAN,
                               BENCH_AT_MOST, NAN);
    }
}

/* ---- main ---- */

static void
describe_host (Bench *b,
               guint64 old_soft)
{
  struct utsname un;
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *date = g_date_time_format_iso8601 (now);
  g_autofree char *kernel = NULL;
  g_autofree char *glib = g_strdup_printf ("%u.%u.%u", glib_major_version, glib_minor_version,
                                           glib_micro_version);
  g_autofree char *nofile = NULL;

  uname (&un);
  kernel = g_strdup_printf ("%s %s %s", un.sysname, un.release, un.machine);
  nofile = old_soft == b->nofile
    ? g_strdup_printf ("RLIMIT_NOFILE %" G_GUINT64_FORMAT " (already the hard limit)", b->nofile)
    : g_strdup_printf ("RLIMIT_NOFILE raised from %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT
                       " (the hard limit)", old_soft, b->nofile);

  bench_report_set_meta (b->report, "program", "secure-chat-bench");
  bench_report_set_meta (b->report, "version", PACKAGE_VERSION);
  bench_report_set_meta (b->report, "mode", b->smoke ? "smoke" : "full");
  bench_report_set_meta (b->report, "date", date);
  bench_report_set_meta (b->report, "kernel", kernel);
  bench_report_set_meta (b->report, "openssl", OpenSSL_version (OPENSSL_VERSION));
  bench_report_set_meta (b->report, "glib", glib);
  bench_report_set_meta (b->report, "buildtype", BENCH_BUILDTYPE);
  bench_report_set_meta (b->report, "rlimit_nofile", nofile);
  bench_report_set_meta_int (b->report, "cpus", g_get_num_processors ());
  bench_report_set_meta_int (b->report, "rounds", b->rounds);
  bench_report_set_meta_int (b->report, "rlimit_nofile_soft", (gint64) b->nofile);
  bench_report_set_meta_int (b->report, "server_listen_backlog", SC_LISTEN_BACKLOG);

  printf ("secure-chat-bench %s (%s mode): loopback, %u CPUs, %s, %s, GLib %s, %s build\n",
          PACKAGE_VERSION, b->smoke ? "smoke" : "full", g_get_num_processors (), kernel,
          OpenSSL_version (OPENSSL_VERSION), glib, BENCH_BUILDTYPE);
  printf ("%s\n", nofile);
  printf ("%u rounds per row; figures are medians with the min – max over rounds\n", b->rounds);
  fflush (stdout);
}

static void
remove_dir (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);

      g_unlink (path);
    }
  g_rmdir (dir);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GOptionContext) context = NULL;
  g_autofree char *json = NULL;
  g_autofree char *only = NULL;
  int child_port = 0;
  double round_time = 1.0;
  int rounds = 0, sessions = 0;
  Bench b = { 0 };
  guint64 old_soft = 0;
  GOptionEntry entries[] = {
    { "smoke", 0, 0, G_OPTION_ARG_NONE, &b.smoke, "Every row with tiny counts (for CI)", NULL },
    { "json", 0, 0, G_OPTION_ARG_FILENAME, &json, "Write every figure to FILE", "FILE" },
    { "rounds", 0, 0, G_OPTION_ARG_INT, &rounds, "Rounds per row (default 5, smoke 3)", "N" },
    { "round-time", 0, 0, G_OPTION_ARG_DOUBLE, &round_time, "Seconds per round (default 1)", "S" },
    { "sessions", 0, 0, G_OPTION_ARG_INT, &sessions, "Idle sessions for the scale rows (default 10000)", "N" },
    { "only", 0, 0, G_OPTION_ARG_STRING, &only,
      "Comma-separated groups (crypto, handshake, throughput, fanout, scale, window) or "
      "row ids and their prefixes (handshake.v2)", "ROWS" },
    { "scale-child", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT, &child_port, NULL, NULL },
    { NULL }
  };

  context = g_option_context_new ("- measure Secure Chat against TLS 1.3 and its crypto bound");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (child_port > 0)
    return scale_child ((guint16) child_port);

  b.rounds = rounds > 0 ? (guint) rounds : b.smoke ? 3 : 5;
  b.round_time = round_time > 0 ? round_time : 1.0;
  b.sessions = sessions > 0 ? (guint) sessions : SCALE_SESSIONS_DEFAULT;
  b.only = only ? g_strsplit (only, ",", -1) : NULL;
  b.nofile = bench_raise_nofile (&old_soft);
  b.report = bench_report_new ();
  b.sink = bench_sink_new ();
  describe_host (&b, old_soft);

  bench_progress ("generating keys");
  b.trust_dir = g_dir_make_tmp ("sc-bench-XXXXXX", &error);
  if (b.trust_dir == NULL ||
      (b.trust = sc_trust_store_new (b.trust_dir, &error)) == NULL ||
      (b.server_identity = make_identity (&error)) == NULL ||
      (b.client_identity = make_identity (&error)) == NULL ||
      (b.tls = bench_tls_new (&error)) == NULL)
    {
      g_printerr ("secure-chat-bench: %s\n", error->message);
      return 1;
    }

  if (wants_group (&b, "crypto") || wants_group (&b, "handshake"))
    run_handshakes (&b, wants_group (&b, "crypto"), wants_group (&b, "handshake"));
  if (wants_group (&b, "throughput"))
    run_throughput (&b);
  if (wants_group (&b, "fanout"))
    run_fanout (&b);
  if (wants_group (&b, "scale"))
    run_scale (&b);
  if (wants_group (&b, "window"))
    run_window (&b);
  add_results (&b);

  bench_report_print (b.report, stdout);
  if (json != NULL && !bench_report_write_json (b.report, json, &error))
    {
      g_printerr ("secure-chat-bench: cannot write %s: %s\n", json, error->message);
      return 1;
    }

  bench_tls_free (b.tls);
  sc_identity_unref (b.server_identity);
  sc_identity_unref (b.client_identity);
  sc_trust_store_free (b.trust);
  remove_dir (b.trust_dir);
  g_free (b.trust_dir);
  bench_sink_free (b.sink);
  bench_report_free (b.report);
  g_strfreev (b.only);
  g_clear_pointer (&b.window, json_object_unref);
  return 0;
}
