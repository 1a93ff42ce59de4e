#!/usr/bin/python3
# make-seeds.py: seed corpora for the fuzz targets, from the known-answer
# vectors in tests/core/ and a few hand-written inputs.
#   make-seeds.py SOURCE_ROOT OUT_DIR   ->  OUT_DIR/<target>/<name>
# Each seed starts with the target's control bytes (see the target's
# header comment).
#
# SPDX-License-Identifier: GPL-3.0-or-later
import base64
import json
import os
import sys

src, out = sys.argv[1], sys.argv[2]
kat1 = json.load(open(os.path.join(src, 'tests', 'core', 'kat-v1.json')))
kat2 = json.load(open(os.path.join(src, 'tests', 'core', 'kat-v2.json')))
h = bytes.fromhex
seeds = {}


def seed(target, name, data):
    seeds.setdefault(target, {})[name] = data


def v1_frame(text):
    data = text.encode()
    return data if data.endswith(b'\n\n') else data + b'\n\n'


# ---- v1 ----
greeting_v1 = kat1['greeting'].encode()          # all of G, three newlines
handshake = v1_frame(kat1['handshake_frame'])
messages = b''.join(v1_frame(m['frame']) for m in kat1['messages'])

seed('fuzz-v1-frames', 'detect', b'\x00\x00' + handshake + messages)
seed('fuzz-v1-frames', 'v1-pieces', b'\x01\x05' + handshake + messages)
seed('fuzz-v1-frames', 'client', b'\x02\x00' + greeting_v1 + messages)
seed('fuzz-v1-frames', 'client-pieces', b'\x02\x03' + greeting_v1 + messages)
seed('fuzz-v1-frames', 'small-limit', b'\x05\x08' + handshake + messages)
for i, m in enumerate(kat1['messages']):
    seed('fuzz-v1-frames', 'message-%d' % i, b'\x03\x00' + v1_frame(m['frame']))
seed('fuzz-v1-frames', 'whitespace', b'\x01\x00 \n\t{"cipher": "", "hmac": ""}\n\n\n')

# ---- v2 ----
greeting = h(kat2['greeting_hex'])
client_hello = h(kat2['client_hello_hex'])
server_hello = h(kat2['server_hello_hex'])
records = kat2['records']
c2s = b''.join(h(r['frame_hex']) for r in records if r['direction'] == 'c2s')
s2c = b''.join(h(r['frame_hex']) for r in records if r['direction'] == 's2c')

seed('fuzz-v2-frames', 'server', b'\x00\x00\x00' + client_hello + c2s)
seed('fuzz-v2-frames', 'server-pieces', b'\x00\x03\x00' + client_hello + c2s)
seed('fuzz-v2-frames', 'detect-v2', b'\x01\x00\x00' + client_hello + c2s)
seed('fuzz-v2-frames', 'detect-v1', b'\x01\x02\x00' + handshake + messages)
seed('fuzz-v2-frames', 'client', b'\x02\x00\x00' + greeting + server_hello + s2c)
seed('fuzz-v2-frames', 'client-pieces', b'\x02\x06\x00' + greeting + server_hello + s2c)
seed('fuzz-v2-frames', 'client-v1', b'\x03\x01\x00' + greeting_v1 + messages)
seed('fuzz-v2-frames', 'small-limit', b'\x04\x01\x02' + client_hello + c2s)
seed('fuzz-v2-frames', 'record-limit', b'\x0c\x04\x01' + client_hello + c2s)
seed('fuzz-v2-frames', 'empty-frame', b'\x00\x00\x00' + b'\x00\x00\x00\x00')

seed('fuzz-v2-server', 'handshake', b'\x00\x00' + client_hello + c2s)
seed('fuzz-v2-server', 'handshake-pieces', b'\x00\x09' + client_hello + c2s)
seed('fuzz-v2-server', 'client-hello', b'\x00\x00' + client_hello)
seed('fuzz-v2-server', 'records', b'\x01\x00' + c2s)
seed('fuzz-v2-server', 'records-small', b'\x03\x02' + c2s)
for i, r in enumerate(records):
    if r['direction'] == 'c2s':
        seed('fuzz-v2-server', 'record-%d' % i, b'\x01\x00' + h(r['frame_hex']))

seed('fuzz-v2-client', 'handshake', b'\x00\x00' + greeting + server_hello + s2c)
seed('fuzz-v2-client', 'handshake-pieces', b'\x00\x0a' + greeting + server_hello + s2c)
seed('fuzz-v2-client', 'greeting', b'\x00\x00' + greeting)
seed('fuzz-v2-client', 'records', b'\x01\x00' + s2c)
seed('fuzz-v2-client', 'records-small', b'\x03\x05' + s2c)
for i, r in enumerate(records):
    if r['direction'] == 's2c':
        seed('fuzz-v2-client', 'record-%d' % i, b'\x01\x00' + h(r['frame_hex']))

# ---- messages ----
for i, r in enumerate(records):
    pt = h(r['plaintext_hex'])
    if pt.startswith(b'{'):
        seed('fuzz-message', 'record-%d' % i, pt)
fp = kat2['server_fingerprint']
for name, text in [
        ('request-fast', '{"text":"hello"}'),
        ('request-escapes', '{"text": "a\\"b\\\\c\\nd \\u00fc \\ud83d\\ude00"}'),
        ('request-utf8', '{"text": "gr\u00fc\u00df dich \U0001F44B"}'),
        ('chat', '{"from": "alice", "fingerprint": "%s", "text": "hi", "time": 1700000000000}' % fp),
        ('chat-no-time', '{"from": "bob", "text": "x"}'),
        ('join', '{"event": "join", "from": "alice", "fingerprint": "%s"}' % fp),
        ('leave', '{"event": "leave", "from": "bob"}'),
        ('nested', '{"text": "x", "a": [[[[{"b": null}]]]], "n": -1.5e3, "t": true}'),
]:
    seed('fuzz-message', name, text.encode())

# ---- key files ----
def ed25519_pem(seed_hex):
    der = h('302e020100300506032b657004220420') + h(seed_hex)
    b64 = base64.b64encode(der).decode()
    return ('-----BEGIN PRIVATE KEY-----\n%s\n-----END PRIVATE KEY-----\n' % b64).encode()


public_pem = greeting_v1[len(b'SERVER_PUB\n'):].rstrip(b'\n') + b'\n'
seed('fuzz-key-files', 'rsa-server', b'\x00' + kat1['server_rsa_private_pem'].encode())
seed('fuzz-key-files', 'rsa-client', b'\x00' + kat1['client_rsa_private_pem'].encode())
seed('fuzz-key-files', 'ed25519-server', b'\x01' + ed25519_pem(kat2['server_id_private_hex']))
seed('fuzz-key-files', 'ed25519-client', b'\x01' + ed25519_pem(kat2['client_id_private_hex']))
seed('fuzz-key-files', 'ed25519-as-rsa', b'\x00' + ed25519_pem(kat2['server_id_private_hex']))
seed('fuzz-key-files', 'rsa-as-ed25519', b'\x01' + kat1['client_rsa_private_pem'].encode())
seed('fuzz-key-files', 'public', b'\x02' + public_pem)
seed('fuzz-key-files', 'encrypted', b'\x00-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n'
     b'-----END ENCRYPTED PRIVATE KEY-----\n')

# ---- trust files ----
cfp = kat2['client_fingerprint']
rfp = kat1['fingerprint_server_rsa']
known = ('# pinned servers\n127.0.0.1:5555 %s\n[::1]:5555 %s\nchat.example.org:443 %s\n\n'
         'Chat.Example.ORG:444 %s\n' % (fp, fp, cfp, rfp))
seed('fuzz-trust-files', 'known-servers', b'\x00' + known.encode())
seed('fuzz-trust-files', 'known-servers-change', b'\x04' + known.encode())
clients = '%s alice\n%s\tbob  the builder\n# comment\n%s\n' % (cfp, fp, rfp)
seed('fuzz-trust-files', 'authorized-clients', b'\x01' + clients.encode())
seed('fuzz-trust-files', 'authorized-clients-change', b'\x05' + clients.encode())
seed('fuzz-trust-files', 'verified', b'\x02' + ('%s\n%s\n' % (fp, cfp)).encode())
seed('fuzz-trust-files', 'all-three', b'\x03' + ('%s\n' % fp).encode())
seed('fuzz-trust-files', 'no-newline', b'\x00' + ('localhost:5555 %s' % fp).encode())

for target, files in seeds.items():
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(d, name), 'wb') as f:
            f.write(data)
