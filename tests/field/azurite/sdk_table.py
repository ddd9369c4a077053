"""The Azure SDK's side of the Table tests in tests/field_azurite.rs (azure-data-tables):

- `setup PORT TABLE`: creates the table;
- `sas PORT`: prints an account SAS (read, write, delete, list, add, create, update) for the
  Table service, valid for an hour;
- `submit PORT TABLE PK RK...`: submits one transaction that creates an entity per RowKey with
  `submit_transaction`, and prints `ok N` with the number of answers, or `failed INDEX STATUS`
  for the operation the SDK says failed it;
- `list PORT TABLE`: prints `PK RK value` for every entity, one per line.
"""
import sys
from datetime import datetime, timedelta, timezone

from azure.core.credentials import AzureNamedKeyCredential
from azure.data.tables import (
    AccountSasPermissions,
    ResourceTypes,
    TableServiceClient,
    TableTransactionError,
    generate_account_sas,
)

ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def service(port):
    conn = (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
            f"TableEndpoint=http://127.0.0.1:{port}/{ACCOUNT};")
    return TableServiceClient.from_connection_string(conn)


def main():
    cmd, port, *rest = sys.argv[1:]
    svc = service(port)
    if cmd == "setup":
        svc.create_table_if_not_exists(rest[0])
    elif cmd == "sas":
        print(generate_account_sas(
            AzureNamedKeyCredential(ACCOUNT, KEY),
            resource_types=ResourceTypes(service=True, container=True, object=True),
            permission=AccountSasPermissions(read=True, write=True, delete=True, list=True,
                                             add=True, create=True, update=True),
            expiry=datetime.now(timezone.utc) + timedelta(hours=1),
        ))
    elif cmd == "submit":
        table, pk, *rks = rest
        ops = [("create", {"PartitionKey": pk, "RowKey": rk, "value": "sdk"}) for rk in rks]
        try:
            answers = svc.get_table_client(table).submit_transaction(ops)
            print("ok", len(answers))
        except TableTransactionError as e:
            print("failed", e.index, e.status_code)
    elif cmd == "list":
        for e in svc.get_table_client(rest[0]).list_entities():
            print(e["PartitionKey"], e["RowKey"], e.get("value"))


main()
