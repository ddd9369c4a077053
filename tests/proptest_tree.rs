//! Random multipart trees, written by a small test-side writer, decoded under random
//! chunkings: the decoder must give the same tree back. Bodies mix CR, LF, `--` and
//! near-miss copies of the boundaries.
mod common;
use batchpart::Config;
use common::*;
use proptest::prelude::*;

#[derive(Debug, Clone, PartialEq)]
struct Multipart {
    boundary: Vec<u8>,
    preamble: Vec<u8>,
    parts: Vec<Part>,
    epilogue: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq)]
struct Part {
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    body: Body,
}

#[derive(Debug, Clone, PartialEq)]
enum Body {
    Leaf(Vec<u8>),
    Nested(Multipart),
}

fn write(m: &Multipart, out: &mut Vec<u8>) {
    if !m.preamble.is_empty() {
        out.extend_from_slice(&m.preamble);
        out.extend_from_slice(b"\r\n");
    }
    for p in &m.parts {
        out.extend_from_slice(b"--");
        out.extend_from_slice(&m.boundary);
        out.extend_from_slice(b"\r\n");
        for (n, v) in &p.headers {
            out.extend_from_slice(n);
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        match &p.body {
            Body::Leaf(b) => out.extend_from_slice(b),
            Body::Nested(n) => write(n, out),
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"--");
    out.extend_from_slice(&m.boundary);
    out.extend_from_slice(b"--");
    if !m.epilogue.is_empty() {
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&m.epilogue);
    }
}

/// Rebuilds the tree from decoded events.
fn rebuild(evs: &[Ev], boundary: &[u8]) -> Multipart {
    fn level(evs: &mut std::slice::Iter<'_, Ev>, boundary: Vec<u8>) -> Multipart {
        let mut m = Multipart {
            boundary,
            preamble: vec![],
            parts: vec![],
            epilogue: vec![],
        };
        let mut nested_epilogue = false;
        while let Some(e) = evs.next() {
            match e {
                Ev::Preamble(b) => m.preamble.extend(b),
                Ev::PartStart { headers, .. } => m.parts.push(Part {
                    headers: headers.clone(),
                    body: Body::Leaf(vec![]),
                }),
                Ev::Body(b) => match &mut m.parts.last_mut().unwrap().body {
                    Body::Leaf(v) => v.extend(b),
                    Body::Nested(_) => panic!("body after nested"),
                },
                Ev::MultipartStart(b) => {
                    let n = level(evs, b.clone());
                    m.parts.last_mut().unwrap().body = Body::Nested(n);
                    nested_epilogue = true;
                }
                Ev::Epilogue(b) if nested_epilogue => match &mut m.parts.last_mut().unwrap().body {
                    Body::Nested(n) => n.epilogue.extend(b),
                    Body::Leaf(_) => unreachable!(),
                },
                Ev::Epilogue(b) => m.epilogue.extend(b),
                Ev::PartEnd { .. } => nested_epilogue = false,
                Ev::MultipartEnd | Ev::End => return m,
                other => panic!("unexpected {other:?}"),
            }
        }
        m
    }
    level(&mut evs.iter(), boundary.to_vec())
}

fn content(boundaries: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let frag = prop_oneof![
        4 => proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'-'), Just(b'\r'), Just(b'\n'), Just(b' '), any::<u8>()], 0..12),
        1 => (0..boundaries.len(), 0..3usize, any::<u8>()).prop_map(move |(i, kind, x)| {
            // Near misses: a delimiter missing its last byte, or with one byte changed.
            let b = &boundaries[i];
            let mut v = match kind { 0 => b"\r\n--".to_vec(), 1 => b"\n--".to_vec(), _ => b"--".to_vec() };
            v.extend_from_slice(&b[..b.len() - 1]);
            v.push(if x == *b.last().unwrap() { x.wrapping_add(1) } else { x });
            v
        }),
    ];
    proptest::collection::vec(frag, 0..6).prop_map(|v| v.concat())
}

fn header() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    ("[xX]-[a-zA-Z0-9-]{1,10}", "[ -~]{0,20}")
        .prop_map(|(n, v)| (n.into_bytes(), v.trim().as_bytes().to_vec()))
}

fn tree() -> impl Strategy<Value = Multipart> {
    // Level k's boundaries start with "k" so that no nested boundary prefixes an ancestor.
    fn at(depth: u32, bs: Vec<Vec<u8>>) -> BoxedStrategy<Multipart> {
        let b = format!("{depth}").into_bytes();
        let bs2 = bs.clone();
        let boundary =
            "[a-zA-Z0-9'()+_,./:=?-]{1,20}".prop_map(move |s| [b.clone(), s.into_bytes()].concat());
        boundary
            .prop_flat_map(move |boundary| {
                let mut all = bs2.clone();
                all.push(boundary.clone());
                let leaf = (proptest::collection::vec(header(), 0..3), content(all.clone()))
                    .prop_map(|(headers, b)| Part { headers, body: Body::Leaf(b) })
                    .boxed();
                let part = if depth < 3 {
                    let all2 = all.clone();
                    prop_oneof![
                        3 => leaf,
                        1 => at(depth + 1, all2).prop_map(|n| Part {
                            headers: vec![(b"Content-Type".to_vec(), [&b"multipart/mixed; boundary=\""[..], &n.boundary, b"\""].concat())],
                            body: Body::Nested(n),
                        }),
                    ]
                    .boxed()
                } else {
                    leaf
                };
                (Just(boundary), content(all.clone()), proptest::collection::vec(part, 0..5), content(all))
            })
            .prop_map(|(boundary, preamble, parts, epilogue)| Multipart { boundary, preamble, parts, epilogue })
            .boxed()
    }
    at(0, vec![])
}

fn boundaries(m: &Multipart, out: &mut Vec<Vec<u8>>) {
    out.push(m.boundary.clone());
    for p in &m.parts {
        if let Body::Nested(n) = &p.body {
            boundaries(n, out);
        }
    }
}

/// A tree is well formed when no content holds a delimiter of any level: a line that starts
/// with `--boundary`.
fn well_formed(m: &Multipart, bs: &[Vec<u8>]) -> bool {
    let bad = |c: &[u8]| {
        bs.iter().any(|b| {
            let d = [&b"--"[..], b].concat();
            c.starts_with(&d)
                || c.windows(d.len() + 1)
                    .any(|w| w[0] == b'\n' && w[1..] == d[..])
        })
    };
    // Preamble ends before "\r\n--", so a trailing CR/LF sequence would merge with it.
    !bad(&m.preamble)
        && !bad(&m.epilogue)
        && m.parts.iter().all(|p| match &p.body {
            Body::Leaf(b) => !bad(b),
            Body::Nested(n) => well_formed(n, bs),
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn trees_round_trip_under_any_chunking(
        m in tree(),
        sizes in proptest::collection::vec(1usize..40, 1..8),
    ) {
        let mut bs = Vec::new();
        boundaries(&m, &mut bs);
        prop_assume!(well_formed(&m, &bs));
        let mut wire = Vec::new();
        write(&m, &mut wire);
        let whole = decode_with(&wire, &m.boundary, Config::default(), &[]).unwrap();
        let back = rebuild(&whole, &m.boundary);
        prop_assert_eq!(&back, &m);
        let chunked = decode_with(&wire, &m.boundary, Config::default(), &sizes).unwrap();
        prop_assert_eq!(&chunked, &whole);
        let bytewise = decode_with(&wire, &m.boundary, Config::default(), &[1]).unwrap();
        prop_assert_eq!(&bytewise, &whole);
    }
}

fn enlarge(m: &Multipart) -> Multipart {
    let mut m = m.clone();
    for p in &mut m.parts {
        match &mut p.body {
            // Repeat the generated bytes (CR, LF, `--`, near misses) well past the 4 misses
            // after which the decoder's key scan hands over to the packed-pair searcher.
            Body::Leaf(b) if !b.is_empty() => {
                let unit = b.clone();
                while b.len() < 9 * 1024 {
                    b.extend_from_slice(&unit);
                }
            }
            Body::Leaf(b) => b.extend(std::iter::repeat(b'\n').take(9 * 1024)),
            Body::Nested(n) => *n = enlarge(n),
        }
    }
    m
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 120, ..ProptestConfig::default() })]

    /// Where line ends are dense the packed-pair vector searcher takes over from the key
    /// scan: both must find the same delimiters.
    #[test]
    fn both_search_strategies_agree(m in tree()) {
        let m = enlarge(&m);
        let mut bs = Vec::new();
        boundaries(&m, &mut bs);
        prop_assume!(well_formed(&m, &bs));
        let mut wire = Vec::new();
        write(&m, &mut wire);
        prop_assume!(wire.len() > 9 * 1024);
        let whole = decode_with(&wire, &m.boundary, Config::default(), &[]).unwrap();
        prop_assert_eq!(&rebuild(&whole, &m.boundary), &m);
        for sizes in [&[1024usize][..], &[16 * 1024], &[1], &[7, 8191, 9000]] {
            let chunked = decode_with(&wire, &m.boundary, Config::default(), sizes).unwrap();
            prop_assert_eq!(&chunked, &whole);
        }
    }
}
