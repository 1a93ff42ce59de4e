/* bench-window.h: the window rows (row 5 of issue 6), shared by
 * secure-chat-bench-window, which measures them, and secure-chat-bench,
 * which runs it as a child and marks them skipped without a display
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define BENCH_WINDOW_PROGRAM  "secure-chat-bench-window"
#define BENCH_WINDOW_GROUP    "Window (ScWindow on a display: a flood of messages into its server log)"

typedef struct {
  const char *id;
  const char *label;
  const char *unit;
} BenchWindowRow;

static const BenchWindowRow bench_window_rows[] = {
  { "window.flood.stall_max",    "longest main-loop stall",          "ms" },
  { "window.flood.stall_p99",    "timer lateness, 99th percentile",  "ms" },
  { "window.flood.stall_median", "timer lateness, median",           "ms" },
  { "window.flood.delivered",    "lines delivered (message signal)", "lines" },
  { "window.flood.view_lines",   "lines in the log view at the end", "lines" },
  { "window.flood.rss_before",   "RSS before the flood",             "MiB" },
  { "window.flood.rss_peak",     "RSS at the peak",                  "MiB" },
  { "window.flood.rss_end",      "RSS at the end",                   "MiB" },
};

#define BENCH_WINDOW_STALL_TARGET     "window.stall"
#define BENCH_WINDOW_STALL_LABEL      "window: longest main-loop stall in the flood <= 50 ms"
#define BENCH_WINDOW_STALL_MAX_MS     50.0
#define BENCH_WINDOW_RSS_TARGET       "window.rss"
#define BENCH_WINDOW_RSS_LABEL        "window: RSS growth <= max-lines x 2 KiB (MiB)"

G_END_DECLS
