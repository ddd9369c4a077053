//! Table tests over the seed payloads, the RFC and OData specification examples: each decodes
//! to the expected structure, and to the same events under every split into two chunks and
//! under one-byte chunks.
mod common;
use batchpart::{Config, ErrorKind};
use common::*;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn requests(evs: &[Ev]) -> Vec<(String, String, Option<String>, Option<String>)> {
    evs.iter()
        .filter_map(|e| match e {
            Ev::Request {
                method,
                target,
                version,
                content_id,
                ..
            } => Some((
                String::from_utf8_lossy(method).into_owned(),
                String::from_utf8_lossy(target).into_owned(),
                version
                    .as_ref()
                    .map(|v| String::from_utf8_lossy(v).into_owned()),
                content_id
                    .as_ref()
                    .map(|v| String::from_utf8_lossy(v).into_owned()),
            )),
            _ => None,
        })
        .collect()
}

fn statuses(evs: &[Ev]) -> Vec<(u16, String)> {
    evs.iter()
        .filter_map(|e| match e {
            Ev::Response { status, reason, .. } => {
                Some((*status, String::from_utf8_lossy(reason).into_owned()))
            }
            _ => None,
        })
        .collect()
}

fn part_ids(evs: &[Ev]) -> Vec<Option<String>> {
    evs.iter()
        .filter_map(|e| match e {
            Ev::PartStart { content_id, .. } => Some(
                content_id
                    .as_ref()
                    .map(|v| String::from_utf8_lossy(v).into_owned()),
            ),
            _ => None,
        })
        .collect()
}

fn count(evs: &[Ev], f: impl Fn(&Ev) -> bool) -> usize {
    evs.iter().filter(|e| f(e)).count()
}

#[test]
fn creatio_multipart_request() {
    let evs = decode_all_ways(
        &fixture("creatio_multipart_request.txt"),
        b"batch_a685-9724-d873",
        Config::default(),
    )
    .unwrap();
    assert_eq!(
        evs.iter()
            .filter(|e| matches!(e, Ev::MultipartStart(b) if b == b"changeset_06da-d998-8e7e"))
            .count(),
        1
    );
    let r = requests(&evs);
    assert_eq!(r.len(), 3);
    assert_eq!(
        r[0],
        (
            "POST".into(),
            "City".into(),
            Some("HTTP/1.1".into()),
            Some("1".into())
        )
    );
    assert_eq!(r[1].0, "PATCH");
    assert_eq!(
        r[2],
        (
            "DELETE".into(),
            "City/62f9bc01-57cf-4cc7-90bf-8672acc922e2".into(),
            Some("HTTP/1.1".into()),
            Some("3".into())
        )
    );
    // Content-ID sits in the embedded request (OData 2.0/3.0 and Creatio style), not the MIME part.
    assert_eq!(part_ids(&evs), vec![None, None, None, None]);
    let b = bodies(&evs);
    assert_eq!(
        b,
        vec![
            b"{\"Name\": \"Gilbert\"}\r\n".to_vec(),
            b"{\"Name\": \"Lincoln\"}\r\n".to_vec(),
            b"".to_vec()
        ]
    );
    assert_eq!(evs.last(), Some(&Ev::End));
}

#[test]
fn creatio_multipart_response() {
    let evs = decode_all_ways(
        &fixture("creatio_multipart_response.txt"),
        b"batchresponse_e17aace9-5cbb-49bd-b7ad-f1be8cc8c9d8",
        Config::default(),
    )
    .unwrap();
    // The changeset's Content-Type is folded over two lines.
    assert!(evs.contains(&Ev::MultipartStart(
        b"changesetresponse_a08c1df6-4b82-4a9b-be61-7ef4cc7b23ba".to_vec()
    )));
    assert_eq!(
        statuses(&evs),
        vec![
            (201, "Created".into()),
            (204, "No Content".into()),
            (204, "No Content".into())
        ]
    );
    assert_eq!(
        part_ids(&evs),
        vec![None, Some("1".into()), Some("2".into()), Some("3".into())]
    );
    let b = bodies(&evs);
    assert!(b[0].starts_with(b"{\r\n \"@odata.context\""));
    assert!(b[0].ends_with(b"\"ProcessListeners\": 0\r\n}"));
    // A folded embedded header is unfolded.
    let ct = evs.iter().find_map(|e| match e {
        Ev::Response { headers, .. } => headers.iter().find(|(n, _)| n == b"Content-Type").cloned(),
        _ => None,
    });
    assert_eq!(
        ct.unwrap().1,
        b" application/json; odata.metadata=minimal".to_vec()[1..].to_vec()
    );
}

#[test]
fn creatio_two_changesets() {
    let evs = decode_all_ways(
        &fixture("creatio_two_changesets_request.txt"),
        b"batch_a685-9724-d873",
        Config::default(),
    )
    .unwrap();
    assert_eq!(count(&evs, |e| matches!(e, Ev::MultipartStart(_))), 2);
    assert_eq!(count(&evs, |e| matches!(e, Ev::MultipartEnd)), 2);
    let r = requests(&evs);
    assert_eq!(
        r.iter().map(|r| r.3.clone().unwrap()).collect::<Vec<_>>(),
        vec!["1", "2"]
    );
}

#[test]
fn odata_spec_request() {
    let b = b"batch_36522ad7-fc75-4b56-8c71-56071383e77b";
    let evs = decode_all_ways(&fixture("odata_spec_request.txt"), b, Config::default()).unwrap();
    let r = requests(&evs);
    assert_eq!(
        r[0],
        (
            "GET".into(),
            "/service/Customers('ALFKI')".into(),
            None,
            None
        )
    );
    assert_eq!(
        r[2],
        ("PATCH".into(), "$1".into(), Some("HTTP/1.1".into()), None)
    );
    assert_eq!(r[3].1, "service/Products");
    assert_eq!(
        part_ids(&evs),
        vec![None, None, Some("1".into()), Some("2".into()), None]
    );
    let bodies = bodies(&evs);
    assert_eq!(bodies[0], b"");
    assert_eq!(bodies[1], b"<AtomPub representation of a new Customer>\r\n");
    assert_eq!(bodies[2], b"{\"Name\": \"changed\"}");
    // Strict mode refuses the GET without a version, and a head whose blank line the
    // delimiter took.
    let e = decode_with(&fixture("odata_spec_request.txt"), b, Config::strict(), &[]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidRequestLine);
}

#[test]
fn odata_response_shapes() {
    let evs = decode_all_ways(
        &fixture("odata_response.txt"),
        b"batchresponse_1",
        Config::default(),
    )
    .unwrap();
    assert_eq!(
        statuses(&evs),
        vec![
            (200, "OK".into()),
            (201, "".into()),
            (204, "No Content".into())
        ]
    );
    let b = bodies(&evs);
    // Content-Length 13 cuts the extra blank line before the delimiter.
    assert_eq!(b[0], b"{\"value\": []}");
    assert_eq!(b[1], b"");
    assert_eq!(b[2], b"");
    assert!(evs.iter().all(|e| !matches!(
        e,
        Ev::PartEnd {
            http_mismatch: Some(_),
            ..
        }
    )));
}

#[test]
fn odata_v2_quirks() {
    let evs = decode_all_ways(
        &fixture("odata_v2_quirks.txt"),
        b"batch_1.2+34:2j)0?",
        Config::default(),
    )
    .unwrap();
    assert!(evs.contains(&Ev::MultipartStart(b"cs_1.2+34:2j)0?".to_vec())));
    let r = requests(&evs);
    assert_eq!(
        r[0],
        (
            "MERGE".into(),
            "Employees('1')".into(),
            Some("HTTP/1.1".into()),
            Some("1".into())
        )
    );
    assert_eq!(r[1].0, "post");
    assert_eq!(r[1].1, "$1/Rooms");
    assert_eq!(r[2].1, "Rooms?$filter=Building eq $1/Building");
    // Header names keep their case.
    assert!(evs
        .iter()
        .any(|e| matches!(e, Ev::PartStart { headers, .. } if headers[0].0 == b"cOntEnt-typE")));
}

#[test]
fn ucwa_requests_with_part_content_length() {
    for name in [
        "ucwa_xml_request.txt",
        "ucwa_json_request.txt",
        "ucwa_xml_request_lf.txt",
    ] {
        let evs = decode_all_ways(&fixture(name), b"EA370946", Config::default()).unwrap();
        let r = requests(&evs);
        assert_eq!(r.len(), 2, "{name}");
        assert_eq!(r[0].1, "/ucwa/v1/applications/11540713861/policies");
        assert_eq!(r[1].1, "/ucwa/v1/applications/11540713861/me/phones");
        // The seed's part-level Content-Length (200, 201) is checked, never trusted: the
        // delimiter frames the part, and the disagreement is reported on PartEnd.
        let ends: Vec<_> = evs
            .iter()
            .filter_map(|e| match e {
                Ev::PartEnd {
                    framed,
                    cl_mismatch,
                    ..
                } => Some((*framed, *cl_mismatch)),
                _ => None,
            })
            .collect();
        assert_eq!(ends.len(), 2);
        for (framed, mismatch) in ends {
            assert_eq!(
                mismatch,
                Some((if framed == 0 { 0 } else { mismatch.unwrap().0 }, framed))
            );
        }
        // Strict mode refuses a disagreeing part Content-Length.
        let e = decode_with(
            &fixture(name),
            b"EA370946",
            Config::default().with_strict(true),
            &[],
        )
        .unwrap_err();
        assert!(
            matches!(
                e.kind(),
                ErrorKind::ContentLengthMismatch | ErrorKind::BareLineFeed
            ),
            "{name}: {e}"
        );
    }
}

#[test]
fn ucwa_response() {
    let evs = decode_all_ways(
        &fixture("ucwa_xml_response.txt"),
        b"0cac9abd",
        Config::default(),
    )
    .unwrap();
    assert_eq!(statuses(&evs), vec![(200, "OK".into()), (200, "OK".into())]);
    // The last CRLF before the first delimiter belongs to the delimiter.
    assert_eq!(evs[0], Ev::Preamble(b"\r\n".to_vec()));
    assert!(bodies(&evs)[0].starts_with(b"<?xml version=\"1.0\""));
}

#[test]
fn ringcentral_put() {
    let evs = decode_all_ways(
        &fixture("ringcentral_put_request.txt"),
        b"Boundary_1_15567762_1355833573664",
        Config::default(),
    )
    .unwrap();
    assert_eq!(
        bodies(&evs),
        vec![b"{\"readStatus\": \"Read\"}".to_vec(); 2]
    );
}

#[test]
fn rfc2046_simple_example() {
    let evs = decode_all_ways(
        &fixture("rfc2046_simple.txt"),
        b"simple boundary",
        Config::strict(),
    )
    .unwrap();
    match &evs[0] {
        Ev::Preamble(p) => {
            assert!(p.starts_with(b"This is the preamble.") && p.ends_with(b"readers.\r\n"))
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(
        bodies(&evs),
        vec![
            b"This is implicitly typed plain US-ASCII text.\r\nIt does NOT end with a linebreak."
                .to_vec(),
            b"This is explicitly typed plain US-ASCII text.\r\nIt DOES end with a linebreak.\r\n"
                .to_vec(),
        ]
    );
    // The first part has no headers at all.
    assert!(matches!(&evs[1], Ev::PartStart { headers, .. } if headers.is_empty()));
    assert_eq!(
        evs[evs.len() - 2],
        Ev::Epilogue(b"\r\nThis is the epilogue.  It is also to be ignored.".to_vec())
    );
}
