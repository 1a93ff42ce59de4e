/* sc-client.c: one connection to a chat server, driven by the caller's
 * main context; the RSA work of the seed protocol runs in a GTask thread.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "sc-client.h"

#include <glib/gi18n-lib.h>

#include <string.h>

#include "sc-channel.h"
#include "sc-frame.h"
#include "sc-message.h"
#include "sc-v1.h"
#include "sc-v2.h"

#define CLIENT_SEND_QUEUE_MAX (4 * 1024 * 1024)

struct _ScClient {
  GObject        parent_instance;

  ScIdentity    *identity;
  ScTrustStore  *trust;
  GMainContext  *context;
  ScPoller      *poller;   /* the connection's socket, on @context */

  /* settings */
  char          *nickname;
  ScProtocol     protocol;
  ScTrustPolicy  policy;
  gsize          message_max;
  guint          key_update_limit;

  /* the current connection */
  ScClientState  state;
  char          *host;
  guint16        port;
  char          *host_port;
  GSocketClient *socket_client;
  GCancellable  *cancellable;
  ScChannel     *channel;
  ScFrameReader *reader;
  ScV1Session   *v1;
  ScV2Session   *v2;
  char          *server_fingerprint;
  char          *code;
  ScTrustState   trust_state;
  gboolean       got_close;
  gboolean       trust_lost;     /* the server hung up while the user decided */
  gboolean       busy;           /* v1 handshake computing */
  GSource       *handshake_timer; /* from the TCP connection to Welcome */

  /* how it ends, once decided */
  gboolean       end_set;
  ScClientEnd    end;
  char          *end_message;
};

enum {
  SIGNAL_TRUST_REQUEST,
  SIGNAL_CONNECTED,
  SIGNAL_MESSAGE,
  SIGNAL_EVENT,
  SIGNAL_DISCONNECTED,
  SIGNAL_DRAINED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (ScClient, sc_client, G_TYPE_OBJECT)

static void
stop_handshake_timer (ScClient *self)
{
  if (self->handshake_timer != NULL)
    {
      g_source_destroy (self->handshake_timer);
      g_clear_pointer (&self->handshake_timer, g_source_unref);
    }
}

static void
reset_connection (ScClient *self)
{
  stop_handshake_timer (self);
  if (self->cancellable != NULL)
    {
      g_cancellable_cancel (self->cancellable);
      g_clear_object (&self->cancellable);
    }
  g_clear_pointer (&self->channel, sc_channel_free);
  g_clear_pointer (&self->poller, sc_poller_free);
  g_clear_pointer (&self->reader, sc_frame_reader_free);
  g_clear_pointer (&self->v1, sc_v1_session_free);
  g_clear_pointer (&self->v2, sc_v2_session_free);
  self->got_close = FALSE;
  self->trust_lost = FALSE;
  self->busy = FALSE;
}

static void
emit_end (ScClient    *self,
          ScClientEnd  end,
          const char  *message)
{
  g_autofree char *copy = g_strdup (message);

  reset_connection (self);
  self->state = SC_CLIENT_DISCONNECTED;
  self->end_set = FALSE;
  g_clear_pointer (&self->end_message, g_free);
  g_signal_emit (self, signals[SIGNAL_DISCONNECTED], 0, (guint) end, copy);
}

/* Decides how the connection ends and closes it; "disconnected" follows
 * from the channel's closed callback.  The first decision wins. */
static void
finish (ScClient    *self,
        ScClientEnd  end,
        const char  *format,
        ...) G_GNUC_PRINTF (3, 4);

static void
finish (ScClient    *self,
        ScClientEnd  end,
        const char  *format,
        ...)
{
  va_list args;

  if (!self->end_set)
    {
      self->end_set = TRUE;
      self->end = end;
      va_start (args, format);
      self->end_message = g_strdup_vprintf (format, args);
      va_end (args);
    }
  if (self->channel != NULL)
    sc_channel_close (self->channel, NULL);
  else
    emit_end (self, self->end, self->end_message);
}

/* Whether a v1 stream ended inside a frame.  Complete frames were all
 * handled as they came; next() skips the whitespace between frames (like
 * the greeting's last newline) that may still wait in the reader. */
static gboolean
v1_mid_frame (ScClient *self)
{
  ScFrame frame;

  if (self->reader == NULL)
    return FALSE;
  (void) sc_frame_reader_next (self->reader, &frame, NULL);
  return sc_frame_reader_pending (self->reader) > 0;
}

/* The connection broke without a Close: say so, never "closed" */
static void
emit_lost (ScClient     *self,
           const GError *error)
{
  g_autofree char *message = NULL;

  if (error == NULL || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED))
    message = g_strdup (_("Connection lost: it broke off without the server ending the session"));
  else
    message = g_strdup_printf (_("Connection lost: %s"), error->message);
  emit_end (self, SC_CLIENT_END_LOST, message);
}

static void
on_channel_closed (ScChannel    *channel,
                   const GError *error,
                   gpointer      data)
{
  ScClient *self = data;

  if (self->end_set)
    {
      emit_end (self, self->end, self->end_message);
      return;
    }

  switch (self->state)
    {
    case SC_CLIENT_WAITING_TRUST:
      /* keep waiting for the user; we reconnect if they accept */
      self->trust_lost = TRUE;
      g_clear_pointer (&self->channel, sc_channel_free);
      g_clear_pointer (&self->poller, sc_poller_free);
      return;
    case SC_CLIENT_CLOSING:
      emit_end (self, SC_CLIENT_END_LOCAL, _("Disconnected"));
      return;
    case SC_CLIENT_HANDSHAKING:
      if (self->protocol == SC_PROTOCOL_V2)
        emit_end (self, SC_CLIENT_END_FAILED,
                  _("The connection closed during the secure handshake. The server may speak "
                    "only the legacy (seed) protocol; connect with it explicitly if you trust "
                    "the network, as it is not authenticated"));
      else
        emit_end (self, SC_CLIENT_END_FAILED, _("The connection closed during the handshake"));
      return;
    case SC_CLIENT_CONNECTED:
      /* v1 has no Close record: an end of stream between frames is the
       * seed server's way of closing; one in the middle of a frame is not */
      if (self->got_close ||
          (self->protocol == SC_PROTOCOL_V1 && !v1_mid_frame (self) &&
           (error == NULL || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED))))
        emit_end (self, SC_CLIENT_END_CLOSED, _("Connection closed by server"));
      else
        emit_lost (self, error);
      return;
    case SC_CLIENT_CONNECTING:
      emit_end (self, SC_CLIENT_END_FAILED,
                _("The server closed the connection before greeting; it may be full, "
                  "or not a Secure Chat server"));
      return;
    case SC_CLIENT_DISCONNECTED:
    default:
      emit_lost (self, error);
      return;
    }
}

static void
set_connected (ScClient *self)
{
  stop_handshake_timer (self);
  self->state = SC_CLIENT_CONNECTED;
  g_signal_emit (self, signals[SIGNAL_CONNECTED], 0);
}

/* ---- v1 ---- */

typedef struct {
  EVP_PKEY   *server_pub;
  ScIdentity *identity;
  GByteArray *frame;
} V1Work;

static void
v1_work_free (V1Work *work)
{
  EVP_PKEY_free (work->server_pub);
  sc_identity_unref (work->identity);
  g_byte_array_unref (work->frame);
  g_free (work);
}

static void
v1_handshake_in_thread (GTask        *task,
                        gpointer      source,
                        gpointer      data,
                        GCancellable *cancellable)
{
  V1Work *work = data;
  GError *error = NULL;
  ScV1Session *session;

  session = sc_v1_client_handshake (work->server_pub, sc_identity_get_rsa (work->identity),
                                    NULL, work->frame, &error);
  if (session == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, session, (GDestroyNotify) sc_v1_session_free);
}

static void
v1_handshake_done (GObject      *source,
                   GAsyncResult *result,
                   gpointer      data)
{
  ScClient *self = SC_CLIENT (source);
  V1Work *work = g_task_get_task_data (G_TASK (result));
  g_autoptr(GError) error = NULL;
  ScV1Session *session = g_task_propagate_pointer (G_TASK (result), &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) || self->channel == NULL)
    {
      sc_v1_session_free (session);
      return;
    }
  self->busy = FALSE;
  if (session == NULL)
    {
      finish (self, SC_CLIENT_END_FAILED, _("Legacy handshake failed: %s"), error->message);
      return;
    }
  self->v1 = session;
  g_byte_array_append (sc_channel_get_output (self->channel), work->frame->data, work->frame->len);
  sc_channel_flush (self->channel);
  self->trust_state = SC_TRUST_LEGACY;
  set_connected (self);
}

static void
v1_start (ScClient      *self,
          const ScFrame *greeting)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GTask) task = NULL;
  EVP_PKEY *server_pub;
  V1Work *work;

  server_pub = sc_v1_parse_greeting (greeting->data, greeting->len, &error);
  if (server_pub == NULL)
    {
      finish (self, SC_CLIENT_END_FAILED, _("The server's greeting is malformed: %s"), error->message);
      return;
    }
  self->server_fingerprint = sc_fingerprint_rsa (server_pub, NULL);

  work = g_new0 (V1Work, 1);
  work->server_pub = server_pub;
  work->identity = sc_identity_ref (self->identity);
  work->frame = g_byte_array_new ();
  task = g_task_new (self, self->cancellable, v1_handshake_done, NULL);
  g_task_set_task_data (task, work, (GDestroyNotify) v1_work_free);
  self->busy = TRUE;
  g_task_run_in_thread (task, v1_handshake_in_thread);
}

static void
process_v1_message (ScClient      *self,
                    const ScFrame *frame)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *text = sc_v1_open (self->v1, frame->data, frame->len, &error);

  if (text == NULL)
    {
      finish (self, SC_CLIENT_END_FAILED, _("Bad message from the server: %s"), error->message);
      return;
    }
  /* the seed server sends "nick: text"; there is no sender field */
  g_signal_emit (self, signals[SIGNAL_MESSAGE], 0, "", "", text, g_get_real_time () / 1000);
}

/* ---- v2 ---- */

static void
v2_send_auth (ScClient *self)
{
  g_autoptr(GError) error = NULL;

  self->state = SC_CLIENT_HANDSHAKING;
  if (!sc_v2_client_send_auth (self->v2, self->nickname, sc_channel_get_output (self->channel),
                               &error))
    {
      finish (self, SC_CLIENT_END_FAILED, _("Handshake failed: %s"), error->message);
      return;
    }
  sc_channel_flush (self->channel);
}

/* The server proved its key: decide whether we trust it */
static void
v2_check_trust (ScClient *self)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *pinned = NULL;

  self->server_fingerprint = g_strdup (sc_v2_session_get_peer_fingerprint (self->v2));
  self->code = g_strdup (sc_v2_session_get_code (self->v2));
  self->trust_state = sc_trust_store_check_server (self->trust, self->host_port,
                                                   self->server_fingerprint);
  switch (self->trust_state)
    {
    case SC_TRUST_PINNED:
    case SC_TRUST_VERIFIED:
      v2_send_auth (self);
      return;
    case SC_TRUST_CHANGED:
      pinned = sc_trust_store_lookup_server (self->trust, self->host_port);
      finish (self, SC_CLIENT_END_KEY_CHANGED,
              _("The server %s now presents the key %s, but the key pinned for it is %s. "
                "Someone may be intercepting the connection. If the server’s key really "
                "changed, forget the old key explicitly first"),
              self->host_port, self->server_fingerprint, pinned ? pinned : "?");
      return;
    case SC_TRUST_NEW:
    case SC_TRUST_LEGACY:
    default:
      break;
    }

  switch (self->policy)
    {
    case SC_TRUST_POLICY_ACCEPT_NEW:
      if (!sc_trust_store_pin_server (self->trust, self->host_port, self->server_fingerprint, &error))
        {
          finish (self, SC_CLIENT_END_UNTRUSTED, _("Cannot pin the server's key: %s"), error->message);
          return;
        }
      v2_send_auth (self);
      return;
    case SC_TRUST_POLICY_STRICT:
      finish (self, SC_CLIENT_END_UNTRUSTED,
              _("The server %s presents the unknown key %s, and only pinned keys are accepted"),
              self->host_port, self->server_fingerprint);
      return;
    case SC_TRUST_POLICY_ASK:
    default:
      self->state = SC_CLIENT_WAITING_TRUST;
      stop_handshake_timer (self);  /* the user takes the time they need */
      g_signal_emit (self, signals[SIGNAL_TRUST_REQUEST], 0, self->host_port,
                     self->server_fingerprint, self->code);
      return;
    }
}

static void
process_v2 (ScClient *self,
            ScFrame  *frame)
{
  g_autoptr(GError) error = NULL;
  ScV2Type type;
  guint8 *pt;
  gsize len;

  if (sc_v2_session_get_state (self->v2) == SC_V2_STATE_AWAIT_SERVER_HELLO)
    {
      if (!sc_v2_client_consume_server_hello (self->v2, frame->data, frame->len, &error))
        {
          finish (self, SC_CLIENT_END_FAILED, _("The server failed the handshake: %s"), error->message);
          return;
        }
      v2_check_trust (self);
      return;
    }

  if (!sc_v2_session_open (self->v2, frame->data, frame->len, &type, &pt, &len, &error))
    {
      finish (self, self->state == SC_CLIENT_CONNECTED ? SC_CLIENT_END_LOST : SC_CLIENT_END_FAILED,
              _("Protocol error from the server: %s"), error->message);
      return;
    }

  switch (type)
    {
    case SC_V2_WELCOME:
      sc_frame_reader_set_limit (self->reader, sc_v2_session_get_frame_limit (self->v2));
      set_connected (self);
      break;
    case SC_V2_REJECT:
      {
        g_autofree char *reason = g_utf8_make_valid ((const char *) pt, (gssize) len);

        finish (self, SC_CLIENT_END_REJECTED, _("The server refused the connection: %s"), reason);
      }
      break;
    case SC_V2_CHAT:
      {
        g_auto(ScMessage) msg = { 0 };

        if (!sc_message_parse_chat (pt, len, &msg, &error))
          {
            finish (self, SC_CLIENT_END_LOST, _("Bad message from the server: %s"), error->message);
            return;
          }
        g_signal_emit (self, signals[SIGNAL_MESSAGE], 0, msg.from, msg.fingerprint,
                       msg.text, msg.time_ms);
      }
      break;
    case SC_V2_EVENT:
      {
        g_auto(ScMessage) msg = { 0 };

        if (!sc_message_parse_event (pt, len, &msg, &error))
          {
            finish (self, SC_CLIENT_END_LOST, _("Bad event from the server: %s"), error->message);
            return;
          }
        g_signal_emit (self, signals[SIGNAL_EVENT], 0, msg.event, msg.from, msg.fingerprint);
      }
      break;
    case SC_V2_CLOSE:
      self->got_close = TRUE;
      sc_channel_close (self->channel, NULL);
      break;
    case SC_V2_KEY_UPDATE:
    default:
      break;
    }
}

static void
process_frames (ScClient *self)
{
  g_autoptr(GError) error = NULL;
  ScFrame frame;

  while (self->channel != NULL && !self->busy && !sc_channel_is_closed (self->channel) &&
         self->state != SC_CLIENT_WAITING_TRUST &&
         sc_frame_reader_next (self->reader, &frame, &error))
    {
      if (self->state == SC_CLIENT_CONNECTING)
        {
          /* the greeting */
          self->state = SC_CLIENT_HANDSHAKING;
          if (self->protocol == SC_PROTOCOL_V1)
            {
              v1_start (self, &frame);
              continue;
            }
          if (!sc_v2_client_consume_greeting (self->v2, frame.data, frame.len, &error))
            {
              finish (self, SC_CLIENT_END_FAILED, _("Handshake failed: %s"), error->message);
              return;
            }
        }
      else if (self->protocol == SC_PROTOCOL_V1)
        process_v1_message (self, &frame);
      else
        process_v2 (self, &frame);
    }
  if (error != NULL)
    finish (self, self->state == SC_CLIENT_CONNECTED ? SC_CLIENT_END_LOST : SC_CLIENT_END_FAILED,
            _("Protocol error from the server: %s"), error->message);
}

static void
on_channel_read (ScChannel    *channel,
                 const guint8 *data,
                 gsize         len,
                 gpointer      user_data)
{
  ScClient *self = user_data;

  if (data != NULL)
    sc_frame_reader_feed (self->reader, data, len);
  process_frames (self);
}

/* A server that accepts and then stalls must not hold us forever */
static gboolean
on_handshake_timeout (gpointer data)
{
  ScClient *self = data;

  g_clear_pointer (&self->handshake_timer, g_source_unref);
  finish (self, SC_CLIENT_END_FAILED,
          _("The server did not complete the handshake within %u seconds"),
          SC_HANDSHAKE_TIMEOUT_MS / 1000);
  return G_SOURCE_REMOVE;
}

static void
start_handshake_timer (ScClient *self)
{
  stop_handshake_timer (self);
  self->handshake_timer = g_timeout_source_new (SC_HANDSHAKE_TIMEOUT_MS);
  g_source_set_callback (self->handshake_timer, on_handshake_timeout, self, NULL);
  g_source_attach (self->handshake_timer, self->context);
}

static void
on_channel_drained (ScChannel *channel,
                    gpointer   data)
{
  ScClient *self = data;

  if (self->state == SC_CLIENT_CONNECTED)
    g_signal_emit (self, signals[SIGNAL_DRAINED], 0);
}

static void
on_connected (GObject      *source,
              GAsyncResult *result,
              gpointer      data)
{
  g_autoptr(ScClient) self = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection = NULL;

  connection = g_socket_client_connect_to_host_finish (G_SOCKET_CLIENT (source), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED))
    {
      finish (self, SC_CLIENT_END_FAILED,
              _("Cannot connect to %s: the connection was refused, no server is listening "
                "there. Check the address and the port, and that the server was started"),
              self->host_port);
      return;
    }
  if (connection == NULL)
    {
      finish (self, SC_CLIENT_END_FAILED, _("Cannot connect to %s: %s"), self->host_port, error->message);
      return;
    }
  self->poller = sc_poller_new (self->context, &error);
  if (self->poller == NULL)
    {
      finish (self, SC_CLIENT_END_FAILED, _("Cannot connect to %s: %s"), self->host_port, error->message);
      return;
    }
  self->reader = sc_frame_reader_new (self->protocol == SC_PROTOCOL_V1 ? SC_FRAME_GREETING_V1
                                                                       : SC_FRAME_GREETING_V2);
  self->channel = sc_channel_new (connection, self->poller, CLIENT_SEND_QUEUE_MAX,
                                  on_channel_read, on_channel_closed, self);
  sc_channel_set_reader (self->channel, self->reader);
  sc_channel_set_drained_func (self->channel, on_channel_drained);
  start_handshake_timer (self);
  /* v2: the ClientHello goes out at once, without waiting for the greeting */
  if (self->protocol == SC_PROTOCOL_V2)
    {
      self->v2 = sc_v2_session_new (SC_V2_ROLE_CLIENT, self->identity, NULL);
      sc_v2_session_set_message_max (self->v2, self->message_max);
      sc_v2_session_set_key_update_limit (self->v2, self->key_update_limit);
      if (!sc_v2_client_start (self->v2, NULL, 0, sc_channel_get_output (self->channel), &error))
        {
          finish (self, SC_CLIENT_END_FAILED, _("Handshake failed: %s"), error->message);
          return;
        }
      sc_channel_flush (self->channel);
    }
  sc_channel_start (self->channel);
}

static void
start_connect (ScClient *self)
{
  reset_connection (self);
  g_clear_pointer (&self->server_fingerprint, g_free);
  g_clear_pointer (&self->code, g_free);
  self->state = SC_CLIENT_CONNECTING;
  self->cancellable = g_cancellable_new ();
  g_socket_client_connect_to_host_async (self->socket_client, self->host, self->port,
                                         self->cancellable, on_connected, g_object_ref (self));
}

/* ---- public API ---- */

void
sc_client_connect (ScClient   *self,
                   const char *host,
                   guint16     port)
{
  g_return_if_fail (SC_IS_CLIENT (self));
  g_return_if_fail (self->state == SC_CLIENT_DISCONNECTED);

  g_free (self->host);
  self->host = g_strdup (host);
  self->port = port;
  g_free (self->host_port);
  self->host_port = sc_trust_host_port (host, port);
  self->trust_state = SC_TRUST_NEW;
  self->end_set = FALSE;
  start_connect (self);
}

gboolean
sc_client_send (ScClient   *self,
                const char *text,
                GError    **error)
{
  gsize len = strlen (text);

  g_return_val_if_fail (SC_IS_CLIENT (self), FALSE);

  if (self->state != SC_CLIENT_CONNECTED || self->channel == NULL ||
      sc_channel_is_closed (self->channel))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED, _("Not connected"));
      return FALSE;
    }
  if (!g_utf8_validate_len (text, len, NULL))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("The message is not valid UTF-8"));
      return FALSE;
    }
  /* room for what the server adds when it passes the text on */
  if (len + SC_V2_RELAY_HEADROOM > self->message_max)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                   _("The message is longer than %lu bytes"),
                   (gulong) (self->message_max - SC_V2_RELAY_HEADROOM));
      return FALSE;
    }

  if (self->protocol == SC_PROTOCOL_V1)
    {
      if (!sc_v1_seal (self->v1, text, len, sc_channel_get_output (self->channel), error))
        return FALSE;
    }
  else
    {
      gsize json_len;
      g_autofree char *json = sc_message_build_chat_request (text, &json_len);

      if (json_len + SC_V2_RELAY_HEADROOM > self->message_max)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                       _("The message is longer than %lu bytes once encoded"),
                       (gulong) (self->message_max - SC_V2_RELAY_HEADROOM));
          return FALSE;
        }
      if (!sc_v2_session_seal (self->v2, SC_V2_CHAT, (const guint8 *) json, json_len,
                               sc_channel_get_output (self->channel), error))
        return FALSE;
    }
  sc_channel_flush (self->channel);
  return TRUE;
}

void
sc_client_disconnect (ScClient *self)
{
  g_return_if_fail (SC_IS_CLIENT (self));

  switch (self->state)
    {
    case SC_CLIENT_DISCONNECTED:
    case SC_CLIENT_CLOSING:
      return;
    case SC_CLIENT_CONNECTED:
      self->state = SC_CLIENT_CLOSING;
      if (self->protocol == SC_PROTOCOL_V2)
        sc_v2_session_seal (self->v2, SC_V2_CLOSE, NULL, 0, sc_channel_get_output (self->channel), NULL);
      sc_channel_close_after_flush (self->channel, SC_CLOSE_LINGER_MS);
      return;
    case SC_CLIENT_CONNECTING:
    case SC_CLIENT_HANDSHAKING:
    case SC_CLIENT_WAITING_TRUST:
    default:
      reset_connection (self);
      emit_end (self, SC_CLIENT_END_LOCAL, _("Disconnected"));
      return;
    }
}

void
sc_client_answer_trust (ScClient *self,
                        gboolean  accept)
{
  g_autoptr(GError) error = NULL;

  g_return_if_fail (SC_IS_CLIENT (self));
  if (self->state != SC_CLIENT_WAITING_TRUST)
    return;

  if (!accept)
    {
      finish (self, SC_CLIENT_END_UNTRUSTED, _("The server's key %s was not accepted"),
              self->server_fingerprint);
      return;
    }
  if (!sc_trust_store_pin_server (self->trust, self->host_port, self->server_fingerprint, &error))
    {
      finish (self, SC_CLIENT_END_UNTRUSTED, _("Cannot pin the server's key: %s"), error->message);
      return;
    }
  if (self->trust_lost || self->channel == NULL)
    {
      /* the server gave up waiting: connect again, now with the key pinned */
      start_connect (self);
      return;
    }
  start_handshake_timer (self);
  v2_send_auth (self);
  /* frames that came while we waited */
  process_frames (self);
}

ScClientState
sc_client_get_state (ScClient *self)
{
  return self->state;
}

ScProtocol
sc_client_get_protocol (ScClient *self)
{
  return self->protocol;
}

void
sc_client_set_protocol (ScClient   *self,
                        ScProtocol  protocol)
{
  self->protocol = protocol == SC_PROTOCOL_V1 ? SC_PROTOCOL_V1 : SC_PROTOCOL_V2;
}

void
sc_client_set_nickname (ScClient   *self,
                        const char *nickname)
{
  g_free (self->nickname);
  self->nickname = g_strdup (nickname ? nickname : "");
}

void
sc_client_set_trust_policy (ScClient      *self,
                            ScTrustPolicy  policy)
{
  self->policy = policy;
}

void
sc_client_set_message_max (ScClient *self,
                           gsize     max)
{
  self->message_max = max;
}

void
sc_client_set_key_update_limit (ScClient *self,
                                guint     limit)
{
  self->key_update_limit = limit;
}

const char *
sc_client_get_host_port (ScClient *self)
{
  return self->host_port;
}

const char *
sc_client_get_server_fingerprint (ScClient *self)
{
  return self->server_fingerprint;
}

const char *
sc_client_get_session_code (ScClient *self)
{
  return self->code;
}

ScTrustState
sc_client_get_trust_state (ScClient *self)
{
  return self->trust_state;
}

gsize
sc_client_get_queued (ScClient *self)
{
  return self->channel ? sc_channel_get_queued (self->channel) : 0;
}

ScClient *
sc_client_new (ScIdentity   *identity,
               ScTrustStore *trust)
{
  ScClient *self = g_object_new (SC_TYPE_CLIENT, NULL);

  self->identity = sc_identity_ref (identity);
  self->trust = trust;
  return self;
}

/* ---- GObject ---- */

static void
sc_client_dispose (GObject *object)
{
  ScClient *self = SC_CLIENT (object);

  reset_connection (self);
  g_clear_object (&self->socket_client);
  G_OBJECT_CLASS (sc_client_parent_class)->dispose (object);
}

static void
sc_client_finalize (GObject *object)
{
  ScClient *self = SC_CLIENT (object);

  g_clear_pointer (&self->identity, sc_identity_unref);
  g_main_context_unref (self->context);
  g_free (self->nickname);
  g_free (self->host);
  g_free (self->host_port);
  g_free (self->server_fingerprint);
  g_free (self->code);
  g_free (self->end_message);
  G_OBJECT_CLASS (sc_client_parent_class)->finalize (object);
}

static void
sc_client_class_init (ScClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = sc_client_dispose;
  object_class->finalize = sc_client_finalize;

  signals[SIGNAL_TRUST_REQUEST] =
    g_signal_new ("trust-request", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
  signals[SIGNAL_CONNECTED] =
    g_signal_new ("connected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_MESSAGE] =
    g_signal_new ("message", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 4, G_TYPE_STRING, G_TYPE_STRING,
                  G_TYPE_STRING, G_TYPE_INT64);
  signals[SIGNAL_EVENT] =
    g_signal_new ("event", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
  signals[SIGNAL_DISCONNECTED] =
    g_signal_new ("disconnected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_UINT, G_TYPE_STRING);
  signals[SIGNAL_DRAINED] =
    g_signal_new ("drained", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
sc_client_init (ScClient *self)
{
  self->context = g_main_context_ref_thread_default ();
  self->socket_client = g_socket_client_new ();
  g_socket_client_set_timeout (self->socket_client, 15);
  self->protocol = SC_PROTOCOL_V2;
  self->policy = SC_TRUST_POLICY_ASK;
  self->message_max = SC_V2_MESSAGE_MAX_DEFAULT;
  self->key_update_limit = SC_V2_KEY_UPDATE_LIMIT;
  self->nickname = g_strdup ("");
}
