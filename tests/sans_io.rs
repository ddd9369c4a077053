//! The batch readers as sans-IO machines: events or bytes in, items out, the caller in charge
//! of I/O. Each is checked against the whole-buffer function and the `Stream` adapter over
//! it, on every chunking, and for what happens after an error.
#![cfg(all(feature = "batch", feature = "json"))]
mod common;

use batchpart::batch::*;
use batchpart::stream::{iter, PartEvent, PartStream};
use bytes::Bytes;
use common::block_on;
use futures_core::Stream;

const CT: &[u8] = b"multipart/mixed; boundary=b";

fn multipart_body() -> Bytes {
    Bytes::from_static(
        b"--b\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\n\
          GET /Customers('ALFKI') HTTP/1.1\r\nAccept: application/json\r\n\r\n\r\n\
          --b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n\
          --cs\r\nContent-Type: application/http\r\nContent-ID: 2\r\n\r\n\
          POST /Customers HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"n\":1}\r\n\
          --cs\r\nContent-Type: application/http\r\nContent-ID: 3\r\n\r\n\
          PATCH $2 HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"n\":2}\r\n\
          --cs--\r\n--b--\r\n",
    )
}

fn json_body() -> Bytes {
    Bytes::from_static(
        br#"{"requests":[{"id":"1","method":"GET","url":"/Customers"},
{"id":"2","atomicityGroup":"g","method":"POST","url":"/Customers","body":{"n":1}},
{"id":"3","atomicityGroup":"g","method":"PATCH","url":"$2","dependsOn":["2"],"body":{"n":2}},
{"id":"4","method":"DELETE","url":"/Orders(1)"}]}"#,
    )
}

/// `body` in chunks of `size` bytes, as a stream's items.
fn chunks(body: &Bytes, size: usize) -> Vec<Result<Bytes, std::io::Error>> {
    (0..body.len())
        .step_by(size)
        .map(|i| Ok(body.slice(i..(i + size).min(body.len()))))
        .collect()
}

/// Every item of a stream, or the first error.
fn collect<S: Stream<Item = Result<Item<RequestOp>, BatchError>> + Unpin>(
    mut s: S,
) -> Result<Vec<Item<RequestOp>>, BatchError> {
    let mut out = Vec::new();
    while let Some(item) = block_on(std::future::poll_fn(|cx| {
        std::pin::Pin::new(&mut s).poll_next(cx)
    })) {
        out.push(item?);
    }
    Ok(out)
}

/// The part events of `body` in chunks of `size`, each with the decoder's offset after it.
fn events(body: &Bytes, size: usize) -> Vec<(PartEvent, u64)> {
    let mut s =
        PartStream::from_content_type(iter(chunks(body, size)), CT, Default::default()).unwrap();
    let mut out = Vec::new();
    while let Some(ev) = block_on(std::future::poll_fn(|cx| {
        std::pin::Pin::new(&mut s).poll_next(cx)
    })) {
        out.push((ev.unwrap(), s.event_end()));
    }
    out
}

#[test]
fn multipart_items_read_what_the_buffer_and_the_stream_read() {
    let body = multipart_body();
    let whole = read_multipart::<RequestOp>(body.clone(), CT, Some(Default::default())).unwrap();
    assert_eq!(whole.items.len(), 2);
    assert_eq!(whole.op_count(), 3);
    for size in [1, 2, 7, 64, body.len()] {
        let mut m =
            MultipartItems::<RequestOp>::new(ReadLimits::default()).validate(Default::default());
        let mut items = Vec::new();
        for (ev, at) in events(&body, size) {
            if let Some(item) = m.push(ev, at).unwrap() {
                items.push(item);
            }
        }
        assert_eq!(items, whole.items, "chunks of {size}");
        let chunks = chunks(&body, size);
        let reader = MultipartReader::<_, RequestOp>::new(iter(chunks), CT)
            .unwrap()
            .validate(Default::default());
        assert_eq!(
            collect(reader).unwrap(),
            whole.items,
            "stream, chunks of {size}"
        );
    }
}

#[test]
fn a_multipart_items_error_is_final() {
    // The second operation of the changeset is a GET: refused by validation when the
    // changeset completes, and every later push answers the same error.
    let text = String::from_utf8(multipart_body().to_vec())
        .unwrap()
        .replace("PATCH $2", "GET $2");
    let body = Bytes::from(text);
    let mut m =
        MultipartItems::<RequestOp>::new(ReadLimits::default()).validate(Default::default());
    let mut err = None;
    let mut items = 0;
    let evs = events(&body, body.len());
    let last_at = evs.last().unwrap().1;
    for (ev, at) in evs {
        match m.push(ev, at) {
            Ok(Some(_)) => items += 1,
            Ok(None) => {}
            Err(e) => {
                let first = err.get_or_insert_with(|| e.clone());
                assert_eq!(e.kind(), first.kind());
                assert_eq!(e.offset(), first.offset());
            }
        }
    }
    assert_eq!(items, 1, "the GET before the changeset came out");
    let err = err.expect("the changeset is refused");
    assert_eq!(err.kind(), BatchErrorKind::GetInChangeset);
    // At the changeset's end, inside the body: not at 0, not past the end.
    let at = err.offset().unwrap();
    assert!(at > 0 && at <= last_at, "{at}");
    // The buffer reader agrees on the kind and the offset.
    let whole =
        read_multipart::<RequestOp>(body.clone(), CT, Some(Default::default())).unwrap_err();
    assert_eq!((whole.kind(), whole.offset()), (err.kind(), err.offset()));
    // And so does the stream reader, whatever the chunking.
    for size in [1, 7, body.len()] {
        let chunks = chunks(&body, size);
        let r = MultipartReader::<_, RequestOp>::new(iter(chunks), CT)
            .unwrap()
            .validate(Default::default());
        let e = collect(r).unwrap_err();
        assert_eq!(
            (e.kind(), e.offset()),
            (err.kind(), err.offset()),
            "chunks of {size}"
        );
    }
}

#[test]
fn multipart_items_count_the_batch_bytes_by_the_offsets_pushed() {
    let body = multipart_body();
    let limits = ReadLimits::default().with_max_batch_bytes(100);
    let mut m = MultipartItems::<RequestOp>::new(limits);
    let e = events(&body, 1)
        .into_iter()
        .find_map(|(ev, at)| m.push(ev, at).err())
        .expect("over the limit");
    assert_eq!(e.kind(), BatchErrorKind::BatchTooLarge);
    assert_eq!(e.offset(), Some(100));
    // The stream reader counts the chunks as they arrive: the same kind, at the same offset.
    let r = MultipartReader::<_, RequestOp>::new(iter([Ok::<_, std::io::Error>(body)]), CT)
        .unwrap()
        .limits(limits);
    let e = collect(r).unwrap_err();
    assert_eq!(
        (e.kind(), e.offset()),
        (BatchErrorKind::BatchTooLarge, Some(100))
    );
}

#[test]
fn json_items_read_what_the_buffer_and_the_stream_read_on_every_chunking() {
    let body = json_body();
    let whole: BatchRequest = read_json(body.clone(), Some(Default::default())).unwrap();
    assert_eq!(whole.items.len(), 3);
    assert_eq!(whole.op_count(), 4);
    for size in [1, 3, 16, body.len()] {
        let mut m = JsonItems::<RequestOp>::new(ReadLimits::default()).validate(Default::default());
        let mut items = Vec::new();
        for i in (0..body.len()).step_by(size) {
            m.feed(&body.slice(i..(i + size).min(body.len())));
            while let Some(item) = m.next_item() {
                items.push(item.unwrap());
            }
            assert!(!m.is_done(), "not done before the end");
        }
        m.finish();
        while let Some(item) = m.next_item() {
            items.push(item.unwrap());
        }
        assert!(m.is_done());
        assert_eq!(items, whole.items, "chunks of {size}");
        let chunks = chunks(&body, size);
        let reader = JsonReader::<_, RequestOp>::new(iter(chunks)).validate(Default::default());
        assert_eq!(
            collect(reader).unwrap(),
            whole.items,
            "stream, chunks of {size}"
        );
    }
}

#[test]
fn json_items_hand_out_what_completed_before_an_error_then_the_error_then_nothing() {
    // The third element is cut short by a syntax error: the first item is out, the group
    // that the error interrupts is not, and feeding more changes nothing.
    let doc = br#"{"requests":[{"id":"1","method":"GET","url":"/a"},{"id":"2","atomicityGroup":"g","method":"POST","url":"/b"},{"id":"3","atomicityGroup":"g","method":"POST","url":"/c"} x]}"#;
    let mut m = JsonItems::<RequestOp>::new(ReadLimits::default());
    m.feed(&Bytes::from_static(doc));
    let first = m.next_item().unwrap().unwrap();
    assert!(matches!(first, Item::Op(op) if op.url == "/a"));
    let e = m.next_item().unwrap().unwrap_err();
    assert_eq!(e.kind(), BatchErrorKind::Json);
    assert_eq!(
        e.offset(),
        Some(doc.iter().position(|&b| b == b'x').unwrap() as u64)
    );
    assert!(m.next_item().is_none() && m.is_done());
    m.feed(&Bytes::from_static(br#"{"requests":[]}"#));
    m.finish();
    assert!(m.next_item().is_none() && m.is_done());
}

#[test]
fn json_items_end_a_cut_document_with_an_error() {
    let body = json_body();
    let cut = body.slice(..body.len() - 2);
    let mut m = JsonItems::<RequestOp>::new(ReadLimits::default());
    m.feed(&cut);
    m.finish();
    let mut items = 0;
    let err = loop {
        match m.next_item() {
            Some(Ok(_)) => items += 1,
            Some(Err(e)) => break e,
            None => panic!("a cut document ended without an error"),
        }
    };
    // The GET, the group and the DELETE were complete before the cut.
    assert_eq!(items, 3);
    assert_eq!(err.kind(), BatchErrorKind::Json);
    assert!(m.next_item().is_none() && m.is_done());
}

#[test]
fn json_items_count_the_batch_bytes_as_they_are_fed() {
    let body = json_body();
    let limits = ReadLimits::default().with_max_batch_bytes(60);
    let mut m = JsonItems::<RequestOp>::new(limits);
    let mut fed = 0;
    let err = loop {
        if let Some(item) = m.next_item() {
            match item {
                Ok(_) => continue,
                Err(e) => break e,
            }
        }
        assert!(fed < body.len(), "the limit was never met");
        m.feed(&body.slice(fed..fed + 1));
        fed += 1;
    };
    assert_eq!(err.kind(), BatchErrorKind::BatchTooLarge);
    assert_eq!(err.offset(), Some(60));
    assert_eq!(fed, 61, "refused at the byte that crossed the limit");
}
