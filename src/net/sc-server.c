/* sc-server.c: event-driven chat server on its own thread and main context
 *
 * Everything below "server thread" runs on that thread only: connections,
 * handshakes, relaying.  The embedding program talks to it through
 * properties set before start(), a few invoke()d calls, and signals that
 * are queued here and emitted on the program's own main context.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define _GNU_SOURCE  /* accept4 */
#include "sc-server.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "sc-channel.h"
#include "sc-frame.h"
#include "sc-message.h"
#include "sc-v1.h"
#include "sc-v2.h"

typedef struct _Conn Conn;

struct _ScServer {
  GObject        parent_instance;

  /* configuration, fixed while running */
  ScIdentity    *identity;
  ScTrustStore  *trust;
  char          *bind_address;
  guint16        port;
  gboolean       allow_legacy;
  gboolean       allow_list;
  guint          max_clients;
  guint          conn_limit;      /* max-clients, or fewer if descriptors run short */
  guint          presence_limit;
  guint          handshake_timeout_ms;
  guint          idle_timeout_ms;  /* 0: never */
  gsize          send_queue_max;
  gsize          message_max;
  guint          key_update_limit;
  char          *name;

  /* lifecycle, owner thread */
  GThread       *thread;
  GMainContext  *owner_context;
  gboolean       running;

  /* start handshake between the threads */
  GMutex         start_mutex;
  GCond          start_cond;
  gboolean       start_done;
  GError        *start_error;

  /* events for the owner */
  GMutex         events_mutex;
  GQueue         events;
  gsize          events_bytes;  /* what the queued messages hold */
  gboolean       holding;       /* connections wait for the owner to catch up */
  GPtrArray     *spare_blocks;  /* record buffers back from "message", for reuse */
  GSource       *events_source;

  /* server thread */
  GMainContext  *context;
  ScPoller      *poller;        /* every connection's socket, one GSource */
  ScV2Session   *spare_v2;      /* prepared for the next v2 client */
  GMainLoop     *loop;
  GSocket       *listener;
  GSource       *accept_source; /* the listener readable, or the wait after a failed accept */
  gboolean       accept_failing;
  GHashTable    *conns;        /* id -> Conn */
  GArray        *flush_ids;    /* Conns with records to send at the batch's end */
  GQueue         ready;        /* Conn, in the order they became ready */
  GQueue         held;         /* ids of connections not read while the owner is behind */
  GQueue         idle;         /* ready Conns, least recently heard from first (idle-timeout) */
  GSource       *idle_sweep;   /* fires when the head of @idle has been quiet too long */
  guint          next_id;
  guint          in_flight;    /* v1 handshakes being computed */
  gboolean       stopping;
  gint           n_clients;    /* atomic, for readers on other threads */
};

struct _Conn {
  ScServer      *server;
  guint          id;
  ScChannel     *channel;
  ScFrameReader *reader;
  ScProtocol     protocol;
  ScV1Session   *v1;
  ScV2Session   *v2;
  char          *nickname;
  char          *fingerprint;
  GSource       *timeout;
  GList          ready_link;
  GList          idle_link;    /* in server->idle while data is the Conn */
  gint64         last_frame;   /* monotonic time of the last complete frame */
  char          *reason;       /* why we closed it, if we did */
  gboolean       ready;
  gboolean       busy;         /* v1 handshake computing off-thread */
  gboolean       held;         /* not read until the owner catches up */
  gboolean       failed;       /* we are closing it: read no further frames */
  gboolean       closed_while_busy;
  gboolean       got_close;
  gboolean       sniffed;      /* the first byte that is not whitespace was seen */
  gboolean       flush_queued; /* in server->flush_ids */
};

enum {
  PROP_0,
  PROP_BIND_ADDRESS,
  PROP_PORT,
  PROP_ALLOW_LEGACY,
  PROP_ALLOW_LIST,
  PROP_MAX_CLIENTS,
  PROP_PRESENCE_LIMIT,
  PROP_HANDSHAKE_TIMEOUT,
  PROP_IDLE_TIMEOUT,
  PROP_SEND_QUEUE_MAX,
  PROP_MESSAGE_MAX,
  PROP_KEY_UPDATE_LIMIT,
  PROP_NAME,
  PROP_RUNNING,
  N_PROPS
};

enum {
  SIGNAL_LISTENING,
  SIGNAL_CLIENT_CONNECTED,
  SIGNAL_CLIENT_READY,
  SIGNAL_MESSAGE,
  SIGNAL_CLIENT_DISCONNECTED,
  SIGNAL_CLIENT_REFUSED,
  SIGNAL_ACCEPT_FAILED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (ScServer, sc_server, G_TYPE_OBJECT)

/* ---- events, from the server thread to the owner's context ---- */

typedef struct {
  guint  signal;
  guint  id;
  guint  number;   /* port or protocol */
  char  *a;
  char  *b;
  char  *c;
  GByteArray *block;  /* if set, b lies inside it (a large message's record) */
  gsize  cost;        /* of a message: counted in events_bytes */
} Event;

/* The owner's thread may fall behind a flood of messages (a window's main
 * loop draws between its 4 ms slices of "message").  Past OWNER_QUEUE_HIGH
 * bytes of queued messages, a connection whose message goes over it is not
 * read until the owner is down to OWNER_QUEUE_LOW: TCP then slows the
 * sender, and the queue's memory stays bounded.  Nothing is dropped. */
#define OWNER_QUEUE_HIGH (2 * 1024 * 1024)
#define OWNER_QUEUE_LOW  (OWNER_QUEUE_HIGH / 2)
#define EVENT_OVERHEAD   64  /* malloc's headers, the queue's link */

/* Record buffers kept for reuse: resident memory, where a new 64 KiB
 * buffer for each large message would be faulted in page by page */
#define SPARE_BLOCKS_MAX 4

static void
event_free (Event *ev)
{
  g_free (ev->a);
  if (ev->block != NULL)
    g_byte_array_unref (ev->block);
  else
    g_free (ev->b);
  g_free (ev->c);
  g_free (ev);
}

/* Owner's thread: the event was emitted; its block, if any, may be reused */
static void
event_done (ScServer *self,
            Event    *ev)
{
  if (ev->block != NULL)
    {
      g_mutex_lock (&self->events_mutex);
      if (self->spare_blocks->len < SPARE_BLOCKS_MAX)
        g_ptr_array_add (self->spare_blocks, g_steal_pointer (&ev->block));
      g_mutex_unlock (&self->events_mutex);
      if (ev->block == NULL)
        ev->b = NULL;  /* it lay inside the block */
    }
  event_free (ev);
}

/* Server thread: a buffer for @reader, which has just given its own away */
static void
reuse_block (ScServer      *self,
             ScFrameReader *reader)
{
  GByteArray *block = NULL;

  g_mutex_lock (&self->events_mutex);
  if (self->spare_blocks->len > 0)
    block = g_ptr_array_steal_index_fast (self->spare_blocks, self->spare_blocks->len - 1);
  g_mutex_unlock (&self->events_mutex);
  if (block != NULL && !sc_frame_reader_adopt_buffer (reader, block))
    g_byte_array_unref (block);
}

static void
emit_event (ScServer *self,
            Event    *ev)
{
  switch (ev->signal)
    {
    case SIGNAL_LISTENING:
      g_signal_emit (self, signals[ev->signal], 0, ev->number);
      break;
    case SIGNAL_CLIENT_CONNECTED:
    case SIGNAL_CLIENT_DISCONNECTED:
      g_signal_emit (self, signals[ev->signal], 0, ev->id, ev->a);
      break;
    case SIGNAL_CLIENT_READY:
      g_signal_emit (self, signals[ev->signal], 0, ev->id, ev->number, ev->a, ev->b, ev->c);
      break;
    case SIGNAL_MESSAGE:
      g_signal_emit (self, signals[ev->signal], 0, ev->id, ev->a, ev->b);
      break;
    case SIGNAL_CLIENT_REFUSED:
      g_signal_emit (self, signals[ev->signal], 0, ev->a, ev->b);
      break;
    case SIGNAL_ACCEPT_FAILED:
      g_signal_emit (self, signals[ev->signal], 0, ev->a, ev->number);
      break;
    default:
      g_assert_not_reached ();
    }
}

static gboolean release_in_thread (gpointer data);

/* Emits the queued events on the owner's context, for about 4 ms at a
 * time: a flood of messages must not hold a window's main loop for longer
 * than a frame.  What is left waits for the next dispatch. */
static gboolean
dispatch_events (gpointer data)
{
  ScServer *self = data;
  gint64 deadline = g_get_monotonic_time () + 4000;
  Event *ev;

  do
    {
      gboolean release;

      g_mutex_lock (&self->events_mutex);
      ev = g_queue_pop_head (&self->events);
      if (ev == NULL)
        g_clear_pointer (&self->events_source, g_source_unref);
      else
        self->events_bytes -= ev->cost;
      release = self->holding && self->events_bytes <= OWNER_QUEUE_LOW;
      if (release)
        self->holding = FALSE;
      g_mutex_unlock (&self->events_mutex);
      if (release && self->running)
        g_main_context_invoke_full (self->context, G_PRIORITY_DEFAULT, release_in_thread,
                                    g_object_ref (self), g_object_unref);
      if (ev == NULL)
        return G_SOURCE_REMOVE;
      emit_event (self, ev);
      event_done (self, ev);
    }
  while (g_get_monotonic_time () < deadline);
  return G_SOURCE_CONTINUE;
}

/* Queues @ev for the owner: TRUE if the queue holds more than
 * OWNER_QUEUE_HIGH bytes of messages */
static gboolean
post (ScServer *self,
      Event    *ev)
{
  gboolean behind;

  g_mutex_lock (&self->events_mutex);
  g_queue_push_tail (&self->events, ev);
  self->events_bytes += ev->cost;
  behind = self->events_bytes > OWNER_QUEUE_HIGH;
  if (behind)
    self->holding = TRUE;
  /* one wakeup per batch: a flood of messages costs the owner one idle */
  if (self->events_source == NULL)
    {
      self->events_source = g_idle_source_new ();
      g_source_set_callback (self->events_source, dispatch_events,
                             g_object_ref (self), g_object_unref);
      g_source_attach (self->events_source, self->owner_context);
    }
  g_mutex_unlock (&self->events_mutex);
  return behind;
}

static void
post_event3 (ScServer   *self,
             guint       signal,
             guint       id,
             guint       number,
             const char *a,
             const char *b,
             const char *c)
{
  Event *ev = g_new0 (Event, 1);

  ev->signal = signal;
  ev->id = id;
  ev->number = number;
  ev->a = g_strdup (a);
  ev->b = g_strdup (b);
  ev->c = g_strdup (c);
  (void) post (self, ev);
}

static void
post_event (ScServer   *self,
            guint       signal,
            guint       id,
            guint       number,
            const char *a,
            const char *b)
{
  post_event3 (self, signal, id, number, a, b, NULL);
}

/* ---- connections (server thread) ---- */

static void
conn_free (Conn *conn)
{
  if (conn->timeout != NULL)
    {
      g_source_destroy (conn->timeout);
      g_source_unref (conn->timeout);
    }
  sc_channel_free (conn->channel);
  sc_frame_reader_free (conn->reader);
  sc_v1_session_free (conn->v1);
  sc_v2_session_free (conn->v2);
  g_free (conn->nickname);
  g_free (conn->fingerprint);
  g_free (conn->reason);
  g_free (conn);
}

/* The name others see for this client */
static const char *
conn_display_name (Conn *conn)
{
  if (conn->nickname != NULL && conn->nickname[0] != '\0')
    return conn->nickname;
  return sc_channel_get_peer (conn->channel);
}

/* Closes @conn, remembering why for the disconnection event */
static void
conn_fail (Conn       *conn,
           const char *format,
           ...) G_GNUC_PRINTF (2, 3);

static void
conn_fail (Conn       *conn,
           const char *format,
           ...)
{
  va_list args;

  if (conn->reason == NULL)
    {
      va_start (args, format);
      conn->reason = g_strdup_vprintf (format, args);
      va_end (args);
    }
  conn->failed = TRUE;
  sc_channel_flush (conn->channel);  /* what this batch relayed to it, as if sent at once */
  sc_channel_close (conn->channel, NULL);
}

static void broadcast_event (ScServer *self, Conn *subject, const char *event, guint room);

/* ---- idle-timeout: ready connections, least recently heard from first ---- */

static void conn_send_v2 (Conn *conn, ScV2Type type, const guint8 *data, gsize len);

static void
idle_arm (ScServer *self)
{
  Conn *head = g_queue_peek_head (&self->idle);

  g_source_set_ready_time (self->idle_sweep,
                           head != NULL ? head->last_frame + self->idle_timeout_ms * (gint64) 1000 : -1);
}

static void
idle_unlink (Conn *conn)
{
  if (conn->idle_link.data == NULL)
    return;
  g_queue_unlink (&conn->server->idle, &conn->idle_link);
  conn->idle_link.data = NULL;
}

/* @conn was heard from: to the back of the queue */
static void
idle_touch (Conn *conn)
{
  ScServer *self = conn->server;
  gboolean was_empty = self->idle.head == NULL;

  idle_unlink (conn);
  conn->last_frame = g_get_monotonic_time ();
  conn->idle_link.data = conn;
  g_queue_push_tail_link (&self->idle, &conn->idle_link);
  if (was_empty)
    idle_arm (self);
}

/* Ends @conn from our side, the way the operator's Disconnect does: a v2
 * session gets Close, and what is queued still goes out */
static void
conn_close_with (Conn *conn,
                 char *reason)
{
  if (conn->ready && conn->protocol == SC_PROTOCOL_V2)
    conn_send_v2 (conn, SC_V2_CLOSE, NULL, 0);
  if (conn->reason == NULL)
    conn->reason = reason;
  else
    g_free (reason);
  sc_channel_close_after_flush (conn->channel, SC_CLOSE_LINGER_MS);
}

static char *
seconds_text (guint ms)
{
  return ms % 1000 == 0 ? g_strdup_printf ("%u s", ms / 1000) : g_strdup_printf ("%.1f s", ms / 1000.0);
}

/* Closes, the way the operator would, every connection that sent no
 * complete frame for idle-timeout; one that is not read because the owner
 * is behind counts as heard from */
static gboolean
idle_sweep (gpointer data)
{
  ScServer *self = data;
  gint64 now = g_get_monotonic_time ();
  gint64 limit = self->idle_timeout_ms * (gint64) 1000;
  Conn *conn;

  while ((conn = g_queue_peek_head (&self->idle)) != NULL && now - conn->last_frame >= limit)
    {
      g_autofree char *quiet = NULL;

      if (conn->held)
        {
          idle_touch (conn);
          continue;
        }
      idle_unlink (conn);
      if (sc_channel_is_closed (conn->channel))
        continue;
      quiet = seconds_text (self->idle_timeout_ms);
      conn->failed = TRUE;  /* what it sends from now on is not read */
      conn_close_with (conn, g_strdup_printf ("idle: nothing received for %s", quiet));
    }
  idle_arm (self);
  return G_SOURCE_CONTINUE;
}

static gboolean
idle_sweep_dispatch (GSource     *source,
                     GSourceFunc  callback,
                     gpointer     data)
{
  return callback (data);
}

static GSourceFuncs idle_sweep_funcs = { NULL, NULL, idle_sweep_dispatch, NULL, NULL, NULL };

/* Whether a v1 stream ended inside a frame: next() skips the whitespace
 * between frames; complete frames were handled as they came */
static gboolean
v1_mid_frame (ScFrameReader *reader)
{
  ScFrame frame;

  (void) sc_frame_reader_next (reader, &frame, NULL);
  return sc_frame_reader_pending (reader) > 0;
}

/* The connection is over: tell the others and the owner, then free it */
static void
conn_finish (Conn         *conn,
             const GError *error)
{
  ScServer *self = conn->server;
  const char *reason = conn->reason;

  if (reason == NULL)
    {
      if (conn->got_close)
        reason = "closed by peer";
      else if (error == NULL || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED))
        /* v1 has no Close: a seed client leaves by hanging up between
         * frames; a stream that ends inside a frame was cut */
        reason = conn->protocol == SC_PROTOCOL_V1 && conn->ready && !conn->busy &&
                 !v1_mid_frame (conn->reader) ? "disconnected" : "connection lost";
      else
        reason = error->message;
    }
  idle_unlink (conn);
  if (conn->ready)
    {
      g_queue_unlink (&self->ready, &conn->ready_link);
      broadcast_event (self, conn, "leave", self->ready.length + 1);
    }
  /* counted out before the owner can hear of it, so that a count read
   * after the event never includes this connection */
  g_atomic_int_add (&self->n_clients, -1);
  post_event (self, SIGNAL_CLIENT_DISCONNECTED, conn->id, 0, reason, NULL);
  g_hash_table_remove (self->conns, GUINT_TO_POINTER (conn->id));
}

static void
on_conn_closed (ScChannel    *channel,
                const GError *error,
                gpointer      data)
{
  Conn *conn = data;

  /* A seed client may send its handshake and messages and hang up at once:
   * what it sent is handled when the RSA work is done, then it is over. */
  if (conn->busy)
    {
      conn->closed_while_busy = TRUE;
      return;
    }
  conn_finish (conn, error);
}

/* Records for a connection are sent at the end of the poller's batch, not
 * one by one: a batch that relays several messages, joins and leaves to a
 * room sends each member one write instead of one per record.  Outside a
 * batch (timers, the owner's requests) they go at once, and so do they
 * once FLUSH_AT bytes wait: what a batch holds back stays small per
 * member, however many members the room has. */
#define FLUSH_AT 16384

static void
conn_flush_soon (Conn *conn)
{
  ScServer *self = conn->server;

  if (!sc_poller_in_dispatch (self->poller) || sc_channel_get_queued (conn->channel) >= FLUSH_AT)
    sc_channel_flush (conn->channel);
  else if (!conn->flush_queued)
    {
      conn->flush_queued = TRUE;
      g_array_append_val (self->flush_ids, conn->id);
    }
}

static void
flush_batch (gpointer data)
{
  ScServer *self = data;

  /* by id: a connection may have gone since it queued */
  for (guint i = 0; i < self->flush_ids->len; i++)
    {
      Conn *conn = g_hash_table_lookup (self->conns,
                                        GUINT_TO_POINTER (g_array_index (self->flush_ids, guint, i)));

      if (conn != NULL)
        {
          conn->flush_queued = FALSE;
          sc_channel_flush (conn->channel);
        }
    }
  g_array_set_size (self->flush_ids, 0);
}

static void
conn_send_v2 (Conn         *conn,
              ScV2Type      type,
              const guint8 *data,
              gsize         len)
{
  g_autoptr(GError) error = NULL;

  if (!sc_v2_session_seal (conn->v2, type, data, len,
                           sc_channel_get_output (conn->channel), &error))
    {
      conn_fail (conn, "could not send: %s", error->message);
      return;
    }
  conn_flush_soon (conn);
}

static void
conn_send_v1 (Conn       *conn,
              const char *text,
              gsize       len)
{
  g_autoptr(GError) error = NULL;

  if (!sc_v1_seal (conn->v1, text, len, sc_channel_get_output (conn->channel), &error))
    {
      conn_fail (conn, "could not send: %s", error->message);
      return;
    }
  conn_flush_soon (conn);
}

/* "message" from @conn, taking @text, or @block if not NULL with @text
 * inside it: a 64 KiB text is not copied again.  If the owner is behind,
 * @conn is not read until it catches up. */
static void
post_message (Conn       *conn,
              char       *text,
              GByteArray *block)
{
  ScServer *self = conn->server;
  Event *ev = g_new0 (Event, 1);

  ev->signal = SIGNAL_MESSAGE;
  ev->id = conn->id;
  ev->a = g_strdup (conn_display_name (conn));
  ev->b = text;
  ev->block = block;
  ev->cost = sizeof *ev + EVENT_OVERHEAD + strlen (ev->a) +
             (block != NULL ? block->len : strlen (text));
  if (post (self, ev) && !conn->held)
    {
      conn->held = TRUE;
      sc_channel_set_paused (conn->channel, TRUE);
      g_queue_push_tail (&self->held, GUINT_TO_POINTER (conn->id));
    }
}

/* Server thread: the owner caught up; read the held connections again */
static gboolean
release_in_thread (gpointer data)
{
  ScServer *self = data;
  gpointer id;

  while ((id = g_queue_pop_head (&self->held)) != NULL)
    {
      Conn *conn = g_hash_table_lookup (self->conns, id);

      if (conn != NULL)
        {
          conn->held = FALSE;
          sc_channel_set_paused (conn->channel, conn->busy);
        }
    }
  return G_SOURCE_REMOVE;
}

/* Join and leave go to v2 clients only (v1 has no such message), and only
 * in rooms of up to "presence-limit" clients (@room, the subject included):
 * each announcement costs a record per member, so announcing every arrival
 * would make building a room of 10,000 cost 50 million records. */
static void
broadcast_event (ScServer   *self,
                 Conn       *subject,
                 const char *event,
                 guint       room)
{
  g_autofree char *json = NULL;
  gsize len;
  GList *l;

  if (room > self->presence_limit)
    return;
  json = sc_message_build_event (event, conn_display_name (subject), subject->fingerprint, &len);
  for (l = self->ready.head; l != NULL; l = l->next)
    {
      Conn *other = l->data;

      if (other != subject && other->protocol == SC_PROTOCOL_V2 &&
          !sc_channel_is_closed (other->channel))
        conn_send_v2 (other, SC_V2_EVENT, (const guint8 *) json, len);
    }
}

/* Passes @text on to every other ready client, in its protocol.  FALSE,
 * and nothing sent, if with its sender's name it would not fit in a v2
 * record: a Secure Chat client leaves room for that
 * (SC_V2_RELAY_HEADROOM), and one that does not must not get its
 * receivers cut off for it. */
static gboolean
relay (ScServer   *self,
       Conn       *sender,
       const char *text)
{
  g_autofree char *v2_json = NULL;
  g_autofree char *v1_text = NULL;
  gsize v2_len = 0, v1_len = 0;
  GList *l;

  for (l = self->ready.head; l != NULL && v2_json == NULL; l = l->next)
    {
      Conn *other = l->data;

      if (other != sender && other->protocol == SC_PROTOCOL_V2)
        v2_json = sc_message_build_chat (conn_display_name (sender), sender->fingerprint,
                                         text, g_get_real_time () / 1000, &v2_len);
    }
  if (v2_len > self->message_max)
    return FALSE;

  for (l = self->ready.head; l != NULL; l = l->next)
    {
      Conn *other = l->data;

      if (other == sender || sc_channel_is_closed (other->channel))
        continue;
      if (other->protocol == SC_PROTOCOL_V2)
        conn_send_v2 (other, SC_V2_CHAT, (const guint8 *) v2_json, v2_len);
      else
        {
          if (v1_text == NULL)
            {
              v1_text = g_strdup_printf ("%s: %s", conn_display_name (sender), text);
              v1_len = strlen (v1_text);
            }
          conn_send_v1 (other, v1_text, v1_len);
        }
    }
  return TRUE;
}

/* A text that cannot be passed on is refused, with its sender */
static gboolean
relay_or_fail (Conn       *sender,
               const char *text)
{
  if (relay (sender->server, sender, text))
    return TRUE;
  conn_fail (sender, "protocol error: a message of %" G_GSIZE_FORMAT " bytes is too long to pass on "
             "with its sender's name", strlen (text));
  return FALSE;
}

static void
conn_set_ready (Conn *conn)
{
  ScServer *self = conn->server;

  conn->ready = TRUE;
  if (conn->timeout != NULL)
    {
      g_source_destroy (conn->timeout);
      g_clear_pointer (&conn->timeout, g_source_unref);
    }
  conn->ready_link.data = conn;
  g_queue_push_tail_link (&self->ready, &conn->ready_link);
  if (self->idle_sweep != NULL)
    idle_touch (conn);
  post_event3 (self, SIGNAL_CLIENT_READY, conn->id, conn->protocol,
               conn_display_name (conn), conn->fingerprint,
               conn->v2 ? sc_v2_session_get_code (conn->v2) : NULL);
  g_debug ("client %u (%s) authenticated: protocol %u, fingerprint %s",
             conn->id, sc_channel_get_peer (conn->channel), conn->protocol, conn->fingerprint);
  broadcast_event (self, conn, "join", self->ready.length);
}

static gboolean
client_allowed (ScServer   *self,
                const char *fingerprint)
{
  if (!self->allow_list || sc_trust_store_is_authorized (self->trust, fingerprint))
    return TRUE;
  /* the operator may have approved it since we last read the file */
  return sc_trust_store_reload (self->trust, NULL) &&
         sc_trust_store_is_authorized (self->trust, fingerprint);
}

/* ---- v1: the RSA work runs in a worker thread ---- */

typedef struct {
  guint        id;
  GBytes      *frame;
  ScV1Session *session;
  char        *fingerprint;
} V1Work;

static void
v1_work_free (V1Work *work)
{
  g_bytes_unref (work->frame);
  sc_v1_session_free (work->session);
  g_free (work->fingerprint);
  g_free (work);
}

static void
v1_accept_in_thread (GTask        *task,
                     gpointer      source,
                     gpointer      data,
                     GCancellable *cancellable)
{
  ScServer *self = source;
  V1Work *work = data;
  GError *error = NULL;

  work->session = sc_v1_server_accept (sc_identity_get_rsa (self->identity),
                                       g_bytes_get_data (work->frame, NULL),
                                       g_bytes_get_size (work->frame),
                                       &work->fingerprint, &error);
  if (work->session == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void process_frames (Conn *conn);

static void
v1_accept_done (GObject      *source,
                GAsyncResult *result,
                gpointer      data)
{
  ScServer *self = SC_SERVER (source);
  V1Work *work = g_task_get_task_data (G_TASK (result));
  g_autoptr(GError) error = NULL;
  Conn *conn;

  self->in_flight--;
  conn = g_hash_table_lookup (self->conns, GUINT_TO_POINTER (work->id));
  if (self->stopping)
    {
      if (self->in_flight == 0)
        g_main_loop_quit (self->loop);
      return;
    }
  if (conn == NULL)
    return;

  conn->busy = FALSE;
  sc_channel_set_paused (conn->channel, conn->held);
  if (!g_task_propagate_boolean (G_TASK (result), &error))
    conn_fail (conn, "legacy handshake failed: %s", error->message);
  else if (!client_allowed (self, work->fingerprint))
    conn_fail (conn, "rejected: %s is not on the allow-list", work->fingerprint);
  else
    {
      conn->v1 = g_steal_pointer (&work->session);
      conn->fingerprint = g_steal_pointer (&work->fingerprint);
      conn_set_ready (conn);
      /* frames that arrived while we were computing */
      process_frames (conn);
    }
  if (conn->closed_while_busy)
    conn_finish (conn, NULL);
}

static void
v1_start_accept (Conn        *conn,
                 const ScFrame *frame)
{
  ScServer *self = conn->server;
  V1Work *work = g_new0 (V1Work, 1);
  g_autoptr(GTask) task = g_task_new (self, NULL, v1_accept_done, NULL);

  work->id = conn->id;
  work->frame = g_bytes_new (frame->data, frame->len);
  g_task_set_task_data (task, work, (GDestroyNotify) v1_work_free);
  conn->busy = TRUE;
  /* a seed client sends its messages right behind its handshake: leave
   * them in the socket until the handshake is computed, rather than
   * buffering them here without bound */
  sc_channel_set_paused (conn->channel, TRUE);
  self->in_flight++;
  g_task_run_in_thread (task, v1_accept_in_thread);
}

static void
process_v1 (Conn          *conn,
            const ScFrame *frame)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;

  if (!conn->ready)
    {
      v1_start_accept (conn, frame);
      return;
    }
  text = sc_v1_open (conn->v1, frame->data, frame->len, &error);
  if (text == NULL)
    {
      conn_fail (conn, "bad legacy message: %s", error->message);
      return;
    }
  if (!relay_or_fail (conn, text))
    return;
  post_message (conn, g_steal_pointer (&text), NULL);
}

/* ---- v2 ---- */

static void
v2_authenticated (Conn *conn)
{
  ScServer *self = conn->server;
  g_autofree char *welcome = NULL;
  gsize len;

  conn->nickname = g_strdup (sc_v2_session_get_peer_nickname (conn->v2));
  conn->fingerprint = g_strdup (sc_v2_session_get_peer_fingerprint (conn->v2));

  if (!client_allowed (self, conn->fingerprint))
    {
      static const char reason[] = "This server only admits approved clients; "
                                   "ask its operator to approve your key";

      conn_send_v2 (conn, SC_V2_REJECT, (const guint8 *) reason, strlen (reason));
      conn->reason = g_strdup_printf ("rejected: %s is not on the allow-list", conn->fingerprint);
      conn->failed = TRUE;  /* whatever else it sent is not read */
      sc_channel_close_after_flush (conn->channel, SC_CLOSE_LINGER_MS);
      return;
    }

  welcome = sc_message_build_welcome (self->name, self->ready.length + 1, &len);
  conn_send_v2 (conn, SC_V2_WELCOME, (const guint8 *) welcome, len);
  /* the client waits for it: out before the "client-ready" event wakes
   * the owner's thread and the join goes to the others */
  sc_channel_flush (conn->channel);
  if (sc_channel_is_closed (conn->channel))
    return;
  sc_frame_reader_set_limit (conn->reader, sc_v2_session_get_frame_limit (conn->v2));
  conn_set_ready (conn);
}

/* Texts from this size on are handed over in their record's buffer */
#define LARGE_TEXT 4096

static void
prepare_spare_v2 (ScServer *self)
{
  if (self->spare_v2 != NULL || self->stopping)
    return;
  self->spare_v2 = sc_v2_session_new (SC_V2_ROLE_SERVER, self->identity, NULL);
  /* on failure the next client's session draws its own */
  if (!sc_v2_server_prepare (self->spare_v2, NULL))
    g_clear_pointer (&self->spare_v2, sc_v2_session_free);
}

static void
process_v2 (Conn    *conn,
            ScFrame *frame)
{
  ScServer *self = conn->server;
  g_autoptr(GError) error = NULL;
  ScV2Type type;
  guint8 *pt;
  gsize len;

  if (sc_v2_session_get_state (conn->v2) == SC_V2_STATE_START)
    {
      if (!sc_v2_server_consume_client_hello (conn->v2, frame->data, frame->len,
                                              sc_channel_get_output (conn->channel), &error))
        {
          conn_fail (conn, "handshake failed: %s", error->message);
          return;
        }
      sc_channel_flush (conn->channel);
      /* while the client checks the ServerHello: this session's keys, and
       * the next session's ephemeral key, both off the handshake's path */
      if (!sc_v2_server_derive_keys (conn->v2, &error))
        {
          conn_fail (conn, "handshake failed: %s", error->message);
          return;
        }
      prepare_spare_v2 (self);
      return;
    }

  if (!sc_v2_session_open (conn->v2, frame->data, frame->len, &type, &pt, &len, &error))
    {
      conn_fail (conn, "%s: %s", conn->ready ? "protocol error" : "handshake failed",
                 error->message);
      return;
    }

  switch (type)
    {
    case SC_V2_CLIENT_AUTH:
      v2_authenticated (conn);
      break;
    case SC_V2_CHAT:
      {
        g_auto(ScMessage) msg = { 0 };
        GByteArray *block = NULL;
        char *text = NULL;

        /* a large text stays where it was decrypted, and its record's
         * buffer goes to the owner's thread with it */
        if (len >= LARGE_TEXT &&
            (text = sc_message_chat_request_text_in_place (pt, len)) != NULL &&
            (block = sc_frame_reader_take_buffer (conn->reader, frame)) != NULL)
          {
            reuse_block (self, conn->reader);
            if (!relay_or_fail (conn, text))
              {
                g_byte_array_unref (block);
                return;
              }
            post_message (conn, text, block);
            break;
          }
        if (text != NULL)
          msg.text = g_strdup (text);
        else if (!sc_message_parse_chat_request (pt, len, &msg, &error))
          {
            conn_fail (conn, "protocol error: %s", error->message);
            return;
          }
        if (!relay_or_fail (conn, msg.text))
          return;
        post_message (conn, g_steal_pointer (&msg.text), NULL);
      }
      break;
    case SC_V2_CLOSE:
      conn->got_close = TRUE;
      conn->failed = TRUE;  /* nothing may follow a Close */
      sc_channel_close (conn->channel, NULL);
      break;
    case SC_V2_KEY_UPDATE:
    default:
      break;
    }
}

static void
process_frames (Conn *conn)
{
  ScServer *self = conn->server;
  g_autoptr(GError) error = NULL;
  gboolean heard = FALSE;
  ScFrame frame;

  while (!conn->busy && !conn->failed &&
         sc_frame_reader_next (conn->reader, &frame, &error))
    {
      heard = TRUE;
      if (conn->protocol == SC_PROTOCOL_UNKNOWN)
        {
          if (sc_frame_reader_get_mode (conn->reader) == SC_FRAME_V1)
            {
              if (!self->allow_legacy)
                {
                  conn_fail (conn, "refused: legacy (v1) clients are not accepted");
                  return;
                }
              conn->protocol = SC_PROTOCOL_V1;
            }
          else
            {
              ScRandom *rng = NULL;

              conn->protocol = SC_PROTOCOL_V2;
              conn->v2 = g_steal_pointer (&self->spare_v2);
              if (conn->v2 == NULL)
                conn->v2 = sc_v2_session_new (SC_V2_ROLE_SERVER, self->identity, rng);
              sc_v2_session_set_message_max (conn->v2, self->message_max);
              sc_v2_session_set_key_update_limit (conn->v2, self->key_update_limit);
            }
        }
      if (conn->protocol == SC_PROTOCOL_V1)
        process_v1 (conn, &frame);
      else
        process_v2 (conn, &frame);
    }
  /* once per batch of frames: the clock is read once, not per frame */
  if (heard && conn->idle_link.data != NULL)
    idle_touch (conn);
  if (error != NULL)
    conn_fail (conn, "%s: %s", conn->ready ? "protocol error" : "handshake failed", error->message);
}

static void
on_conn_read (ScChannel    *channel,
              const guint8 *data,
              gsize         len,
              gpointer      user_data)
{
  Conn *conn = user_data;

  if (conn->failed)
    return;
  /* 0x00 starts a v2 frame and '{' a seed one (after whitespace): anything
   * else is neither, and is refused at once rather than buffered until the
   * handshake times out */
  for (gsize i = 0; data != NULL && !conn->sniffed && i < len; i++)
    if (!g_ascii_isspace (data[i]))
      {
        conn->sniffed = TRUE;
        if (data[i] != 0x00 && data[i] != '{')
          {
            conn_fail (conn, "handshake failed: the first byte 0x%02x starts neither a v2 frame "
                       "nor a legacy JSON frame", data[i]);
            return;
          }
      }
  if (data != NULL)
    sc_frame_reader_feed (conn->reader, data, len);
  process_frames (conn);
}

static gboolean
on_handshake_timeout (gpointer data)
{
  Conn *conn = data;

  g_clear_pointer (&conn->timeout, g_source_unref);
  if (!conn->ready)
    conn_fail (conn, "handshake timed out");
  return G_SOURCE_REMOVE;
}

/* "host:port" of the other end, as ScChannel names it */
static char *
peer_of (GSocketConnection *connection)
{
  g_autoptr(GSocketAddress) addr = g_socket_connection_get_remote_address (connection, NULL);
  GInetAddress *inet;
  g_autofree char *host = NULL;

  if (!G_IS_INET_SOCKET_ADDRESS (addr))
    return g_strdup ("unknown");
  inet = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (addr));
  host = g_inet_address_to_string (inet);
  return g_strdup_printf (g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV6
                          ? "[%s]:%u" : "%s:%u",
                          host, g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (addr)));
}

static void
conn_accept (ScServer          *self,
             GSocketConnection *connection)
{
  GBytes *greeting;
  Conn *conn;

  if (g_hash_table_size (self->conns) >= self->conn_limit)
    {
      /* refused before any work: the connection just closes, and the owner
       * hears of it once (a line per refusal costs less than the accept) */
      g_autofree char *peer = peer_of (connection);
      g_autofree char *reason = g_strdup_printf ("too many connections (limit %u)",
                                                 self->conn_limit);

      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
      post_event (self, SIGNAL_CLIENT_REFUSED, 0, 0, peer, reason);
      return;
    }

  conn = g_new0 (Conn, 1);
  conn->server = self;
  conn->id = ++self->next_id;
  conn->reader = sc_frame_reader_new (SC_FRAME_DETECT);
  conn->channel = sc_channel_new (connection, self->poller, self->send_queue_max,
                                  on_conn_read, on_conn_closed, conn);
  sc_channel_set_reader (conn->channel, conn->reader);
  g_hash_table_insert (self->conns, GUINT_TO_POINTER (conn->id), conn);
  g_atomic_int_inc (&self->n_clients);
  post_event (self, SIGNAL_CLIENT_CONNECTED, conn->id, 0, sc_channel_get_peer (conn->channel), NULL);

  conn->timeout = g_timeout_source_new (self->handshake_timeout_ms);
  g_source_set_callback (conn->timeout, on_handshake_timeout, conn, NULL);
  g_source_attach (conn->timeout, self->context);

  /* the greeting goes out at once, whatever the client will speak */
  greeting = sc_identity_get_greeting (self->identity);
  g_byte_array_append (sc_channel_get_output (conn->channel), g_bytes_get_data (greeting, NULL),
                       (guint) g_bytes_get_size (greeting));
  sc_channel_flush (conn->channel);
  sc_channel_start (conn->channel);
}

static void accept_watch (ScServer *self);

static gboolean
on_accept_retry (gpointer data)
{
  accept_watch (data);
  return G_SOURCE_REMOVE;
}

/* An accept() error that belongs to the connection being taken, which the
 * kernel has already dropped (accept(2) lists them for TCP/IP): the next
 * connection in the queue may be fine, so the listener must not rest */
static gboolean
accept_error_is_per_connection (int errsv)
{
  switch (errsv)
    {
    case ECONNABORTED: case ECONNRESET: case ETIMEDOUT: case EPROTO:
    case ENETDOWN: case ENETUNREACH: case EHOSTDOWN: case EHOSTUNREACH:
    case ENONET: case ENOPROTOOPT: case EOPNOTSUPP: case EPERM:
      return TRUE;
    default:
      return FALSE;
    }
}

/* Takes what the kernel has queued on the listener, a batch at a time.
 * When accept() fails for want of descriptors (EMFILE, ENFILE) or memory,
 * the listener stays readable: GSocketService retries at once and spins, a
 * warning each time.  Here the listener rests for a while instead, the
 * connections wait in the kernel's queue, and the owner hears once.  The
 * descriptor is accepted here rather than with g_socket_accept(), whose
 * GError does not tell these errors from those of one connection. */
static gboolean
on_listener_ready (GSocket      *listener,
                   GIOCondition  condition,
                   gpointer      data)
{
  ScServer *self = data;
  guint dropped = 0;

  for (guint i = 0; i < SC_ACCEPT_BATCH; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GSocket) sock = NULL;
      g_autoptr(GSocketConnection) connection = NULL;
      g_autofree char *message = NULL;
      int fd, errsv;

      do
        fd = accept4 (g_socket_get_fd (listener), NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
      while (fd < 0 && errno == EINTR);
      errsv = errno;
      if (fd < 0 && (errsv == EAGAIN || errsv == EWOULDBLOCK))
        break;
      /* (a whole batch of them, as a denial that leaves the connection
       * queued would give, rests like the errors below) */
      if (fd < 0 && accept_error_is_per_connection (errsv) && ++dropped < SC_ACCEPT_BATCH)
        {
          g_debug ("accept: %s; taking the next connection", g_strerror (errsv));
          continue;
        }
      if (fd >= 0 && (sock = g_socket_new_from_fd (fd, &error)) == NULL)
        {
          /* GIO cannot describe the descriptor (and has closed it, as
           * the failed GSocket was finalized): that connection alone is
           * lost */
          g_debug ("accept: %s", error->message);
          continue;
        }
      if (fd < 0)
        {
          message = g_strdup_printf ("Error accepting connection: %s", g_strerror (errsv));
          if (!self->accept_failing)
            post_event (self, SIGNAL_ACCEPT_FAILED, 0, SC_ACCEPT_RETRY_MS, message, NULL);
          self->accept_failing = TRUE;
          g_source_unref (self->accept_source);
          self->accept_source = g_timeout_source_new (SC_ACCEPT_RETRY_MS);
          g_source_set_callback (self->accept_source, on_accept_retry, self, NULL);
          g_source_attach (self->accept_source, self->context);
          return G_SOURCE_REMOVE;
        }
      self->accept_failing = FALSE;
      connection = g_socket_connection_factory_create_connection (sock);
      conn_accept (self, connection);
    }
  return G_SOURCE_CONTINUE;
}

static void
accept_watch (ScServer *self)
{
  g_clear_pointer (&self->accept_source, g_source_unref);
  self->accept_source = g_socket_create_source (self->listener, G_IO_IN, NULL);
  g_source_set_callback (self->accept_source, G_SOURCE_FUNC (on_listener_ready), self, NULL);
  g_source_attach (self->accept_source, self->context);
}

/* ---- the thread ---- */

static void
signal_started (ScServer *self,
                GError   *error)
{
  g_mutex_lock (&self->start_mutex);
  self->start_done = TRUE;
  self->start_error = error;
  g_cond_signal (&self->start_cond);
  g_mutex_unlock (&self->start_mutex);
}

static gboolean
listen_in_thread (ScServer *self,
                  GError  **error)
{
  g_autoptr(GInetAddress) inet = g_inet_address_new_from_string (self->bind_address);
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GSocketAddress) effective = NULL;

  if (inet == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "“%s” is not an IP address to listen on", self->bind_address);
      return FALSE;
    }
  address = g_inet_socket_address_new (inet, self->port);
  self->listener = g_socket_new (g_inet_address_get_family (inet), G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP, error);
  if (self->listener == NULL)
    goto fail;
  g_socket_set_blocking (self->listener, FALSE);
  /* with GIO's default backlog a burst of connections overflows the accept
   * queue, and clients that then wait for our greeting hang */
  g_socket_set_listen_backlog (self->listener, SC_LISTEN_BACKLOG);
  if (!g_socket_bind (self->listener, address, TRUE, error) ||
      !g_socket_listen (self->listener, error) ||
      (effective = g_socket_get_local_address (self->listener, error)) == NULL)
    goto fail;
  self->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
  self->accept_failing = FALSE;
  accept_watch (self);
  return TRUE;

fail:
  g_prefix_error (error, "Cannot listen on %s port %u: ", self->bind_address, self->port);
  g_clear_object (&self->listener);
  return FALSE;
}

static gpointer
server_thread (gpointer data)
{
  ScServer *self = data;
  GError *error = NULL;

  g_main_context_push_thread_default (self->context);
  if (!listen_in_thread (self, &error))
    {
      g_main_context_pop_thread_default (self->context);
      signal_started (self, error);
      return NULL;
    }
  if (self->idle_timeout_ms > 0)
    {
      self->idle_sweep = g_source_new (&idle_sweep_funcs, sizeof (GSource));
      g_source_set_callback (self->idle_sweep, idle_sweep, self, NULL);
      g_source_attach (self->idle_sweep, self->context);
    }
  post_event (self, SIGNAL_LISTENING, 0, self->port, NULL, NULL);
  signal_started (self, NULL);

  g_main_loop_run (self->loop);

  g_main_context_pop_thread_default (self->context);
  return NULL;
}

static gboolean
stop_in_thread (gpointer data)
{
  ScServer *self = data;
  static const char reason[] = "server stopped";
  GHashTableIter iter;
  gpointer value;

  self->stopping = TRUE;
  g_source_destroy (self->accept_source);
  g_clear_pointer (&self->accept_source, g_source_unref);
  g_socket_close (self->listener, NULL);

  /* Close every session properly, best effort without blocking */
  g_hash_table_iter_init (&iter, self->conns);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Conn *conn = value;

      if (conn->ready && conn->protocol == SC_PROTOCOL_V2 && !sc_channel_is_closed (conn->channel))
        conn_send_v2 (conn, SC_V2_CLOSE, NULL, 0);
      post_event (self, SIGNAL_CLIENT_DISCONNECTED, conn->id, 0, reason, NULL);
    }
  g_queue_init (&self->ready);  /* the links live inside the Conns */
  g_queue_init (&self->idle);
  g_queue_clear (&self->held);
  if (self->idle_sweep != NULL)
    {
      g_source_destroy (self->idle_sweep);
      g_clear_pointer (&self->idle_sweep, g_source_unref);
    }
  g_hash_table_remove_all (self->conns);
  g_array_set_size (self->flush_ids, 0);
  g_clear_pointer (&self->spare_v2, sc_v2_session_free);
  g_atomic_int_set (&self->n_clients, 0);

  if (self->in_flight == 0)
    g_main_loop_quit (self->loop);
  return G_SOURCE_REMOVE;
}

/* ---- public API (owner thread) ---- */

/* Descriptors left free beside the connections: a refusal takes one for a
 * moment, and the program has its own files */
#define FD_MARGIN 16

static guint
count_open_descriptors (void)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  guint n = 0;

  if (dir == NULL)
    return 64;  /* a guess, where /proc is missing */
  while (g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

/* How many connections fit in the open-file limit.  The soft limit is often
 * 1024, the default max-clients: it is raised, up to the hard limit, as far
 * as max-clients needs.  Connections that still do not fit lower the
 * limit: beyond it a client is refused at once, where at EMFILE it would
 * wait unanswered in the kernel's queue while accepting rests. */
static guint
fit_descriptors (guint wanted)
{
  struct rlimit rl;
  rlim_t base = count_open_descriptors () + FD_MARGIN;
  rlim_t need = base + wanted;

  if (getrlimit (RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
    return wanted;
  if (rl.rlim_cur < need)
    {
      struct rlimit raised = rl;

      raised.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
      if (setrlimit (RLIMIT_NOFILE, &raised) == 0)
        rl = raised;
    }
  if (rl.rlim_cur >= need)
    return wanted;
  return rl.rlim_cur > base ? (guint) (rl.rlim_cur - base) : 1;
}

gboolean
sc_server_start (ScServer *self,
                 GError  **error)
{
  g_return_val_if_fail (SC_IS_SERVER (self), FALSE);
  g_return_val_if_fail (!self->running, FALSE);

  self->conn_limit = fit_descriptors (self->max_clients);
  self->owner_context = g_main_context_ref_thread_default ();
  self->context = g_main_context_new ();
  self->poller = sc_poller_new (self->context, error);
  if (self->poller == NULL)
    {
      g_clear_pointer (&self->context, g_main_context_unref);
      g_clear_pointer (&self->owner_context, g_main_context_unref);
      return FALSE;
    }
  sc_poller_set_batch_end (self->poller, flush_batch, self);
  self->loop = g_main_loop_new (self->context, FALSE);
  self->conns = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) conn_free);
  self->stopping = FALSE;
  self->start_done = FALSE;
  self->next_id = 0;

  self->thread = g_thread_new ("sc-server", server_thread, self);
  g_mutex_lock (&self->start_mutex);
  while (!self->start_done)
    g_cond_wait (&self->start_cond, &self->start_mutex);
  g_mutex_unlock (&self->start_mutex);

  if (self->start_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&self->start_error));
      g_thread_join (g_steal_pointer (&self->thread));
      g_clear_pointer (&self->conns, g_hash_table_unref);
      g_clear_pointer (&self->poller, sc_poller_free);
      g_clear_pointer (&self->loop, g_main_loop_unref);
      g_clear_pointer (&self->context, g_main_context_unref);
      g_clear_pointer (&self->owner_context, g_main_context_unref);
      return FALSE;
    }
  self->running = TRUE;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PORT]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RUNNING]);
  return TRUE;
}

void
sc_server_stop (ScServer *self)
{
  g_return_if_fail (SC_IS_SERVER (self));

  if (!self->running)
    return;
  g_main_context_invoke (self->context, stop_in_thread, self);
  g_thread_join (g_steal_pointer (&self->thread));

  g_clear_object (&self->listener);
  g_clear_pointer (&self->conns, g_hash_table_unref);
  g_clear_pointer (&self->poller, sc_poller_free);
  g_clear_pointer (&self->loop, g_main_loop_unref);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_clear_pointer (&self->owner_context, g_main_context_unref);
  self->running = FALSE;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RUNNING]);
}

typedef struct {
  ScServer *server;
  guint     id;
} DisconnectData;

static gboolean
disconnect_in_thread (gpointer data)
{
  DisconnectData *d = data;
  Conn *conn = g_hash_table_lookup (d->server->conns, GUINT_TO_POINTER (d->id));

  if (conn != NULL && !sc_channel_is_closed (conn->channel))
    conn_close_with (conn, g_strdup ("disconnected by the server operator"));
  return G_SOURCE_REMOVE;
}

void
sc_server_disconnect_client (ScServer *self,
                             guint     id)
{
  DisconnectData *d;

  g_return_if_fail (SC_IS_SERVER (self));
  if (!self->running)
    return;
  d = g_new (DisconnectData, 1);
  d->server = self;
  d->id = id;
  g_main_context_invoke_full (self->context, G_PRIORITY_DEFAULT, disconnect_in_thread, d, g_free);
}

gboolean
sc_server_get_running (ScServer *self)
{
  return self->running;
}

guint16
sc_server_get_port (ScServer *self)
{
  return self->port;
}

ScIdentity *
sc_server_get_identity (ScServer *self)
{
  return self->identity;
}

guint
sc_server_get_n_clients (ScServer *self)
{
  return (guint) g_atomic_int_get (&self->n_clients);
}

guint
sc_server_get_connection_limit (ScServer *self)
{
  return self->running ? self->conn_limit : self->max_clients;
}

ScServer *
sc_server_new (ScIdentity   *identity,
               ScTrustStore *trust)
{
  ScServer *self = g_object_new (SC_TYPE_SERVER, NULL);

  self->identity = sc_identity_ref (identity);
  self->trust = trust;
  return self;
}

/* ---- GObject ---- */

static void
sc_server_finalize (GObject *object)
{
  ScServer *self = SC_SERVER (object);

  sc_server_stop (self);
  g_clear_pointer (&self->identity, sc_identity_unref);
  g_free (self->bind_address);
  g_free (self->name);
  g_queue_clear_full (&self->events, (GDestroyNotify) event_free);
  g_ptr_array_unref (self->spare_blocks);
  g_array_unref (self->flush_ids);
  g_mutex_clear (&self->start_mutex);
  g_cond_clear (&self->start_cond);
  g_mutex_clear (&self->events_mutex);

  G_OBJECT_CLASS (sc_server_parent_class)->finalize (object);
}

static void
sc_server_get_property (GObject    *object,
                        guint       prop_id,
                        GValue     *value,
                        GParamSpec *pspec)
{
  ScServer *self = SC_SERVER (object);

  switch (prop_id)
    {
    case PROP_BIND_ADDRESS:
      g_value_set_string (value, self->bind_address);
      break;
    case PROP_PORT:
      g_value_set_uint (value, self->port);
      break;
    case PROP_ALLOW_LEGACY:
      g_value_set_boolean (value, self->allow_legacy);
      break;
    case PROP_ALLOW_LIST:
      g_value_set_boolean (value, self->allow_list);
      break;
    case PROP_MAX_CLIENTS:
      g_value_set_uint (value, self->max_clients);
      break;
    case PROP_PRESENCE_LIMIT:
      g_value_set_uint (value, self->presence_limit);
      break;
    case PROP_HANDSHAKE_TIMEOUT:
      g_value_set_uint (value, self->handshake_timeout_ms);
      break;
    case PROP_IDLE_TIMEOUT:
      g_value_set_uint (value, self->idle_timeout_ms);
      break;
    case PROP_SEND_QUEUE_MAX:
      g_value_set_uint64 (value, self->send_queue_max);
      break;
    case PROP_MESSAGE_MAX:
      g_value_set_uint (value, (guint) self->message_max);
      break;
    case PROP_KEY_UPDATE_LIMIT:
      g_value_set_uint (value, self->key_update_limit);
      break;
    case PROP_NAME:
      g_value_set_string (value, self->name);
      break;
    case PROP_RUNNING:
      g_value_set_boolean (value, self->running);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
sc_server_set_property (GObject      *object,
                        guint         prop_id,
                        const GValue *value,
                        GParamSpec   *pspec)
{
  ScServer *self = SC_SERVER (object);

  if (self->running)
    {
      g_warning ("ScServer:%s cannot change while the server runs", pspec->name);
      return;
    }
  switch (prop_id)
    {
    case PROP_BIND_ADDRESS:
      g_free (self->bind_address);
      self->bind_address = g_value_dup_string (value);
      break;
    case PROP_PORT:
      self->port = (guint16) g_value_get_uint (value);
      break;
    case PROP_ALLOW_LEGACY:
      self->allow_legacy = g_value_get_boolean (value);
      break;
    case PROP_ALLOW_LIST:
      self->allow_list = g_value_get_boolean (value);
      break;
    case PROP_MAX_CLIENTS:
      self->max_clients = g_value_get_uint (value);
      break;
    case PROP_PRESENCE_LIMIT:
      self->presence_limit = g_value_get_uint (value);
      break;
    case PROP_HANDSHAKE_TIMEOUT:
      self->handshake_timeout_ms = g_value_get_uint (value);
      break;
    case PROP_IDLE_TIMEOUT:
      self->idle_timeout_ms = g_value_get_uint (value);
      break;
    case PROP_SEND_QUEUE_MAX:
      self->send_queue_max = g_value_get_uint64 (value);
      break;
    case PROP_MESSAGE_MAX:
      self->message_max = g_value_get_uint (value);
      break;
    case PROP_KEY_UPDATE_LIMIT:
      self->key_update_limit = g_value_get_uint (value);
      break;
    case PROP_NAME:
      g_free (self->name);
      self->name = g_value_dup_string (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      return;
    }
  g_object_notify_by_pspec (object, pspec);
}

static void
sc_server_class_init (ScServerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  object_class->finalize = sc_server_finalize;
  object_class->get_property = sc_server_get_property;
  object_class->set_property = sc_server_set_property;

  properties[PROP_BIND_ADDRESS] =
    g_param_spec_string ("bind-address", NULL, NULL, "127.0.0.1", rw);
  properties[PROP_PORT] =
    g_param_spec_uint ("port", NULL, NULL, 0, 65535, SC_DEFAULT_PORT, rw);
  properties[PROP_ALLOW_LEGACY] =
    g_param_spec_boolean ("allow-legacy", NULL, NULL, TRUE, rw);
  properties[PROP_ALLOW_LIST] =
    g_param_spec_boolean ("allow-list", NULL, NULL, FALSE, rw);
  properties[PROP_MAX_CLIENTS] =
    g_param_spec_uint ("max-clients", NULL, NULL, 1, G_MAXUINT, SC_MAX_CONNECTIONS_DEFAULT, rw);
  properties[PROP_PRESENCE_LIMIT] =
    g_param_spec_uint ("presence-limit", NULL, NULL, 0, G_MAXUINT, SC_PRESENCE_LIMIT_DEFAULT, rw);
  properties[PROP_HANDSHAKE_TIMEOUT] =
    g_param_spec_uint ("handshake-timeout", NULL, NULL, 1, G_MAXUINT, SC_HANDSHAKE_TIMEOUT_MS, rw);
  /* milliseconds a ready client may go without sending a frame; 0: no limit */
  properties[PROP_IDLE_TIMEOUT] =
    g_param_spec_uint ("idle-timeout", NULL, NULL, 0, G_MAXUINT, 0, rw);
  properties[PROP_SEND_QUEUE_MAX] =
    g_param_spec_uint64 ("send-queue-max", NULL, NULL, 1024, G_MAXUINT32, SC_SEND_QUEUE_MAX, rw);
  properties[PROP_MESSAGE_MAX] =
    g_param_spec_uint ("message-max", NULL, NULL, 1, 16 * 1024 * 1024, SC_V2_MESSAGE_MAX_DEFAULT, rw);
  properties[PROP_KEY_UPDATE_LIMIT] =
    g_param_spec_uint ("key-update-limit", NULL, NULL, 2, SC_V2_KEY_UPDATE_LIMIT,
                       SC_V2_KEY_UPDATE_LIMIT, rw);
  properties[PROP_NAME] =
    g_param_spec_string ("name", NULL, NULL, "Secure Chat", rw);
  properties[PROP_RUNNING] =
    g_param_spec_boolean ("running", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /* The strings live in the queued event for the whole emission: static
   * scope spares a copy of every message's text. */
#define STR (G_TYPE_STRING | G_SIGNAL_TYPE_STATIC_SCOPE)
  signals[SIGNAL_LISTENING] =
    g_signal_new ("listening", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_UINT);
  signals[SIGNAL_CLIENT_CONNECTED] =
    g_signal_new ("client-connected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_UINT, STR);
  signals[SIGNAL_CLIENT_READY] =
    g_signal_new ("client-ready", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 5, G_TYPE_UINT, G_TYPE_UINT,
                  STR, STR, STR);
  signals[SIGNAL_MESSAGE] =
    g_signal_new ("message", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 3, G_TYPE_UINT, STR, STR);
  signals[SIGNAL_CLIENT_DISCONNECTED] =
    g_signal_new ("client-disconnected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_UINT, STR);
  signals[SIGNAL_CLIENT_REFUSED] =
    g_signal_new ("client-refused", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 2, STR, STR);
  signals[SIGNAL_ACCEPT_FAILED] =
    g_signal_new ("accept-failed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 2, STR, G_TYPE_UINT);
#undef STR
}

static void
sc_server_init (ScServer *self)
{
  self->bind_address = g_strdup ("127.0.0.1");
  self->port = SC_DEFAULT_PORT;
  self->allow_legacy = TRUE;
  self->max_clients = SC_MAX_CONNECTIONS_DEFAULT;
  self->presence_limit = SC_PRESENCE_LIMIT_DEFAULT;
  self->handshake_timeout_ms = SC_HANDSHAKE_TIMEOUT_MS;
  self->send_queue_max = SC_SEND_QUEUE_MAX;
  self->message_max = SC_V2_MESSAGE_MAX_DEFAULT;
  self->key_update_limit = SC_V2_KEY_UPDATE_LIMIT;
  self->name = g_strdup ("Secure Chat");
  g_mutex_init (&self->start_mutex);
  g_cond_init (&self->start_cond);
  g_mutex_init (&self->events_mutex);
  g_queue_init (&self->events);
  self->spare_blocks = g_ptr_array_new_with_free_func ((GDestroyNotify) g_byte_array_unref);
  self->flush_ids = g_array_new (FALSE, FALSE, sizeof (guint));
}
