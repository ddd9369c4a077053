//! A deliberately simple, whole-buffer reference decoder for the differential fuzz target.
//! Written for clarity, not speed: strict mode (CRLF only), flat bodies (no nested multipart,
//! no embedded HTTP), default limits far away. It finds every `CRLF--boundary` by a naive
//! scan and judges each line as RFC 2046 and the crate's documented rules say.

/// A header field, name and trimmed, unfolded value.
pub type Field = (Vec<u8>, Vec<u8>);

/// What a body decodes to: preamble, parts (header block, body) and epilogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flat {
    pub preamble: Vec<u8>,
    pub parts: Vec<(Vec<Field>, Vec<u8>)>,
    pub epilogue: Vec<u8>,
}

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// `Ok(None)` when the input is outside what the reference models (nested or http parts).
pub fn decode(input: &[u8], boundary: &[u8]) -> Result<Option<Flat>, ()> {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let dash: Vec<u8> = [&b"--"[..], boundary].concat();
    let delim: Vec<u8> = [&b"\r\n"[..], &dash].concat();
    let find = |from: usize| -> Option<usize> {
        (from..input.len()).find(|&i| input[i..].starts_with(&delim))
    };
    // The first delimiter: at the very start, or after a CRLF.
    let (preamble, mut at) = if input.starts_with(&dash) {
        (Vec::new(), dash.len())
    } else {
        let d = find(0).ok_or(())?;
        (input[..d].to_vec(), d + delim.len())
    };
    let mut parts = Vec::new();
    loop {
        // The rest of a delimiter line: `--` for the close, padding, CRLF.
        let close = input[at..].starts_with(b"--");
        if close {
            at += 2;
        }
        while matches!(input.get(at), Some(b' ' | b'\t')) {
            at += 1;
        }
        if close {
            let epilogue = match &input[at..] {
                [] => Vec::new(),
                [b'\r', b'\n', rest @ ..] => rest.to_vec(),
                _ => return Err(()),
            };
            return Ok(Some(Flat {
                preamble,
                parts,
                epilogue,
            }));
        }
        if !input[at..].starts_with(b"\r\n") {
            return Err(());
        }
        at += 2;
        // Header lines up to the blank line.
        let mut headers: Vec<Field> = Vec::new();
        loop {
            let eol = (at..input.len().saturating_sub(1))
                .find(|&i| &input[i..i + 2] == b"\r\n")
                .ok_or(())?;
            let line = &input[at..eol];
            if line.contains(&b'\n') || line.contains(&b'\r') {
                return Err(());
            }
            at = eol + 2;
            if line.is_empty() {
                break;
            }
            if line[0] == b' ' || line[0] == b'\t' {
                let last = headers.last_mut().ok_or(())?;
                if !line.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f)) {
                    return Err(());
                }
                last.1.extend_from_slice(line);
                continue;
            }
            let colon = line.iter().position(|&b| b == b':').ok_or(())?;
            let (name, value) = (&line[..colon], &line[colon + 1..]);
            if name.is_empty() || !name.iter().all(|&b| is_token(b)) {
                return Err(());
            }
            if !value
                .iter()
                .all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
            {
                return Err(());
            }
            headers.push((name.to_vec(), value.to_vec()));
        }
        for (n, v) in &mut headers {
            let t = trim(v).to_vec();
            *v = t;
            if n.eq_ignore_ascii_case(b"content-type") {
                let v = v.to_ascii_lowercase();
                if v.starts_with(b"multipart/")
                    || v.starts_with(b"application/http")
                    || v.starts_with(b"message/http")
                {
                    return Ok(None);
                }
            }
            // Value syntax is the decoder's business (a bad Content-Type or Content-Length is
            // an error there); keep the reference to framing.
            if n.eq_ignore_ascii_case(b"content-length")
                || n.eq_ignore_ascii_case(b"content-type")
                    && batchpart::ContentType::parse(v).is_err()
            {
                return Ok(None);
            }
        }
        // The body runs to the next delimiter, whose CRLF may be the blank line's.
        let d = if input[at..].starts_with(&dash) {
            at - 2
        } else {
            find(at).ok_or(())?
        };
        let body = if d < at {
            Vec::new()
        } else {
            input[at..d].to_vec()
        };
        parts.push((headers, body));
        at = d + delim.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_reads_the_rfc_example() {
        let input = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/rfc2046_simple.txt"
        ))
        .unwrap();
        let f = decode(&input, b"simple boundary").unwrap().unwrap();
        assert_eq!(f.parts.len(), 2);
        assert!(f.parts[0].0.is_empty());
        assert_eq!(
            f.parts[0].1,
            b"This is implicitly typed plain US-ASCII text.\r\nIt does NOT end with a linebreak."
        );
        assert!(f.preamble.ends_with(b"readers.\r\n"));
        assert_eq!(
            f.epilogue,
            b"\r\nThis is the epilogue.  It is also to be ignored."
        );
    }

    #[test]
    fn reference_rules() {
        let ok = |i: &[u8]| decode(i, b"b").unwrap().unwrap();
        assert_eq!(ok(b"--b--").parts.len(), 0);
        assert_eq!(
            ok(b"--b \t\r\nX: 1\r\n\r\n--b--").parts[0],
            (vec![(b"X".to_vec(), b"1".to_vec())], vec![])
        );
        assert_eq!(ok(b"--b\r\n\r\na\r\n--b--\r\nepi").epilogue, b"epi");
        assert_eq!(
            ok(b"pre\r\n--b\r\nX: a\r\n b\r\n\r\nbody\r\n--b--").parts[0].0[0].1,
            b"a b"
        );
        assert!(decode(b"--b\nX: 1\n\n--b--", b"b").is_err());
        assert!(decode(b"--b\r\n\r\nbody", b"b").is_err());
        assert!(decode(b"--b\r\n\r\nx\r\n--b--x", b"b").is_err());
        assert!(decode(b"--b\r\n X: 1\r\n\r\n--b--", b"b").is_err());
        assert!(decode(
            b"--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c--\r\n--b--",
            b"b"
        )
        .unwrap()
        .is_none());
    }
}
