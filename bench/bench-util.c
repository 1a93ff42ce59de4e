/* bench-util.c: timing, results, delivery counting and client crews for the benchmark
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "bench-util.h"

#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>
#include <json-glib/json-glib.h>

double
bench_now (void)
{
  return (double) g_get_monotonic_time () / G_USEC_PER_SEC;
}

/* ---- results ---- */

typedef struct {
  char   *id;
  char   *label;
  char   *num_id;
  char   *den_id;
  double  den_factor;
  double  value;
} Ratio;

typedef struct {
  char         *id;
  char         *label;
  double        value;
  BenchCompare  compare;
  double        threshold;
} Target;

struct _BenchReport {
  GPtrArray  *rows;     /* BenchRow, in the order they were added */
  GPtrArray  *ratios;
  GPtrArray  *targets;
  JsonObject *meta;
  JsonObject *extra;    /* more top-level members */
};

static void
row_free (BenchRow *row)
{
  g_free (row->id);
  g_free (row->group);
  g_free (row->label);
  g_free (row->unit);
  g_array_unref (row->samples);
  g_free (row->note);
  g_free (row->error);
  g_free (row->skipped);
  g_free (row);
}

static void
ratio_free (Ratio *ratio)
{
  g_free (ratio->id);
  g_free (ratio->label);
  g_free (ratio->num_id);
  g_free (ratio->den_id);
  g_free (ratio);
}

static void
target_free (Target *target)
{
  g_free (target->id);
  g_free (target->label);
  g_free (target);
}

BenchReport *
bench_report_new (void)
{
  BenchReport *self = g_new0 (BenchReport, 1);

  self->rows = g_ptr_array_new_with_free_func ((GDestroyNotify) row_free);
  self->ratios = g_ptr_array_new_with_free_func ((GDestroyNotify) ratio_free);
  self->targets = g_ptr_array_new_with_free_func ((GDestroyNotify) target_free);
  self->meta = json_object_new ();
  self->extra = json_object_new ();
  return self;
}

void
bench_progress (const char *format,
                ...)
{
  g_autofree char *text = NULL;
  va_list args;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  fprintf (stderr, "# %s\n", text);
  fflush (stderr);
}

void
bench_report_free (BenchReport *self)
{
  if (self == NULL)
    return;
  g_ptr_array_unref (self->rows);
  g_ptr_array_unref (self->ratios);
  g_ptr_array_unref (self->targets);
  json_object_unref (self->meta);
  json_object_unref (self->extra);
  g_free (self);
}

void
bench_report_set_meta (BenchReport *self,
                       const char  *key,
                       const char  *value)
{
  json_object_set_string_member (self->meta, key, value);
}

void
bench_report_set_meta_int (BenchReport *self,
                           const char  *key,
                           gint64       value)
{
  json_object_set_int_member (self->meta, key, value);
}

BenchRow *
bench_report_add_row (BenchReport *self,
                      const char  *id,
                      const char  *group,
                      const char  *label,
                      const char  *unit)
{
  BenchRow *row = g_new0 (BenchRow, 1);

  g_assert (bench_report_lookup (self, id) == NULL);
  row->id = g_strdup (id);
  row->group = g_strdup (group);
  row->label = g_strdup (label);
  row->unit = g_strdup (unit);
  row->samples = g_array_new (FALSE, FALSE, sizeof (double));
  g_ptr_array_add (self->rows, row);
  return row;
}

BenchRow *
bench_report_lookup (BenchReport *self,
                     const char  *id)
{
  guint i;

  for (i = 0; i < self->rows->len; i++)
    {
      BenchRow *row = g_ptr_array_index (self->rows, i);

      if (g_str_equal (row->id, id))
        return row;
    }
  return NULL;
}

void
bench_row_add_sample (BenchRow *row,
                      double    value)
{
  g_array_append_val (row->samples, value);
}

void
bench_row_set_error (BenchRow   *row,
                     const char *message)
{
  if (row->error == NULL)
    row->error = g_strdup (message);
}

void
bench_row_set_skipped (BenchRow   *row,
                       const char *reason)
{
  g_free (row->skipped);
  row->skipped = g_strdup (reason);
}

void
bench_row_set_note (BenchRow   *row,
                    const char *format,
                    ...)
{
  va_list args;

  g_free (row->note);
  va_start (args, format);
  row->note = g_strdup_vprintf (format, args);
  va_end (args);
}

static int
compare_doubles (gconstpointer a,
                 gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

double
bench_row_median (BenchRow *row)
{
  g_autoptr(GArray) sorted = NULL;
  guint n = row->samples->len;

  if (n == 0 || row->error != NULL || row->skipped != NULL)
    return NAN;
  sorted = g_array_copy (row->samples);
  g_array_sort (sorted, compare_doubles);
  if (n % 2 == 1)
    return g_array_index (sorted, double, n / 2);
  return (g_array_index (sorted, double, n / 2 - 1) + g_array_index (sorted, double, n / 2)) / 2;
}

double
bench_row_min (BenchRow *row)
{
  double min = INFINITY;
  guint i;

  if (row->samples->len == 0 || row->error != NULL || row->skipped != NULL)
    return NAN;
  for (i = 0; i < row->samples->len; i++)
    min = MIN (min, g_array_index (row->samples, double, i));
  return min;
}

double
bench_row_max (BenchRow *row)
{
  double max = -INFINITY;
  guint i;

  if (row->samples->len == 0 || row->error != NULL || row->skipped != NULL)
    return NAN;
  for (i = 0; i < row->samples->len; i++)
    max = MAX (max, g_array_index (row->samples, double, i));
  return max;
}

double
bench_report_add_ratio (BenchReport *self,
                        const char  *id,
                        const char  *label,
                        const char  *num_id,
                        const char  *den_id,
                        double       den_factor)
{
  BenchRow *num = bench_report_lookup (self, num_id);
  BenchRow *den = bench_report_lookup (self, den_id);
  Ratio *ratio = g_new0 (Ratio, 1);

  ratio->id = g_strdup (id);
  ratio->label = g_strdup (label);
  ratio->num_id = g_strdup (num_id);
  ratio->den_id = g_strdup (den_id);
  ratio->den_factor = den_factor;
  ratio->value = NAN;
  if (num != NULL && den != NULL)
    ratio->value = bench_row_median (num) / (den_factor * bench_row_median (den));
  g_ptr_array_add (self->ratios, ratio);
  return ratio->value;
}

void
bench_report_add_target (BenchReport  *self,
                         const char   *id,
                         const char   *label,
                         double        value,
                         BenchCompare  compare,
                         double        threshold)
{
  Target *target = g_new0 (Target, 1);

  target->id = g_strdup (id);
  target->label = g_strdup (label);
  target->value = value;
  target->compare = compare;
  target->threshold = threshold;
  g_ptr_array_add (self->targets, target);
}

static gboolean
target_passes (Target *target)
{
  if (isnan (target->value))
    return FALSE;
  if (target->compare == BENCH_AT_LEAST)
    return target->value >= target->threshold;
  return target->value <= target->threshold;
}

/* Three significant digits or so, without exponents */
static char *
format_number (double value)
{
  double mag = fabs (value);

  if (isnan (value))
    return g_strdup ("n/a");
  if (mag >= 100)
    return g_strdup_printf ("%.0f", value);
  if (mag >= 10)
    return g_strdup_printf ("%.1f", value);
  if (mag >= 1)
    return g_strdup_printf ("%.2f", value);
  return g_strdup_printf ("%.3f", value);
}

static void
print_row (BenchRow *row,
           FILE     *out)
{
  g_autofree char *median = format_number (bench_row_median (row));
  g_autofree char *min = format_number (bench_row_min (row));
  g_autofree char *max = format_number (bench_row_max (row));
  g_autofree char *range = g_strdup_printf ("%s – %s", min, max);
  g_autofree char *mb = NULL;

  if (row->error != NULL)
    {
      fprintf (out, "  %-44s ERROR: %s\n", row->label, row->error);
      return;
    }
  if (row->skipped != NULL)
    {
      fprintf (out, "  %-44s skipped: %s\n", row->label, row->skipped);
      return;
    }
  if (row->bytes_per_item > 0)
    mb = format_number (bench_row_median (row) * row->bytes_per_item / 1e6);
  /* "–" is three bytes but one column */
  fprintf (out, "  %-44s %12s  %-26s %-14s %10s\n", row->label, median, range, row->unit,
           mb ? mb : "");
}

void
bench_report_print (BenchReport *self,
                    FILE        *out)
{
  const char *group = NULL;
  gboolean any_mb = FALSE;
  guint i;

  for (i = 0; i < self->rows->len; i++)
    any_mb |= ((BenchRow *) g_ptr_array_index (self->rows, i))->bytes_per_item > 0;

  fprintf (out, "\n  %-44s %12s  %-24s %-14s %10s\n", "", "median", "min – max", "unit",
           any_mb ? "MB/s" : "");
  for (i = 0; i < self->rows->len; i++)
    {
      BenchRow *row = g_ptr_array_index (self->rows, i);

      if (group == NULL || !g_str_equal (group, row->group))
        {
          group = row->group;
          fprintf (out, "%s\n", group);
        }
      print_row (row, out);
    }

  fprintf (out, "\nRatios (of medians)\n");
  for (i = 0; i < self->ratios->len; i++)
    {
      Ratio *ratio = g_ptr_array_index (self->ratios, i);
      g_autofree char *value = format_number (ratio->value);

      fprintf (out, "  %-64s %8s\n", ratio->label, value);
    }

  fprintf (out, "\nTargets\n");
  for (i = 0; i < self->targets->len; i++)
    {
      Target *target = g_ptr_array_index (self->targets, i);
      g_autofree char *value = format_number (target->value);
      g_autofree char *threshold = format_number (target->threshold);

      fprintf (out, "  %s  %-56s %8s %s %s\n",
               isnan (target->value) ? "n/a " : target_passes (target) ? "PASS" : "MISS",
               target->label, value, target->compare == BENCH_AT_LEAST ? ">=" : "<=", threshold);
    }
}

static void
add_double (JsonBuilder *b,
            const char  *name,
            double       value)
{
  json_builder_set_member_name (b, name);
  if (isnan (value) || isinf (value))
    json_builder_add_null_value (b);
  else
    json_builder_add_double_value (b, value);
}

static void
add_string (JsonBuilder *b,
            const char  *name,
            const char  *value)
{
  json_builder_set_member_name (b, name);
  if (value == NULL)
    json_builder_add_null_value (b);
  else
    json_builder_add_string_value (b, value);
}

static void
build_row (JsonBuilder *b,
           BenchRow    *row)
{
  guint i;

  json_builder_begin_object (b);
  add_string (b, "id", row->id);
  add_string (b, "group", row->group);
  add_string (b, "label", row->label);
  add_string (b, "unit", row->unit);
  add_double (b, "median", bench_row_median (row));
  add_double (b, "min", bench_row_min (row));
  add_double (b, "max", bench_row_max (row));
  json_builder_set_member_name (b, "samples");
  json_builder_begin_array (b);
  for (i = 0; i < row->samples->len; i++)
    json_builder_add_double_value (b, g_array_index (row->samples, double, i));
  json_builder_end_array (b);
  json_builder_set_member_name (b, "rounds");
  json_builder_add_int_value (b, row->samples->len);
  json_builder_set_member_name (b, "count_per_round");
  json_builder_add_int_value (b, (gint64) row->count);
  if (row->bytes_per_item > 0)
    {
      json_builder_set_member_name (b, "bytes_per_item");
      json_builder_add_double_value (b, row->bytes_per_item);
      json_builder_set_member_name (b, "mb_per_s");
      json_builder_begin_object (b);
      add_double (b, "median", bench_row_median (row) * row->bytes_per_item / 1e6);
      add_double (b, "min", bench_row_min (row) * row->bytes_per_item / 1e6);
      add_double (b, "max", bench_row_max (row) * row->bytes_per_item / 1e6);
      json_builder_end_object (b);
    }
  add_string (b, "note", row->note);
  add_string (b, "error", row->error);
  add_string (b, "skipped", row->skipped);
  json_builder_end_object (b);
}

gboolean
bench_report_write_json (BenchReport *self,
                         const char  *path,
                         GError     **error)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(JsonNode) meta = json_node_new (JSON_NODE_OBJECT);
  g_autoptr(GList) members = json_object_get_members (self->extra);
  GList *l;
  guint i;

  json_node_set_object (meta, self->meta);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "meta");
  json_builder_add_value (b, g_steal_pointer (&meta));

  json_builder_set_member_name (b, "rows");
  json_builder_begin_array (b);
  for (i = 0; i < self->rows->len; i++)
    build_row (b, g_ptr_array_index (self->rows, i));
  json_builder_end_array (b);

  json_builder_set_member_name (b, "ratios");
  json_builder_begin_array (b);
  for (i = 0; i < self->ratios->len; i++)
    {
      Ratio *ratio = g_ptr_array_index (self->ratios, i);

      json_builder_begin_object (b);
      add_string (b, "id", ratio->id);
      add_string (b, "label", ratio->label);
      add_string (b, "numerator", ratio->num_id);
      add_string (b, "denominator", ratio->den_id);
      add_double (b, "denominator_factor", ratio->den_factor);
      add_double (b, "value", ratio->value);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);

  json_builder_set_member_name (b, "targets");
  json_builder_begin_array (b);
  for (i = 0; i < self->targets->len; i++)
    {
      Target *target = g_ptr_array_index (self->targets, i);

      json_builder_begin_object (b);
      add_string (b, "id", target->id);
      add_string (b, "label", target->label);
      add_double (b, "value", target->value);
      add_string (b, "compare", target->compare == BENCH_AT_LEAST ? ">=" : "<=");
      add_double (b, "threshold", target->threshold);
      json_builder_set_member_name (b, "pass");
      if (isnan (target->value))
        json_builder_add_null_value (b);
      else
        json_builder_add_boolean_value (b, target_passes (target));
      json_builder_end_object (b);
    }
  json_builder_end_array (b);

  for (l = members; l != NULL; l = l->next)
    {
      json_builder_set_member_name (b, l->data);
      json_builder_add_value (b, json_node_copy (json_object_get_member (self->extra, l->data)));
    }
  json_builder_end_object (b);

  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  return json_generator_to_file (gen, path, error);
}

void
bench_report_set_extra (BenchReport *self,
                        const char  *key,
                        JsonNode    *node)
{
  json_object_set_member (self->extra, key, node);
}

JsonObject *
bench_report_read_json (const char  *path,
                        GError     **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonNode *root;

  if (!json_parser_load_from_file (parser, path, error))
    return NULL;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s holds no report", path);
      return NULL;
    }
  return json_object_ref (json_node_get_object (root));
}

/* NAN for null and anything else that is not a number */
static double
member_double (JsonObject *object,
               const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || json_node_get_value_type (node) == G_TYPE_INVALID ||
      (json_node_get_value_type (node) != G_TYPE_DOUBLE &&
       json_node_get_value_type (node) != G_TYPE_INT64))
    return NAN;
  return json_node_get_double (node);
}

static const char *
member_string (JsonObject *object,
               const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static JsonArray *
member_array (JsonObject *object,
              const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  return node != NULL && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
}

void
bench_report_merge_rows (BenchReport *self,
                         JsonObject  *root)
{
  static const char *known[] = { "meta", "rows", "ratios", "targets", NULL };
  JsonArray *rows = member_array (root, "rows");
  g_autoptr(GList) members = json_object_get_members (root);
  GList *l;
  guint i, j;

  for (i = 0; rows != NULL && i < json_array_get_length (rows); i++)
    {
      JsonObject *in = json_array_get_object_element (rows, i);
      JsonArray *samples = in ? member_array (in, "samples") : NULL;
      const char *id = in ? member_string (in, "id") : NULL;
      BenchRow *row;
      double value;

      if (id == NULL || bench_report_lookup (self, id) != NULL)
        continue;
      row = bench_report_add_row (self, id, member_string (in, "group"),
                                  member_string (in, "label"), member_string (in, "unit"));
      for (j = 0; samples != NULL && j < json_array_get_length (samples); j++)
        bench_row_add_sample (row, json_array_get_double_element (samples, j));
      value = member_double (in, "count_per_round");
      row->count = isnan (value) ? 0 : (guint64) value;
      value = member_double (in, "bytes_per_item");
      row->bytes_per_item = isnan (value) ? 0 : value;
      row->note = g_strdup (member_string (in, "note"));
      row->error = g_strdup (member_string (in, "error"));
      row->skipped = g_strdup (member_string (in, "skipped"));
    }
  for (l = members; l != NULL; l = l->next)
    if (!g_strv_contains (known, l->data))
      json_object_set_member (self->extra, l->data,
                              json_node_copy (json_object_get_member (root, l->data)));
}

void
bench_report_merge_targets (BenchReport *self,
                            JsonObject  *root)
{
  JsonArray *targets = member_array (root, "targets");
  guint i;

  for (i = 0; targets != NULL && i < json_array_get_length (targets); i++)
    {
      JsonObject *in = json_array_get_object_element (targets, i);
      const char *compare;

      if (in == NULL || member_string (in, "id") == NULL)
        continue;
      compare = member_string (in, "compare");
      bench_report_add_target (self, member_string (in, "id"), member_string (in, "label"),
                               member_double (in, "value"),
                               g_strcmp0 (compare, ">=") == 0 ? BENCH_AT_LEAST : BENCH_AT_MOST,
                               member_double (in, "threshold"));
    }
}

/* ---- the sink ---- */

/* One condition for the totals and one per slot: with a single one, each
 * delivery would wake every waiting client thread to find it was not its
 * message (32 wakeups per handshake in the concurrent rows).  A condition
 * is signalled only while someone waits on it: GLib's GCond makes a futex
 * call on every signal, and a streaming row delivers ~10^5 messages a
 * second on the thread being measured. */
struct _BenchSink {
  GMutex   mutex;
  GCond    cond;
  GCond    slot_cond[BENCH_MAX_SLOTS];
  guint64  messages;
  guint64  bytes;
  guint64  slots[BENCH_MAX_SLOTS];
  guint    waiters;
  guint    slot_waiters[BENCH_MAX_SLOTS];
};

BenchSink *
bench_sink_new (void)
{
  BenchSink *self = g_new0 (BenchSink, 1);

  g_mutex_init (&self->mutex);
  g_cond_init (&self->cond);
  for (guint i = 0; i < BENCH_MAX_SLOTS; i++)
    g_cond_init (&self->slot_cond[i]);
  return self;
}

void
bench_sink_free (BenchSink *self)
{
  if (self == NULL)
    return;
  g_mutex_clear (&self->mutex);
  g_cond_clear (&self->cond);
  for (guint i = 0; i < BENCH_MAX_SLOTS; i++)
    g_cond_clear (&self->slot_cond[i]);
  g_free (self);
}

void
bench_sink_reset (BenchSink *self)
{
  g_mutex_lock (&self->mutex);
  self->messages = 0;
  self->bytes = 0;
  memset (self->slots, 0, sizeof self->slots);
  g_mutex_unlock (&self->mutex);
}

void
bench_sink_deliver (BenchSink  *self,
                    const char *text,
                    gsize       len)
{
  guint64 slot = BENCH_MAX_SLOTS;

  if (len > 1 && text[0] == 'b')
    slot = g_ascii_strtoull (text + 1, NULL, 10);
  g_mutex_lock (&self->mutex);
  self->messages++;
  self->bytes += len;
  if (slot < BENCH_MAX_SLOTS)
    {
      self->slots[slot]++;
      if (self->slot_waiters[slot] > 0)
        g_cond_signal (&self->slot_cond[slot]);
    }
  if (self->waiters > 0)
    g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->mutex);
}

void
bench_sink_add_bytes (BenchSink *self,
                      gsize      bytes)
{
  g_mutex_lock (&self->mutex);
  self->bytes += bytes;
  if (self->waiters > 0)
    g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->mutex);
}

guint64
bench_sink_get_messages (BenchSink *self)
{
  guint64 n;

  g_mutex_lock (&self->mutex);
  n = self->messages;
  g_mutex_unlock (&self->mutex);
  return n;
}

/* Waits until *counter reaches @target, under the sink's mutex */
static gboolean
sink_wait (BenchSink     *self,
           GCond         *cond,
           guint         *waiters,
           const guint64 *counter,
           guint64        target,
           const char    *what,
           GError       **error)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) (BENCH_WAIT_TIMEOUT_S * G_USEC_PER_SEC);
  gboolean ok = TRUE;

  g_mutex_lock (&self->mutex);
  (*waiters)++;
  while (*counter < target && ok)
    ok = g_cond_wait_until (cond, &self->mutex, deadline);
  (*waiters)--;
  if (*counter < target)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                 "Timed out waiting for %s: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT,
                 what, *counter, target);
  ok = *counter >= target;
  g_mutex_unlock (&self->mutex);
  return ok;
}

gboolean
bench_sink_wait_slot (BenchSink *self,
                      guint      slot,
                      guint64    count,
                      GError   **error)
{
  g_return_val_if_fail (slot < BENCH_MAX_SLOTS, FALSE);
  return sink_wait (self, &self->slot_cond[slot], &self->slot_waiters[slot], &self->slots[slot], count,
                    "the message to arrive", error);
}

gboolean
bench_sink_wait_messages (BenchSink *self,
                          guint64    count,
                          GError   **error)
{
  return sink_wait (self, &self->cond, &self->waiters, &self->messages, count, "messages to arrive", error);
}

gboolean
bench_sink_wait_bytes (BenchSink *self,
                       guint64    bytes,
                       GError   **error)
{
  return sink_wait (self, &self->cond, &self->waiters, &self->bytes, bytes, "bytes to arrive", error);
}

char *
bench_message_text (guint slot,
                    gsize size)
{
  g_autofree char *prefix = g_strdup_printf ("b%u ", slot);
  char *text;

  size = MAX (size, 16);
  text = g_malloc (size + 1);
  memset (text, 'x', size);
  memcpy (text, prefix, strlen (prefix));
  text[size] = '\0';
  return text;
}

/* ---- crews ---- */

typedef struct {
  BenchUnitFunc  func;
  gpointer       data;
  guint          n_threads;
  gint           remaining;    /* atomic: units not yet claimed */
  gint           finished;     /* atomic: threads done */

  GMutex         mutex;
  GCond          cond;
  gboolean       released;
  double         start;
  double         end;          /* the last unit's end, under the mutex */
  GError        *error;        /* the first failure, under the mutex */
} Crew;

typedef struct {
  Crew        *crew;
  BenchWorker  worker;
} CrewThread;

static gpointer
crew_thread (gpointer data)
{
  CrewThread *t = data;
  Crew *crew = t->crew;
  GError *error = NULL;

  g_mutex_lock (&crew->mutex);
  while (!crew->released)
    g_cond_wait (&crew->cond, &crew->mutex);
  g_mutex_unlock (&crew->mutex);

  while (g_atomic_int_add (&crew->remaining, -1) > 0)
    {
      if (!crew->func (&t->worker, &error))
        {
          g_atomic_int_set (&crew->remaining, 0);
          break;
        }
      t->worker.done++;
    }

  g_mutex_lock (&crew->mutex);
  crew->end = MAX (crew->end, bench_now ());
  if (error != NULL && crew->error == NULL)
    crew->error = g_steal_pointer (&error);
  g_mutex_unlock (&crew->mutex);
  g_clear_error (&error);

  g_atomic_int_inc (&crew->finished);
  g_main_context_wakeup (NULL);
  return NULL;
}

gboolean
bench_crew_run (guint          n_threads,
                guint64        units,
                BenchUnitFunc  func,
                gpointer       data,
                double        *elapsed,
                GError       **error)
{
  Crew crew = { 0 };
  g_autofree CrewThread *threads = g_new0 (CrewThread, n_threads);
  g_autofree GThread **handles = g_new0 (GThread *, n_threads);
  guint i;

  crew.func = func;
  crew.data = data;
  crew.n_threads = n_threads;
  crew.remaining = (gint) MIN (units, (guint64) G_MAXINT);
  g_mutex_init (&crew.mutex);
  g_cond_init (&crew.cond);

  for (i = 0; i < n_threads; i++)
    {
      threads[i].crew = &crew;
      threads[i].worker.index = i;
      threads[i].worker.data = data;
      handles[i] = g_thread_new ("bench-client", crew_thread, &threads[i]);
    }

  g_mutex_lock (&crew.mutex);
  crew.start = bench_now ();
  crew.released = TRUE;
  g_cond_broadcast (&crew.cond);
  g_mutex_unlock (&crew.mutex);

  while (g_atomic_int_get (&crew.finished) < (gint) n_threads)
    g_main_context_iteration (NULL, TRUE);
  for (i = 0; i < n_threads; i++)
    g_thread_join (handles[i]);
  /* signals queued by the last units */
  while (g_main_context_iteration (NULL, FALSE))
    ;

  *elapsed = crew.end - crew.start;
  g_mutex_clear (&crew.mutex);
  g_cond_clear (&crew.cond);
  if (crew.error != NULL)
    {
      g_propagate_error (error, crew.error);
      return FALSE;
    }
  return TRUE;
}

static gboolean
on_wait_timeout (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

gboolean
bench_wait_flag (const gint *flag,
                 double      timeout_s)
{
  gboolean expired = FALSE;
  guint id = g_timeout_add ((guint) (timeout_s * 1000), on_wait_timeout, &expired);

  while (!g_atomic_int_get (flag) && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (id);
  return g_atomic_int_get (flag);
}

/* ---- the process ---- */

gsize
bench_rss_bytes (void)
{
  g_autofree char *text = NULL;
  unsigned long size = 0, resident = 0;

  if (!g_file_get_contents ("/proc/self/statm", &text, NULL, NULL) ||
      sscanf (text, "%lu %lu", &size, &resident) != 2)
    return 0;
  return (gsize) resident * (gsize) sysconf (_SC_PAGESIZE);
}

void
bench_trim_heap (void)
{
  malloc_trim (0);
}

guint64
bench_raise_nofile (guint64 *old_soft)
{
  struct rlimit limit;

  if (getrlimit (RLIMIT_NOFILE, &limit) != 0)
    return 0;
  *old_soft = limit.rlim_cur;
  if (limit.rlim_cur < limit.rlim_max)
    {
      limit.rlim_cur = limit.rlim_max;
      if (setrlimit (RLIMIT_NOFILE, &limit) != 0)
        g_warning ("Cannot raise RLIMIT_NOFILE: %s", g_strerror (errno));
      getrlimit (RLIMIT_NOFILE, &limit);
    }
  return limit.rlim_cur;
}

