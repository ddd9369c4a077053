//! The seed systems' dialects: every example of the seed documents, read into the model with
//! the expected items, and written back to an equivalent payload.
#![cfg(all(feature = "batch", feature = "json"))]
mod common;

use batchpart::batch::{
    self, creatio, json_batch, ringcentral, ucwa, BatchErrorKind, Item, RequestOp, ResponseOp,
};
use bytes::{Buf, Bytes};
use common::{block_on, fixture};

fn fx(name: &str) -> Bytes {
    Bytes::from(fixture(name))
}

mod ringcentral_seed {
    use super::*;

    const GET_PATH: &str =
        "/restapi/v1.0/account/~/extension/~/message-store/2447722008,2416832008";

    #[test]
    fn ids_in_the_path() {
        let p = ringcentral::split_ids(GET_PATH).unwrap();
        assert_eq!(p.ids, ["2447722008", "2416832008"]);
        assert_eq!(ringcentral::join_ids(&p.base, &p.ids), GET_PATH);
        assert_eq!(
            ringcentral::split_ids("/account/306065004/extension/306067004/message-store/*")
                .unwrap()
                .ids,
            Vec::<String>::new()
        );
        assert!(ringcentral::split_ids("/a/1,,2").is_none());
    }

    #[test]
    fn multipart_put_request() {
        let path = "/restapi/v1.0/account/~/extension/~/message-store/401654758008,401642088008";
        let ct = b"multipart/mixed; boundary=Boundary_1_15567762_1355833573664";
        let items = ringcentral::read_put(fx("ringcentral_put_request.txt"), ct, path).unwrap();
        assert_eq!(
            items.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
            ["401654758008", "401642088008"]
        );
        assert!(items
            .iter()
            .all(|(_, b)| b == &Bytes::from_static(b"{\"readStatus\": \"Read\"}")));
        // Written back: one plain application/json part per ID, which reads back equal.
        let bodies: Vec<Bytes> = items.iter().map(|(_, b)| b.clone()).collect();
        let (ct2, body) =
            ringcentral::write_put(&bodies, b"Boundary_1_15567762_1355833573664").unwrap();
        let wire = body.into_bytes();
        // The same bytes as the seed's request, but for the final line end the encoder adds.
        assert_eq!(
            wire,
            [&fixture("ringcentral_put_request.txt")[..], b"\r\n"].concat()
        );
        assert_eq!(
            ringcentral::read_put(wire, ct2.as_bytes(), path).unwrap(),
            items
        );
        // The count of parts must match the IDs.
        let e =
            ringcentral::read_put(fx("ringcentral_put_request.txt"), ct, "/x/1,2,3").unwrap_err();
        assert_eq!(e.kind(), BatchErrorKind::Malformed);
    }

    #[test]
    fn json_put_requests() {
        let in_path = ringcentral::read_json_request(
            &fixture("ringcentral_put_json_ids_in_path.json"),
            "/account/306065004/extension/306067004/message-store/972903004,972901004",
        )
        .unwrap();
        let in_body = ringcentral::read_json_request(
            &fixture("ringcentral_put_json_ids_in_body.json"),
            "/account/306065004/extension/306067004/message-store/*",
        )
        .unwrap();
        assert_eq!(
            in_path.iter().map(|(i, _)| i.as_str()).collect::<Vec<_>>(),
            ["972903004", "972901004"]
        );
        assert_eq!(
            in_path.iter().map(|(i, _)| i.clone()).collect::<Vec<_>>(),
            in_body.iter().map(|(i, _)| i.clone()).collect::<Vec<_>>()
        );
        let json: serde_json::Value = serde_json::from_slice(&in_body[0].1).unwrap();
        assert_eq!(json["readStatus"], "Read");
        let back = ringcentral::write_json_request(&in_body, true).unwrap();
        assert_eq!(
            ringcentral::read_json_request(back.as_bytes(), "/m/*").unwrap(),
            in_body
        );
        let back = ringcentral::write_json_request(&in_path, false).unwrap();
        assert_eq!(
            ringcentral::read_json_request(back.as_bytes(), "/m/972903004,972901004").unwrap(),
            in_path
        );
        let e = ringcentral::read_json_request(
            &fixture("ringcentral_put_json_ids_in_path.json"),
            "/m/*",
        )
        .unwrap_err();
        assert_eq!(e.kind(), BatchErrorKind::Malformed, "{e}");
    }

    #[test]
    fn multi_status_responses() {
        let ct = b"multipart/mixed; boundary=Boundary_20_29455763_1487258563538";
        let ids = ringcentral::split_ids(GET_PATH).unwrap().ids;
        let r =
            ringcentral::read_multipart_response(fx("ringcentral_get_response.txt"), ct, 207, &ids)
                .unwrap();
        assert_eq!(
            r.results
                .iter()
                .map(|x| (x.resource_id.as_str(), x.status))
                .collect::<Vec<_>>(),
            [("2447722008", 200), ("2416832008", 404)]
        );
        assert_eq!(r.results[1].description.as_deref(), Some("Not Found"));
        let (status, ct2, body) =
            ringcentral::write_multipart_response("GET", &r.results, b"Boundary_rt").unwrap();
        assert_eq!(status, 207);
        let again =
            ringcentral::read_multipart_response(body.into_bytes(), ct2.as_bytes(), 207, &ids)
                .unwrap();
        assert_eq!(again, r);
        // A batch DELETE that succeeded everywhere answers 204; a failed endpoint its own status.
        let deleted: Vec<_> = ids
            .iter()
            .map(|i| ringcentral::ResourceResult {
                resource_id: i.clone(),
                status: 200,
                ..Default::default()
            })
            .collect();
        assert_eq!(
            ringcentral::write_multipart_response("DELETE", &deleted, b"x")
                .unwrap()
                .0,
            204
        );
        assert_eq!(
            ringcentral::read_multipart_response(Bytes::new(), b"", 204, &ids)
                .unwrap()
                .results
                .len(),
            2
        );
        assert_eq!(
            ringcentral::read_multipart_response(Bytes::new(), b"", 404, &ids).unwrap(),
            ringcentral::Response {
                status: 404,
                results: vec![]
            }
        );
        let j =
            ringcentral::read_json_response(&fixture("ringcentral_get_json_response.json"), 207)
                .unwrap();
        assert_eq!(
            j.results
                .iter()
                .map(|x| (x.resource_id.as_str(), x.status))
                .collect::<Vec<_>>(),
            [("972869004", 200), ("111", 404)]
        );
        let back = ringcentral::write_json_response(&j.results).unwrap();
        assert_eq!(
            ringcentral::read_json_response(back.as_bytes(), 207).unwrap(),
            j
        );
    }

    #[test]
    fn the_same_executor_serves_it() {
        let items = vec![
            (
                "1".to_string(),
                Bytes::from_static(b"{\"readStatus\":\"Read\"}"),
            ),
            ("404".to_string(), Bytes::from_static(b"{}")),
        ];
        let b = ringcentral::to_batch(
            "put",
            "/restapi/v1.0/account/~/extension/~/message-store",
            &items,
        );
        assert_eq!(
            b.items[1].ops()[0].url,
            "/restapi/v1.0/account/~/extension/~/message-store/404"
        );
        let mut svc = batch::handler_fn(|op: RequestOp| async move {
            ResponseOp::new(if op.url.ends_with("/404") { 404 } else { 200 }).with_body(op.body)
        });
        let opts = batch::ExecOptions::default().with_continue_on_error(true);
        let r = block_on(batch::execute(
            batchpart::stream::iter(b.items.into_iter().map(Ok)),
            &mut svc,
            opts,
        ))
        .unwrap();
        let results = ringcentral::from_batch(&r);
        assert_eq!(
            results
                .iter()
                .map(|x| (x.resource_id.as_str(), x.status))
                .collect::<Vec<_>>(),
            [("1", 200), ("404", 404)]
        );
        assert_eq!(ringcentral::batch_status("PUT", &results), 207);
    }
}

mod json_batch_seed {
    use super::*;

    fn urls(r: &json_batch::Request) -> Vec<(String, String)> {
        r.batch
            .items
            .iter()
            .flat_map(Item::ops)
            .map(|o| (o.method.to_string(), o.url.to_string()))
            .collect()
    }

    #[test]
    fn the_published_examples() {
        let simple = json_batch::read_request(&fixture("json_batch_simple.json")).unwrap();
        assert_eq!(
            urls(&simple),
            (1..=3)
                .map(|i| ("GET".to_string(), format!("/accounts/demo_sample:{i}")))
                .collect::<Vec<_>>()
        );
        let query = json_batch::read_request(&fixture("json_batch_query.json")).unwrap();
        assert_eq!(urls(&query)[1].1, "/accounts/demo_sample:2?fields=*all");
        let payloads = json_batch::read_request(&fixture("json_batch_payloads.json")).unwrap();
        let note: serde_json::Value =
            serde_json::from_slice(&payloads.batch.items[0].ops()[0].body).unwrap();
        assert_eq!(note["attributes"]["body"], "Batch note 1");
        let distinct = json_batch::read_request(&fixture("json_batch_distinct.json")).unwrap();
        assert_eq!(
            urls(&distinct)
                .iter()
                .map(|u| u.0.as_str())
                .collect::<Vec<_>>(),
            ["POST", "PATCH", "DELETE", "GET"]
        );
        for r in [simple, query, payloads, distinct] {
            let again = json_batch::read_request(json_batch::write_request(&r).unwrap().as_bytes())
                .unwrap();
            assert_eq!(again, r);
        }
    }

    #[test]
    fn the_published_syntax_errors_give_line_and_column() {
        // The page's example misses a comma after "path" and has a trailing comma.
        let e = json_batch::read_request(&fixture("json_batch_distinct_as_published.json"))
            .unwrap_err();
        assert_eq!(e.kind(), BatchErrorKind::Json);
        assert!(e.detail().contains("at line 6 column 7"), "{e}");
        let fixed_comma = String::from_utf8(fixture("json_batch_distinct_as_published.json"))
            .unwrap()
            .replacen(
                "\"/activities/xc:21/notes\"\n",
                "\"/activities/xc:21/notes\",\n",
                1,
            );
        let e = json_batch::read_request(fixed_comma.as_bytes()).unwrap_err();
        assert!(
            e.detail().contains("trailing comma at line 29 column 5"),
            "{e}"
        );
        let fixed = fixed_comma.replacen("      },\n    },", "      }\n    },", 1);
        assert_eq!(
            json_batch::read_request(fixed.as_bytes()).unwrap(),
            json_batch::read_request(&fixture("json_batch_distinct.json")).unwrap()
        );
    }

    #[test]
    fn limits_nesting_auth_and_stop_on_error() {
        let doc = |n: usize| {
            format!(
                "{{\"requests\":[{}]}}",
                vec![r#"{"method":"GET","path":"/a"}"#; n].join(",")
            )
        };
        assert_eq!(
            json_batch::read_request(doc(100).as_bytes())
                .unwrap()
                .batch
                .items
                .len(),
            100
        );
        let e = json_batch::read_request(doc(101).as_bytes()).unwrap_err();
        assert_eq!(
            (e.kind(), e.op().map(|o| o.0)),
            (BatchErrorKind::TooManyOperations, Some(100))
        );
        let nested = br#"{"requests":[{"method":"get","path":"/a"},{"method":"post","path":"/batch","body":{"requests":[]}}]}"#;
        let e = json_batch::read_request(nested).unwrap_err();
        assert_eq!(
            (e.kind(), e.op().map(|o| o.0)),
            (BatchErrorKind::NestedBatch, Some(1))
        );
        let auth = br#"{"requests":[{"method":"get","path":"/a","headers":{"Authorization":"Bearer other","If-Match":"\"7\""}}],"stop_on_error":true}"#;
        let r = json_batch::read_request(auth).unwrap();
        assert_eq!(
            r.batch.items[0].ops()[0].headers.iter().collect::<Vec<_>>(),
            vec![("If-Match", &b"\"7\""[..])]
        );
        assert!(r.stop_on_error && !r.exec_options().continue_on_error);
        // Served by the same executor: with stop_on_error the responses end at the first error.
        let mut svc = batch::handler_fn(|op: RequestOp| async move {
            ResponseOp::new(if op.url == "/bad" { 400 } else { 200 }).with_body("{\"ok\":true}")
        });
        let req = json_batch::read_request(br#"{"requests":[{"method":"get","path":"/a"},{"method":"get","path":"/bad"},{"method":"get","path":"/c"}],"stop_on_error":true}"#).unwrap();
        let resp = block_on(batch::execute(
            batchpart::stream::iter(req.batch.items.clone().into_iter().map(Ok)),
            &mut svc,
            req.exec_options(),
        ))
        .unwrap();
        let text = json_batch::write_response(&resp).unwrap();
        assert_eq!(
            text,
            r#"{"responses":[{"status":200,"body":{"ok":true}},{"status":400,"body":{"ok":true}}]}"#
        );
        assert_eq!(
            json_batch::read_response(text.as_bytes())
                .unwrap()
                .items
                .len(),
            2
        );
        assert_eq!(
            json_batch::read_response(br#"[{"status":204}]"#)
                .unwrap()
                .items[0]
                .ops()[0]
                .status,
            204
        );
    }
}

mod ucwa_seed {
    use super::*;
    const CT: &[u8] = b"multipart/batching;boundary=\"EA370946\"";

    #[test]
    fn requests_both_encodings() {
        for name in ["ucwa_xml_request.txt", "ucwa_json_request.txt"] {
            let b = ucwa::read_requests(fx(name), CT).unwrap();
            let ops: Vec<_> = b.items.iter().flat_map(Item::ops).collect();
            assert_eq!(ops.len(), 2);
            assert_eq!(ops[1].url, "/ucwa/v1/applications/11540713861/me/phones");
            assert_eq!(ops[0].headers.get_str("Host"), Some("fe1.contoso.com"));
            let (ct, body) = ucwa::write_requests(&b, b"EA370946").unwrap();
            assert_eq!(ct, "multipart/batching; boundary=\"EA370946\"");
            let wire = body.into_bytes();
            // Strict mode: every part's own Content-Length now matches the framing.
            let strict = batchpart::stream::decode_bytes_with(
                &wire,
                b"EA370946",
                batchpart::Config::strict(),
            )
            .unwrap();
            assert!(strict.iter().filter(|e| matches!(e, batchpart::stream::PartEvent::PartStart(p) if p.content_length().is_some())).count() == 2);
            assert_eq!(ucwa::read_requests(wire, ct.as_bytes()).unwrap(), b);
        }
    }

    #[test]
    fn responses_both_encodings() {
        for (name, kind) in [
            ("ucwa_xml_response.txt", "xml"),
            ("ucwa_json_response.txt", "json"),
        ] {
            let b = ucwa::read_responses(fx(name), b"multipart/batching; boundary=\"0cac9abd\"")
                .unwrap();
            let ops: Vec<_> = b.items.iter().flat_map(Item::ops).collect();
            assert_eq!(ops.iter().map(|o| o.status).collect::<Vec<_>>(), [200, 200]);
            assert!(ops[0]
                .headers
                .get_str("Content-Type")
                .unwrap()
                .contains(kind));
            let (ct, body) = ucwa::write_responses(&b, b"0cac9abd").unwrap();
            assert_eq!(
                ucwa::read_responses(body.into_bytes(), ct.as_bytes()).unwrap(),
                b
            );
        }
    }

    #[test]
    fn every_part_length_is_what_the_encoder_wrote() {
        // Statuses without a standard reason phrase keep the space after the code: the part's
        // Content-Length counts it.
        let items = [200, 299, 451, 599, 204]
            .into_iter()
            .map(|s| {
                Item::Op(
                    ResponseOp::new(s)
                        .with_header("Content-Type", "application/json")
                        .with_body(format!("{{\"status\":{s}}}")),
                )
            })
            .collect();
        let b = batchpart::batch::Batch { items };
        let (ct, body) = ucwa::write_responses(&b, b"0cac9abd").unwrap();
        let wire = body.into_bytes();
        let strict =
            batchpart::stream::decode_bytes_with(&wire, b"0cac9abd", batchpart::Config::strict())
                .unwrap();
        let declared = strict
            .iter()
            .filter(|e| matches!(e, batchpart::stream::PartEvent::PartStart(p) if p.content_length().is_some()))
            .count();
        assert_eq!(declared, 5);
        assert_eq!(ucwa::read_responses(wire, ct.as_bytes()).unwrap(), b);
        let requests = batchpart::batch::Batch {
            items: vec![Item::Op(
                RequestOp::new("POST", "/ucwa/v1/Städte('東京')").with_body("{}"),
            )],
        };
        let (ct, body) = ucwa::write_requests(&requests, b"EA370946").unwrap();
        let wire = body.into_bytes();
        batchpart::stream::decode_bytes_with(&wire, b"EA370946", batchpart::Config::strict())
            .unwrap();
        assert_eq!(ucwa::read_requests(wire, ct.as_bytes()).unwrap(), requests);
    }

    #[test]
    fn a_space_before_the_colon_is_refused() {
        let e =
            ucwa::read_requests(fx("ucwa_json_request_space_before_colon.txt"), CT).unwrap_err();
        assert_eq!(
            e.decode_error().map(|d| d.kind()),
            Some(batchpart::ErrorKind::InvalidHeader)
        );
    }
}

mod creatio_seed {
    use super::*;

    #[test]
    fn json_requests_and_responses() {
        let r1 = creatio::read_request(
            fx("creatio_json_request_1.json"),
            b"application/json; odata=verbose; IEEE754Compatible=true",
        )
        .unwrap();
        assert_eq!(r1.items.len(), 2);
        let Item::Changeset(g) = &r1.items[1] else {
            panic!()
        };
        assert_eq!(g.id.as_deref(), Some("g1"));
        assert_eq!(
            g.ops
                .iter()
                .map(|o| o.content_id.clone().unwrap())
                .collect::<Vec<_>>(),
            ["t3", "t2"]
        );
        assert_eq!(
            g.ops[0].headers.get_str("Prefer"),
            Some("continue-on-error")
        );
        assert!(creatio::exec_options(&[], &r1).continue_on_error);
        // Plain OData validation refuses Creatio's reused id.
        let strict: Result<batch::BatchRequest, _> =
            batch::read_json(fx("creatio_json_request_1.json"), Some(Default::default()));
        assert_eq!(
            strict.unwrap_err().kind(),
            BatchErrorKind::DuplicateContentId
        );
        let r2 =
            creatio::read_request(fx("creatio_json_request_2.json"), b"application/json").unwrap();
        assert_eq!(r2.op_count(), 3);
        for r in [&r1, &r2] {
            let again =
                creatio::read_request(batch::write_json(r).unwrap().into(), b"application/json")
                    .unwrap();
            assert_eq!(&again, r);
        }
        for (name, groups) in [
            ("creatio_json_response_1.json", 1),
            ("creatio_json_response_2.json", 1),
            ("creatio_two_changesets_response.json", 2),
        ] {
            let resp = creatio::read_response(fx(name), b"application/json").unwrap();
            assert_eq!(
                resp.items
                    .iter()
                    .filter(|i| matches!(i, Item::Changeset(_)))
                    .count(),
                groups,
                "{name}"
            );
            assert!(resp
                .items
                .iter()
                .flat_map(Item::ops)
                .all(|o| o.status == 201 || o.status == 204));
            let again = creatio::read_response(
                batch::write_json(&resp).unwrap().into(),
                b"application/json",
            )
            .unwrap();
            assert_eq!(again, resp);
        }
    }

    #[test]
    fn multipart_with_content_id_in_the_embedded_request() {
        for (name, b, ops) in [
            ("creatio_multipart_request.txt", "batch_a685-9724-d873", 3),
            (
                "creatio_two_changesets_request.txt",
                "batch_a685-9724-d873",
                2,
            ),
        ] {
            let ct = format!("multipart/mixed;boundary={b};\r\n IEEE754Compatible=true");
            let r = creatio::read_request(fx(name), ct.as_bytes()).unwrap();
            assert_eq!(r.op_count(), ops);
            assert!(r
                .items
                .iter()
                .flat_map(Item::ops)
                .all(|o| o.content_id.is_some()));
            let (ct2, mut body) = batch::write_multipart(&r, b"batch_rt").unwrap();
            assert_eq!(
                creatio::read_request(body.copy_to_bytes(body.remaining()), ct2.as_bytes())
                    .unwrap(),
                r
            );
        }
        let resp = creatio::read_response(
            fx("creatio_multipart_response.txt"),
            b"multipart/mixed; boundary=batchresponse_e17aace9-5cbb-49bd-b7ad-f1be8cc8c9d8",
        )
        .unwrap();
        assert_eq!(
            resp.items[0]
                .ops()
                .iter()
                .map(|o| o.status)
                .collect::<Vec<_>>(),
            [201, 204, 204]
        );
    }

    #[test]
    fn a_hundred_requests_at_most() {
        let doc = |n: usize| {
            let els: Vec<String> = (0..n)
                .map(|i| format!(r#"{{"method":"GET","url":"City","id":"r{i}"}}"#))
                .collect();
            Bytes::from(format!("{{\"requests\":[{}]}}", els.join(",")))
        };
        assert!(creatio::read_request(doc(100), b"application/json").is_ok());
        assert_eq!(
            creatio::read_request(doc(101), b"application/json")
                .unwrap_err()
                .kind(),
            BatchErrorKind::TooManyOperations
        );
    }
}

/// Microsoft Graph's JSON batching: the request and response examples of
/// learn.microsoft.com/graph/json-batching (`graph_request.json`, `graph_response.json`).
mod graph_docs {
    use super::*;
    use batch::{correlate, graph, Batch, MatchedBy};

    #[test]
    fn the_documented_request_and_its_out_of_order_response_pair_by_id() {
        let req = graph::read_request(&fx("graph_request.json")).unwrap();
        let ops: Vec<&RequestOp> = req.items.iter().flat_map(|i| i.ops()).collect();
        assert_eq!(ops.len(), 4);
        assert_eq!(ops[3].method, "PATCH");
        assert_eq!(
            &ops[3].body[..],
            br#"{
        "city" : "Redmond"
      }"#
        );
        let resp = graph::read_response(&fx("graph_response.json")).unwrap();
        let ids: Vec<_> = resp
            .items
            .iter()
            .flat_map(|i| i.ops())
            .map(|r| r.content_id.clone().unwrap())
            .collect();
        assert_eq!(ids, ["1", "3", "2", "4"], "kept in the order received");
        let last = resp.items[3].ops()[0].clone();
        assert_eq!(
            (last.status, last.body.len()),
            (204, 0),
            "body: null is no body"
        );
        let c = correlate(&req, &resp);
        assert!(c.unmatched_responses.is_empty());
        for p in &c.pairs {
            let r = p.response.unwrap();
            assert_eq!(p.request.1.content_id, r.1.content_id);
            assert_eq!(p.matched_by, Some(MatchedBy::ContentId));
        }
        assert_eq!(c.pairs[2].response.unwrap().1.status, 401);
        // Written back and read again: the same model, the same order.
        let again = graph::read_response(graph::write_response(&resp).unwrap().as_bytes()).unwrap();
        assert_eq!(again, resp);
        let again = graph::read_request(graph::write_request(&req).unwrap().as_bytes()).unwrap();
        assert_eq!(again, req);
    }

    #[test]
    fn bodies_are_standard_base64_both_ways() {
        // As Graph's clients write it: `text/plain` base64-encoded, standard alphabet, padded.
        let doc = br#"{"requests":[{"id":"a","method":"POST","url":"/x","headers":{"Content-Type":"text/plain"},"body":"Pz8/Pz8+Pj4="},
                                   {"id":"b","method":"POST","url":"/y","headers":{"Content-Type":"application/octet-stream"},"body":"Pz8_Pz8-Pj4"}]}"#;
        let req = graph::read_request(doc).unwrap();
        assert_eq!(&req.items[0].ops()[0].body[..], b"?????>>>");
        assert_eq!(
            &req.items[1].ops()[0].body[..],
            b"?????>>>",
            "base64url unpadded too"
        );
        let out = graph::write_request(&req).unwrap();
        assert!(out.contains(r#""body":"Pz8/Pz8+Pj4=""#), "{out}");
        // A text body that is not base64 is refused, not taken as text.
        let bad = br#"{"requests":[{"id":"a","method":"POST","url":"/x","headers":{"Content-Type":"text/plain"},"body":"hello world!"}]}"#;
        let e = graph::read_request(bad).unwrap_err();
        assert_eq!(e.kind(), BatchErrorKind::Body, "{e}");
        assert!(
            e.to_string()
                .starts_with("body: invalid base64 body at line 1"),
            "{e}"
        );
    }

    #[test]
    fn limits_ids_and_depends_on() {
        let doc = |n: usize| {
            let reqs: Vec<String> = (1..=n)
                .map(|i| format!(r#"{{"id":"{i}","method":"GET","url":"/me"}}"#))
                .collect();
            format!(r#"{{"requests":[{}]}}"#, reqs.join(","))
        };
        assert_eq!(
            graph::read_request(doc(20).as_bytes()).unwrap().op_count(),
            20
        );
        let e = graph::read_request(doc(21).as_bytes()).unwrap_err();
        assert_eq!(e.kind(), BatchErrorKind::TooManyOperations, "{e}");
        assert!(e.offset().is_some());
        let mut big = graph::read_request(doc(20).as_bytes()).unwrap();
        big.items
            .push(Item::Op(RequestOp::new("GET", "/me").with_content_id("21")));
        assert_eq!(
            graph::write_request(&big).unwrap_err().kind(),
            BatchErrorKind::TooManyOperations
        );
        let cases: [(&str, BatchErrorKind); 4] = [
            (
                r#"{"requests":[{"method":"GET","url":"/me"}]}"#,
                BatchErrorKind::Malformed,
            ),
            (
                r#"{"requests":[{"id":"A","method":"GET","url":"/me"},{"id":"a","method":"GET","url":"/me"}]}"#,
                BatchErrorKind::DuplicateContentId,
            ),
            (
                r#"{"requests":[{"id":"1","method":"GET","url":"/me","dependsOn":["2"]},{"id":"2","method":"GET","url":"/me"}]}"#,
                BatchErrorKind::UnknownDependency,
            ),
            (
                r#"{"requests":[{"id":"1","atomicityGroup":"g","method":"GET","url":"/me"}]}"#,
                BatchErrorKind::Malformed,
            ),
        ];
        for (doc, kind) in cases {
            let e = graph::read_request(doc.as_bytes()).unwrap_err();
            assert_eq!(e.kind(), kind, "{doc}: {e}");
            assert!(e.offset().is_some(), "{doc}: {e} has no offset");
        }
        let ok = r#"{"requests":[{"id":"1","method":"GET","url":"/me"},{"id":"2","dependsOn":["1"],"method":"GET","url":"/me/manager"}]}"#;
        let b: Batch<RequestOp> = graph::read_request(ok.as_bytes()).unwrap();
        assert_eq!(b.items[1].ops()[0].depends_on, ["1"]);
    }
}

/// Google's batch guides (`google_docs_*`), Azure Blob Batch's REST reference
/// (`azure_blob_*`) and Azure Table's entity group transactions (`azure_table_*`); see
/// tests/fixtures/SOURCES.md.
mod client_dialects {
    use super::*;
    use batch::{
        azure_blob, azure_table, correlate, google, write_multipart, Batch, Headers, MatchedBy,
    };

    /// gcp-storage-emulator's answer: no blank line after each part's MIME headers, no
    /// Content-IDs. Lenient mode reads it, paired by position; strict mode refuses it where
    /// the status line stands in for a header.
    #[test]
    fn the_gcs_emulator_answer_reads_leniently_and_pairs_by_position() {
        let ct = b"multipart/mixed; boundary=batch_oqn3R2CxJ3561WOONHOiGBvv9CoCzAah";
        let body = fx("gcs_emulator_batch_response.txt");
        let resp = google::read_response(body.clone(), ct).unwrap();
        let ops: Vec<_> = resp.items.iter().flat_map(|i| i.ops()).collect();
        let statuses: Vec<u16> = ops.iter().map(|r| r.status).collect();
        assert_eq!(statuses, [204, 404, 200]);
        assert!(ops.iter().all(|r| r.content_id.is_none()));
        assert_eq!(
            ops[0].headers.get_str("content-type"),
            Some("application/json; charset=UTF-8")
        );
        assert!(String::from_utf8_lossy(&ops[2].body).contains("\"metadata\": {\"k\": \"v\"}"));
        let req = Batch {
            items: vec![
                Item::Op(RequestOp::new("DELETE", "/storage/v1/b/bkt/o/a")),
                Item::Op(RequestOp::new("DELETE", "/storage/v1/b/bkt/o/zz")),
                Item::Op(RequestOp::new("PATCH", "/storage/v1/b/bkt/o/b")),
            ],
        };
        let c = correlate(&req, &resp);
        assert!(c
            .pairs
            .iter()
            .all(|p| p.matched_by == Some(MatchedBy::Position)));
        // Strict: the status line is where a header line should be.
        let strict = batchpart::Config::strict();
        let e = batchpart::stream::decode_bytes_with(&body, &ct[26..], strict).unwrap_err();
        assert_eq!(e.kind(), batchpart::ErrorKind::InvalidHeader);
        let first_status = body.windows(9).position(|w| w == b"HTTP/1.1 ").unwrap();
        assert_eq!(e.offset(), first_status as u64);
    }

    #[test]
    fn google_docs_request_response_and_outer_headers() {
        let outer: Headers = [
            ("Authorization", "Bearer your_auth_token"),
            ("Host", "www.googleapis.com"),
            ("Content-Type", "multipart/mixed; boundary=batch_foobarbaz"),
            ("Content-Length", "total_content_length"),
        ]
        .into_iter()
        .collect();
        let ct = b"multipart/mixed; boundary=batch_foobarbaz";
        let req = google::read_request(fx("google_docs_request.txt"), ct, &outer).unwrap();
        let ops: Vec<&RequestOp> = req.items.iter().flat_map(|i| i.ops()).collect();
        assert_eq!(ops.len(), 3);
        assert_eq!(
            ops[0].content_id.as_deref(),
            Some("<item1:12930812@barnyard.example.com>")
        );
        for op in &ops {
            assert_eq!(
                op.headers.get_str("authorization"),
                Some("Bearer your_auth_token")
            );
            assert_eq!(op.headers.get_str("host"), Some("www.googleapis.com"));
            assert!(op
                .headers
                .get("content-length")
                .map_or(true, |v| v != b"total_content_length"));
        }
        // The call's own Content-Type stands; the outer one describes the outer body.
        assert_eq!(
            ops[1].headers.get_str("content-type"),
            Some("application/json")
        );
        assert_eq!(ops[0].headers.get("content-type"), None);
        let resp = google::read_response(fx("google_docs_response.txt"), ct).unwrap();
        let statuses: Vec<u16> = resp
            .items
            .iter()
            .flat_map(|i| i.ops())
            .map(|r| r.status)
            .collect();
        assert_eq!(statuses, [200, 200, 304]);
        let c = correlate(&req, &resp);
        assert!(c
            .pairs
            .iter()
            .all(|p| p.matched_by == Some(MatchedBy::ContentId)));
        // Written back: the response ids take the prefix once, the request ids stay.
        let answers: batch::BatchResponse = Batch {
            items: ops
                .iter()
                .map(|o| {
                    Item::Op(ResponseOp::new(200).with_content_id(o.content_id.clone().unwrap()))
                })
                .collect(),
        };
        let (ct2, body) = google::write_response(&answers, b"batch_x").unwrap();
        let back = google::read_response(body.into_bytes(), ct2.as_bytes()).unwrap();
        assert_eq!(
            back.items[0].ops()[0].content_id.as_deref(),
            Some("<response-item1:12930812@barnyard.example.com>")
        );
        let (ct3, body) = google::write_request(&req, b"batch_y").unwrap();
        assert_eq!(
            google::read_request(body.into_bytes(), ct3.as_bytes(), &Headers::new()).unwrap(),
            req
        );
    }

    #[test]
    fn azure_blob_docs_request_written_byte_for_byte() {
        let ct = b"multipart/mixed; boundary=batch_357de4f7-6d0b-4e02-8cd2-6361411a9525";
        let doc = fx("azure_blob_request.txt");
        let req = azure_blob::read_request(doc.clone(), ct).unwrap();
        let ops: Vec<&RequestOp> = req.items.iter().flat_map(|i| i.ops()).collect();
        assert_eq!(ops.len(), 3);
        assert!(ops
            .iter()
            .all(|o| azure_blob::kind(o) == Some(azure_blob::Kind::Delete)));
        let (ct2, body) =
            azure_blob::write_request(&req, "357de4f7-6d0b-4e02-8cd2-6361411a9525").unwrap();
        assert_eq!(ct2.as_bytes(), ct);
        assert_eq!(body.into_bytes(), doc, "the documented bytes");
        // What the SDKs send: no Content-Length: 0, another boundary; the writer adds it.
        let mut sdk = Batch::default();
        for i in 0..2 {
            sdk.items.push(Item::Op(
                RequestOp::new("PUT", format!("/c/b{i}?comp=tier"))
                    .with_header("x-ms-access-tier", "Cool")
                    .with_header("x-ms-date", "Mon, 14 Jan 2019 23:33:46 GMT")
                    .with_header("Authorization", "SharedKey a:b"),
            ));
        }
        let (ct3, body) = write_multipart(&sdk, b"batch_sdk").unwrap();
        let read = azure_blob::read_request(body.into_bytes(), ct3.as_bytes()).unwrap();
        assert_eq!(read.op_count(), 2);
        let (_, body) = azure_blob::write_request(&read, "g").unwrap();
        let text = String::from_utf8(body.into_bytes().to_vec()).unwrap();
        assert!(text.contains("Content-ID: 1\r\n") && text.contains("Content-Length: 0\r\n"));
        // One kind per batch; at most 256; each with its own Authorization.
        let mut mixed = sdk.clone();
        mixed
            .items
            .push(Item::Op(RequestOp::new("DELETE", "/c/b9")));
        assert_eq!(
            azure_blob::write_request(&mixed, "g").unwrap_err().kind(),
            BatchErrorKind::Malformed
        );
        let big = Batch {
            items: vec![sdk.items[0].clone(); 257],
        };
        assert_eq!(
            azure_blob::write_request(&big, "g").unwrap_err().kind(),
            BatchErrorKind::TooManyOperations
        );
        let bare = Batch {
            items: vec![Item::Op(RequestOp::new("DELETE", "/c/b"))],
        };
        let e = azure_blob::write_request(&bare, "g").unwrap_err();
        assert!(e.to_string().contains("x-ms-date"), "{e}");
    }

    #[test]
    fn azure_blob_docs_response() {
        let ct = b"multipart/mixed; boundary=batchresponse_66925647-d0cb-4109-b6d3-28efe3e1e5ed";
        let resp = azure_blob::read_response(fx("azure_blob_response.txt"), ct).unwrap();
        let got: Vec<(u16, Option<String>)> = resp
            .items
            .iter()
            .flat_map(|i| i.ops())
            .map(|r| (r.status, r.content_id.as_deref().map(str::to_owned)))
            .collect();
        assert_eq!(
            got,
            [
                (202, Some("0".into())),
                (202, Some("1".into())),
                (404, Some("2".into()))
            ]
        );
        let failed = &resp.items[2].ops()[0];
        assert_eq!(
            failed.headers.get_str("x-ms-error-code"),
            Some("BlobNotFound")
        );
        assert!(failed.body.starts_with(b"<?xml"));
    }

    #[test]
    fn azure_table_docs_transaction() {
        let ct = b"multipart/mixed; boundary=batch_a1e9d677-b28b-435e-a89e-87e6a768a431";
        let req = azure_table::read_request(fx("azure_table_request.txt"), ct).unwrap();
        let [Item::Changeset(cs)] = req.items.as_slice() else {
            panic!("one changeset")
        };
        assert_eq!(cs.ops.len(), 3);
        assert!(
            cs.ops.iter().all(|o| o.content_id.is_none()),
            "OData 3.0: no Content-IDs"
        );
        let (ct2, body) = azure_table::write_request(&req, b"batch_t").unwrap();
        assert_eq!(
            azure_table::read_request(body.into_bytes(), ct2.as_bytes()).unwrap(),
            req
        );
        // Two partitions, two changesets, or more than 100 operations are refused.
        let mut two = req.clone();
        if let Item::Changeset(c) = &mut two.items[0] {
            c.ops[2].url = "https://a/Blogs(PartitionKey='Other',RowKey='3')".into();
        }
        let e = azure_table::write_request(&two, b"batch_t").unwrap_err();
        assert!(e.to_string().contains("one partition"), "{e}");
        let mut twice = req.clone();
        twice.items.push(req.items[0].clone());
        let e = azure_table::check(&twice).unwrap_err();
        assert_eq!(e.kind(), BatchErrorKind::Malformed, "{e}");
        let mut many = req.clone();
        if let Item::Changeset(c) = &mut many.items[0] {
            c.ops = (0..101)
                .map(|i| {
                    RequestOp::new(
                        "DELETE",
                        format!("https://a/Blogs(PartitionKey='p',RowKey='{i}')"),
                    )
                })
                .collect();
        }
        assert_eq!(
            azure_table::check(&many).unwrap_err().kind(),
            BatchErrorKind::TooManyOperations
        );
        let rct = b"multipart/mixed; boundary=batchresponse_4c637ba4-b2e8-40f8-adb2-4a2a2d7ec1fb";
        let resp = azure_table::read_response(fx("azure_table_response.txt"), rct).unwrap();
        assert!(
            matches!(resp.items.as_slice(), [Item::Changeset(c)] if c.ops.iter().all(|o| o.status == 204))
        );
    }
}

/// Every dialect behind the one trait: found by its name, its requests and responses read back
/// what it wrote (the operations' methods, URLs and statuses, in order), and its limits are the
/// ones its module documents.
mod one_trait {
    use super::*;
    use batch::{dialect, Batch, BatchRequest, BatchResponse, ResponseOp};

    fn request(name: &str) -> BatchRequest {
        let ops: Vec<RequestOp> = match name {
            "azure-blob" => (0..2)
                .map(|i| {
                    RequestOp::new("DELETE", format!("/c/b{i}"))
                        .with_header("x-ms-date", "Sun, 06 Dec 2026 10:00:00 GMT")
                        .with_header("Authorization", "SharedKey a:b")
                })
                .collect(),
            "azure-table" => (0..2)
                .map(|i| {
                    RequestOp::new("POST", "https://a.table.core.windows.net/T")
                        .with_header("Content-Type", "application/json")
                        .with_body(format!(r#"{{"PartitionKey":"p","RowKey":"{i}"}}"#))
                })
                .collect(),
            _ => vec![
                RequestOp::new("GET", "/People"),
                RequestOp::new("DELETE", "/People(1)"),
            ],
        };
        let ops: Vec<RequestOp> = ops
            .into_iter()
            .enumerate()
            .map(|(i, op)| op.with_content_id((i + 1).to_string()))
            .collect();
        match name {
            "azure-table" => Batch {
                items: vec![Item::Changeset(batch::Changeset { id: None, ops })],
            },
            _ => Batch {
                items: ops.into_iter().map(Item::Op).collect(),
            },
        }
    }

    fn calls(b: &BatchRequest) -> Vec<(String, String)> {
        let ops = b.items.iter().flat_map(|i| i.ops());
        ops.map(|o| (o.method.to_string(), o.url.to_string()))
            .collect()
    }

    #[test]
    fn every_dialect_reads_what_it_writes() {
        let names: Vec<&str> = dialect::ALL.iter().map(|d| d.name()).collect();
        assert_eq!(
            names,
            [
                "odata",
                "odata-json",
                "google",
                "azure-blob",
                "azure-table",
                "graph",
                "json-batch",
                "ucwa",
                "creatio"
            ]
        );
        for d in dialect::ALL {
            let found = dialect::by_name(d.name()).unwrap();
            assert_eq!(found.name(), d.name());
            let req = request(d.name());
            let (ct, body) = d
                .write_request(&req, "batch_one")
                .unwrap_or_else(|e| panic!("{}: {e}", d.name()));
            let back = d
                .read_request(body, ct.as_bytes())
                .unwrap_or_else(|e| panic!("{}: {e}", d.name()));
            assert_eq!(calls(&back), calls(&req), "{}", d.name());
            let resp: BatchResponse = Batch {
                items: vec![
                    Item::Op(ResponseOp::new(200).with_content_id("1")),
                    Item::Op(ResponseOp::new(404).with_content_id("2")),
                ],
            };
            let (ct, body) = d
                .write_response(&resp, "batchresponse_one")
                .unwrap_or_else(|e| panic!("{}: {e}", d.name()));
            let back = d
                .read_response(body, ct.as_bytes())
                .unwrap_or_else(|e| panic!("{}: {e}", d.name()));
            let statuses: Vec<u16> = back
                .items
                .iter()
                .flat_map(|i| i.ops())
                .map(|r| r.status)
                .collect();
            assert_eq!(statuses, [200, 404], "{}", d.name());
        }
        assert!(dialect::by_name("soap").is_none());
    }

    #[test]
    fn each_dialect_has_its_documented_limits() {
        let limit = |n: &str| dialect::by_name(n).unwrap().limits();
        assert_eq!(limit("graph").max_operations, batch::graph::MAX_REQUESTS);
        assert_eq!(limit("google").max_operations, batch::google::MAX_CALLS);
        assert_eq!(
            limit("azure-blob").max_operations,
            batch::azure_blob::MAX_SUBREQUESTS
        );
        assert!(limit("azure-blob").renumber);
        assert_eq!(
            limit("json-batch").max_operations,
            batch::json_batch::MAX_REQUESTS
        );
        assert_eq!(
            limit("creatio").max_operations,
            batch::creatio::MAX_REQUESTS
        );
        assert_eq!(limit("graph").wire, batch::Wire::Json);
        assert_eq!(limit("odata").wire, batch::Wire::Multipart);
    }
}
