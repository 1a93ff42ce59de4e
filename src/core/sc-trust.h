/* sc-trust.h: pinned servers, the client allow-list and verified marks
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  SC_TRUST_NEW,        /* no key pinned for this host:port */
  SC_TRUST_PINNED,     /* the pinned key matches */
  SC_TRUST_VERIFIED,   /* pinned and marked verified by the user */
  SC_TRUST_CHANGED,    /* a different key is pinned: always refused */
  SC_TRUST_LEGACY,     /* v1: no server authentication at all */
} ScTrustState;

const char   *sc_trust_state_to_string (ScTrustState state);

typedef struct {
  char     *host_port;     /* "host:port", IPv6 as "[addr]:port" */
  char     *fingerprint;
  gboolean  verified;
} ScKnownServer;

void          sc_known_server_free        (ScKnownServer *server);

/* The three trust files in a key directory:
 *   known_servers        lines "host:port SHA256:..."
 *   authorized_clients   lines "SHA256:... [nickname]"
 *   verified_keys        lines "SHA256:..." (a mark belongs to the key)
 * Missing files are empty stores.  Each change re-reads the file, applies
 * the change and replaces the file atomically (mode 0600), so concurrent
 * processes never lose each other's entries.  A corrupt file is an error
 * naming the file and its line, and the file is left as it was.
 * Thread-safe. */
typedef struct _ScTrustStore ScTrustStore;

ScTrustStore *sc_trust_store_new          (const char   *key_dir,
                                           GError      **error);
void          sc_trust_store_free         (ScTrustStore *self);
/* Re-reads all three files (e.g. after another process changed them).  On
 * error the in-memory copy is kept as it was. */
gboolean      sc_trust_store_reload       (ScTrustStore *self,
                                           GError      **error);
const char   *sc_trust_store_get_key_dir  (ScTrustStore *self);

/* Normalises host (lowercase, IPv6 in brackets) and port into "host:port" */
char         *sc_trust_host_port          (const char   *host,
                                           guint16       port);

/* Client side */
ScTrustState  sc_trust_store_check_server (ScTrustStore *self,
                                           const char   *host_port,
                                           const char   *fingerprint);
/* The pinned fingerprint, or NULL */
char         *sc_trust_store_lookup_server (ScTrustStore *self,
                                            const char   *host_port);
/* Pins a key for a host that has none; SC_ERROR_KEY_CHANGED if a different
 * key is pinned (never replaced), success if the same key is. */
gboolean      sc_trust_store_pin_server   (ScTrustStore *self,
                                           const char   *host_port,
                                           const char   *fingerprint,
                                           GError      **error);
/* Removes the pin (and the key's verified mark if no other entry uses the
 * key).  G_IO_ERROR_NOT_FOUND if nothing is pinned for host_port. */
gboolean      sc_trust_store_forget_server (ScTrustStore *self,
                                            const char   *host_port,
                                            GError      **error);
/* ScKnownServer elements, in file order */
GPtrArray    *sc_trust_store_list_servers (ScTrustStore *self);

/* Verified marks (both sides) */
gboolean      sc_trust_store_is_verified  (ScTrustStore *self,
                                           const char   *fingerprint);
gboolean      sc_trust_store_mark_verified (ScTrustStore *self,
                                            const char   *fingerprint,
                                            GError      **error);

/* Server side allow-list.  Authorizing a key that is already listed changes
 * nothing (its nickname is kept).  The nickname may be NULL. */
gboolean      sc_trust_store_is_authorized (ScTrustStore *self,
                                            const char   *fingerprint);
/* "SHA256:... [nickname]" strings, in file order */
GPtrArray    *sc_trust_store_list_clients (ScTrustStore *self);
gboolean      sc_trust_store_authorize_client (ScTrustStore *self,
                                               const char   *fingerprint,
                                               const char   *nickname,
                                               GError      **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ScTrustStore, sc_trust_store_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ScKnownServer, sc_known_server_free)

G_END_DECLS
