/* sc-server.h: the chat server, on a thread and main context of its own
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "sc-keys.h"
#include "sc-protocol.h"
#include "sc-trust.h"

G_BEGIN_DECLS

#define SC_TYPE_SERVER (sc_server_get_type ())

G_DECLARE_FINAL_TYPE (ScServer, sc_server, SC, SERVER, GObject)

/* Signals are emitted on the main context that was the thread default when
 * sc_server_start() was called:
 *   listening            (guint port)
 *   client-connected     (guint id, const char *peer)
 *   client-ready         (guint id, guint protocol, const char *nickname,
 *                         const char *fingerprint, const char *code)
 *                        (code: the v2 session code, NULL for v1)
 *   message              (guint id, const char *nickname, const char *text)
 *   client-disconnected  (guint id, const char *reason)
 *   client-refused       (const char *peer, const char *reason)
 *                        (a connection closed at once, beyond "max-clients")
 *   accept-failed        (const char *error, guint retry_ms)
 *                        (accepting connections failed, out of open files
 *                        for instance; they wait in the kernel's queue and
 *                        the server tries again every retry_ms.  Emitted
 *                        once until an accept succeeds again.  An error
 *                        of one queued connection, reset by its peer say,
 *                        drops that connection alone and is not reported.)
 * Properties are set before start() and read any time; "port" holds the
 * bound port once listening (so port 0 picks a free one).  Join and leave
 * events go out only while the room has at most "presence-limit" clients.
 * With "idle-timeout" (milliseconds, 0 = never, the default) a ready client
 * that sends no complete frame for that long is sent Close and cut off. */
ScServer     *sc_server_new               (ScIdentity   *identity,
                                           ScTrustStore *trust);
/* Binds and starts the server thread; returns once it listens or failed */
gboolean      sc_server_start             (ScServer     *self,
                                           GError      **error);
/* Sends Close to every v2 session, closes all connections, joins the
 * thread.  The port is free again when this returns. */
void          sc_server_stop              (ScServer     *self);
gboolean      sc_server_get_running       (ScServer     *self);
guint16       sc_server_get_port          (ScServer     *self);
ScIdentity   *sc_server_get_identity      (ScServer     *self);
/* Closes one client's connection (from any thread) */
void          sc_server_disconnect_client (ScServer     *self,
                                           guint         id);
guint         sc_server_get_n_clients     (ScServer     *self);
/* While running: connections served at once, "max-clients" or fewer if
 * the open-file limit (raised as far as its hard limit allows) has no room
 * for them all */
guint         sc_server_get_connection_limit (ScServer  *self);

G_END_DECLS
