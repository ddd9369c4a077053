using shop from '../db/schema';
service CatalogService { entity Books as projection on shop.Books; }
