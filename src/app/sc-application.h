/* sc-application.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "sc-client.h"
#include "sc-server.h"

G_BEGIN_DECLS

#define SC_TYPE_APPLICATION (sc_application_get_type ())

G_DECLARE_FINAL_TYPE (ScApplication, sc_application, SC, APPLICATION, AdwApplication)

ScApplication *sc_application_new            (void);
/* NULL until the keys are loaded (they may be generated on first run) */
ScIdentity    *sc_application_get_identity   (ScApplication *self);
ScTrustStore  *sc_application_get_trust      (ScApplication *self);
ScServer      *sc_application_get_server     (ScApplication *self);
ScClient      *sc_application_get_client     (ScApplication *self);
GSettings     *sc_application_get_settings   (ScApplication *self);
const char    *sc_application_get_key_dir    (ScApplication *self);
/* A desktop notification of a message: @text, a peer's, shows as it is */
void           sc_application_notify_message (ScApplication *self,
                                              const char    *title,
                                              const char    *text);
/* Recomputes which actions are enabled */
void           sc_application_update_actions (ScApplication *self);

G_END_DECLS
