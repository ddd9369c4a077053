"""google-cloud-storage's own batch, for tests/field_gcs.rs: `client_batch.py PORT` deletes
two objects and patches a third's metadata in one `client.batch()` against
http://127.0.0.1:PORT, then prints each call's answer status as the client read it, one per
line."""
import sys

from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

client = storage.Client(project="p", credentials=AnonymousCredentials(),
                        client_options={"api_endpoint": f"http://127.0.0.1:{sys.argv[1]}"})
bucket = client.bucket("bkt")
with client.batch(raise_exception=False) as batch:
    bucket.delete_blob("a")
    bucket.delete_blob("b c")
    blob = bucket.blob("d")
    blob.metadata = {"k": "v"}
    blob.patch()
for r in batch._responses:
    print(r.status_code)
