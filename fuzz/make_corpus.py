#!/usr/bin/env python3
"""Builds each fuzz target's seed corpus (fuzz/corpus/<target>/) from tests/fixtures.

The byte layout matches tests/fuzz_checks::layout:
[flags][boundary len - 1][boundary (<= 8 bytes)][sizes len][sizes][body]."""
import os, pathlib

root = pathlib.Path(__file__).resolve().parent
fixtures = root.parent / "tests" / "fixtures"
corpus = root / "corpus"


def first_boundary(data):
    for line in data.splitlines():
        if line.startswith(b"--"):
            return line[2:].rstrip(b" \t-") or b"b"
    return b"b"


def put(target, name, data):
    d = corpus / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


for f in sorted(fixtures.glob("*.txt")):
    body = f.read_bytes()
    full = first_boundary(body)
    # Boundaries over 8 bytes do not fit the layout: rename them in the body.
    short = full[:8]
    if full != short:
        body = body.replace(full, short)
    for strict in (0, 1):
        layout = bytes([strict, len(short) - 1]) + short + bytes([3, 7, 1, 64]) + body
        put("decoder", f"{f.stem}-{strict}", layout)
        put("stream", f"{f.stem}-{strict}", layout)
    put("differential", f.stem, bytes([len(short) - 1]) + short + body)
    for part in body.split(b"\r\n\r\n")[1:3]:
        put("http_head", f"{f.stem}-{hash(part) & 0xffff}", part)
    for line in body.splitlines():
        if line.lower().startswith(b"content-type:"):
            put("content_type", f"{f.stem}-{hash(line) & 0xffff}", line.split(b":", 1)[1].strip())
put("content_type", "quoted", b'multipart/mixed; boundary="batch_1.2+34:2j)0?"')
put("roundtrip", "empty", b"")
for f in sorted(fixtures.glob("*.txt")):
    body = f.read_bytes()
    full = first_boundary(body)
    put("batch", f.stem, b"\x00" + body.replace(full, b"b"))
for f in sorted(fixtures.glob("*.json")):
    put("batch", f.stem, b"\x01" + f.read_bytes())
# The server target: [flags][Content-Type]\n[Prefer]\n[OData-Version]\n[path]\n[body].
for f in sorted(fixtures.glob("*.txt")):
    body = f.read_bytes()
    full = first_boundary(body)
    head = b"multipart/mixed; boundary=b\nodata.continue-on-error\n4.01\n/s/$batch\n"
    put("server", f.stem, b"\x00" + head + body.replace(full, b"b"))
    put("server", f.stem + "-streaming", b"\x10" + head + body.replace(full, b"b"))
for f in sorted(fixtures.glob("*.json")):
    put("server", f.stem, b"\x00application/json\ncontinue-on-error\n\n/s/$batch\n" + f.read_bytes())
put("server", "json-batch", b'\x01application/json\n\n\n/batch\n{"requests":[{"method":"get","path":"/s/err"},{"method":"post","path":"/s/raw","body":{}}]}')
put("server", "ringcentral-get", b"\x0a\n\n\n/s/store/1,2,3\n")
put("server", "ringcentral-put", b'\x06application/vnd.ringcentral.multipart+json\n\n\n/s/store/*\n[{"resourceId":"1","body":{}}]')
print("corpus written to", corpus)
