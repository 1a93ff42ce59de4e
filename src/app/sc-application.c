/* sc-application.c: the application, its actions, keys, server and client
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "sc-application.h"

#include <glib/gi18n.h>

#include "sc-preferences-window.h"
#include "sc-window.h"

struct _ScApplication {
  AdwApplication  parent_instance;

  GSettings      *settings;
  char           *key_dir;
  ScIdentity     *identity;
  ScTrustStore   *trust;
  ScServer       *server;
  ScClient       *client;
  /* how notification bodies are read: see sc_application_notify_message() */
  enum {
    NOTIFY_BACKEND_UNDECIDED,
    NOTIFY_BACKEND_PLAIN,        /* GLib's own interface or the portal */
    NOTIFY_BACKEND_FREEDESKTOP,
  }               notify_backend;
  enum {
    NOTIFY_CAPS_UNKNOWN,
    NOTIFY_CAPS_PLAIN,
    NOTIFY_CAPS_MARKUP,
  }               notify_caps;   /* of the freedesktop server */
  guint           notify_serial; /* of the latest server: older answers are ignored */
  guint           notify_watch;
};

enum {
  SIGNAL_KEYS_READY,
  SIGNAL_KEYS_FAILED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (ScApplication, sc_application, ADW_TYPE_APPLICATION)

static ScWindow *
get_window (ScApplication *self)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (self));

  return SC_IS_WINDOW (window) ? SC_WINDOW (window) : NULL;
}

static void
set_enabled (ScApplication *self,
             const char    *name,
             gboolean       enabled)
{
  GAction *action = g_action_map_lookup_action (G_ACTION_MAP (self), name);

  g_simple_action_set_enabled (G_SIMPLE_ACTION (action), enabled);
}

void
sc_application_update_actions (ScApplication *self)
{
  gboolean ready = self->identity != NULL;
  gboolean running = ready && sc_server_get_running (self->server);
  ScClientState state = ready ? sc_client_get_state (self->client) : SC_CLIENT_DISCONNECTED;

  set_enabled (self, "start-server", ready && !running);
  set_enabled (self, "stop-server", running);
  set_enabled (self, "connect", ready && state == SC_CLIENT_DISCONNECTED);
  set_enabled (self, "disconnect", ready && state != SC_CLIENT_DISCONNECTED);
}

/* ---- keys, loaded off the UI thread ---- */

static void
load_keys_in_thread (GTask        *task,
                     gpointer      source,
                     gpointer      data,
                     GCancellable *cancellable)
{
  const char *key_dir = data;
  GError *error = NULL;
  ScIdentity *identity = sc_identity_load_or_create (key_dir, &error);

  if (identity == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, identity, (GDestroyNotify) sc_identity_unref);
}

static void
on_keys_loaded (GObject      *source,
                GAsyncResult *result,
                gpointer      data)
{
  ScApplication *self = SC_APPLICATION (source);
  g_autoptr(GError) error = NULL;
  ScIdentity *identity = g_task_propagate_pointer (G_TASK (result), &error);

  if (identity == NULL || self->trust == NULL)
    {
      g_signal_emit (self, signals[SIGNAL_KEYS_FAILED], 0,
                     error ? error->message : _("The trust store could not be read"));
      g_clear_pointer (&identity, sc_identity_unref);
      g_application_release (G_APPLICATION (self));
      return;
    }
  self->identity = identity;
  self->server = sc_server_new (identity, self->trust);
  self->client = sc_client_new (identity, self->trust);
  sc_application_update_actions (self);
  g_signal_emit (self, signals[SIGNAL_KEYS_READY], 0);
  g_application_release (G_APPLICATION (self));
}

/* ---- actions ---- */

static void
start_server (GSimpleAction *action,
              GVariant      *param,
              gpointer       data)
{
  ScApplication *self = data;
  g_autofree char *address = g_settings_get_string (self->settings, "server-address");
  g_autoptr(GError) error = NULL;

  if (self->identity == NULL || sc_server_get_running (self->server))
    return;
  g_object_set (self->server,
                "bind-address", g_strstrip (address),
                "port", (guint) g_settings_get_int (self->settings, "server-port"),
                "allow-legacy", g_settings_get_boolean (self->settings, "allow-legacy"),
                "allow-list", g_settings_get_boolean (self->settings, "allow-list"),
                "idle-timeout", (guint) g_settings_get_int (self->settings, "idle-timeout") * 60000u,
                NULL);
  if (!sc_server_start (self->server, &error))
    {
      ScWindow *window = get_window (self);

      g_autofree char *message = NULL;

      /* what the person can do about it, not the errno text */
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE))
        message = g_strdup_printf (_("Port %u is already in use, probably by another server. "
                                     "Stop that program, or choose another port."),
                                   (guint) g_settings_get_int (self->settings, "server-port"));
      else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED) &&
               g_settings_get_int (self->settings, "server-port") < 1024)
        message = g_strdup_printf (_("You may not listen on port %u: ports below 1024 are "
                                     "reserved for the system. Choose a port from 1024 up."),
                                   (guint) g_settings_get_int (self->settings, "server-port"));
      if (window != NULL)
        sc_window_show_error (window, _("Cannot Start the Server"),
                              message != NULL ? message : error->message);
    }
  sc_application_update_actions (self);
}

static void
stop_server (GSimpleAction *action,
             GVariant      *param,
             gpointer       data)
{
  ScApplication *self = data;

  if (self->server != NULL)
    sc_server_stop (self->server);
  sc_application_update_actions (self);
}

static void
connect_client (GSimpleAction *action,
                GVariant      *param,
                gpointer       data)
{
  ScApplication *self = data;
  g_autofree char *host = g_settings_get_string (self->settings, "client-host");
  g_autofree char *nick = g_settings_get_string (self->settings, "nickname");

  if (self->identity == NULL || sc_client_get_state (self->client) != SC_CLIENT_DISCONNECTED)
    return;
  g_strstrip (host);
  g_strstrip (nick);
  if (host[0] == '\0')
    {
      ScWindow *window = get_window (self);

      if (window != NULL)
        sc_window_show_error (window, _("Cannot Connect"), _("Enter the address of a server first."));
      return;
    }
  sc_client_set_protocol (self->client, g_settings_get_enum (self->settings, "protocol"));
  sc_client_set_nickname (self->client, nick[0] ? nick : g_get_user_name ());
  sc_client_set_trust_policy (self->client, SC_TRUST_POLICY_ASK);
  sc_client_connect (self->client, host, (guint16) g_settings_get_int (self->settings, "client-port"));
  sc_application_update_actions (self);
}

static void
disconnect_client (GSimpleAction *action,
                   GVariant      *param,
                   gpointer       data)
{
  ScApplication *self = data;

  if (self->client != NULL)
    sc_client_disconnect (self->client);
  sc_application_update_actions (self);
}

static void
show_preferences (GSimpleAction *action,
                  GVariant      *param,
                  gpointer       data)
{
  ScApplication *self = data;
  ScWindow *window = get_window (self);
  ScPreferencesWindow *prefs = sc_preferences_window_new (self);

  gtk_window_set_transient_for (GTK_WINDOW (prefs), GTK_WINDOW (window));
  gtk_window_present (GTK_WINDOW (prefs));
}

static void
show_about (GSimpleAction *action,
            GVariant      *param,
            gpointer       data)
{
  ScApplication *self = data;
  static const char *developers[] = { "The Secure Chat developers", NULL };
  GtkWidget *about;

  about = g_object_new (ADW_TYPE_ABOUT_WINDOW,
                        "transient-for", get_window (self),
                        "application-name", _("Secure Chat"),
                        "application-icon", APP_ID,
                        "version", PACKAGE_VERSION,
                        "developer-name", _("The Secure Chat developers"),
                        "developers", developers,
                        "license-type", GTK_LICENSE_GPL_3_0,
                        "comments", _("Encrypted, authenticated chat with a built-in server"),
                        "translator-credits", _("translator-credits"),
                        NULL);
  gtk_window_present (GTK_WINDOW (about));
}

static void
quit (GSimpleAction *action,
      GVariant      *param,
      gpointer       data)
{
  ScApplication *self = data;
  GList *windows = gtk_application_get_windows (GTK_APPLICATION (self));

  /* closing each window stops the server and client cleanly */
  while (windows != NULL)
    {
      GList *next = windows->next;
      gtk_window_close (windows->data);
      windows = next;
    }
}

static const GActionEntry app_actions[] = {
  { "start-server", start_server },
  { "stop-server", stop_server },
  { "connect", connect_client },
  { "disconnect", disconnect_client },
  { "preferences", show_preferences },
  { "about", show_about },
  { "quit", quit },
};

/* ---- GApplication ---- */

static int
sc_application_handle_local_options (GApplication *app,
                                     GVariantDict *options)
{
  ScApplication *self = SC_APPLICATION (app);
  const char *key_dir = NULL;

  if (g_variant_dict_lookup (options, "version", "b", NULL))
    {
      g_print ("secure-chat %s\n", PACKAGE_VERSION);
      return 0;
    }
  if (g_variant_dict_lookup (options, "key-dir", "^&ay", &key_dir))
    {
      g_free (self->key_dir);
      self->key_dir = g_canonicalize_filename (key_dir, NULL);
    }
  return -1;
}

/* ---- notifications ---- */

/* GLib 2.74 hands a notification's body to a freedesktop notification
 * server as it is, and a server that announces "body-markup" reads it as
 * markup: a peer's "<a href=…>" would become a link in the notification.
 * GLib's other backends (its own interface, the portal) take plain text.
 * GLib picks its backend at the first notification; we pick as it does,
 * then.  For the freedesktop one, the server's capabilities are asked
 * whenever a server takes the name, and while they are not known (no
 * server yet, or no answer) the body is escaped. */
typedef struct {
  ScApplication *self;
  guint          serial;
} CapsCall;

static void
on_notification_caps (GObject      *source,
                      GAsyncResult *result,
                      gpointer      data)
{
  CapsCall *call = data;
  ScApplication *self = call->self;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, NULL);
  g_autofree const char **caps = NULL;

  if (reply != NULL && call->serial == self->notify_serial)
    {
      g_variant_get (reply, "(^a&s)", &caps);
      self->notify_caps = g_strv_contains (caps, "body-markup") ? NOTIFY_CAPS_MARKUP
                                                                  : NOTIFY_CAPS_PLAIN;
    }
  g_object_unref (call->self);
  g_free (call);
}

static void
on_notification_server_appeared (GDBusConnection *bus,
                                 const char      *name,
                                 const char      *owner,
                                 gpointer         data)
{
  ScApplication *self = data;
  CapsCall *call = g_new (CapsCall, 1);

  self->notify_caps = NOTIFY_CAPS_UNKNOWN;
  call->self = g_object_ref (self);
  call->serial = ++self->notify_serial;
  g_dbus_connection_call (bus, owner, "/org/freedesktop/Notifications",
                          "org.freedesktop.Notifications", "GetCapabilities", NULL,
                          G_VARIANT_TYPE ("(as)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL,
                          on_notification_caps, call);
}

static void
on_notification_server_vanished (GDBusConnection *bus,
                                 const char      *name,
                                 gpointer         data)
{
  ScApplication *self = data;

  self->notify_caps = NOTIFY_CAPS_UNKNOWN;
  self->notify_serial++;
}

/* Whether GLib's choice of backend, made now, is the freedesktop one.
 * GLib 2.74 takes the one GNOTIFICATION_BACKEND names if it can be used,
 * else the first that can of: the portal (in a Flatpak sandbox, or with
 * GTK_USE_PORTAL=1), its own interface (if org.gtk.Notifications has an
 * owner), freedesktop. */
static gboolean
glib_picks_freedesktop (GDBusConnection *bus)
{
  const char *use_portal = g_getenv ("GTK_USE_PORTAL");
  g_autoptr(GVariant) reply = NULL;
  gboolean owned = FALSE;

  if (g_strcmp0 (g_getenv ("GNOTIFICATION_BACKEND"), "freedesktop") == 0)
    return TRUE;
  if (g_file_test ("/.flatpak-info", G_FILE_TEST_EXISTS) ||
      (use_portal != NULL && use_portal[0] == '1'))
    return FALSE;
  /* GLib asks this synchronously too, just after us */
  reply = g_dbus_connection_call_sync (bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "NameHasOwner",
                                       g_variant_new ("(s)", "org.gtk.Notifications"),
                                       G_VARIANT_TYPE ("(b)"), G_DBUS_CALL_FLAGS_NONE, -1,
                                       NULL, NULL);
  if (reply != NULL)
    g_variant_get (reply, "(b)", &owned);
  return !owned;
}

void
sc_application_notify_message (ScApplication *self,
                               const char    *title,
                               const char    *text)
{
  GDBusConnection *bus = g_application_get_dbus_connection (G_APPLICATION (self));
  g_autoptr(GNotification) notification = g_notification_new (title);
  g_autofree char *escaped = NULL;

  if (bus == NULL)
    return;  /* GLib has nowhere to send it either */
  if (self->notify_backend == NOTIFY_BACKEND_UNDECIDED)
    self->notify_backend = glib_picks_freedesktop (bus) ? NOTIFY_BACKEND_FREEDESKTOP
                                                        : NOTIFY_BACKEND_PLAIN;
  if (self->notify_backend == NOTIFY_BACKEND_FREEDESKTOP &&
      self->notify_caps != NOTIFY_CAPS_PLAIN)
    escaped = g_markup_escape_text (text, -1);
  g_notification_set_body (notification, escaped != NULL ? escaped : text);
  g_application_send_notification (G_APPLICATION (self), "message", notification);
}

static void
sc_application_startup (GApplication *app)
{
  ScApplication *self = SC_APPLICATION (app);
  static const char *quit_accels[] = { "<Control>q", NULL };
  static const char *prefs_accels[] = { "<Control>comma", NULL };
  static const char *connect_accels[] = { "<Control>n", NULL };
  static const char *start_accels[] = { "<Control><Shift>s", NULL };
  static const char *shortcuts_accels[] = { "<Control>question", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(GTask) task = NULL;
  GDBusConnection *bus;

  G_APPLICATION_CLASS (sc_application_parent_class)->startup (app);

  g_action_map_add_action_entries (G_ACTION_MAP (self), app_actions,
                                   G_N_ELEMENTS (app_actions), self);
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "app.quit", quit_accels);
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "app.preferences", prefs_accels);
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "app.connect", connect_accels);
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "app.start-server", start_accels);
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "win.show-help-overlay",
                                         shortcuts_accels);
  sc_application_update_actions (self);
  bus = g_application_get_dbus_connection (app);
  if (bus != NULL)
    self->notify_watch =
      g_bus_watch_name_on_connection (bus, "org.freedesktop.Notifications",
                                      G_BUS_NAME_WATCHER_FLAGS_NONE,
                                      on_notification_server_appeared,
                                      on_notification_server_vanished, self, NULL);

  self->settings = g_settings_new (APP_ID);
  if (self->key_dir == NULL)
    self->key_dir = sc_key_dir_default ();
  self->trust = sc_trust_store_new (self->key_dir, &error);

  /* generating the RSA key on first run takes a moment: not on this thread */
  g_application_hold (app);
  task = g_task_new (self, NULL, on_keys_loaded, NULL);
  g_task_set_task_data (task, g_strdup (self->key_dir), g_free);
  if (self->trust == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_run_in_thread (task, load_keys_in_thread);
}

static void
sc_application_activate (GApplication *app)
{
  ScApplication *self = SC_APPLICATION (app);
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (app));

  if (window == NULL)
    window = GTK_WINDOW (sc_window_new (self));
  gtk_window_present (window);
}

static void
sc_application_shutdown (GApplication *app)
{
  ScApplication *self = SC_APPLICATION (app);

  if (self->client != NULL)
    sc_client_disconnect (self->client);
  if (self->server != NULL)
    sc_server_stop (self->server);
  g_clear_handle_id (&self->notify_watch, g_bus_unwatch_name);
  G_APPLICATION_CLASS (sc_application_parent_class)->shutdown (app);
}

static void
sc_application_dispose (GObject *object)
{
  ScApplication *self = SC_APPLICATION (object);

  g_clear_object (&self->client);
  g_clear_object (&self->server);
  g_clear_pointer (&self->trust, sc_trust_store_free);
  g_clear_pointer (&self->identity, sc_identity_unref);
  g_clear_object (&self->settings);
  G_OBJECT_CLASS (sc_application_parent_class)->dispose (object);
}

static void
sc_application_finalize (GObject *object)
{
  ScApplication *self = SC_APPLICATION (object);

  g_free (self->key_dir);
  G_OBJECT_CLASS (sc_application_parent_class)->finalize (object);
}

static void
sc_application_class_init (ScApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  object_class->dispose = sc_application_dispose;
  object_class->finalize = sc_application_finalize;
  app_class->handle_local_options = sc_application_handle_local_options;
  app_class->startup = sc_application_startup;
  app_class->activate = sc_application_activate;
  app_class->shutdown = sc_application_shutdown;

  signals[SIGNAL_KEYS_READY] =
    g_signal_new ("keys-ready", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_KEYS_FAILED] =
    g_signal_new ("keys-failed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
sc_application_init (ScApplication *self)
{
  static const GOptionEntry options[] = {
    { "key-dir", 0, 0, G_OPTION_ARG_FILENAME, NULL,
      N_("Directory holding the keys and trust files"), N_("DIR") },
    { "version", 0, 0, G_OPTION_ARG_NONE, NULL, N_("Show the version"), NULL },
    { NULL }
  };

  g_application_add_main_option_entries (G_APPLICATION (self), options);
}

ScApplication *
sc_application_new (void)
{
  return g_object_new (SC_TYPE_APPLICATION,
                       "application-id", APP_ID,
                       "flags", G_APPLICATION_DEFAULT_FLAGS,
                       "resource-base-path", "/io/github/securechat/SecureChat",
                       NULL);
}

ScIdentity *
sc_application_get_identity (ScApplication *self)
{
  return self->identity;
}

ScTrustStore *
sc_application_get_trust (ScApplication *self)
{
  return self->trust;
}

ScServer *
sc_application_get_server (ScApplication *self)
{
  return self->server;
}

ScClient *
sc_application_get_client (ScApplication *self)
{
  return self->client;
}

GSettings *
sc_application_get_settings (ScApplication *self)
{
  return self->settings;
}

const char *
sc_application_get_key_dir (ScApplication *self)
{
  return self->key_dir;
}
