//! The feeding contract and the failed state: no sequence of calls on the decoder panics or
//! reads out of bounds, a short re-presentation is a typed error, and a failed decoder stays
//! failed with the same error, never claiming to be done.
use batchpart::{Config, Decoder, ErrorKind, Event};
use proptest::prelude::*;

const BODY: &[u8] = b"--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\n\
Content-Type: application/http\r\nContent-ID: 1\r\n\r\nPOST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc\r\n\
--c--\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n";

/// One call on the decoder: feed a window of the source (or stray bytes), and pull some
/// events before dropping, or leaking, the `Feed`.
#[derive(Debug, Clone)]
enum Call {
    Window {
        start: usize,
        len: usize,
        eof: bool,
        pull: usize,
        leak: bool,
    },
    Stray(Vec<u8>, bool),
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        4 => (0usize..400, 0usize..80, any::<bool>(), 0usize..12, any::<bool>()).prop_map(
            |(start, len, eof, pull, leak)| Call::Window { start, len, eof, pull, leak }
        ),
        1 => (prop::collection::vec(any::<u8>(), 0..16), any::<bool>())
            .prop_map(|(b, eof)| Call::Stray(b, eof)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Arbitrary, wrong sequences of feeds: windows that skip or repeat bytes, slices shorter
    /// than what was left unconsumed, stray bytes, input after eof, feeds dropped or leaked
    /// halfway. Nothing panics; an error is sticky and reported again by every later feed.
    #[test]
    fn wrong_feeds_never_panic(
        strict in any::<bool>(),
        calls in prop::collection::vec(call(), 1..40),
    ) {
        let cfg = if strict { Config::strict() } else { Config::default() };
        let mut dec = Decoder::with_config(b"b", cfg).unwrap();
        let mut first_error = None;
        for c in calls {
            let (input, eof, pull, leak) = match &c {
                Call::Window { start, len, eof, pull, leak } => {
                    let s = (*start).min(BODY.len());
                    let e = (s + len).min(BODY.len());
                    (BODY[s..e].to_vec(), *eof, *pull, *leak)
                }
                Call::Stray(b, eof) => (b.clone(), *eof, usize::MAX, false),
            };
            let mut feed = dec.feed(&input, eof);
            for _ in 0..pull {
                match feed.next() {
                    None => break,
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        if let Some(first) = first_error {
                            prop_assert_eq!(e, first, "a failed decoder reports its first error");
                        }
                        first_error = Some(e);
                    }
                }
            }
            prop_assert!(feed.consumed() <= input.len());
            if leak {
                // `Feed` has no drop glue today; this keeps the promise that no state moves in
                // a `Drop` should one ever be added.
                #[allow(clippy::forget_non_drop)]
                std::mem::forget(feed);
            }
            if let Some(e) = first_error {
                prop_assert!(!dec.is_done());
                prop_assert_eq!(dec.error(), Some(e));
            }
        }
    }
}

#[test]
fn a_failed_decoder_is_not_done_and_repeats_its_error() {
    let mut dec = Decoder::new(b"b").unwrap();
    let bad = b"--b\r\nno colon here\r\n\r\nx\r\n--b--\r\n";
    let first = dec.feed(bad, true).find_map(Result::err).unwrap();
    assert_eq!(
        (first.kind(), first.offset()),
        (ErrorKind::InvalidHeader, 5)
    );
    assert!(!dec.is_done());
    assert_eq!(dec.error(), Some(first));
    for _ in 0..3 {
        let again: Vec<_> = dec.feed(b"--b--\r\n", true).collect();
        assert_eq!(again, vec![Err(first)]);
        assert!(!dec.is_done());
    }
}

#[test]
fn a_short_representation_is_a_typed_error() {
    let mut dec = Decoder::new(b"b").unwrap();
    // The header block straddles the edge: it is left unconsumed.
    let part = b"--b\r\nContent-Type: text/pl";
    let mut feed = dec.feed(part, false);
    assert!(feed.next().is_none());
    let left = part.len() - feed.consumed();
    assert!(left > 0);
    // Present fewer bytes than were left.
    let e = dec
        .feed(&part[part.len() - left..][..left - 1], false)
        .next();
    let e = e.unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnconsumedInputMissing);
    assert!(!dec.is_done());
}

#[test]
fn events_outlive_the_feed_and_the_decoder_borrow() {
    // Events borrow the input only, so they can be kept while the decoder is fed again.
    let input = b"--b\r\n\r\nfirst\r\n--b\r\n\r\nsecond\r\n--b--".to_vec();
    let (a, b) = input.split_at(20);
    let mut dec = Decoder::new(b"b").unwrap();
    let mut feed = dec.feed(a, false);
    let kept: Vec<Event<'_>> = feed.by_ref().map(Result::unwrap).collect();
    let used = feed.consumed();
    let rest: Vec<u8> = [&a[used..], b].concat();
    let more: Vec<Event<'_>> = dec.feed(&rest, true).map(Result::unwrap).collect();
    let body: Vec<u8> = kept
        .iter()
        .chain(&more)
        .filter_map(|e| match e {
            Event::Body(c) => Some(c.to_vec()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(body, b"firstsecond");
    assert!(dec.is_done());
}
