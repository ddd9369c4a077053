namespace shop;
entity Books { key ID: Integer; title: String; stock: Integer; }
