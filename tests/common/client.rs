//! One HTTP/1.1 request over a fresh loopback connection, with a real client (hyper's), for
//! the tests that talk to a server: the demo, or one someone else wrote.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

/// One request with any method, path and headers: status, Content-Type and body.
pub async fn send(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> (u16, String, Bytes) {
    let (status, h, body) = exchange(addr, method, path, headers, body).await;
    let ct = h
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, body)
}

/// One request with any method, path and headers: status, every header, and body.
pub async fn exchange(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> (u16, hyper::HeaderMap, Bytes) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut s, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("Host", addr);
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let res = s
        .send_request(req.body(Full::new(body.into())).unwrap())
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (
        status,
        headers,
        res.into_body().collect().await.unwrap().to_bytes(),
    )
}
