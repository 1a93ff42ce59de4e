/* test-ui-templates.c: every UI file in the GResource builds
 *
 * The templates are only parsed when a widget of the class is first
 * created, so a typo in sc-window.ui (an unknown property, a missing
 * object, a child id the class binds but the file lacks) would otherwise
 * surface only when the app starts.  Builds each one on a real display
 * (run under Xvfb by tests/ui/run-ui-test.sh); GTK reports template errors
 * as criticals, which GTest and G_DEBUG=fatal-criticals make fatal.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <adwaita.h>

#include "sc-log-view.h"
#include "sc-preferences-window.h"
#include "sc-window.h"

#define RESOURCE_PATH "/io/github/securechat/SecureChat/"

static void
test_resources_present (void)
{
  static const char *files[] = {
    RESOURCE_PATH "sc-window.ui",
    RESOURCE_PATH "sc-preferences-window.ui",
    RESOURCE_PATH "shortcuts-window.ui",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GBytes) bytes = g_resources_lookup_data (files[i], G_RESOURCE_LOOKUP_FLAGS_NONE,
                                                         &error);

      g_test_message ("%s", files[i]);
      g_assert_no_error (error);
      g_assert_nonnull (bytes);
      g_assert_cmpuint (g_bytes_get_size (bytes), >, 0);
    }
}

static void
test_shortcuts_window (void)
{
  g_autoptr(GtkBuilder) builder = gtk_builder_new ();
  g_autoptr(GError) error = NULL;
  GObject *overlay;

  gtk_builder_add_from_resource (builder, RESOURCE_PATH "shortcuts-window.ui", &error);
  g_assert_no_error (error);

  /* the id ScWindow's win.show-help-overlay looks for */
  overlay = gtk_builder_get_object (builder, "shortcuts_window");
  g_assert_nonnull (overlay);
  g_assert_true (GTK_IS_SHORTCUTS_WINDOW (overlay));
  gtk_window_destroy (GTK_WINDOW (overlay));
}

static void
test_log_view (void)
{
  ScLogView *view = g_object_new (SC_TYPE_LOG_VIEW, "label", "Test log", NULL);
  g_autofree char *label = NULL;

  g_object_ref_sink (view);
  g_object_get (view, "label", &label, NULL);
  g_assert_cmpstr (label, ==, "Test log");
  g_assert_true (GTK_IS_TEXT_VIEW (sc_log_view_get_text_view (view)));
  sc_log_view_append (view, "a line");
  g_assert_cmpuint (sc_log_view_get_n_lines (view), ==, 1);
  g_object_unref (view);
}

typedef struct {
  const char *id;
  GType     (*get_type) (void);
} Child;

static void
assert_children (GtkWidget   *widget,
                 GType        template_type,
                 const Child *children,
                 gsize        n_children)
{
  for (gsize i = 0; i < n_children; i++)
    {
      GObject *child = gtk_widget_get_template_child (widget, template_type, children[i].id);

      g_test_message ("%s: %s", g_type_name (template_type), children[i].id);
      g_assert_nonnull (child);
      g_assert_true (G_TYPE_CHECK_INSTANCE_TYPE (child, children[i].get_type ()));
    }
}

static void
test_preferences_window (void)
{
  static const Child children[] = {
    { "identity_row", adw_action_row_get_type },
    { "legacy_row", adw_action_row_get_type },
    { "key_dir_row", adw_action_row_get_type },
    { "known_servers_list", gtk_list_box_get_type },
  };
  GtkWidget *prefs;

  g_type_ensure (SC_TYPE_PREFERENCES_WINDOW);
  prefs = g_object_new (SC_TYPE_PREFERENCES_WINDOW, NULL);
  g_assert_true (ADW_IS_PREFERENCES_WINDOW (prefs));
  assert_children (prefs, SC_TYPE_PREFERENCES_WINDOW, children, G_N_ELEMENTS (children));
  gtk_window_destroy (GTK_WINDOW (prefs));
}

static void
test_window (void)
{
  /* what the window's code and the UI test rely on */
  static const Child children[] = {
    { "window_title", adw_window_title_get_type },
    { "toast_overlay", adw_toast_overlay_get_type },
    { "server_address_row", adw_entry_row_get_type },
    { "server_port_spin", gtk_spin_button_get_type },
    { "allow_legacy_switch", gtk_switch_get_type },
    { "allow_list_switch", gtk_switch_get_type },
    { "server_button", gtk_button_get_type },
    { "server_status_group", adw_preferences_group_get_type },
    { "server_fingerprint_row", adw_action_row_get_type },
    { "clients_list", gtk_list_box_get_type },
    { "server_log", sc_log_view_get_type },
    { "client_host_row", adw_entry_row_get_type },
    { "client_port_spin", gtk_spin_button_get_type },
    { "nickname_row", adw_entry_row_get_type },
    { "protocol_row", adw_combo_row_get_type },
    { "client_button", gtk_button_get_type },
    { "session_group", adw_preferences_group_get_type },
    { "session_protocol_row", adw_action_row_get_type },
    { "session_fingerprint_row", adw_action_row_get_type },
    { "session_code_row", adw_action_row_get_type },
    { "trust_badge", gtk_label_get_type },
    { "verify_button", gtk_button_get_type },
    { "conversation", sc_log_view_get_type },
    { "message_entry", gtk_entry_get_type },
    { "send_button", gtk_button_get_type },
  };
  GtkWidget *window;
  GObject *server_log;
  GObject *protocol_row;
  g_autofree char *label = NULL;

  g_type_ensure (SC_TYPE_LOG_VIEW);
  g_type_ensure (SC_TYPE_WINDOW);
  /* not sc_window_new (): that needs a running ScApplication; the
   * template is built in the instance init all the same */
  window = g_object_new (SC_TYPE_WINDOW, NULL);
  g_assert_true (ADW_IS_APPLICATION_WINDOW (window));
  assert_children (window, SC_TYPE_WINDOW, children, G_N_ELEMENTS (children));

  /* the log views are what screen readers (and the UI test) find by name */
  server_log = gtk_widget_get_template_child (window, SC_TYPE_WINDOW, "server_log");
  g_object_get (server_log, "label", &label, NULL);
  g_assert_cmpstr (label, ==, "Server log");

  /* the protocol model reached the combo row */
  protocol_row = gtk_widget_get_template_child (window, SC_TYPE_WINDOW, "protocol_row");
  g_assert_nonnull (adw_combo_row_get_model (ADW_COMBO_ROW (protocol_row)));
  g_assert_cmpuint (g_list_model_get_n_items (adw_combo_row_get_model (ADW_COMBO_ROW (protocol_row))),
                    ==, 2);

  gtk_window_destroy (GTK_WINDOW (window));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  adw_init ();

  g_test_add_func ("/ui-templates/resources", test_resources_present);
  g_test_add_func ("/ui-templates/shortcuts-window", test_shortcuts_window);
  g_test_add_func ("/ui-templates/log-view", test_log_view);
  g_test_add_func ("/ui-templates/preferences-window", test_preferences_window);
  g_test_add_func ("/ui-templates/window", test_window);

  return g_test_run ();
}
