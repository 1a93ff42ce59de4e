/* sc-log-view.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "sc-log-view.h"

#include <string.h>

#define FLUSH_INTERVAL_MS 100
#define MAX_LINES_DEFAULT 5000
/* a batch never inserts more than this, however many lines are waiting */
#define MAX_BATCH         2000

struct _ScLogView {
  GtkWidget          parent_instance;

  GtkScrolledWindow *scrolled;
  GtkTextView       *text_view;
  GtkTextBuffer     *buffer;
  GString           *pending;     /* lines waiting for the next batch */
  gsize              head;        /* pending's first line starts here */
  guint              n_pending;
  guint              n_lines;
  guint              max_lines;
  guint              flush_id;
  gboolean           follow;      /* the user is at the bottom */
  char              *label;
};

enum {
  PROP_0,
  PROP_MAX_LINES,
  PROP_LABEL,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (ScLogView, sc_log_view, GTK_TYPE_WIDGET)

static void
on_adjustment_changed (GtkAdjustment *adj,
                       ScLogView     *self)
{
  double bottom = gtk_adjustment_get_upper (adj) - gtk_adjustment_get_page_size (adj);

  /* within a line of the end counts as following the log */
  self->follow = gtk_adjustment_get_value (adj) >= bottom - 24;
}

static void
trim (ScLogView *self)
{
  GtkTextIter start, cut;
  guint extra;

  if (self->n_lines <= self->max_lines)
    return;
  extra = self->n_lines - self->max_lines;
  gtk_text_buffer_get_start_iter (self->buffer, &start);
  gtk_text_buffer_get_iter_at_line (self->buffer, &cut, (int) extra);
  gtk_text_buffer_delete (self->buffer, &start, &cut);
  self->n_lines = self->max_lines;
}

static gboolean
flush (gpointer data)
{
  ScLogView *self = data;
  GtkTextIter end;
  gboolean follow = self->follow;

  self->flush_id = 0;
  if (self->n_pending == 0)
    return G_SOURCE_REMOVE;

  gtk_text_buffer_get_end_iter (self->buffer, &end);
  gtk_text_buffer_insert (self->buffer, &end, self->pending->str + self->head,
                          (int) (self->pending->len - self->head));
  self->n_lines += self->n_pending;
  g_string_truncate (self->pending, 0);
  self->head = 0;
  self->n_pending = 0;
  trim (self);

  if (follow)
    {
      GtkTextMark *mark = gtk_text_buffer_get_insert (self->buffer);

      gtk_text_buffer_get_end_iter (self->buffer, &end);
      gtk_text_buffer_place_cursor (self->buffer, &end);
      gtk_text_view_scroll_mark_onscreen (self->text_view, mark);
    }
  return G_SOURCE_REMOVE;
}

void
sc_log_view_append (ScLogView  *self,
                    const char *line)
{
  g_return_if_fail (SC_IS_LOG_VIEW (self));

  /* lines beyond what the view keeps would be trimmed at once: drop the
   * oldest queued ones now so memory stays bounded during a flood */
  if (self->n_pending >= MAX (self->max_lines, MAX_BATCH))
    {
      const char *nl = strchr (self->pending->str + self->head, '\n');

      self->head = nl - self->pending->str + 1;
      self->n_pending--;
      /* compact now and then: amortised O(1) a line */
      if (self->head > self->pending->len / 2)
        {
          g_string_erase (self->pending, 0, self->head);
          self->head = 0;
        }
    }
  g_string_append (self->pending, line);
  g_string_append_c (self->pending, '\n');
  self->n_pending++;
  if (self->flush_id == 0)
    self->flush_id = g_timeout_add (FLUSH_INTERVAL_MS, flush, self);
}

void
sc_log_view_clear (ScLogView *self)
{
  g_return_if_fail (SC_IS_LOG_VIEW (self));

  gtk_text_buffer_set_text (self->buffer, "", 0);
  g_string_truncate (self->pending, 0);
  self->head = 0;
  self->n_pending = 0;
  self->n_lines = 0;
}

guint
sc_log_view_get_n_lines (ScLogView *self)
{
  return self->n_lines + self->n_pending;
}

GtkTextView *
sc_log_view_get_text_view (ScLogView *self)
{
  return self->text_view;
}

static void
sc_log_view_dispose (GObject *object)
{
  ScLogView *self = SC_LOG_VIEW (object);

  g_clear_handle_id (&self->flush_id, g_source_remove);
  g_clear_pointer ((GtkWidget **) &self->scrolled, gtk_widget_unparent);
  G_OBJECT_CLASS (sc_log_view_parent_class)->dispose (object);
}

static void
sc_log_view_finalize (GObject *object)
{
  ScLogView *self = SC_LOG_VIEW (object);

  g_string_free (self->pending, TRUE);
  g_free (self->label);
  G_OBJECT_CLASS (sc_log_view_parent_class)->finalize (object);
}

static void
sc_log_view_get_property (GObject    *object,
                          guint       prop_id,
                          GValue     *value,
                          GParamSpec *pspec)
{
  ScLogView *self = SC_LOG_VIEW (object);

  switch (prop_id)
    {
    case PROP_MAX_LINES:
      g_value_set_uint (value, self->max_lines);
      break;
    case PROP_LABEL:
      g_value_set_string (value, self->label);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
sc_log_view_set_property (GObject      *object,
                          guint         prop_id,
                          const GValue *value,
                          GParamSpec   *pspec)
{
  ScLogView *self = SC_LOG_VIEW (object);

  switch (prop_id)
    {
    case PROP_MAX_LINES:
      if (self->max_lines != g_value_get_uint (value))
        {
          self->max_lines = g_value_get_uint (value);
          trim (self);
          g_object_notify_by_pspec (object, pspec);
        }
      break;
    case PROP_LABEL:
      if (g_strcmp0 (self->label, g_value_get_string (value)) != 0)
        {
          g_free (self->label);
          self->label = g_value_dup_string (value);
          /* the text view is what screen readers and tests find */
          gtk_accessible_update_property (GTK_ACCESSIBLE (self->text_view),
                                          GTK_ACCESSIBLE_PROPERTY_LABEL, self->label, -1);
          g_object_notify_by_pspec (object, pspec);
        }
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
sc_log_view_class_init (ScLogViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = sc_log_view_dispose;
  object_class->finalize = sc_log_view_finalize;
  object_class->get_property = sc_log_view_get_property;
  object_class->set_property = sc_log_view_set_property;

  properties[PROP_MAX_LINES] =
    g_param_spec_uint ("max-lines", NULL, NULL, 10, G_MAXINT, MAX_LINES_DEFAULT,
                       G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  properties[PROP_LABEL] =
    g_param_spec_string ("label", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void
sc_log_view_init (ScLogView *self)
{
  GtkAdjustment *vadj;

  self->max_lines = MAX_LINES_DEFAULT;
  self->pending = g_string_new (NULL);
  self->follow = TRUE;

  self->scrolled = GTK_SCROLLED_WINDOW (gtk_scrolled_window_new ());
  gtk_widget_set_parent (GTK_WIDGET (self->scrolled), GTK_WIDGET (self));
  gtk_widget_set_vexpand (GTK_WIDGET (self->scrolled), TRUE);
  gtk_widget_add_css_class (GTK_WIDGET (self->scrolled), "card");

  self->text_view = GTK_TEXT_VIEW (gtk_text_view_new ());
  gtk_text_view_set_editable (self->text_view, FALSE);
  gtk_text_view_set_cursor_visible (self->text_view, FALSE);
  gtk_text_view_set_wrap_mode (self->text_view, GTK_WRAP_WORD_CHAR);
  gtk_text_view_set_monospace (self->text_view, TRUE);
  gtk_text_view_set_left_margin (self->text_view, 8);
  gtk_text_view_set_right_margin (self->text_view, 8);
  gtk_text_view_set_top_margin (self->text_view, 6);
  gtk_text_view_set_bottom_margin (self->text_view, 6);
  self->buffer = gtk_text_view_get_buffer (self->text_view);
  gtk_text_buffer_set_enable_undo (self->buffer, FALSE);
  gtk_scrolled_window_set_child (self->scrolled, GTK_WIDGET (self->text_view));

  vadj = gtk_scrolled_window_get_vadjustment (self->scrolled);
  g_signal_connect_object (vadj, "value-changed", G_CALLBACK (on_adjustment_changed), self, 0);
}
