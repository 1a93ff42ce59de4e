/* sc-window.c: the main window, a thin view of the application's server
 * and client
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "sc-window.h"

#include <glib/gi18n.h>

#include "sc-log-view.h"

typedef struct {
  guint       id;
  char       *peer;
  char       *nickname;
  char       *fingerprint;
  char       *code;
  guint       protocol;
  AdwActionRow *row;
} ClientInfo;

struct _ScWindow {
  AdwApplicationWindow parent_instance;

  ScApplication     *app;
  GSettings         *settings;
  GHashTable        *clients;        /* id -> ClientInfo */
  gboolean           wired;          /* signals of server and client connected */

  /* template children */
  AdwWindowTitle    *window_title;
  AdwToastOverlay   *toast_overlay;
  AdwPreferencesGroup *server_form;
  AdwEntryRow       *server_address_row;
  GtkSpinButton     *server_port_spin;
  GtkSwitch         *allow_legacy_switch;
  GtkSwitch         *allow_list_switch;
  GtkButton         *server_button;
  AdwPreferencesGroup *server_status_group;
  AdwActionRow      *server_fingerprint_row;
  GtkScrolledWindow *clients_scroller;
  GtkListBox        *clients_list;
  ScLogView         *server_log;
  AdwPreferencesGroup *client_form;
  AdwEntryRow       *client_host_row;
  GtkSpinButton     *client_port_spin;
  AdwEntryRow       *nickname_row;
  AdwComboRow       *protocol_row;
  GtkButton         *client_button;
  AdwPreferencesGroup *session_group;
  AdwActionRow      *session_protocol_row;
  AdwActionRow      *session_fingerprint_row;
  AdwActionRow      *session_code_row;
  GtkLabel          *trust_badge;
  GtkButton         *verify_button;
  ScLogView         *conversation;
  GtkEntry          *message_entry;
  GtkButton         *send_button;
};

G_DEFINE_FINAL_TYPE (ScWindow, sc_window, ADW_TYPE_APPLICATION_WINDOW)

static void
client_info_free (ClientInfo *info)
{
  g_free (info->peer);
  g_free (info->nickname);
  g_free (info->fingerprint);
  g_free (info->code);
  g_free (info);
}

/* One line of text for a log: newlines in a message become ↵ */
static char *
log_line (const char *format,
          ...) G_GNUC_PRINTF (1, 2);

static char *
log_line (const char *format,
          ...)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *time = g_date_time_format (now, "%H:%M:%S");
  g_autofree char *text = NULL;
  GString *out;
  const char *p;
  va_list args;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);

  out = g_string_new (time);
  g_string_append_c (out, ' ');
  for (p = text; *p; p++)
    {
      if (*p == '\n')
        g_string_append (out, "↵");
      else if ((guchar) *p < 0x20 && *p != '\t')
        g_string_append_c (out, ' ');
      else
        g_string_append_c (out, *p);
    }
  return g_string_free (out, FALSE);
}

void
sc_window_show_toast (ScWindow   *self,
                      const char *message)
{
  AdwToast *toast = adw_toast_new (message);

  adw_toast_set_timeout (toast, 5);
  adw_toast_overlay_add_toast (self->toast_overlay, toast);
}

void
sc_window_show_error (ScWindow   *self,
                      const char *title,
                      const char *message)
{
  GtkWidget *dialog = adw_message_dialog_new (GTK_WINDOW (self), title, message);

  adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (dialog), "close", _("_Close"));
  gtk_window_present (GTK_WINDOW (dialog));
}

static const char *
trust_label (ScTrustState state)
{
  switch (state)
    {
    case SC_TRUST_NEW:
      return _("New");
    case SC_TRUST_PINNED:
      return _("Pinned");
    case SC_TRUST_VERIFIED:
      return _("Verified");
    case SC_TRUST_CHANGED:
      return _("Changed");
    case SC_TRUST_LEGACY:
    default:
      return _("Legacy – not authenticated");
    }
}

/* ---- state shown in the window ---- */

static void
update_status (ScWindow *self)
{
  ScServer *server = sc_application_get_server (self->app);
  ScClient *client = sc_application_get_client (self->app);
  gboolean running = server != NULL && sc_server_get_running (server);
  ScClientState state = client ? sc_client_get_state (client) : SC_CLIENT_DISCONNECTED;
  g_autoptr(GString) status = g_string_new (NULL);
  gboolean connected = state == SC_CLIENT_CONNECTED;

  if (running)
    {
      g_autofree char *address = NULL;

      g_object_get (server, "bind-address", &address, NULL);
      g_string_append_printf (status, _("Server on %s:%u"), address, sc_server_get_port (server));
    }
  if (state != SC_CLIENT_DISCONNECTED)
    {
      if (status->len > 0)
        g_string_append (status, " · ");
      if (connected)
        g_string_append_printf (status, _("Connected to %s"), sc_client_get_host_port (client));
      else if (state == SC_CLIENT_WAITING_TRUST)
        g_string_append (status, _("Waiting for your decision"));
      else
        g_string_append (status, _("Connecting…"));
    }
  if (status->len == 0)
    g_string_append (status, sc_application_get_identity (self->app) ? _("Ready") : _("Loading keys…"));
  adw_window_title_set_subtitle (self->window_title, status->str);

  /* one button each, whose action follows the state */
  gtk_button_set_label (self->server_button, running ? _("Stop server") : _("Start server"));
  gtk_actionable_set_action_name (GTK_ACTIONABLE (self->server_button),
                                  running ? "app.stop-server" : "app.start-server");
  if (running)
    {
      gtk_widget_remove_css_class (GTK_WIDGET (self->server_button), "suggested-action");
      gtk_widget_add_css_class (GTK_WIDGET (self->server_button), "destructive-action");
    }
  else
    {
      gtk_widget_remove_css_class (GTK_WIDGET (self->server_button), "destructive-action");
      gtk_widget_add_css_class (GTK_WIDGET (self->server_button), "suggested-action");
    }
  gtk_widget_set_visible (GTK_WIDGET (self->server_status_group), running);
  gtk_widget_set_visible (GTK_WIDGET (self->clients_scroller),
                          running && g_hash_table_size (self->clients) > 0);
  if (running)
    adw_action_row_set_subtitle (self->server_fingerprint_row,
                                 sc_identity_get_fingerprint (sc_application_get_identity (self->app)));

  gtk_button_set_label (self->client_button,
                        state == SC_CLIENT_DISCONNECTED ? _("Connect") : _("Disconnect"));
  if (state == SC_CLIENT_DISCONNECTED)
    {
      gtk_widget_remove_css_class (GTK_WIDGET (self->client_button), "destructive-action");
      gtk_widget_add_css_class (GTK_WIDGET (self->client_button), "suggested-action");
    }
  else
    {
      gtk_widget_remove_css_class (GTK_WIDGET (self->client_button), "suggested-action");
      gtk_widget_add_css_class (GTK_WIDGET (self->client_button), "destructive-action");
    }
  gtk_actionable_set_action_name (GTK_ACTIONABLE (self->client_button),
                                  state == SC_CLIENT_DISCONNECTED ? "app.connect" : "app.disconnect");

  gtk_widget_set_sensitive (GTK_WIDGET (self->message_entry), connected);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.send",
                                 connected && gtk_entry_get_text_length (self->message_entry) > 0);
  gtk_widget_set_visible (GTK_WIDGET (self->session_group), connected);

  /* a form cannot change what is running: it makes way for the logs (the
   * window's subtitle says where the server and the client are) */
  gtk_widget_set_visible (GTK_WIDGET (self->server_form), !running);
  gtk_widget_set_visible (GTK_WIDGET (self->client_form), !connected);
  gtk_widget_set_sensitive (GTK_WIDGET (self->client_form), state == SC_CLIENT_DISCONNECTED);

  if (connected)
    {
      gboolean v2 = sc_client_get_protocol (client) == SC_PROTOCOL_V2;
      ScTrustState trust = sc_client_get_trust_state (client);

      adw_action_row_set_subtitle (self->session_protocol_row,
                                   v2 ? _("Secure (v2)")
                                      : _("Legacy seed (v1): anyone on the network path could "
                                          "pose as this server, and messages can be replayed"));
      gtk_label_set_label (self->trust_badge, trust_label (trust));
      gtk_widget_remove_css_class (GTK_WIDGET (self->trust_badge), "success");
      gtk_widget_remove_css_class (GTK_WIDGET (self->trust_badge), "warning");
      gtk_widget_add_css_class (GTK_WIDGET (self->trust_badge),
                                trust == SC_TRUST_VERIFIED ? "success"
                                : trust == SC_TRUST_LEGACY ? "warning" : "accent");
      adw_action_row_set_subtitle (self->session_fingerprint_row,
                                   sc_client_get_server_fingerprint (client));
      gtk_widget_set_visible (GTK_WIDGET (self->session_code_row), v2);
      adw_action_row_set_subtitle (self->session_code_row,
                                   v2 ? sc_client_get_session_code (client) : "");
      gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.verify-session",
                                     v2 && trust != SC_TRUST_VERIFIED);
    }
}

static void
update (ScWindow *self)
{
  sc_application_update_actions (self->app);
  update_status (self);
}

/* ---- the server's events ---- */

static const char *
client_trust (ScWindow   *self,
              const char *fingerprint,
              guint       protocol)
{
  ScTrustStore *trust = sc_application_get_trust (self->app);

  if (protocol == SC_PROTOCOL_V1)
    return _("Legacy – not authenticated");
  if (sc_trust_store_is_verified (trust, fingerprint))
    return _("Verified");
  if (sc_trust_store_is_authorized (trust, fingerprint))
    return _("Approved");
  return _("New");
}

static void
refresh_client_row (ScWindow   *self,
                    ClientInfo *info)
{
  g_autofree char *subtitle = NULL;

  if (info->row == NULL)
    return;
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (info->row), info->nickname);
  /* two lines whatever the width (the fingerprint is ellipsized if it must
   * be): GTK 4.8's scrolled window sizes the list for unwrapped rows, so a
   * row that wrapped further would be cut off */
  subtitle = g_strdup_printf ("%s · v%u · %s\n%s", info->peer, info->protocol,
                              client_trust (self, info->fingerprint, info->protocol),
                              info->fingerprint);
  adw_action_row_set_subtitle (info->row, subtitle);
}

static void
on_verify_client_response (AdwMessageDialog *dialog,
                           const char       *response,
                           gpointer          data)
{
  ScWindow *self = SC_WINDOW (gtk_window_get_transient_for (GTK_WINDOW (dialog)));
  const char *fingerprint = data;
  g_autoptr(GError) error = NULL;
  GHashTableIter iter;
  gpointer value;

  if (!g_str_equal (response, "verify"))
    return;
  if (!sc_trust_store_mark_verified (sc_application_get_trust (self->app), fingerprint, &error))
    {
      sc_window_show_error (self, _("Cannot Mark as Verified"), error->message);
      return;
    }
  g_hash_table_iter_init (&iter, self->clients);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    refresh_client_row (self, value);
}

static void
show_verify_dialog (ScWindow   *self,
                    const char *heading,
                    const char *peer_label,
                    const char *peer_fingerprint,
                    const char *code,
                    GCallback   on_response)
{
  ScIdentity *identity = sc_application_get_identity (self->app);
  g_autofree char *body = g_strdup_printf (
    _("Read the session code to each other, in person or by phone. If both of you see the "
      "same code, nobody is in the middle and you can mark this key as verified.\n\n"
      "Session code: %s\n%s: %s\nYour key: %s"),
    code ? code : "—", peer_label, peer_fingerprint, sc_identity_get_fingerprint (identity));
  GtkWidget *dialog = adw_message_dialog_new (GTK_WINDOW (self), heading, body);

  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog),
                                    "cancel", _("_Cancel"),
                                    "verify", _("_Mark as Verified"),
                                    NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "verify",
                                              ADW_RESPONSE_SUGGESTED);
  g_signal_connect_data (dialog, "response", on_response, g_strdup (peer_fingerprint),
                         (GClosureNotify) (void (*) (void)) g_free, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
on_client_row_verify (GtkButton *button,
                      ScWindow  *self)
{
  guint id = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (button), "client-id"));
  ClientInfo *info = g_hash_table_lookup (self->clients, GUINT_TO_POINTER (id));
  g_autofree char *heading = NULL;

  if (info == NULL)
    return;
  heading = g_strdup_printf (_("Verify %s"), info->nickname);
  show_verify_dialog (self, heading, _("Their key"), info->fingerprint, info->code,
                      G_CALLBACK (on_verify_client_response));
}

static void
on_client_row_approve (GtkButton *button,
                       ScWindow  *self)
{
  guint id = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (button), "client-id"));
  ClientInfo *info = g_hash_table_lookup (self->clients, GUINT_TO_POINTER (id));
  g_autoptr(GError) error = NULL;

  if (info == NULL)
    return;
  if (!sc_trust_store_authorize_client (sc_application_get_trust (self->app), info->fingerprint,
                                        info->nickname, &error))
    {
      sc_window_show_error (self, _("Cannot Approve the Client"), error->message);
      return;
    }
  refresh_client_row (self, info);
  sc_window_show_toast (self, _("Client approved"));
}

static void
on_client_row_disconnect (GtkButton *button,
                          ScWindow  *self)
{
  guint id = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (button), "client-id"));

  sc_server_disconnect_client (sc_application_get_server (self->app), id);
}

static GtkWidget *
row_button (ScWindow   *self,
            guint       id,
            const char *icon,
            const char *label,
            GCallback   callback)
{
  GtkWidget *button = gtk_button_new_from_icon_name (icon);

  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  gtk_widget_set_tooltip_text (button, label);
  gtk_accessible_update_property (GTK_ACCESSIBLE (button), GTK_ACCESSIBLE_PROPERTY_LABEL, label, -1);
  gtk_widget_add_css_class (button, "flat");
  g_object_set_data (G_OBJECT (button), "client-id", GUINT_TO_POINTER (id));
  g_signal_connect (button, "clicked", callback, self);
  return button;
}

static void
on_server_client_connected (ScServer   *server,
                            guint       id,
                            const char *peer,
                            ScWindow   *self)
{
  ClientInfo *info = g_new0 (ClientInfo, 1);
  g_autofree char *line = log_line ("%s #%u %s", peer, id, _("connected"));

  info->id = id;
  info->peer = g_strdup (peer);
  g_hash_table_replace (self->clients, GUINT_TO_POINTER (id), info);
  sc_log_view_append (self->server_log, line);
}

static void
on_server_client_ready (ScServer   *server,
                        guint       id,
                        guint       protocol,
                        const char *nickname,
                        const char *fingerprint,
                        const char *code,
                        ScWindow   *self)
{
  ClientInfo *info = g_hash_table_lookup (self->clients, GUINT_TO_POINTER (id));
  g_autofree char *line = NULL;

  if (info == NULL)
    return;
  info->nickname = g_strdup (nickname);
  info->fingerprint = g_strdup (fingerprint);
  info->code = g_strdup (code);
  info->protocol = protocol;

  line = log_line ("%s #%u %s %s (v%u, %s)", info->peer, id, nickname, _("joined"),
                   protocol, fingerprint);
  sc_log_view_append (self->server_log, line);

  info->row = ADW_ACTION_ROW (adw_action_row_new ());
  adw_action_row_set_subtitle_lines (info->row, 2);
  if (protocol == SC_PROTOCOL_V2)
    adw_action_row_add_suffix (info->row, row_button (self, id, "security-high-symbolic",
                                                      _("Verify…"), G_CALLBACK (on_client_row_verify)));
  adw_action_row_add_suffix (info->row, row_button (self, id, "contact-new-symbolic", _("Approve"),
                                                    G_CALLBACK (on_client_row_approve)));
  adw_action_row_add_suffix (info->row, row_button (self, id, "window-close-symbolic", _("Disconnect"),
                                                    G_CALLBACK (on_client_row_disconnect)));
  refresh_client_row (self, info);
  gtk_list_box_append (self->clients_list, GTK_WIDGET (info->row));
  update_status (self);
}

static void
on_server_message (ScServer   *server,
                   guint       id,
                   const char *nickname,
                   const char *text,
                   ScWindow   *self)
{
  ClientInfo *info = g_hash_table_lookup (self->clients, GUINT_TO_POINTER (id));
  g_autofree char *line = log_line ("%s #%u %s: %s", info ? info->peer : "?", id, nickname, text);

  sc_log_view_append (self->server_log, line);
}

static void
on_server_client_disconnected (ScServer   *server,
                               guint       id,
                               const char *reason,
                               ScWindow   *self)
{
  ClientInfo *info = g_hash_table_lookup (self->clients, GUINT_TO_POINTER (id));
  g_autofree char *line = log_line ("%s #%u %s: %s", info ? info->peer : "?", id,
                                    _("disconnected"), reason);

  sc_log_view_append (self->server_log, line);
  if (info != NULL && info->row != NULL)
    gtk_list_box_remove (self->clients_list, GTK_WIDGET (info->row));
  g_hash_table_remove (self->clients, GUINT_TO_POINTER (id));
  update_status (self);
}

static void
on_server_client_refused (ScServer   *server,
                          const char *peer,
                          const char *reason,
                          ScWindow   *self)
{
  g_autofree char *line = log_line ("%s %s: %s", peer, _("refused"), reason);

  sc_log_view_append (self->server_log, line);
}

static void
on_server_accept_failed (ScServer   *server,
                         const char *error,
                         guint       retry_ms,
                         ScWindow   *self)
{
  g_autofree char *line = log_line (_("%s; new connections wait, and the server tries again "
                                      "every %.1f s"), error, retry_ms / 1000.0);

  sc_log_view_append (self->server_log, line);
}

static void
on_server_listening (ScServer *server,
                     guint     port,
                     ScWindow *self)
{
  g_autofree char *address = NULL;
  g_autofree char *line = NULL;
  guint max_clients, idle_ms, limit = sc_server_get_connection_limit (server);

  g_object_get (server, "bind-address", &address, "max-clients", &max_clients,
                "idle-timeout", &idle_ms, NULL);
  line = log_line (_("Listening on %s:%u"), address, port);
  sc_log_view_append (self->server_log, line);
  if (idle_ms > 0)
    {
      guint minutes = (idle_ms + 59999) / 60000;
      g_autofree char *idle = log_line (ngettext ("Clients idle for %u minute are disconnected",
                                                  "Clients idle for %u minutes are disconnected",
                                                  minutes), minutes);

      sc_log_view_append (self->server_log, idle);
    }
  if (limit < max_clients)
    {
      g_autofree char *warning = log_line (_("The open-file limit leaves room for %u connections, "
                                             "not %u: more are refused"), limit, max_clients);

      sc_log_view_append (self->server_log, warning);
    }
}

static void
on_server_running (ScServer   *server,
                   GParamSpec *pspec,
                   ScWindow   *self)
{
  if (!sc_server_get_running (server))
    {
      g_autofree char *line = log_line ("%s", _("Server stopped"));
      sc_log_view_append (self->server_log, line);
    }
  update (self);
}

/* ---- the client's events ---- */

static void
on_trust_response (AdwMessageDialog *dialog,
                   const char       *response,
                   ScWindow         *self)
{
  sc_client_answer_trust (sc_application_get_client (self->app), g_str_equal (response, "trust"));
  update (self);
}

static void
on_trust_request (ScClient   *client,
                  const char *host_port,
                  const char *fingerprint,
                  const char *code,
                  ScWindow   *self)
{
  g_autofree char *body = g_strdup_printf (
    _("This is your first connection to %s. Check that the fingerprint matches the one the "
      "server's operator sees, then trust it; you will be warned if it ever changes.\n\n"
      "Fingerprint: %s\nSession code: %s"),
    host_port, fingerprint, code);
  GtkWidget *dialog = adw_message_dialog_new (GTK_WINDOW (self), _("Trust This Server?"), body);

  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog),
                                    "cancel", _("_Cancel"),
                                    "trust", _("_Trust and Connect"),
                                    NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "trust",
                                              ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  g_signal_connect (dialog, "response", G_CALLBACK (on_trust_response), self);
  gtk_window_present (GTK_WINDOW (dialog));
  update (self);
}

static void
on_client_connected (ScClient *client,
                     ScWindow *self)
{
  g_autofree char *line = log_line (_("Connected to %s"), sc_client_get_host_port (client));

  sc_log_view_append (self->conversation, line);
  update (self);
  gtk_widget_grab_focus (GTK_WIDGET (self->message_entry));
}

static void
on_client_message (ScClient   *client,
                   const char *from,
                   const char *fingerprint,
                   const char *text,
                   gint64      time_ms,
                   ScWindow   *self)
{
  ScTrustStore *trust = sc_application_get_trust (self->app);
  g_autofree char *line = NULL;
  gboolean verified = fingerprint && *fingerprint && sc_trust_store_is_verified (trust, fingerprint);

  if (from != NULL && from[0] != '\0')
    line = log_line ("%s%s: %s", from, verified ? " ✓" : "", text);
  else
    line = log_line ("%s", text);
  sc_log_view_append (self->conversation, line);

  if (!gtk_window_is_active (GTK_WINDOW (self)))
    sc_application_notify_message (self->app, from && *from ? from : _("New message"), text);
}

static void
on_client_event (ScClient   *client,
                 const char *event,
                 const char *from,
                 const char *fingerprint,
                 ScWindow   *self)
{
  g_autofree char *line = log_line (g_str_equal (event, "join") ? _("— %s joined") : _("— %s left"),
                                    from);

  sc_log_view_append (self->conversation, line);
}

static void
on_key_changed_response (AdwMessageDialog *dialog,
                         const char       *response,
                         ScWindow         *self)
{
  if (g_str_equal (response, "preferences"))
    g_action_group_activate_action (G_ACTION_GROUP (self->app), "preferences", NULL);
}

static void
on_client_disconnected (ScClient   *client,
                        guint       end,
                        const char *message,
                        ScWindow   *self)
{
  g_autofree char *line = log_line ("%s", message);

  sc_log_view_append (self->conversation, line);
  switch ((ScClientEnd) end)
    {
    case SC_CLIENT_END_KEY_CHANGED:
      {
        GtkWidget *dialog = adw_message_dialog_new (GTK_WINDOW (self), _("The Server's Key Changed"),
                                                    message);

        adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog),
                                          "close", _("_Close"),
                                          "preferences", _("_Known Servers…"),
                                          NULL);
        adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "preferences",
                                                    ADW_RESPONSE_DESTRUCTIVE);
        g_signal_connect (dialog, "response", G_CALLBACK (on_key_changed_response), self);
        gtk_window_present (GTK_WINDOW (dialog));
      }
      break;
    case SC_CLIENT_END_FAILED:
      sc_window_show_error (self, _("Cannot Connect"), message);
      break;
    case SC_CLIENT_END_REJECTED:
      sc_window_show_error (self, _("The Server Refused the Connection"), message);
      break;
    case SC_CLIENT_END_LOST:
      sc_window_show_error (self, _("Connection Lost"), message);
      break;
    case SC_CLIENT_END_UNTRUSTED:
    case SC_CLIENT_END_CLOSED:
    case SC_CLIENT_END_LOCAL:
    default:
      sc_window_show_toast (self, message);
      break;
    }
  update (self);
}

/* ---- actions and widgets ---- */

static void
send_message (GtkWidget  *widget,
              const char *action,
              GVariant   *param)
{
  ScWindow *self = SC_WINDOW (widget);
  const char *text = gtk_editable_get_text (GTK_EDITABLE (self->message_entry));
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;

  if (text[0] == '\0')
    return;
  if (!sc_client_send (sc_application_get_client (self->app), text, &error))
    {
      sc_window_show_error (self, _("Message Not Sent"), error->message);
      return;
    }
  line = log_line ("%s: %s", _("You"), text);
  sc_log_view_append (self->conversation, line);
  gtk_editable_set_text (GTK_EDITABLE (self->message_entry), "");
}

static void
on_verify_session_response (AdwMessageDialog *dialog,
                            const char       *response,
                            gpointer          data)
{
  ScWindow *self = SC_WINDOW (gtk_window_get_transient_for (GTK_WINDOW (dialog)));
  g_autoptr(GError) error = NULL;

  if (!g_str_equal (response, "verify"))
    return;
  if (!sc_trust_store_mark_verified (sc_application_get_trust (self->app), data, &error))
    {
      sc_window_show_error (self, _("Cannot Mark as Verified"), error->message);
      return;
    }
  /* the session now counts as verified too */
  sc_window_show_toast (self, _("Server key marked as verified"));
  gtk_label_set_label (self->trust_badge, _("Verified"));
  gtk_widget_add_css_class (GTK_WIDGET (self->trust_badge), "success");
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.verify-session", FALSE);
}

static void
verify_session (GtkWidget  *widget,
                const char *action,
                GVariant   *param)
{
  ScWindow *self = SC_WINDOW (widget);
  ScClient *client = sc_application_get_client (self->app);

  if (sc_client_get_state (client) != SC_CLIENT_CONNECTED)
    return;
  show_verify_dialog (self, _("Verify This Server"), _("Server key"),
                      sc_client_get_server_fingerprint (client),
                      sc_client_get_session_code (client),
                      G_CALLBACK (on_verify_session_response));
}

/* Built afresh each time and destroyed on close, not the help overlay
 * GtkApplication would load and keep hidden: GTK 4.8's accessibility root
 * answers a GetChildAtIndex past its visible windows with the last window
 * in its list, and a hidden one has no object path.  That is a critical
 * (with no reply), which screen readers and the UI tests can trigger by
 * asking while a dialog closes. */
static void
show_shortcuts (GtkWidget  *widget,
                const char *action,
                GVariant   *param)
{
  g_autoptr(GtkBuilder) builder =
    gtk_builder_new_from_resource ("/io/github/securechat/SecureChat/shortcuts-window.ui");
  GtkWindow *shortcuts = GTK_WINDOW (gtk_builder_get_object (builder, "shortcuts_window"));

  /* makes it modal and transient and fills in the accelerators */
  gtk_application_window_set_help_overlay (GTK_APPLICATION_WINDOW (widget),
                                           GTK_SHORTCUTS_WINDOW (shortcuts));
  gtk_window_set_hide_on_close (shortcuts, FALSE);
  gtk_window_present (shortcuts);
}

static void
on_message_entry_activate_cb (ScWindow *self)
{
  gtk_widget_activate_action (GTK_WIDGET (self), "win.send", NULL);
}

static void
on_message_entry_changed_cb (ScWindow *self)
{
  update_status (self);
}

static void
on_copy_fingerprint_clicked_cb (ScWindow *self)
{
  ScIdentity *identity = sc_application_get_identity (self->app);

  if (identity == NULL)
    return;
  gdk_clipboard_set_text (gtk_widget_get_clipboard (GTK_WIDGET (self)),
                          sc_identity_get_fingerprint (identity));
  sc_window_show_toast (self, _("Fingerprint copied"));
}

static void
wire (ScWindow *self)
{
  ScServer *server = sc_application_get_server (self->app);
  ScClient *client = sc_application_get_client (self->app);

  if (self->wired || server == NULL)
    return;
  self->wired = TRUE;
  g_signal_connect_object (server, "listening", G_CALLBACK (on_server_listening), self, 0);
  g_signal_connect_object (server, "client-connected", G_CALLBACK (on_server_client_connected), self, 0);
  g_signal_connect_object (server, "client-ready", G_CALLBACK (on_server_client_ready), self, 0);
  g_signal_connect_object (server, "message", G_CALLBACK (on_server_message), self, 0);
  g_signal_connect_object (server, "client-disconnected",
                           G_CALLBACK (on_server_client_disconnected), self, 0);
  g_signal_connect_object (server, "client-refused", G_CALLBACK (on_server_client_refused), self, 0);
  g_signal_connect_object (server, "accept-failed", G_CALLBACK (on_server_accept_failed), self, 0);
  g_signal_connect_object (server, "notify::running", G_CALLBACK (on_server_running), self, 0);
  g_signal_connect_object (client, "trust-request", G_CALLBACK (on_trust_request), self, 0);
  g_signal_connect_object (client, "connected", G_CALLBACK (on_client_connected), self, 0);
  g_signal_connect_object (client, "message", G_CALLBACK (on_client_message), self, 0);
  g_signal_connect_object (client, "event", G_CALLBACK (on_client_event), self, 0);
  g_signal_connect_object (client, "disconnected", G_CALLBACK (on_client_disconnected), self, 0);
  update (self);
}

static void
on_keys_failed (ScApplication *app,
                const char    *message,
                ScWindow      *self)
{
  sc_window_show_error (self, _("Cannot Read Your Keys"), message);
  update_status (self);
}

static gboolean
protocol_get_mapping (GValue   *value,
                      GVariant *variant,
                      gpointer  data)
{
  g_value_set_uint (value, g_str_equal (g_variant_get_string (variant, NULL), "legacy") ? 1 : 0);
  return TRUE;
}

static GVariant *
protocol_set_mapping (const GValue       *value,
                      const GVariantType *type,
                      gpointer            data)
{
  return g_variant_new_string (g_value_get_uint (value) == 1 ? "legacy" : "secure");
}

static gboolean
sc_window_close_request (GtkWindow *window)
{
  ScWindow *self = SC_WINDOW (window);
  ScServer *server = sc_application_get_server (self->app);
  ScClient *client = sc_application_get_client (self->app);
  int width, height;

  gtk_window_get_default_size (window, &width, &height);
  g_settings_set_int (self->settings, "window-width", width);
  g_settings_set_int (self->settings, "window-height", height);
  g_settings_set_boolean (self->settings, "window-maximized", gtk_window_is_maximized (window));

  if (client != NULL)
    sc_client_disconnect (client);
  if (server != NULL)
    sc_server_stop (server);
  return GTK_WINDOW_CLASS (sc_window_parent_class)->close_request (window);
}

static void
sc_window_dispose (GObject *object)
{
  ScWindow *self = SC_WINDOW (object);

  gtk_widget_dispose_template (GTK_WIDGET (self), SC_TYPE_WINDOW);
  g_clear_pointer (&self->clients, g_hash_table_unref);
  G_OBJECT_CLASS (sc_window_parent_class)->dispose (object);
}

static void
sc_window_class_init (ScWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->dispose = sc_window_dispose;
  window_class->close_request = sc_window_close_request;

  g_type_ensure (SC_TYPE_LOG_VIEW);
  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/securechat/SecureChat/sc-window.ui");
  gtk_widget_class_bind_template_child (widget_class, ScWindow, window_title);
  gtk_widget_class_bind_template_child (widget_class, ScWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, ScWindow, server_form);
  gtk_widget_class_bind_template_child (widget_class, ScWindow, server_address_row);
  gtk_widget_class_bind_template_child (widget_class, ScWindow, server_port_spin);
  gtk_widget_class_bind_template_child (widget_class, ScWindow, allow_legacy_switch);
  gtk_widget_class_bind_template_child (widget_class, ScWindow, allow_list_switch);
  gtk_widget_class_bind_template_child (widget_class, ScWindow, server_button);
  gtk_widget_class_bind_template_child (widget_class, ScWindow, server_status_group);
  gtk_widget_class_bind_template_child (widget_class, ScWindow, server_fingerprint_row);
  gtk_widget_class_bind_template_child (widget_class, ScWindow, clients_scroller);
  gtk_widget_class_bind_template_child (widget_class, ScWindow, clients_list);
  gtk_widget_class_bind_template_child (widget_class, ScWindow, server_log);
  gtk_widget_class_bind_template_child (widget_class, ScWindow, client_form);
  gtk_widget_class_bind_template_child (widget_class, ScWindow, client_host_row);
  gtk_widget_class_bind_template_child (widget_class, ScWindow, client_port_spin);
  gtk_widget_class_bind_template_child (widget_class, ScWindow, nickname_row);
  gtk_widget_class_bind_template_child (widget_class, ScWindow, protocol_row);
  gtk_widget_class_bind_template_child (widget_class, ScWindow, client_button);
  gtk_widget_class_bind_template_child (widget_class, ScWindow, session_group);
  gtk_widget_class_bind_template_child (widget_class, ScWindow, session_protocol_row);
  gtk_widget_class_bind_template_child (widget_class, ScWindow, session_fingerprint_row);
  gtk_widget_class_bind_template_child (widget_class, ScWindow, session_code_row);
  gtk_widget_class_bind_template_child (widget_class, ScWindow, trust_badge);
  gtk_widget_class_bind_template_child (widget_class, ScWindow, verify_button);
  gtk_widget_class_bind_template_child (widget_class, ScWindow, conversation);
  gtk_widget_class_bind_template_child (widget_class, ScWindow, message_entry);
  gtk_widget_class_bind_template_child (widget_class, ScWindow, send_button);
  gtk_widget_class_bind_template_callback (widget_class, on_message_entry_activate_cb);
  gtk_widget_class_bind_template_callback (widget_class, on_message_entry_changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, on_copy_fingerprint_clicked_cb);

  gtk_widget_class_install_action (widget_class, "win.send", NULL, send_message);
  gtk_widget_class_install_action (widget_class, "win.verify-session", NULL, verify_session);
  gtk_widget_class_install_action (widget_class, "win.show-help-overlay", NULL, show_shortcuts);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Return, GDK_CONTROL_MASK, "win.send", NULL);
}

static void
sc_window_init (ScWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->clients = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) client_info_free);
}

ScWindow *
sc_window_new (ScApplication *app)
{
  ScWindow *self = g_object_new (SC_TYPE_WINDOW, "application", app, NULL);

  self->app = app;
  self->settings = sc_application_get_settings (app);
  g_settings_bind (self->settings, "server-address", self->server_address_row, "text", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "server-port", self->server_port_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "allow-legacy", self->allow_legacy_switch, "active", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "allow-list", self->allow_list_switch, "active", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "client-host", self->client_host_row, "text", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "client-port", self->client_port_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "nickname", self->nickname_row, "text", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind_with_mapping (self->settings, "protocol", self->protocol_row, "selected",
                                G_SETTINGS_BIND_DEFAULT, protocol_get_mapping, protocol_set_mapping,
                                NULL, NULL);
  gtk_window_set_default_size (GTK_WINDOW (self), g_settings_get_int (self->settings, "window-width"),
                               g_settings_get_int (self->settings, "window-height"));
  if (g_settings_get_boolean (self->settings, "window-maximized"))
    gtk_window_maximize (GTK_WINDOW (self));

  g_signal_connect_object (app, "keys-ready", G_CALLBACK (wire), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (app, "keys-failed", G_CALLBACK (on_keys_failed), self, 0);
  wire (self);
  update (self);
  return self;
}
