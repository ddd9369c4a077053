"""odatapy (PyPI, a Python port of Apache Olingo) serving one entity set from its in-memory
store, under wsgiref, for tests/field_odatapy.rs.

    python3 server.py PORT

prints `listening on http://127.0.0.1:PORT` once it accepts connections. The service root is
http://127.0.0.1:PORT/odata/.
"""

import sys
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from socketserver import ThreadingMixIn

from odatapy.edm.xml_io import XmlEdmProvider
from odatapy.server import OData
from odatapy.server.adapters.wsgi import ODataWSGIApp
from odatapy.server.inmemory import InMemoryDataStore, InMemoryProcessor

METADATA = """<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:DataServices>
    <Schema Namespace="Shop" xmlns="http://docs.oasis-open.org/odata/ns/edm">
      <EntityType Name="Book">
        <Key><PropertyRef Name="ID"/></Key>
        <Property Name="ID" Type="Edm.Int32" Nullable="false"/>
        <Property Name="title" Type="Edm.String"/>
        <Property Name="stock" Type="Edm.Int32"/>
      </EntityType>
      <EntityContainer Name="Container">
        <EntitySet Name="Books" EntityType="Shop.Book"/>
      </EntityContainer>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>
"""


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class Threaded(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def main():
    port = int(sys.argv[1])
    odata = OData.new_instance()
    handler = odata.create_handler(odata.create_service_metadata(XmlEdmProvider(METADATA)))
    handler.register(InMemoryProcessor(InMemoryDataStore()))
    app = ODataWSGIApp(handler, mount_path="/odata")
    server = make_server("127.0.0.1", port, app, server_class=Threaded, handler_class=Quiet)
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
