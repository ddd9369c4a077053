"""google-api-python-client's BatchHttpRequest against a server at argv[1].

Its own serializer writes the batch (bare-LF lines, `<uuid + id>` Content-IDs, an embedded
Content-Length that counts characters) and its own parser reads the answer. Prints what each
callback saw, as JSON.
"""
import json
import sys

import httplib2
from googleapiclient.http import BatchHttpRequest, HttpRequest

base = sys.argv[1]


class Utf8Http(httplib2.Http):
    """Sends a text body as UTF-8, as urllib3-based transports do (httplib2 alone encodes it
    as latin-1 and fails on `☕`). The client's embedded Content-Length counts the body's
    characters, so here it is short of the bytes sent."""

    def request(self, uri, method="GET", body=None, headers=None, **kw):
        if isinstance(body, str):
            body = body.encode("utf-8")
        return super().request(uri, method, body, headers, **kw)


http = Utf8Http()
seen = {}


def callback(request_id, response, exception):
    if exception is not None:
        seen[request_id] = {"error": exception.resp.status, "content": exception.content.decode() if isinstance(exception.content, bytes) else exception.content}
    else:
        seen[request_id] = {"content": response}


def request(method, path, body=None, headers=None):
    return HttpRequest(
        http,
        lambda resp, content: {"status": resp.status, "reason": resp.reason,
                               "content": content.decode() if isinstance(content, bytes) else content},
        base + path,
        method=method,
        body=body,
        headers=headers or {},
    )


batch = BatchHttpRequest(callback=callback, batch_uri=base + "/batch/storage/v1")
batch.add(request("GET", "/storage/v1/b/bucket/o/a"), request_id="first")
batch.add(
    request("POST", "/storage/v1/b/bucket/o", body='{"name": "café ☕"}',
            headers={"content-type": "application/json"}),
    request_id="second",
)
batch.add(request("DELETE", "/storage/v1/b/bucket/o/gone"), request_id="third")
batch.add(request("GET", "/storage/v1/b/bucket/o/missing"), request_id="fourth")
batch.execute(http=http)
print(json.dumps(seen, sort_keys=True))
