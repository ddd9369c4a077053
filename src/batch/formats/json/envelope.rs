//! The envelope of a JSON batch, read to the JSON grammar as bytes arrive.
//!
//! A hand-written scanner, one small function per state, because no library does what it
//! must: serde_json reads a whole document (or a stream of whole documents), not the elements
//! of one array as their bytes arrive across slices, while limits are counted. It finds each
//! element's end with one pass of byte tests (`Skip`: strings, escapes, nesting) and hands the
//! element, uncopied where it lies in one slice, to serde_json, which does the parsing: the
//! bytes are examined once by the scanner and once by the parser, the least a streaming
//! reader that counts limits as bytes arrive can do.

use serde_json::value::RawValue;

use crate::batch::error::{BatchError, BatchErrorKind as K};
use crate::batch::model::limits::ReadLimits;

/// Reads the envelope of a JSON batch, `{"requests": [ {...}, ... ], ...}`, as bytes arrive,
/// to the JSON grammar (RFC 8259): it hands out each element of the target array as soon as
/// its closing brace arrives, for `serde_json` to parse, and checks everything around them
/// itself. Other members' values are validated by `serde_json` and kept (they are small:
/// `stop_on_error`). A member named twice, after unescaping, is an error: two parsers could
/// read the document two ways. A UTF-8 BOM at the start is skipped (RFC 8259 section 8.1).
#[derive(Debug)]
pub(crate) struct Envelope {
    state: Env,
    /// The key or the value being captured; an element only once it crosses a slice edge.
    buf: Vec<u8>,
    /// The offset of the first byte of the slice being fed.
    fed_at: u64,
    /// Where the element being captured started: offset, line, column.
    element_start: (u64, usize, usize),
    /// A value being skipped: its nesting and string state.
    skip: Skip,
    keys: Vec<String>,
    key: String,
    extra: Vec<(String, Box<RawValue>)>,
    offset: u64,
    line: usize,
    col: usize,
    bom: u8,
    limits: ReadLimits,
    elements: usize,
    /// The document is a bare array of elements (the target name is empty).
    bare: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Env {
    /// Before `{`, a BOM allowed at the very start.
    Start,
    /// After `{` or `,`: a key (or `}` right after `{`).
    Key {
        first: bool,
    },
    InKey,
    Colon,
    Value,
    /// A value of another member.
    Other,
    /// The target member's value: `[` must follow.
    Array,
    /// In the target array: an element (or `]` right after `[`).
    Element {
        first: bool,
    },
    InElement,
    AfterElement,
    AfterValue,
    Done,
}

#[derive(Debug, Clone, Copy, Default)]
struct Skip {
    depth: u32,
    in_str: bool,
    esc: bool,
    /// A number, `true`, `false` or `null`: ends at the next delimiter.
    scalar: bool,
}

impl Skip {
    /// Reads an element (an object or array already open, `depth` at least 1) through
    /// `data`: the index just past its closing byte if it closes there. Strings are crossed
    /// with `memchr2`, so a byte of a string costs a fraction of a `take`.
    fn scan_open(&mut self, data: &[u8]) -> Option<usize> {
        let mut p = 0;
        while p < data.len() {
            if self.in_str {
                if self.esc {
                    self.esc = false;
                    p += 1;
                    continue;
                }
                match memchr::memchr2(b'"', b'\\', &data[p..]) {
                    None => return None,
                    Some(i) if data[p + i] == b'"' => {
                        self.in_str = false;
                        p += i + 1;
                    }
                    Some(i) => {
                        self.esc = true;
                        p += i + 1;
                    }
                }
                continue;
            }
            match data[p] {
                b'"' => self.in_str = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        return Some(p + 1);
                    }
                }
                _ => {}
            }
            p += 1;
        }
        None
    }

    /// Takes one byte of a value; true when the value is complete with it. A scalar is
    /// complete before the delimiter that ends it, which the caller handles again.
    fn take(&mut self, b: u8) -> Option<bool> {
        if self.in_str {
            if self.esc {
                self.esc = false;
            } else if b == b'\\' {
                self.esc = true;
            } else if b == b'"' {
                self.in_str = false;
                return Some(self.depth == 0);
            }
            return Some(false);
        }
        if self.scalar {
            if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n') {
                return None;
            }
            return Some(false);
        }
        match b {
            b'"' => self.in_str = true,
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' => {
                self.depth = self.depth.saturating_sub(1);
                return Some(self.depth == 0);
            }
            b' ' | b'\t' | b'\r' | b'\n' | b',' | b':' => {}
            _ if self.depth == 0 => self.scalar = true,
            _ => {}
        }
        Some(false)
    }
}

/// An element the envelope found: its bytes, and where it started (offset, line, column).
pub(crate) struct Found {
    pub(crate) elem: Elem,
    pub(crate) start: (u64, usize, usize),
}

/// Where a found element's bytes are.
pub(crate) enum Elem {
    /// Wholly inside the slice just fed, at this range of it: not copied.
    Fed(core::ops::Range<usize>),
    /// Across slices: gathered.
    Gathered(Vec<u8>),
}

impl Found {
    /// The element's bytes, given the slice it was found in.
    pub(crate) fn bytes<'a>(&'a self, fed: &'a [u8]) -> &'a [u8] {
        match &self.elem {
            Elem::Fed(r) => &fed[r.clone()],
            Elem::Gathered(v) => v,
        }
    }
}

impl Envelope {
    pub(crate) fn new(limits: ReadLimits) -> Self {
        Envelope {
            state: Env::Start,
            buf: Vec::new(),
            fed_at: 0,
            element_start: (0, 1, 0),
            skip: Skip::default(),
            keys: Vec::new(),
            key: String::new(),
            extra: Vec::new(),
            offset: 0,
            line: 1,
            col: 0,
            bom: 0,
            limits,
            elements: 0,
            bare: false,
        }
    }

    fn syntax(&self, what: &str) -> BatchError {
        BatchError::new(
            K::Json,
            format!("{what} at line {} column {}", self.line, self.col),
        )
        .at_offset(self.offset.saturating_sub(1))
    }

    /// A member's value, other than the target array's, as JSON text.
    pub(crate) fn member(&self, name: &str) -> Option<&RawValue> {
        self.extra
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| &**v)
    }

    /// Feeds bytes; complete elements and element starts go to `out`.
    pub(crate) fn feed(
        &mut self,
        data: &[u8],
        target: &str,
        out: &mut Vec<Found>,
    ) -> Result<(), BatchError> {
        self.fed_at = self.offset;
        let mut i = 0;
        while i < data.len() {
            if self.state == Env::InElement {
                i = self.element_run(data, i, out)?;
                continue;
            }
            let b = data[i];
            i += 1;
            self.offset += 1;
            if b == b'\n' {
                self.line += 1;
                self.col = 0;
            } else {
                self.col += 1;
            }
            self.byte(b, target)?;
        }
        if self.state == Env::InElement
            && self.element_start.0 >= self.fed_at
            && self.buf.is_empty()
        {
            // The slice ended right after the element's `{`.
            let from = (self.element_start.0 - self.fed_at) as usize;
            self.buf.extend_from_slice(&data[from..]);
        }
        Ok(())
    }

    /// Reads the element being captured from `data[i..]` in one run, to its end or to the end
    /// of `data`, and returns where it stopped. An element wholly inside `data` is handed out
    /// as a range of it; one that crosses an edge is gathered in `buf`.
    fn element_run(
        &mut self,
        data: &[u8],
        i: usize,
        out: &mut Vec<Found>,
    ) -> Result<usize, BatchError> {
        let max = self
            .limits
            .max_body_bytes
            .saturating_add(self.limits.max_header_bytes) as u64;
        // The element may take bytes up to this index of `data` before it is over `max`.
        let room = (self.element_start.0 + max).saturating_sub(self.offset);
        let stop = data.len().min(i.saturating_add(room as usize));
        let end = self.skip.scan_open(&data[i..stop]).map(|k| i + k);
        let to = end.unwrap_or(stop);
        let run = &data[i..to];
        self.offset += run.len() as u64;
        match memchr::memrchr(b'\n', run) {
            Some(lf) => {
                self.line += memchr::memchr_iter(b'\n', run).count();
                self.col = run.len() - lf - 1;
            }
            None => self.col += run.len(),
        }
        let fed = self.element_start.0 >= self.fed_at;
        let from = (self.element_start.0 - self.fed_at.min(self.element_start.0)) as usize;
        if let Some(end) = end {
            let elem = if fed {
                Elem::Fed(from..end)
            } else {
                self.buf.extend_from_slice(run);
                // One exact copy; the buffer keeps its capacity for the next element.
                Elem::Gathered(self.buf.to_vec())
            };
            self.buf.clear();
            out.push(Found {
                elem,
                start: self.element_start,
            });
            self.state = Env::AfterElement;
            return Ok(end);
        }
        if to < data.len() {
            return Err(BatchError::new(
                K::BodyTooLarge,
                format!("an element is over max_body_bytes + max_header_bytes ({max})"),
            )
            .at_offset(self.offset));
        }
        // The element goes on past this slice: gather what it has so far.
        self.buf
            .extend_from_slice(if fed { &data[from..] } else { run });
        Ok(to)
    }

    /// One byte outside a captured element: the state's own function judges it.
    fn byte(&mut self, b: u8, target: &str) -> Result<(), BatchError> {
        let ws = matches!(b, b' ' | b'\t' | b'\r' | b'\n');
        match self.state {
            Env::Start => self.start(b, ws, target),
            Env::Key { first } => self.key(b, ws, first),
            Env::InKey => self.in_key(b),
            Env::Colon => self.colon(b, ws, target),
            Env::Value if ws => Ok(()),
            Env::Value => {
                self.buf.clear();
                self.skip = Skip::default();
                self.state = Env::Other;
                // Handled again in the state just entered: the first byte of the value.
                self.byte(b, target)
            }
            Env::Other => self.other(b, target),
            Env::Array => self.array(b, ws, target),
            Env::Element { first } => self.element(b, ws, first),
            // Read by `element_run`.
            Env::InElement => Ok(()),
            Env::AfterElement => self.after(b, ws, b']', "expected , or ] (a missing comma?)"),
            Env::AfterValue => self.after(b, ws, b'}', "expected , or } (a missing comma?)"),
            Env::Done if ws => Ok(()),
            Env::Done => Err(self.syntax("text after the JSON document")),
        }
    }

    /// Before the document: a byte order mark, then `{` (or `[` for a bare array).
    fn start(&mut self, b: u8, ws: bool, target: &str) -> Result<(), BatchError> {
        const BOM: &[u8] = b"\xEF\xBB\xBF";
        let at = self.offset as usize - 1;
        if at < BOM.len() && usize::from(self.bom) == at && b == BOM[at] {
            self.bom += 1;
        } else if self.bom > 0 && usize::from(self.bom) < BOM.len() {
            return Err(self.syntax("an incomplete byte order mark"));
        } else if b == b'{' && !target.is_empty() {
            self.state = Env::Key { first: true };
        } else if b == b'[' && target.is_empty() {
            self.bare = true;
            self.state = Env::Element { first: true };
        } else if !ws {
            let expected = if target.is_empty() {
                "expected ["
            } else {
                "expected {"
            };
            return Err(self.syntax(expected));
        }
        Ok(())
    }

    /// After `{` or `,`: a member name's opening quote (or `}` right after `{`).
    fn key(&mut self, b: u8, ws: bool, first: bool) -> Result<(), BatchError> {
        match b {
            b'"' => {
                self.buf.clear();
                self.buf.push(b);
                self.skip = Skip {
                    in_str: true,
                    ..Skip::default()
                };
                self.state = Env::InKey;
            }
            b'}' if first => self.state = Env::Done,
            b'}' => return Err(self.syntax("a comma before }")),
            _ if ws => {}
            _ => return Err(self.syntax("expected a member name")),
        }
        Ok(())
    }

    /// Inside a member name: captured to its closing quote, then refused if named before.
    fn in_key(&mut self, b: u8) -> Result<(), BatchError> {
        self.capture(b, self.limits.max_header_bytes, "a member name")?;
        if self.skip.take(b) != Some(true) {
            return Ok(());
        }
        let key: String = serde_json::from_slice(&self.buf)
            .map_err(|e| self.syntax("invalid member name").with_source(e))?;
        if self.keys.contains(&key) {
            let at = format!("line {} column {}", self.line, self.col);
            return Err(BatchError::new(
                K::DuplicateMember,
                format!("member \"{key}\" named twice ({at})"),
            )
            .at_offset(self.offset - 1));
        }
        self.keys.push(key.clone());
        self.key = key;
        self.state = Env::Colon;
        Ok(())
    }

    /// After a member name: `:`, then the target array or another value.
    fn colon(&mut self, b: u8, ws: bool, target: &str) -> Result<(), BatchError> {
        match b {
            b':' if self.key == target => self.state = Env::Array,
            b':' => self.state = Env::Value,
            _ if ws => {}
            _ => return Err(self.syntax("expected : after a member name")),
        }
        Ok(())
    }

    /// Inside another member's value: captured to its end (a scalar ends at the delimiter
    /// after it, which is then judged in the state that follows).
    fn other(&mut self, b: u8, target: &str) -> Result<(), BatchError> {
        match self.skip.take(b) {
            None => {
                self.other_done()?;
                self.byte(b, target)
            }
            Some(done) => {
                self.capture(b, self.limits.max_header_bytes, "a member's value")?;
                if done {
                    self.other_done()?;
                }
                Ok(())
            }
        }
    }

    /// The target member's value: it must be an array.
    fn array(&mut self, b: u8, ws: bool, target: &str) -> Result<(), BatchError> {
        match b {
            b'[' => self.state = Env::Element { first: true },
            _ if ws => {}
            _ => return Err(self.syntax(&format!("\"{target}\" must be an array"))),
        }
        Ok(())
    }

    /// In the target array: an element's `{`, counted as it starts (inside atomicity groups
    /// too), or `]` right after `[`.
    fn element(&mut self, b: u8, ws: bool, first: bool) -> Result<(), BatchError> {
        match b {
            b'{' => {
                self.elements += 1;
                if self.elements > self.limits.max_operations {
                    return Err(BatchError::new(
                        K::TooManyOperations,
                        format!("over max_operations ({})", self.limits.max_operations),
                    )
                    .at_op(self.elements - 1, None)
                    .at_offset(self.offset - 1));
                }
                // Gathered only if it crosses the slice's end (see `element_run`).
                self.buf.clear();
                self.skip = Skip {
                    depth: 1,
                    ..Skip::default()
                };
                self.element_start = (self.offset - 1, self.line, self.col);
                self.state = Env::InElement;
            }
            b']' if first => self.state = self.after_array(),
            b']' => return Err(self.syntax("trailing comma")),
            _ if ws => {}
            _ => return Err(self.syntax("expected an object")),
        }
        Ok(())
    }

    /// After an element or a member's value: `,` goes on, `close` ends the array or the
    /// object.
    fn after(&mut self, b: u8, ws: bool, close: u8, expected: &str) -> Result<(), BatchError> {
        let in_array = close == b']';
        match b {
            b',' if in_array => self.state = Env::Element { first: false },
            b',' => self.state = Env::Key { first: false },
            _ if b == close && in_array => self.state = self.after_array(),
            _ if b == close => self.state = Env::Done,
            _ if ws => {}
            _ => return Err(self.syntax(expected)),
        }
        Ok(())
    }

    fn after_array(&self) -> Env {
        if self.bare {
            Env::Done
        } else {
            Env::AfterValue
        }
    }

    fn capture(&mut self, b: u8, max: usize, what: &str) -> Result<(), BatchError> {
        if self.buf.len() >= max {
            return Err(BatchError::new(
                K::HeaderTooLarge,
                format!("{what} is over max_header_bytes ({max})"),
            )
            .at_offset(self.offset - 1));
        }
        self.buf.push(b);
        Ok(())
    }

    /// A value of another member ended: it must be valid JSON on its own.
    fn other_done(&mut self) -> Result<(), BatchError> {
        let text = String::from_utf8(core::mem::take(&mut self.buf))
            .map_err(|e| self.syntax("invalid UTF-8").with_source(e))?;
        let v =
            RawValue::from_string(text).map_err(|e| self.syntax("invalid value").with_source(e))?;
        self.extra.push((core::mem::take(&mut self.key), v));
        self.state = Env::AfterValue;
        Ok(())
    }

    pub(crate) fn finish(&self, target: &str) -> Result<(), BatchError> {
        if self.state != Env::Done {
            return Err(self.syntax("unexpected end of the JSON document"));
        }
        if !self.bare && !self.keys.iter().any(|k| k == target) {
            return Err(BatchError::new(
                K::Malformed,
                format!("no \"{target}\" array"),
            ));
        }
        Ok(())
    }
}

/// Reads a JSON document already in memory element by element, to the envelope's grammar and
/// under the limits: `target` names the array member of the top-level object, or is empty for
/// a document that is a bare array. Operations are counted as they start; `each` gets every
/// element's bytes and start offset. Returns the envelope, for the other members.
pub(crate) fn for_each_element(
    body: &[u8],
    target: &str,
    limits: &ReadLimits,
    mut each: impl FnMut(&[u8], u64) -> Result<(), BatchError>,
) -> Result<Envelope, BatchError> {
    if body.len() as u64 > limits.max_batch_bytes {
        return Err(BatchError::new(
            K::BatchTooLarge,
            format!(
                "the batch is over max_batch_bytes ({})",
                limits.max_batch_bytes
            ),
        )
        .at_offset(limits.max_batch_bytes));
    }
    let mut env = Envelope::new(*limits);
    let mut found = Vec::new();
    // Slices of 64 KiB: the elements found are handed out before more are split off.
    for piece in body.chunks(64 * 1024) {
        env.feed(piece, target, &mut found)?;
        for f in found.drain(..) {
            each(f.bytes(piece), f.start.0)?;
        }
    }
    env.finish(target)?;
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The elements found in `doc` fed in slices of `sizes` (repeated), as bytes.
    fn elements(doc: &[u8], sizes: &[usize]) -> Result<Vec<(Vec<u8>, u64)>, BatchError> {
        let mut env = Envelope::new(small());
        let (mut out, mut found) = (Vec::new(), Vec::new());
        let mut at = 0;
        for &n in sizes.iter().cycle() {
            if at == doc.len() {
                break;
            }
            let piece = &doc[at..(at + n).min(doc.len())];
            env.feed(piece, "requests", &mut found)?;
            out.extend(
                found
                    .drain(..)
                    .map(|f| (f.bytes(piece).to_vec(), f.start.0)),
            );
            at += piece.len();
        }
        env.finish("requests")?;
        Ok(out)
    }

    fn small() -> ReadLimits {
        ReadLimits {
            max_body_bytes: 1000,
            max_header_bytes: 100,
            ..ReadLimits::default()
        }
    }

    /// Strings holding braces, brackets, escaped quotes and escaped backslashes, cut at every
    /// point: the run reader must find the same elements, at the same offsets, as one feed.
    #[test]
    fn elements_read_in_runs_agree_with_every_split() {
        let doc = br#"{"requests": [ {"id":"a\"}","url":"/x{[","headers":{"k":"v\\"}},
            {"id":"b\\\"","body":{"n":[1,{"m":"}]"}]}} ,{"id":"c"}]}"#;
        let whole = elements(doc, &[doc.len()]).unwrap();
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[2].0, br#"{"id":"c"}"#);
        for cut in 1..doc.len() {
            assert_eq!(
                elements(doc, &[cut, doc.len()]).unwrap(),
                whole,
                "cut at {cut}"
            );
        }
        for n in [1, 2, 3, 7] {
            assert_eq!(elements(doc, &[n]).unwrap(), whole, "{n}-byte slices");
        }
    }

    /// An element over the size limit fails at the first byte past it, however it is fed.
    #[test]
    fn an_element_over_its_limit_fails_at_the_same_byte() {
        let max = small().max_body_bytes + small().max_header_bytes;
        let mut doc = br#"{"requests":[{"body":""#.to_vec();
        doc.extend(std::iter::repeat(b'x').take(max + 10));
        doc.extend_from_slice(br#""}]}"#);
        let start = doc.iter().position(|&b| b == b'[').unwrap() as u64 + 1;
        for n in [doc.len(), 100, 1] {
            let e = elements(&doc, &[n]).unwrap_err();
            assert_eq!(e.kind(), K::BodyTooLarge, "{n}");
            assert_eq!(e.offset(), Some(start + max as u64), "{n}");
        }
    }
}
