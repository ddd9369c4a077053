"""The Azure SDK's side of tests/field_azurite.rs: `setup PORT CONTAINER BLOB...` creates the
container and the blobs; `delete PORT CONTAINER BLOB...` deletes them with the SDK's own batch
(`ContainerClient.delete_blobs`) and prints each subrequest's status, one per line; `tier PORT
CONTAINER TIER BLOB...` sets their tier with the SDK's own batch
(`ContainerClient.set_standard_blob_tier_blobs`) and prints each status; `list PORT CONTAINER`
prints the blob names, one per line; `tiers PORT CONTAINER` prints `NAME TIER` lines."""
import base64
import sys

from azure.storage.blob import BlobServiceClient

KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def container(port, name):
    conn = (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;")
    return BlobServiceClient.from_connection_string(conn).get_container_client(name)


def main():
    cmd, port, name, *blobs = sys.argv[1:]
    c = container(port, name)
    if cmd == "setup":
        if not c.exists():
            c.create_container()
        for b in blobs:
            c.upload_blob(b, b"data " + b.encode(), overwrite=True)
    elif cmd == "delete":
        for r in c.delete_blobs(*blobs, raise_on_any_failure=False):
            print(r.status_code)
    elif cmd == "tier":
        tier, *names = blobs
        for r in c.set_standard_blob_tier_blobs(tier, *names, raise_on_any_failure=False):
            print(r.status_code)
    elif cmd == "mixed":
        # A delete and a set-tier in one batch, which Azure refuses whole: the SDK's own
        # batch machinery sends it, and the raw answer is printed for the crate to read
        # (its Content-Type, then its body in base64).
        deleted, tiered = blobs
        from azure.storage.blob._container_client_helpers import (
            _generate_delete_blobs_options, _generate_set_tiers_options)
        args = (c._query_str, c.container_name)
        reqs, options = _generate_delete_blobs_options(*args, c._client, deleted,
                                                       raise_on_any_failure=False)
        more, _ = _generate_set_tiers_options(*args, "Cool", c._client, tiered)
        seen = {}
        hook = lambda r: seen.setdefault("r", r.http_response)
        list(c._batch_send(*reqs, *more, raw_response_hook=hook, **options))
        r = seen["r"]
        print(r.status_code)
        print(r.headers["Content-Type"])
        print(base64.b64encode(r.body()).decode())
    elif cmd == "list":
        for b in c.list_blobs():
            print(b.name)
    elif cmd == "tiers":
        for b in c.list_blobs():
            print(b.name, b.blob_tier)


main()
