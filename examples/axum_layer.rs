//! `axum_layer`: an OData `$batch` endpoint in an axum app. Every operation of a batch runs
//! through the app's own routes, as a request made on its own would.
//!
//! ```text
//! cargo run --features tower,json --example axum_layer
//! curl -s http://127.0.0.1:3000/service/\$batch \
//!   -H 'Content-Type: application/json' \
//!   -d '{"requests":[{"id":"1","method":"GET","url":"People"},{"id":"2","method":"GET","url":"People(1)"}]}'
//! ```

use axum::extract::Path;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use batchpart::server::{BatchConfig, BatchLayer};
use tower::Layer;

fn json(v: serde_json::Value) -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], v.to_string())
}

async fn people() -> impl IntoResponse {
    json(serde_json::json!({"value": [{"ID": 1, "Name": "Ada"}, {"ID": 2, "Name": "Grace"}]}))
}

async fn person(Path(key): Path<String>) -> impl IntoResponse {
    json(serde_json::json!({ "key": key }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    // The application's routes, as it serves them without batches.
    let app = Router::new()
        .route("/service/People", get(people))
        .route("/service/{key}", get(person));
    // The batch endpoint runs each operation through those routes. Its service root is the
    // directory of the batch path, `/service/`: an operation cannot reach outside it.
    let batch = BatchLayer::new(BatchConfig::default()).layer(app.clone());
    let app = app.route_service("/service/$batch", batch);
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
