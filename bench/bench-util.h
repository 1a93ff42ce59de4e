/* bench-util.h: timing, results, delivery counting and client crews for the benchmark
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdio.h>

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Monotonic time in seconds */
double       bench_now                (void);

/* ---- results: rows of per-round samples, ratios and targets ---- */

typedef struct {
  char    *id;              /* stable JSON key, e.g. "handshake.v2.sequential" */
  char    *group;           /* table section */
  char    *label;
  char    *unit;            /* of the samples, e.g. "handshakes/s" */
  GArray  *samples;         /* double, one per round */
  double   bytes_per_item;  /* > 0: MB/s (10^6 bytes) is derived from the samples */
  guint64  count;           /* work units per round */
  char    *note;
  char    *error;
  char    *skipped;         /* why the row was not measured (no display, ...) */
} BenchRow;

typedef enum {
  BENCH_AT_LEAST,
  BENCH_AT_MOST,
} BenchCompare;

typedef struct _BenchReport BenchReport;

BenchReport *bench_report_new          (void);
/* One "# ..." line on stderr, flushed: progress beside the results on stdout */
void         bench_progress            (const char   *format,
                                        ...) G_GNUC_PRINTF (1, 2);

void         bench_report_free         (BenchReport  *self);
void         bench_report_set_meta     (BenchReport  *self,
                                        const char   *key,
                                        const char   *value);
void         bench_report_set_meta_int (BenchReport  *self,
                                        const char   *key,
                                        gint64        value);
BenchRow    *bench_report_add_row      (BenchReport  *self,
                                        const char   *id,
                                        const char   *group,
                                        const char   *label,
                                        const char   *unit);
BenchRow    *bench_report_lookup       (BenchReport  *self,
                                        const char   *id);
/* median(num) / (den_factor * median(den)); NAN when either is missing */
double       bench_report_add_ratio    (BenchReport  *self,
                                        const char   *id,
                                        const char   *label,
                                        const char   *num_id,
                                        const char   *den_id,
                                        double        den_factor);
void         bench_report_add_target   (BenchReport  *self,
                                        const char   *id,
                                        const char   *label,
                                        double        value,
                                        BenchCompare  compare,
                                        double        threshold);
void         bench_report_print        (BenchReport  *self,
                                        FILE         *out);
gboolean     bench_report_write_json   (BenchReport  *self,
                                        const char   *path,
                                        GError      **error);
/* A top-level JSON member besides meta, rows, ratios and targets (takes
 * @node) */
void         bench_report_set_extra    (BenchReport  *self,
                                        const char   *key,
                                        JsonNode     *node);

/* Reading back what bench_report_write_json wrote (a child program's
 * report): the root object, then its rows and extra members, and
 * separately its targets (so they can follow the caller's own) */
JsonObject  *bench_report_read_json    (const char   *path,
                                        GError      **error);
void         bench_report_merge_rows   (BenchReport  *self,
                                        JsonObject   *root);
void         bench_report_merge_targets (BenchReport *self,
                                        JsonObject   *root);

void         bench_row_add_sample      (BenchRow     *row,
                                        double        value);
void         bench_row_set_error       (BenchRow     *row,
                                        const char   *message);
void         bench_row_set_skipped     (BenchRow     *row,
                                        const char   *reason);
void         bench_row_set_note        (BenchRow     *row,
                                        const char   *format,
                                        ...) G_GNUC_PRINTF (2, 3);
double       bench_row_median          (BenchRow     *row);
double       bench_row_min             (BenchRow     *row);
double       bench_row_max             (BenchRow     *row);

/* ---- the sink: messages delivered, counted per client slot ---- */

/* Every benchmark message starts with "b<slot> ": whoever receives it
 * (the server's "message" signal, the TLS server) delivers it here, and the
 * client that sent it waits for its slot's count to move. */
#define BENCH_MAX_SLOTS 64

typedef struct _BenchSink BenchSink;

BenchSink   *bench_sink_new            (void);
void         bench_sink_free           (BenchSink    *self);
void         bench_sink_reset          (BenchSink    *self);
void         bench_sink_deliver        (BenchSink    *self,
                                        const char   *text,
                                        gsize         len);
void         bench_sink_add_bytes      (BenchSink    *self,
                                        gsize         bytes);
guint64      bench_sink_get_messages   (BenchSink    *self);
gboolean     bench_sink_wait_slot      (BenchSink    *self,
                                        guint         slot,
                                        guint64       count,
                                        GError      **error);
gboolean     bench_sink_wait_messages  (BenchSink    *self,
                                        guint64       count,
                                        GError      **error);
gboolean     bench_sink_wait_bytes     (BenchSink    *self,
                                        guint64       bytes,
                                        GError      **error);

/* "b<slot> " padded with 'x' to exactly @size bytes (at least 16) */
char        *bench_message_text        (guint         slot,
                                        gsize         size);

/* ---- crews: client threads started together ---- */

typedef struct {
  guint    index;   /* 0 .. n_threads - 1, also the sink slot */
  guint64  done;    /* units this worker finished in this run */
  gpointer data;
} BenchWorker;

typedef gboolean (*BenchUnitFunc) (BenchWorker *worker,
                                   GError     **error);

/* Spreads @units calls of @func over @n_threads threads released at once,
 * iterating the default main context meanwhile (the server's signals are
 * emitted there).  *elapsed is from the release to the last unit's end. */
gboolean     bench_crew_run            (guint          n_threads,
                                        guint64        units,
                                        BenchUnitFunc  func,
                                        gpointer       data,
                                        double        *elapsed,
                                        GError       **error);

/* Iterates the default main context until *flag is set (by another
 * thread, which then wakes the context) or @timeout_s passes */
gboolean     bench_wait_flag           (const gint   *flag,
                                        double        timeout_s);

/* ---- the process ---- */

/* Resident set size from /proc/self/statm, in bytes */
gsize        bench_rss_bytes           (void);
/* Returns freed heap pages to the system, so RSS shows what is in use */
void         bench_trim_heap           (void);
/* Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the new soft
 * limit and stores the old one */
guint64      bench_raise_nofile        (guint64      *old_soft);

/* The deadline for any single wait: a stuck row fails instead of hanging */
#define BENCH_WAIT_TIMEOUT_S 60.0

G_END_DECLS
