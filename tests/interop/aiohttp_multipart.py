"""aiohttp's MultipartWriter and MultipartReader, nested.

`write`: prints a batch with a changeset, written by aiohttp, to stdout.
`read CONTENT_TYPE`: reads a multipart body from stdin with aiohttp's reader, descending into
nested multiparts, and prints the tree as JSON: `{"parts": [...]}` for a multipart, and
`{"headers": [[name, value], ...], "body": latin-1 text}` for a leaf.
"""
import asyncio
import json
import sys
from unittest import mock

import aiohttp
from multidict import CIMultiDict


def write():
    head = (b"POST /Customers HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
            b'{"Name": "Zo\xc3\xab"}')
    with aiohttp.MultipartWriter("mixed", boundary="batch_aio") as batch:
        batch.append(b"GET /Customers('C0') HTTP/1.1\r\n\r\n",
                     {"Content-Type": "application/http", "Content-ID": "0"})
        with aiohttp.MultipartWriter("mixed", boundary="changeset_aio") as cs:
            cs.append(head, {"Content-Type": "application/http", "Content-ID": "1"})
            cs.append(b"DELETE /Customers('C9') HTTP/1.1\r\n\r\n",
                      {"Content-Type": "application/http", "Content-ID": "2"})
        batch.append(cs)

    class Sink:
        def __init__(self):
            self.data = bytearray()

        async def write(self, b):
            self.data += b

    async def run():
        sink = Sink()
        await batch.write(sink)
        return bytes(sink.data)

    sys.stdout.buffer.write(asyncio.run(run()))


async def tree(reader):
    parts = []
    while True:
        part = await reader.next()
        if part is None:
            return {"parts": parts}
        if isinstance(part, aiohttp.MultipartReader):
            parts.append(await tree(part))
        else:
            body = await part.read(decode=False)
            parts.append({
                "headers": [[k, v] for k, v in part.headers.items()],
                "body": bytes(body).decode("latin-1"),
            })


def read(content_type):
    data = sys.stdin.buffer.read()

    async def run():
        loop = asyncio.get_running_loop()
        stream = aiohttp.StreamReader(mock.Mock(_reading_paused=False), 2**16, loop=loop)
        stream.feed_data(data)
        stream.feed_eof()
        reader = aiohttp.MultipartReader(CIMultiDict({"Content-Type": content_type}), stream)
        return await tree(reader)

    print(json.dumps(asyncio.run(run())))


if sys.argv[1] == "write":
    write()
else:
    read(sys.argv[2])
