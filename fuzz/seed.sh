#!/usr/bin/env bash
# Writes the seed corpora fuzz/corpus/<target>/seed-* from the shared Marketo examples and vectors
# (../shared next to the repository, or $SHARED) and a few hand-written inputs. Run it before a
# campaign; it is idempotent. fuzz/corpus is not committed (the root .gitignore ignores it), so no
# copy of a shared file ever lands in git.
#
#   fuzz/seed.sh            # all targets
#   fuzz/seed.sh cookie     # one target
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
shared="${SHARED:-$repo/../shared}"
[ -d "$shared/marketo-wsdl/examples" ] || shared=/work/shared
if [ ! -d "$shared/marketo-wsdl/examples" ] || [ ! -d "$shared/vectors" ]; then
    echo "seed.sh: no shared/ folder (set SHARED=/path/to/shared)" >&2
    exit 1
fi

python3 - "$here/corpus" "$shared" "$repo" "$@" <<'PY'
import json, os, re, sys
from pathlib import Path

corpus, shared, repo = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
only = set(sys.argv[4:])
examples = sorted((shared / "marketo-wsdl" / "examples").glob("*.xml"))
vectors = json.loads((shared / "vectors" / "analytics-js-marketo.json").read_text())
cases = [c for side in ("v1", "v2") for c in vectors[side]["cases"]]
written = {}
message_seeds = {}  # name -> bytes, for json_reader too

def put(target, name, data):
    if target == "message_json":
        message_seeds[name] = data.encode() if isinstance(data, str) else data
    if only and target not in only:
        return
    d = corpus / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / f"seed-{name}").write_bytes(data)
    written[target] = written.get(target, 0) + 1

def status(code):
    return code.to_bytes(2, "big")

# message_json: every message of the analytics.js vectors, the replay demo, a few hand-written.
for c in cases:
    put("message_json", f"vector-{c['id']}", json.dumps(c["message"]))
demo = repo / "examples" / "replay" / "demo.jsonl"
if demo.exists():
    for i, line in enumerate(l for l in demo.read_text().splitlines() if l.strip()):
        put("message_json", f"demo-{i}", line)
cookie = "id:561-HYG-937&token:_mch-marketo.com-1374552656411-90718"
for name, msg in {
    "identify-testvector": {"type": "identify", "userId": "u1", "messageId": "m1", "timestamp": "2010-04-09T14:04:54-07:00",
                            "traits": {"email": "t@t.com", "firstName": "George", "lastName": "of the Jungle"},
                            "context": {"Marketo": {"marketoCookie": cookie}}},
    "identify-nested": {"type": "identify", "userId": "u", "traits": {"email": "a@b.co", "ßx": "1", "<k>": "v\u0001",
                        "address": {"city": "X", "zip": "1"}, "company": {"name": "C"}, "o": {"a": [1, 2]}, "userId": "t",
                        "plan": 1.50, "fax": "1", "second_favorite_color": "teal"}},
    "identify-disabled": {"type": "identify", "userId": "u", "traits": {"email": "a@b.co"}, "integrations": {"All": False, "Marketo": True}},
    "track-mapped": {"type": "track", "userId": "u1", "event": "Signed Up", "timestamp": "2024-02-29T23:59:59.999Z",
                     "properties": {"plan": "pro", "a": {"b": 2}, "seats": 12},
                     "context": {"page": {"url": "https://example.com/x?y=1#z", "referrer": "https://r.example/"}, "userAgent": "UA"}},
    "track-anonymous": {"type": "track", "anonymousId": "a1", "event": "Order Completed", "properties": {"total": 1.5, "n": None}},
    "track-unmapped": {"type": "track", "userId": "u1", "event": "/event/testing_a page", "properties": {"x": [1, [2, None], {"b": 2}]},
                       "context": {"Marketo": {"marketoCookie": "bad"}}},
    "page": {"type": "page", "userId": "u1", "name": "Home", "properties": {"url": "https://example.com:8443/p?q=1#h", "referrer": "https://r/"}},
    "page-context": {"type": "page", "anonymousId": "a1", "context": {"page": {"url": "HTTP://EXAMPLE.com./a b?c d#e", "referrer": ""}}},
    "group": {"type": "group", "userId": "u1", "groupId": "g"},
}.items():
    put("message_json", name, json.dumps(msg, ensure_ascii=False))

# json_reader: the message_json seeds (JSON text), and hand-written texts at the edges of the
# grammar: deep nesting (past serde_json's 128 for `Value`), escapes, surrogates (paired, lone,
# reversed), numbers that overflow or that RFC 8259 refuses, trailing text, control characters.
for name, data in message_seeds.items():
    put("json_reader", "msg-" + name, data)
depth = 5000
for name, text in {
    "deep-array": "[" * depth + "]" * depth,
    "deep-object": '{"a":' * depth + "1" + "}" * depth,
    "deep-mixed": '[{"a":' * 200 + "[]" + "}]" * 200,
    "deep-129": '{"k":' * 129 + "null" + "}" * 129,
    "deep-unclosed": "[" * 3000 + "]" * 2999,
    "escapes": '{"a\\"b":"\\\\\\/\\b\\f\\n\\r\\t\\u0000\\u001f\\u00e9\\u20AC","e":"\\x"}',
    "bad-escape": '{"a":"\\x41"}',
    "surrogate-pair": '{"s":"\\ud83d\\ude00","t":"\\uD834\\uDD1E"}',
    "surrogate-lone-high": '{"s":"\\ud800"}',
    "surrogate-lone-low": '{"s":"\\udc00x"}',
    "surrogate-reversed": '["\\udc00\\ud800"]',
    "surrogate-key": '{"\\ud800":1}',
    "surrogate-high-escape": '"\\ud800\\n"',
    "raw-control": '{"a":"x\ty"}',
    "raw-del-utf8": '{"a":"\x7f\u00e9\u20ac\U0001f600"}',
    "numbers": '[0,-0,1,-1,1.5,-0.0,1e400,-1e400,1E+2,1e-400,123456789012345678901234567890,0.1e1]',
    "num-1e400": "1e400",
    "num-neg-zero": "-0",
    "num-leading-zero": "01",
    "num-dot": "1.",
    "num-exp": "1e",
    "num-plus": "+1",
    "num-minus": "-",
    "num-hex": "0x10",
    "literals": '[true,false,null]',
    "literal-bad": "nul",
    "literal-case": "True",
    "scalar-string": '"x"',
    "empty": "",
    "ws-only": " \t\r\n",
    "ws-around": ' \n{"a" : [ 1 , 2 ] } \r\n',
    "ws-bad": "\u00a0{}",
    "trailing-comma-array": "[1,]",
    "trailing-comma-object": '{"a":1,}',
    "trailing-text": "{} x",
    "two-values": "{}{}",
    "duplicate-keys": '{"a":1,"a":"two","b":{"a":[]},"a":null}',
    "non-string-key": "{1:2}",
    "single-quotes": "{'a':1}",
    "comment": '{"a":1 /* c */}',
    "bom": "\ufeff{}",
    "nul-byte": '{"a":"\u0000"}',
    "null": "null",
    "object-values": '{"n":null,"t":true,"f":false,"i":-12,"d":1.50,"s":"x","o":{"p":{}},"a":[[],{}],"":""}',
}.items():
    put("json_reader", name, text)

# settings_json: the vectors' settings, the replay demo's, the fuzz fixtures' shapes.
for side in ("v1", "v2"):
    put("settings_json", f"vector-{side}", json.dumps(vectors[side]["settings"]))
demo_settings = repo / "examples" / "replay" / "demo-settings.json"
if demo_settings.exists():
    put("settings_json", "demo", demo_settings.read_text())
soap = {"accountId": "561-HYG-937", "userId": "bigcorp1_461839624B16E06BA2D663",
        "encryptionKey": "899756834129871744AAEE88DDCC77CDEEDEC1AAAD66",
        "soapEndpoint": "https://561-HYG-937.mktoapi.com/soap/mktows/2_1"}
put("settings_json", "soap", json.dumps(soap))
put("settings_json", "all", json.dumps({**soap, "beaconEndpoint": "http://127.0.0.1:8080/", "privateKey": "k", "projectId": "p",
    "clientId": "x", "clientSecret": "y", "restEndpoint": "https://561-HYG-937.mktorest.com/", "identityEndpoint": "http://[::1]:9/identity",
    "traitCasing": "pascal", "fieldMap": {"o": "Mapped<&>"}, "returnLead": True, "api": "rest", "lookupField": "userId",
    "traits": vectors["v2"]["settings"]["traits"], "createIfNotExist": False, "trackAnonymousActivity": True,
    "sendUserIdAndAnonymousId": True,
    "events": [{"event": "Signed Up", "marketoActivityId": "100001", "primaryAttribute": "plan",
                "properties": [{"segmentProperty": "plan", "marketoAttribute": "Plan"}]},
               {"event": "Order Completed", "marketoActivityId": 2, "primaryAttribute": None}]}))
put("settings_json", "rest-only", json.dumps({"api": "rest", "clientId": "x", "clientSecret": "y",
    "restEndpoint": "https://localhost/", "traitCasing": "preserve"}))

# cookie: the test vector's cookie, and its other accepted spellings.
for f in examples:
    for m in re.findall(r"<marketoCookie>([^<]+)</marketoCookie>", f.read_text()):
        value = m.replace("&amp;", "&")
        put("cookie", f"{f.stem}", value)
        put("cookie", f"{f.stem}-header", f'a=b; _mkto_trk="{value}"; c=d')
        put("cookie", f"{f.stem}-percent", value.replace("&", "%26").replace(":", "%3A"))
        put("cookie", f"{f.stem}-swapped", "token=" + value.split("token:")[1] + "&id=561-HYG-937")
put("cookie", "hex-token", "id:561-HYG-937&token:_mch-example.com-0123456789abcdef0123456789abcdef")
put("cookie", "derived", "id:561-HYG-937&token:_mch-segment-marketo.invalid-1234567890123-00042")

# soap_response: every example under a 200 and a 500 status (first two bytes, big-endian).
for f in examples:
    body = f.read_bytes()
    put("soap_response", f"{f.stem}-200", status(200) + body)
    put("soap_response", f"{f.stem}-500", status(500) + body)

# rest_response: hand-written REST answers, and an error envelope per REST code of the vectors.
rest = {
    "sync-updated": (200, {"requestId": "1", "success": True, "warnings": ["w1", {"code": "1", "message": "w2"}],
                           "result": [{"id": 1, "status": "updated"}, {"id": 2, "status": "created"}, {"id": 3, "status": "updated"}]}),
    "sync-one": (200, {"requestId": "e42b#14272d07d78", "success": True, "result": [{"id": 50, "status": "created"}]}),
    "skipped-1006": (200, {"requestId": "1", "success": True, "result": [{"status": "skipped",
                     "reasons": [{"code": "1006", "message": "Field 'fax' not found"}, {"code": "1004", "message": "Lead not found"}]}]}),
    "skipped-1012": (200, {"requestId": "1", "success": True, "result": [{"status": "skipped",
                     "reasons": [{"code": "1012", "message": "Invalid cookie value 'x'"}]}]}),
    "added": (200, {"requestId": "1", "success": True, "result": [{"id": 7, "marketoGUID": "7", "status": "added"},
                    {"status": "added", "marketoGUID": "g"}, {"status": "skipped", "reasons": []}]}),
    "lookup": (200, {"requestId": "1", "success": True, "result": [{"id": 9, "userId": "u1"}, {"id": 4, "email": "A@B.co"},
                     {"id": 318581, "email": "c@d.co"}]}),
    "associated": (200, {"requestId": "a", "success": True}),
    "token": (200, {"access_token": "cdf01657-110d-4155-99a7-f986b2ff13a0:int", "token_type": "bearer", "expires_in": 3599,
                    "scope": "apis@acmeinc.com"}),
    "token-zero": (200, {"access_token": "x", "token_type": "bearer", "expires_in": 0}),
    "token-huge": (200, {"access_token": "x", "token_type": "bearer", "expires_in": 18446744073709551615}),
    "oauth-error": (401, {"error": "unauthorized", "error_description": "Bad client credentials"}),
    "html-502": (502, "<html><body>Bad Gateway</body></html>"),
}
for name, (code, body) in rest.items():
    put("rest_response", name, status(code) + (body if isinstance(body, str) else json.dumps(body)).encode())
for line in (shared / "vectors" / "marketo-error-codes.tsv").read_text().splitlines():
    cols = line.split("\t")
    if line.startswith("#") or len(cols) < 3 or cols[0] != "rest":
        continue
    body = {"requestId": "r", "success": False, "errors": [{"code": cols[1], "message": cols[2]}]}
    put("rest_response", f"error-{cols[1]}", status(200) + json.dumps(body).encode())

# beacon_url: mode byte, URL, referrer, base URL, user agent, separated by zero bytes.
urls = set()
def walk(v):
    if isinstance(v, dict):
        for k, x in v.items():
            if k in ("url", "referrer") and isinstance(x, str) and x:
                urls.add(x)
            walk(x)
    elif isinstance(v, list):
        for x in v:
            walk(x)
walk([c["message"] for c in cases])
urls |= {"https://example.com:8443/p/a%20b?q=1&r=%E2%82%AC#frag", "http://[::1]:80/x", "https://user:pw@EXAMPLE.com/",
         "https://ex\u00e4mple.com/\u20ac?\u20ac#\u20ac", "/relative/path?x=1", "//host/p"}
for i, u in enumerate(sorted(urls)):
    for mode in (0, 3, 4):
        put("beacon_url", f"{i}-{mode}", bytes([mode]) + b"\0".join(
            [u.encode(), b"https://referrer.example/r?x=1", b"https://example.com/base/", b"Mozilla/5.0 (fuzz)"]))

for target, n in sorted(written.items()):
    print(f"{target}: {n} seeds in {corpus / target}")
PY
