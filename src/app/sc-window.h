/* sc-window.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "sc-application.h"

G_BEGIN_DECLS

#define SC_TYPE_WINDOW (sc_window_get_type ())

G_DECLARE_FINAL_TYPE (ScWindow, sc_window, SC, WINDOW, AdwApplicationWindow)

ScWindow *sc_window_new        (ScApplication *app);
/* A dialog in plain words, for errors the user must see */
void      sc_window_show_error (ScWindow      *self,
                                const char    *title,
                                const char    *message);
void      sc_window_show_toast (ScWindow      *self,
                                const char    *message);

G_END_DECLS
