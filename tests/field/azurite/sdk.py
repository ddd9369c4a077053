"""The Azure SDK's side of tests/field_azurite.rs: `setup PORT CONTAINER BLOB...` creates the
container and the blobs; `delete PORT CONTAINER BLOB...` deletes them with the SDK's own batch
(`ContainerClient.delete_blobs`) and prints each subrequest's status, one per line; `list PORT
CONTAINER` prints the blob names, one per line."""
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
    elif cmd == "list":
        for b in c.list_blobs():
            print(b.name)


main()
