/* sc-log-view.h: a read-only, bounded, batched log of lines
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define SC_TYPE_LOG_VIEW (sc_log_view_get_type ())

G_DECLARE_FINAL_TYPE (ScLogView, sc_log_view, SC, LOG_VIEW, GtkWidget)

/* Queues a line; lines reach the text view in batches, at most a few
 * times a second, so a flood never stalls the main loop.  Past
 * "max-lines" the oldest lines go. */
void       sc_log_view_append     (ScLogView  *self,
                                   const char *line);
void       sc_log_view_clear      (ScLogView  *self);
guint      sc_log_view_get_n_lines (ScLogView *self);
GtkTextView *sc_log_view_get_text_view (ScLogView *self);

G_END_DECLS
