/* sc-preferences-window.c: identity, known servers and server settings
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "sc-preferences-window.h"

#include <glib/gi18n.h>

struct _ScPreferencesWindow {
  AdwPreferencesWindow parent_instance;

  ScApplication *app;
  AdwActionRow  *identity_row;
  AdwActionRow  *legacy_row;
  AdwActionRow  *key_dir_row;
  GtkListBox    *known_servers_list;
  GtkSpinButton *idle_timeout_spin;
};

G_DEFINE_FINAL_TYPE (ScPreferencesWindow, sc_preferences_window, ADW_TYPE_PREFERENCES_WINDOW)

static void fill_known_servers (ScPreferencesWindow *self);

static void
on_forget_response (AdwMessageDialog    *dialog,
                    const char          *response,
                    ScPreferencesWindow *self)
{
  const char *host_port = g_object_get_data (G_OBJECT (dialog), "host-port");
  g_autoptr(GError) error = NULL;

  if (!g_str_equal (response, "forget"))
    return;
  if (!sc_trust_store_forget_server (sc_application_get_trust (self->app), host_port, &error))
    {
      GtkWidget *err = adw_message_dialog_new (GTK_WINDOW (self), _("Cannot Forget the Key"),
                                               error->message);
      adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (err), "close", _("_Close"));
      gtk_window_present (GTK_WINDOW (err));
      return;
    }
  fill_known_servers (self);
}

static void
on_forget_clicked (GtkButton           *button,
                   ScPreferencesWindow *self)
{
  const char *host_port = g_object_get_data (G_OBJECT (button), "host-port");
  g_autofree char *heading = g_strdup_printf (_("Forget the Key of %s?"), host_port);
  GtkWidget *dialog = adw_message_dialog_new (GTK_WINDOW (self), heading,
    _("The next connection will ask again whether to trust the server's key. Do this only if "
      "you know why the key changed."));

  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog),
                                    "cancel", _("_Cancel"),
                                    "forget", _("_Forget"),
                                    NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "forget",
                                              ADW_RESPONSE_DESTRUCTIVE);
  g_object_set_data_full (G_OBJECT (dialog), "host-port", g_strdup (host_port), g_free);
  g_signal_connect (dialog, "response", G_CALLBACK (on_forget_response), self);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
fill_known_servers (ScPreferencesWindow *self)
{
  ScTrustStore *trust = sc_application_get_trust (self->app);
  g_autoptr(GPtrArray) servers = NULL;
  GtkWidget *child;
  guint i;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->known_servers_list))) != NULL)
    gtk_list_box_remove (self->known_servers_list, child);
  if (trust == NULL)
    return;

  sc_trust_store_reload (trust, NULL);
  servers = sc_trust_store_list_servers (trust);
  for (i = 0; i < servers->len; i++)
    {
      ScKnownServer *s = g_ptr_array_index (servers, i);
      GtkWidget *row = adw_action_row_new ();
      GtkWidget *button = gtk_button_new_with_label (_("Forget"));
      g_autofree char *subtitle = g_strdup_printf ("%s%s", s->fingerprint,
                                                   s->verified ? _(" · verified") : "");
      g_autofree char *label = g_strdup_printf (_("Forget %s"), s->host_port);

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), s->host_port);
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
      gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
      gtk_accessible_update_property (GTK_ACCESSIBLE (button), GTK_ACCESSIBLE_PROPERTY_LABEL, label, -1);
      g_object_set_data_full (G_OBJECT (button), "host-port", g_strdup (s->host_port), g_free);
      g_signal_connect (button, "clicked", G_CALLBACK (on_forget_clicked), self);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), button);
      gtk_list_box_append (self->known_servers_list, row);
    }
  if (servers->len == 0)
    {
      GtkWidget *row = adw_action_row_new ();

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("No server keys pinned yet"));
      gtk_list_box_append (self->known_servers_list, row);
    }
}

static void
sc_preferences_window_class_init (ScPreferencesWindowClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/securechat/SecureChat/sc-preferences-window.ui");
  gtk_widget_class_bind_template_child (widget_class, ScPreferencesWindow, identity_row);
  gtk_widget_class_bind_template_child (widget_class, ScPreferencesWindow, legacy_row);
  gtk_widget_class_bind_template_child (widget_class, ScPreferencesWindow, key_dir_row);
  gtk_widget_class_bind_template_child (widget_class, ScPreferencesWindow, known_servers_list);
  gtk_widget_class_bind_template_child (widget_class, ScPreferencesWindow, idle_timeout_spin);
}

static void
sc_preferences_window_init (ScPreferencesWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

ScPreferencesWindow *
sc_preferences_window_new (ScApplication *app)
{
  ScPreferencesWindow *self = g_object_new (SC_TYPE_PREFERENCES_WINDOW, NULL);
  ScIdentity *identity = sc_application_get_identity (app);

  self->app = app;
  adw_action_row_set_subtitle (self->identity_row,
                               identity ? sc_identity_get_fingerprint (identity) : _("Loading…"));
  adw_action_row_set_subtitle (self->legacy_row,
                               identity ? sc_identity_get_rsa_fingerprint (identity) : _("Loading…"));
  adw_action_row_set_subtitle (self->key_dir_row, sc_application_get_key_dir (app));
  fill_known_servers (self);
  g_settings_bind (sc_application_get_settings (app), "idle-timeout",
                   self->idle_timeout_spin, "value", G_SETTINGS_BIND_DEFAULT);
  return self;
}
