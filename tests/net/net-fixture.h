/* net-fixture.h: servers, clients and waiting, for the network tests
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <string.h>

#include <glib/gstdio.h>

#include "sc-client.h"
#include "sc-crypto.h"
#include "sc-server.h"

/* Generating RSA keys is slow: a few identities serve all tests */
static inline ScIdentity *
fixture_identity (guint n)
{
  static ScIdentity *ids[6];

  g_assert_cmpuint (n, <, G_N_ELEMENTS (ids));
  if (ids[n] == NULL)
    {
      g_autoptr(EVP_PKEY) rsa = sc_rsa_generate (NULL);
      g_autoptr(EVP_PKEY) ed = sc_ed25519_generate (NULL);

      ids[n] = sc_identity_new (rsa, ed, NULL);
      g_assert_nonnull (ids[n]);
    }
  return ids[n];
}

/* A source callback that sets the gboolean at data */
static inline gboolean
fixture_set_flag (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterates the default context until cond or a generous deadline; the
 * deadline only turns a hang into a failure, it measures nothing */
#define fixture_wait(cond) \
  G_STMT_START { \
    gboolean _expired = FALSE; \
    guint _id = g_timeout_add_seconds (30, fixture_set_flag, &_expired); \
    while (!(cond) && !_expired) \
      g_main_context_iteration (NULL, TRUE); \
    if (!_expired) \
      g_source_remove (_id); \
    g_assert_true (cond); \
  } G_STMT_END

/* Everything a client reports */
typedef struct {
  ScClient     *client;
  ScTrustStore *trust;
  char         *dir;
  GPtrArray    *messages;   /* "from: text" */
  GPtrArray    *events;     /* "join from" */
  gboolean      connected;
  gboolean      ended;
  gboolean      trust_asked;
  ScClientEnd   end;
  char         *end_message;
} TestClient;

static inline void
on_tc_connected (ScClient *client, gpointer data)
{
  ((TestClient *) data)->connected = TRUE;
}

static inline void
on_tc_message (ScClient *client, const char *from, const char *fp, const char *text,
               gint64 time_ms, gpointer data)
{
  TestClient *tc = data;

  g_ptr_array_add (tc->messages, from && *from ? g_strdup_printf ("%s: %s", from, text)
                                               : g_strdup (text));
}

static inline void
on_tc_event (ScClient *client, const char *event, const char *from, const char *fp,
             gpointer data)
{
  TestClient *tc = data;

  g_ptr_array_add (tc->events, g_strdup_printf ("%s %s", event, from));
}

static inline void
on_tc_disconnected (ScClient *client, guint end, const char *message, gpointer data)
{
  TestClient *tc = data;

  tc->ended = TRUE;
  tc->connected = FALSE;
  tc->end = end;
  g_free (tc->end_message);
  tc->end_message = g_strdup (message);
}

static inline void
on_tc_trust_request (ScClient *client, const char *hp, const char *fp, const char *code,
                     gpointer data)
{
  ((TestClient *) data)->trust_asked = TRUE;
}

static inline TestClient *
test_client_new (guint       identity,
                 ScProtocol  protocol,
                 const char *nick)
{
  TestClient *tc = g_new0 (TestClient, 1);
  g_autoptr(GError) error = NULL;

  tc->dir = g_dir_make_tmp ("sc-net-XXXXXX", &error);
  g_assert_no_error (error);
  tc->trust = sc_trust_store_new (tc->dir, &error);
  g_assert_no_error (error);
  tc->client = sc_client_new (fixture_identity (identity), tc->trust);
  tc->messages = g_ptr_array_new_with_free_func (g_free);
  tc->events = g_ptr_array_new_with_free_func (g_free);
  sc_client_set_protocol (tc->client, protocol);
  sc_client_set_nickname (tc->client, nick);
  sc_client_set_trust_policy (tc->client, SC_TRUST_POLICY_ACCEPT_NEW);
  g_signal_connect (tc->client, "connected", G_CALLBACK (on_tc_connected), tc);
  g_signal_connect (tc->client, "message", G_CALLBACK (on_tc_message), tc);
  g_signal_connect (tc->client, "event", G_CALLBACK (on_tc_event), tc);
  g_signal_connect (tc->client, "disconnected", G_CALLBACK (on_tc_disconnected), tc);
  g_signal_connect (tc->client, "trust-request", G_CALLBACK (on_tc_trust_request), tc);
  return tc;
}

static inline void
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

static inline void
test_client_free (TestClient *tc)
{
  if (sc_client_get_state (tc->client) != SC_CLIENT_DISCONNECTED)
    {
      sc_client_disconnect (tc->client);
      fixture_wait (tc->ended);
    }
  g_object_unref (tc->client);
  sc_trust_store_free (tc->trust);
  remove_dir (tc->dir);
  g_free (tc->dir);
  g_free (tc->end_message);
  g_ptr_array_unref (tc->messages);
  g_ptr_array_unref (tc->events);
  g_free (tc);
}

static inline void
test_client_connect (TestClient *tc,
                     guint16     port)
{
  tc->ended = FALSE;
  sc_client_connect (tc->client, "127.0.0.1", port);
  fixture_wait (tc->connected || tc->ended);
  g_assert_true (tc->connected);
}

/* A server on a free port, with its events recorded */
typedef struct {
  ScServer     *server;
  ScTrustStore *trust;
  char         *dir;
  GPtrArray    *messages;      /* "nick: text" */
  GPtrArray    *disconnects;   /* reasons */
  guint         ready;
} TestServer;

static inline void
on_ts_message (ScServer *server, guint id, const char *nick, const char *text, gpointer data)
{
  g_ptr_array_add (((TestServer *) data)->messages, g_strdup_printf ("%s: %s", nick, text));
}

static inline void
on_ts_ready (ScServer *server, guint id, guint protocol, const char *nick, const char *fp,
             const char *code, gpointer data)
{
  ((TestServer *) data)->ready++;
}

static inline void
on_ts_disconnected (ScServer *server, guint id, const char *reason, gpointer data)
{
  g_ptr_array_add (((TestServer *) data)->disconnects, g_strdup (reason));
}

static inline TestServer *
test_server_new (void)
{
  TestServer *ts = g_new0 (TestServer, 1);
  g_autoptr(GError) error = NULL;

  ts->dir = g_dir_make_tmp ("sc-srv-XXXXXX", &error);
  g_assert_no_error (error);
  ts->trust = sc_trust_store_new (ts->dir, &error);
  g_assert_no_error (error);
  ts->server = sc_server_new (fixture_identity (0), ts->trust);
  g_object_set (ts->server, "port", 0, NULL);
  ts->messages = g_ptr_array_new_with_free_func (g_free);
  ts->disconnects = g_ptr_array_new_with_free_func (g_free);
  g_signal_connect (ts->server, "message", G_CALLBACK (on_ts_message), ts);
  g_signal_connect (ts->server, "client-ready", G_CALLBACK (on_ts_ready), ts);
  g_signal_connect (ts->server, "client-disconnected", G_CALLBACK (on_ts_disconnected), ts);
  return ts;
}

static inline guint16
test_server_start (TestServer *ts)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (sc_server_start (ts->server, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (sc_server_get_port (ts->server), >, 0);
  return sc_server_get_port (ts->server);
}

static inline void
test_server_free (TestServer *ts)
{
  sc_server_stop (ts->server);
  /* the stop's events hold a reference until delivered */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_finalize_object (ts->server);
  sc_trust_store_free (ts->trust);
  remove_dir (ts->dir);
  g_free (ts->dir);
  g_ptr_array_unref (ts->messages);
  g_ptr_array_unref (ts->disconnects);
  g_free (ts);
}

/* How many of the strings in array contain needle */
static inline guint
count_string (GPtrArray  *array,
              const char *needle)
{
  guint i, n = 0;

  for (i = 0; i < array->len; i++)
    n += strstr (g_ptr_array_index (array, i), needle) != NULL;
  return n;
}

static inline gboolean
has_string (GPtrArray  *array,
            const char *needle)
{
  return count_string (array, needle) > 0;
}
