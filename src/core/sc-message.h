/* sc-message.h: the JSON plaintexts carried in v2 records
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  char   *from;         /* Chat (S->C), Event */
  char   *fingerprint;  /* Chat (S->C), Event */
  char   *text;         /* Chat */
  char   *event;        /* Event: "join" or "leave" */
  gint64  time_ms;      /* Chat (S->C) */
} ScMessage;

void      sc_message_clear              (ScMessage    *msg);

/* FALSE if JSON @data nests objects and arrays deeper than our messages
 * ever do (8 levels): checked before json-glib's recursive parser runs */
gboolean  sc_message_nesting_ok         (const guint8 *data,
                                         gsize         len);

/* C->S Chat: {"text": "..."} */
char     *sc_message_build_chat_request (const char   *text,
                                         gsize        *len);
gboolean  sc_message_parse_chat_request (const guint8 *data,
                                         gsize         len,
                                         ScMessage    *out,
                                         GError      **error);
/* The same without a copy, for the common case of a text that needs no
 * unescaping: the text inside @data, NUL-terminated where its closing
 * quote was (so @data is changed); NULL when the case does not apply (then
 * @data is unchanged and sc_message_parse_chat_request() is needed) */
char     *sc_message_chat_request_text_in_place (guint8 *data,
                                                 gsize   len);

/* S->C Chat: {"from", "fingerprint", "text", "time"} */
char     *sc_message_build_chat         (const char   *from,
                                         const char   *fingerprint,
                                         const char   *text,
                                         gint64        time_ms,
                                         gsize        *len);
gboolean  sc_message_parse_chat         (const guint8 *data,
                                         gsize         len,
                                         ScMessage    *out,
                                         GError      **error);

/* S->C Event: {"event": "join"|"leave", "from", "fingerprint"} */
char     *sc_message_build_event        (const char   *event,
                                         const char   *from,
                                         const char   *fingerprint,
                                         gsize        *len);
gboolean  sc_message_parse_event        (const guint8 *data,
                                         gsize         len,
                                         ScMessage    *out,
                                         GError      **error);

/* S->C Welcome: {"server": name, "clients": n} */
char     *sc_message_build_welcome      (const char   *server_name,
                                         guint         clients,
                                         gsize        *len);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (ScMessage, sc_message_clear)

G_END_DECLS
