//! Starts `batchpart server` on loopback and drives it with a real HTTP client (hyper's) for
//! a multipart batch and a JSON batch.
#![cfg(feature = "cli")]

mod common;

use std::time::{Duration, Instant};

use common::client::send;
use common::demo::{start, start_with};

use batchpart::batch::{read_json, read_multipart, BatchResponse, Item};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};

/// A batch POST over a fresh connection: status, content type and body.
async fn post(
    addr: &str,
    content_type: &str,
    prefer: Option<&str>,
    body: String,
) -> (u16, String, Bytes) {
    let mut headers = vec![("Content-Type", content_type)];
    headers.extend(prefer.map(|p| ("Prefer", p)));
    send(addr, "POST", "/service/$batch", &headers, body).await
}

fn statuses(r: &BatchResponse) -> Vec<Vec<u16>> {
    r.items
        .iter()
        .map(|i| i.ops().iter().map(|o| o.status).collect())
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn multipart_and_json_batches_over_loopback() {
    let server = start();
    let addr = server.1.clone();

    let multipart = "--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n\
        --cs\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\n\
        POST People HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"Name\":\"Ada\"}\r\n\
        --cs\r\nContent-Type: application/http\r\nContent-ID: 2\r\n\r\n\
        PATCH $1 HTTP/1.1\r\nIf-Match: $1\r\nContent-Type: application/json\r\n\r\n{\"Name\":\"Ada L\"}\r\n\
        --cs--\r\n\
        --b\r\nContent-Type: application/http\r\n\r\nGET People(1) HTTP/1.1\r\n\r\n\r\n\
        --b\r\nContent-Type: application/http\r\n\r\nGET People(42) HTTP/1.1\r\n\r\n\r\n\
        --b\r\nContent-Type: application/http\r\n\r\nGET People HTTP/1.1\r\n\r\n\r\n\
        --b--\r\n";
    let (status, ct, body) =
        post(&addr, "multipart/mixed; boundary=b", None, multipart.into()).await;
    assert_eq!(status, 200);
    let r: BatchResponse = read_multipart(body, ct.as_bytes(), None).unwrap();
    // Stops at the 404, whose response is the last.
    assert_eq!(statuses(&r), [vec![201, 204], vec![200], vec![404]]);
    let Item::Op(get) = &r.items[1] else { panic!() };
    assert_eq!(get.body, Bytes::from_static(b"{\"Name\":\"Ada L\"}"));

    // The same with continue-on-error goes on past the failure.
    let (_, ct, body) = post(
        &addr,
        "multipart/mixed; boundary=b",
        Some("odata.continue-on-error"),
        multipart.into(),
    )
    .await;
    let r: BatchResponse = read_multipart(body, ct.as_bytes(), None).unwrap();
    assert_eq!(
        statuses(&r),
        [vec![201, 204], vec![200], vec![404], vec![200]]
    );

    let json = r#"{"requests":[
        {"id":"a","method":"post","url":"Things","headers":{"content-type":"application/json"},"body":{"x":1}},
        {"id":"b","method":"get","url":"$a","dependsOn":["a"]},
        {"id":"c","method":"get","url":"Things(99)"},
        {"id":"d","method":"get","url":"Things","dependsOn":["c"]}]}"#;
    let (status, ct, body) = post(
        &addr,
        "application/json",
        Some("continue-on-error"),
        json.into(),
    )
    .await;
    assert_eq!((status, ct.as_str()), (200, "application/json"));
    let r: BatchResponse = read_json(body, None).unwrap();
    assert_eq!(statuses(&r), [[201], [200], [404], [424]]);

    // An invalid batch is refused whole, with the reason.
    let bad = "--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n--cs\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\nGET People HTTP/1.1\r\n\r\n\r\n--cs--\r\n--b--";
    let (status, _, body) = post(&addr, "multipart/mixed; boundary=b", None, bad.into()).await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("get-in-changeset"));
}

#[tokio::test(flavor = "current_thread")]
async fn ringcentral_and_json_batch_dialects_over_loopback() {
    use batchpart::batch::{json_batch, ringcentral};
    let server = start();
    let addr = server.1.clone();

    // The JSON /batch API creates two messages.
    let create = r#"{"requests":[
        {"method":"post","path":"/message-store","data":{"readStatus":"Unread"}},
        {"method":"POST","path":"/message-store","data":{"readStatus":"Unread"}},
        {"method":"get","path":"/message-store"}]}"#;
    let (status, _, body) = send(
        &addr,
        "POST",
        "/batch",
        &[("Content-Type", "application/json")],
        create,
    )
    .await;
    assert_eq!(status, 200);
    let r = json_batch::read_response(&body).unwrap();
    assert_eq!(statuses(&r), [[201], [201], [200]]);
    // A nested /batch is refused whole.
    let (status, _, body) = send(
        &addr,
        "POST",
        "/batch",
        &[],
        r#"{"requests":[{"method":"post","path":"/batch"}]}"#,
    )
    .await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("nested-batch"));

    // RingCentral: a multipart PUT of three IDs, one unknown: 207 with a summary.
    let base = "/restapi/v1.0/account/~/extension/~/message-store";
    let bodies = vec![Bytes::from_static(b"{\"readStatus\":\"Read\"}"); 3];
    let (ct, put) = ringcentral::write_put(&bodies, b"Boundary_1_15567762_1355833573664").unwrap();
    let put = String::from_utf8(put.into_bytes().to_vec()).unwrap();
    let (status, ct2, body) = send(
        &addr,
        "PUT",
        &format!("{base}/1,2,99"),
        &[("Content-Type", &ct)],
        put,
    )
    .await;
    assert_eq!(status, 207, "{}", String::from_utf8_lossy(&body));
    let r = ringcentral::read_multipart_response(
        body,
        ct2.as_bytes(),
        207,
        &["1".into(), "2".into(), "99".into()],
    )
    .unwrap();
    assert_eq!(
        r.results
            .iter()
            .map(|x| (x.resource_id.as_str(), x.status))
            .collect::<Vec<_>>(),
        [("1", 204), ("2", 204), ("99", 404)]
    );

    // The JSON form of a GET.
    let (status, ct, body) = send(
        &addr,
        "GET",
        &format!("{base}/1,99"),
        &[("Accept", ringcentral::MULTIPART_JSON)],
        String::new(),
    )
    .await;
    assert_eq!((status, ct.as_str()), (207, ringcentral::MULTIPART_JSON));
    let r = ringcentral::read_json_response(&body, 207).unwrap();
    assert_eq!(r.results[0].status, 200);
    assert_eq!(
        r.results[0].body,
        Bytes::from_static(b"{\"readStatus\":\"Read\"}")
    );
    assert_eq!(r.results[1].status, 404);

    // A DELETE that succeeds everywhere answers 204.
    let (status, _, body) = send(&addr, "DELETE", &format!("{base}/1,2"), &[], String::new()).await;
    assert_eq!((status, body.len()), (204, 0));
}

#[tokio::test(flavor = "current_thread")]
async fn the_first_answer_arrives_before_a_slow_operation_completes() {
    let server = start();
    let addr = server.1.clone();
    let body = "--b\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\nGET People HTTP/1.1\r\n\r\n\r\n\
        --b\r\nContent-Type: application/http\r\nContent-ID: 2\r\n\r\nGET delay/2000 HTTP/1.1\r\n\r\n\r\n--b--\r\n";
    let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut s, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::post("/service/$batch")
        .header("Host", &addr)
        .header("Content-Type", "multipart/mixed; boundary=b")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let start = Instant::now();
    let res = s.send_request(req).await.unwrap();
    assert_eq!(res.status(), 200);
    let mut body = res.into_body();
    let mut seen = Vec::new();
    let mut first_part = None;
    while let Some(frame) = body.frame().await {
        if let Ok(d) = frame.unwrap().into_data() {
            seen.extend_from_slice(&d);
        }
        let text = String::from_utf8_lossy(&seen);
        if first_part.is_none() && text.contains("{\"value\":[]}") {
            first_part = Some(start.elapsed());
        }
    }
    let total = start.elapsed();
    let first_part = first_part.expect("the first answer arrived");
    assert!(String::from_utf8_lossy(&seen).contains("delayed_ms"));
    // The delayed operation cannot complete before 2 s; the first answer came before it did.
    assert!(total >= Duration::from_millis(2000), "{total:?}");
    assert!(first_part < Duration::from_millis(2000), "{first_part:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_slowloris_client_is_disconnected_after_the_header_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = start_with(&["--header-timeout", "1"], None);
    let mut tcp = tokio::net::TcpStream::connect(&server.1).await.unwrap();
    tcp.write_all(b"POST /service/$batch HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 512];
    // The server answers 408 or just closes; either way the connection ends.
    let ended = tokio::time::timeout(Duration::from_secs(8), async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "still open after 8 s");
    assert!(start.elapsed() >= Duration::from_millis(900));
    // And the server goes on.
    let (status, _, _) = send(&server.1, "GET", "/service/People", &[], String::new()).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "current_thread")]
async fn the_server_survives_a_flood_under_a_low_open_file_limit() {
    // 48 descriptors: the flood of 200 connections runs it out of them, and accept fails
    // with EMFILE until the flood goes away.
    let server = start_with(&[], Some(48));
    let mut flood = Vec::new();
    for _ in 0..200 {
        match tokio::time::timeout(
            Duration::from_millis(500),
            tokio::net::TcpStream::connect(&server.1),
        )
        .await
        {
            Ok(Ok(c)) => flood.push(c),
            _ => break,
        }
    }
    assert!(flood.len() > 48, "only {} connections", flood.len());
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(flood);
    let mut server = server;
    assert!(server.0.try_wait().unwrap().is_none(), "the server exited");
    let answered = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(Ok(_)) = tokio::time::timeout(
                Duration::from_secs(2),
                tokio::net::TcpStream::connect(&server.1),
            )
            .await
            {
                return send(&server.1, "GET", "/service/People", &[], String::new()).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("answered within 10 s after the flood");
    assert_eq!(answered.0, 200);
}

#[tokio::test(flavor = "current_thread")]
async fn a_failed_changeset_is_undone_without_copying_the_store() {
    let server = start();
    let addr = server.1.clone();
    let body = "--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n\
        --cs\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\n\
        POST People HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"Name\":\"Ada\"}\r\n\
        --cs\r\nContent-Type: application/http\r\nContent-ID: 2\r\n\r\n\
        PATCH People(99) HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{}\r\n\
        --cs--\r\n--b--\r\n";
    let (status, ct, body) = post(&addr, "multipart/mixed; boundary=b", None, body.into()).await;
    assert_eq!(status, 200);
    let r: BatchResponse = read_multipart(body, ct.as_bytes(), None).unwrap();
    assert_eq!(statuses(&r), [vec![404]]);
    let (_, _, body) = send(&addr, "GET", "/service/People", &[], String::new()).await;
    assert_eq!(
        body,
        Bytes::from_static(b"{\"value\":[]}"),
        "the POST was rolled back"
    );
}
