"""pyodata (OData V2) against a server at argv[1]: it fetches $metadata, then sends one batch
with a GET and a changeset of two creates (V2: no Content-IDs), and parses the answer with its
own parser. Prints the entities it got back, as JSON.
"""
import json
import sys

import pyodata
import requests

url = sys.argv[1]
client = pyodata.Client(url, requests.Session())
customers = client.entity_sets.Customers

batch = client.create_batch()
batch.add_request(customers.get_entity("C0"))
changeset = client.create_changeset()
changeset.add_request(customers.create_entity().set(ID="C1", Name="Zoë"))
changeset.add_request(customers.create_entity().set(ID="C2", Name="Bob"))
batch.add_request(changeset)
got = batch.execute()


def entity(e):
    return {"ID": e.ID, "Name": e.Name}


print(json.dumps([entity(got[0]), [entity(e) for e in got[1]]], sort_keys=True))
