/* sc-protocol.h: every wire constant, limit and error code in one place
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Shared by both generations */
#define SC_DEFAULT_PORT              5555
#define SC_GREETING_PREFIX           "SERVER_PUB\n"
#define SC_GREETING_MAX              4096   /* RSA-2048 greeting is ~470 bytes */
#define SC_HANDSHAKE_TIMEOUT_MS      10000
#define SC_SEND_QUEUE_MAX            (1024 * 1024)
#define SC_MAX_CONNECTIONS_DEFAULT   1024
#define SC_PRESENCE_LIMIT_DEFAULT    256   /* larger rooms get no join/leave events */
#define SC_LISTEN_BACKLOG            1024  /* GIO's default of 10 overflows under bursts */
#define SC_ACCEPT_BATCH              64    /* connections accepted per wake-up */
#define SC_ACCEPT_RETRY_MS           100   /* the listener's rest after a failed accept */
#define SC_FINGERPRINT_PREFIX        "SHA256:"
#define SC_FINGERPRINT_LEN           (7 + 43)  /* "SHA256:" + unpadded base64 of 32 bytes */

/* v1, the seed protocol */
#define SC_V1_FRAME_MAX              (128 * 1024)  /* before the "\n\n" terminator */
#define SC_V1_KEY_LEN                32
#define SC_V1_IV_LEN                 16
#define SC_V1_BLOB_LEN               (SC_V1_KEY_LEN + SC_V1_IV_LEN)
#define SC_V1_HMAC_LEN               32
#define SC_RSA_BITS                  2048

/* v2 */
#define SC_V2_VERSION                0x02
#define SC_V2_HEADER_LEN             5      /* u32be(L) || type */
#define SC_V2_HANDSHAKE_FRAME_MAX    1024   /* L during the handshake */
#define SC_V2_MESSAGE_MAX_DEFAULT    65536
/* What the server adds to a text it passes on ("from", "fingerprint",
 * "time"; a 64-byte nickname escaped is at most 128): a client's text must
 * leave this much of a record free, so the relayed Chat fits one too */
#define SC_V2_RELAY_HEADROOM         512
#define SC_V2_RECORD_MAX(msg_max)    (1 + (msg_max) + SC_V2_TAG_LEN)
#define SC_V2_RANDOM_LEN             32
#define SC_X25519_LEN                32
#define SC_ED25519_PUB_LEN           32
#define SC_ED25519_SIG_LEN           64
#define SC_V2_CLIENT_HELLO_LEN       (1 + 1 + SC_V2_RANDOM_LEN + SC_X25519_LEN)          /* 66 */
#define SC_V2_SERVER_HELLO_LEN       (1 + SC_V2_RANDOM_LEN + SC_X25519_LEN + \
                                      SC_ED25519_PUB_LEN + SC_ED25519_SIG_LEN)           /* 161 */
#define SC_V2_KEY_LEN                32
#define SC_V2_IV_LEN                 12
#define SC_V2_TAG_LEN                16
#define SC_V2_SECRET_LEN             32
#define SC_V2_NICK_MAX               64
#define SC_V2_KEY_UPDATE_LIMIT       (1u << 24)  /* update before seq reaches this */
#define SC_V2_KEY_UPDATE_RUN_MAX     16     /* KeyUpdates in a row a receiver accepts */

#define SC_V2_SERVER_SIG_CONTEXT     "SecureChat/2 server"  /* followed by one \0 byte */
#define SC_V2_CLIENT_SIG_CONTEXT     "SecureChat/2 client"
#define SC_V2_LABEL_C2S              "sc2 c2s"
#define SC_V2_LABEL_S2C              "sc2 s2c"
#define SC_V2_LABEL_KEY              "sc2 key"
#define SC_V2_LABEL_IV               "sc2 iv"
#define SC_V2_LABEL_NEXT             "sc2 next"
#define SC_V2_LABEL_CODE             "sc2 code"

typedef enum {
  SC_V2_CLIENT_HELLO = 0x01,
  SC_V2_SERVER_HELLO = 0x02,
  SC_V2_CLIENT_AUTH  = 0x10,
  SC_V2_WELCOME      = 0x11,
  SC_V2_REJECT       = 0x12,
  SC_V2_CHAT         = 0x20,
  SC_V2_EVENT        = 0x21,
  SC_V2_KEY_UPDATE   = 0x30,
  SC_V2_CLOSE        = 0x40,
} ScV2Type;

typedef enum {
  SC_PROTOCOL_UNKNOWN = 0,
  SC_PROTOCOL_V1 = 1,  /* the seed protocol */
  SC_PROTOCOL_V2 = 2,
} ScProtocol;

#define SC_CLOSE_LINGER_MS           2000  /* wait for the peer after our Close */

/* Key directory contents */
#define SC_KEY_DIR_NAME              "secure-chat"
#define SC_FILE_RSA_KEY              "server_key.pem"
#define SC_FILE_IDENTITY             "identity_ed25519.pem"
#define SC_FILE_KNOWN_SERVERS        "known_servers"
#define SC_FILE_AUTHORIZED_CLIENTS   "authorized_clients"
#define SC_FILE_VERIFIED             "verified_keys"

#define SC_ERROR (sc_error_quark ())

typedef enum {
  SC_ERROR_PROTOCOL,       /* malformed or unexpected input from the peer */
  SC_ERROR_OVERSIZE,       /* a frame above the limit for the current phase */
  SC_ERROR_VERSION,        /* a protocol version we do not speak */
  SC_ERROR_DECRYPT,        /* authentication of a record or message failed */
  SC_ERROR_SIGNATURE,      /* a handshake signature did not verify */
  SC_ERROR_WEAK_KEY,       /* all-zero X25519 result */
  SC_ERROR_STATE,          /* call not allowed in the current state */
  SC_ERROR_CLOSED,         /* the session is closed */
  SC_ERROR_CRYPTO,         /* OpenSSL failed internally */
  SC_ERROR_KEY_FILE,       /* a key or trust file is unreadable, corrupt or unsafe */
  SC_ERROR_UNTRUSTED,      /* server key not pinned (strict policy or refused) */
  SC_ERROR_KEY_CHANGED,    /* pinned key differs from the one presented */
  SC_ERROR_REJECTED,       /* the server refused us */
} ScError;

GQuark sc_error_quark (void);

G_END_DECLS
