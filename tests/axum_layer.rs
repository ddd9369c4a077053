//! The `axum_layer` example serves: a JSON batch through its routes, with an operation that
//! tries to leave the service root refused.
#![cfg(all(feature = "tower", feature = "json"))]
mod common;

use std::process::Command;

use common::client::send;

#[tokio::test]
async fn the_axum_example_answers_a_batch_through_its_routes() {
    let server =
        common::demo::listening(Command::new(common::example("axum_layer")).arg("127.0.0.1:0"));
    let addr = server.1.clone();
    let ct = [("Content-Type", "application/json")];
    let batch = r#"{"requests":[{"id":"1","method":"GET","url":"People"},{"id":"2","method":"GET","url":"People(1)"}]}"#;
    let (status, _, body) = send(&addr, "POST", "/service/$batch", &ct, batch).await;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["responses"][0]["body"]["value"][1]["Name"], "Grace");
    assert_eq!(v["responses"][1]["body"]["key"], "People(1)");
    let escape = r#"{"requests":[{"id":"1","method":"GET","url":"../admin"}]}"#;
    let (status, _, body) = send(&addr, "POST", "/service/$batch", &ct, escape).await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("outside-service-root"));
}
