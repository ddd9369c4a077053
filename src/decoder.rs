//! The incremental, sans-IO multipart decoder.
//!
//! The caller feeds byte slices of any size and pulls [`Event`]s from the [`Feed`] each call
//! returns. Nothing is allocated and nothing is copied: events borrow the input, except the few
//! bytes of a partial delimiter held back at a chunk edge, which are re-emitted from the
//! decoder's own copy of the delimiter when they turn out to be content.
//!
//! Two rules keep the work linear for every input and every chunking:
//! - the `memmem::Finder` for a level's boundary is built at most once per fed slice (lazily,
//!   and only for slices of 8 KiB or more; shorter ones are scanned for LF with `memchr`),
//!   never once per search;
//! - every search resumes where the last one stopped. A header block that straddles a chunk edge
//!   is left unconsumed for the caller to present again with more bytes (as with `httparse`),
//!   but the decoder remembers how far it validated it, so no line is validated twice.

use memchr::memmem::Finder;

use crate::boundary::{validate_boundary, Delimiter, DELIM_HEAD};
use crate::content_id::ContentId;
use crate::content_type::ContentType;
use crate::error::{Error, ErrorKind};
use crate::headers::{valid_continuation_line, valid_field_line, Headers};
use crate::http::{
    looks_like_status_line, parse_content_length, parse_request_line, parse_status_line, HeadInfo,
    RequestHead, ResponseHead,
};

/// The capacity of the fixed nesting stack. [`Limits::max_depth`] can be set up to this.
pub const MAX_DEPTH: usize = 16;

const BOM: &[u8; 3] = b"\xEF\xBB\xBF";

/// Slices shorter than this are searched without building a `memmem::Finder`: its setup
/// (about 240 ns for a long boundary) would cost more than the search.
const SMALL_SLICE: usize = 8 * 1024;

/// Line ends that are not delimiters after which the LF scan of a short slice hands over to
/// the `memmem::Finder`.
const LF_CANDIDATES: usize = 16;

/// The outcome of the LF scan of a short slice.
enum LfScan {
    Found(usize),
    None,
    /// Too many line ends that were not delimiters, the last at this index.
    Dense(usize),
}

/// Resource limits. Every one is counted across chunk edges, never reset per fed slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes in one header block, one embedded HTTP head, or one delimiter line's transport
    /// padding. Default 16 KiB: twice odata.net's 8000-byte boundary-line limit, and above
    /// what any batch operation's headers need. Error: [`ErrorKind::HeaderTooLarge`].
    pub max_header_bytes: usize,
    /// Header fields in one block or embedded head. Default 128. Error:
    /// [`ErrorKind::TooManyHeaders`].
    pub max_headers: usize,
    /// Parts in the whole body, counted at every depth. Default 10,000: 100 top-level
    /// operations of 100 each is already more than the seed APIs accept. Error:
    /// [`ErrorKind::TooManyParts`].
    pub max_parts: u64,
    /// Multipart nesting, the top level being 1. Default 8 (OData needs 2); at most
    /// [`MAX_DEPTH`]. Error: [`ErrorKind::NestingTooDeep`].
    pub max_depth: usize,
    /// Bytes of preamble before the first delimiter of each multipart. Default 64 KiB. Error:
    /// [`ErrorKind::PreambleTooLarge`].
    pub max_preamble_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: 16 * 1024,
            max_headers: 128,
            max_parts: 10_000,
            max_depth: 8,
            max_preamble_bytes: 64 * 1024,
        }
    }
}

/// Decoder configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Config {
    /// Accept only what the RFCs allow: CRLF line endings only, a blank line closing every
    /// embedded HTTP head, request lines with a version, status lines `httparse` accepts,
    /// Content-Lengths that agree with the framing, and nothing but padding and a line end
    /// after a close delimiter. Off by default.
    pub strict: bool,
    /// The resource limits.
    pub limits: Limits,
}

impl Config {
    /// The strict configuration with default limits.
    pub fn strict() -> Self {
        Config {
            strict: true,
            limits: Limits::default(),
        }
    }
}

/// Work counters, for tests and monitoring: they let a caller check that the work stays
/// linear in the input, by counting rather than timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Bytes examined: by delimiter searches, held-back delimiter comparisons, header line
    /// searches and header validation. Each byte of input is examined a small, bounded number
    /// of times, whatever the chunking.
    pub bytes_examined: u64,
    /// `memmem::Finder`s built (at most one per level per fed slice).
    pub finders_built: u64,
    /// Slices fed.
    pub feeds: u64,
}

/// A part's head: its MIME headers and what the decoder read out of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part<'a> {
    headers: Headers<'a>,
    content_type: Option<ContentType<'a>>,
    content_id: Option<ContentId<'a>>,
    content_length: Option<u64>,
    index: u64,
    depth: usize,
}

impl<'a> Part<'a> {
    /// The MIME part headers (possibly none: a part with no headers is legal).
    pub fn headers(&self) -> Headers<'a> {
        self.headers
    }
    /// The parsed `Content-Type`, if the part has one.
    pub fn content_type(&self) -> Option<ContentType<'a>> {
        self.content_type
    }
    /// The `Content-ID` of the MIME part header (OData 4.0 puts it here).
    pub fn content_id(&self) -> Option<ContentId<'a>> {
        self.content_id
    }
    /// The part-level `Content-Length` (as Skype UCWA sends). It is checked against the
    /// framing, never used for it: see [`PartEnd::content_length_mismatch`].
    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }
    /// The part's number in the body, counted from 0 over all depths in wire order.
    pub fn index(&self) -> u64 {
        self.index
    }
    /// The depth of the multipart the part belongs to; the top level is 1.
    pub fn depth(&self) -> usize {
        self.depth
    }
}

/// The end of a part, with what the framing showed about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartEnd {
    framed_len: u64,
    declared_len: Option<u64>,
    http_body_len: u64,
    http_declared_len: Option<u64>,
}

impl PartEnd {
    /// The bytes between the end of the part's headers and its delimiter.
    pub fn framed_len(&self) -> u64 {
        self.framed_len
    }
    /// `Some((declared, framed))` when the part-level `Content-Length` disagreed with the
    /// framing (outside strict mode, where it is an error).
    pub fn content_length_mismatch(&self) -> Option<(u64, u64)> {
        self.declared_len
            .filter(|&d| d != self.framed_len)
            .map(|d| (d, self.framed_len))
    }
    /// `Some((declared, available))` when an embedded HTTP message declared a longer
    /// `Content-Length` than the delimiter framed (outside strict mode, where it is an
    /// error). The body events carried the framed bytes.
    pub fn http_content_length_mismatch(&self) -> Option<(u64, u64)> {
        self.http_declared_len
            .filter(|&d| d > self.http_body_len)
            .map(|d| (d, self.http_body_len))
    }
}

/// What the decoder reports, in wire order.
///
/// A body is `Preamble* (PartStart ... PartEnd)* Epilogue* End`. Inside a part, after
/// `PartStart`, comes one of: `Body*`; `Request`/`Response` then `Body*` for an
/// `application/http` part; or `MultipartStart`, a nested body of the same shape (its own
/// preamble, parts and epilogue), `MultipartEnd`, then the nested epilogue as `Epilogue*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<'a> {
    /// Bytes before the first delimiter of the current multipart (may come in pieces).
    Preamble(&'a [u8]),
    /// A part begins.
    PartStart(Part<'a>),
    /// The part just started is itself a multipart with this boundary (an OData changeset).
    MultipartStart(&'a [u8]),
    /// The part carries an HTTP request; its body follows as `Body` events.
    Request(RequestHead<'a>),
    /// The part carries an HTTP response; its body follows as `Body` events.
    Response(ResponseHead<'a>),
    /// Body bytes of the current part (may come in pieces).
    Body(&'a [u8]),
    /// The current part ends.
    PartEnd(PartEnd),
    /// The nested multipart's close delimiter was read.
    MultipartEnd,
    /// Bytes after a close delimiter (may come in pieces).
    Epilogue(&'a [u8]),
    /// The body is complete. Nothing follows.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Region {
    Preamble,
    Body,
    Epilogue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tail {
    AfterBoundary,
    Dash,
    Pad,
    Cr,
    ClosePad,
    CloseCr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Bom(u8),
    Scan(Region),
    EndPart,
    Tail(Tail),
    Headers,
    OpenNested,
    HttpHead,
    TopEpilogue,
    End,
    Done,
}

/// Delimiter bytes consumed but not yet judged: `D[from..to]` of the current level's
/// delimiter `CRLF -- boundary`. `D[from..content_from]` are virtual: a line end that already
/// served as the end of a header block or a close-delimiter line, which the next delimiter may
/// share.
#[derive(Debug, Clone, Copy)]
struct Held {
    to: u8,
    content_from: u8,
    /// Absolute offset of `D[content_from]`.
    offset: u64,
    /// The virtual line end was an embedded HTTP head's blank line.
    head_blank: bool,
}

#[derive(Debug, Clone, Copy)]
enum Src {
    Stored,
    Input(usize, usize),
}

#[derive(Debug, Clone)]
struct State {
    cfg: Config,
    /// Absolute offset of the first byte of the next fed slice.
    offset: u64,
    depth: usize,
    src: [Src; MAX_DEPTH],
    staged: u32,
    staged_delims: [Delimiter; MAX_DEPTH],
    phase: Phase,
    held: Option<Held>,
    failed: Option<Error>,
    parts: u64,
    preamble_bytes: u64,
    pad_bytes: usize,
    hdr_scanned: usize,
    /// Bytes of the current, unterminated header line already searched for its LF.
    hdr_partial: usize,
    hdr_count: usize,
    // The current part.
    body_start: u64,
    declared_len: Option<u64>,
    http_limit: Option<u64>,
    http_body: u64,
    msgtype: Option<bool>,
    pending_end: PartEnd,
    stats: Stats,
    /// For each nested level: where the multipart part that holds it began its body, and its
    /// declared Content-Length, for that part's `PartEnd`.
    outer: [(u64, Option<u64>); MAX_DEPTH],
}

/// The sans-IO multipart decoder. See the [module docs](self) and [`Decoder::feed`].
///
/// ```
/// use batchpart::{Decoder, Event};
///
/// let body = b"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n";
/// let mut dec = Decoder::new(b"b").unwrap();
/// let mut text = Vec::new();
/// // Any chunking works; here, one byte at a time. Only the bytes a feed leaves unconsumed
/// // (a header block that is not complete yet) are kept for the next feed.
/// let mut pending = Vec::new();
/// for (i, &byte) in body.iter().enumerate() {
///     pending.push(byte);
///     let mut feed = dec.feed(&pending, i + 1 == body.len());
///     for ev in &mut feed {
///         if let Event::Body(b) = ev.unwrap() {
///             text.extend_from_slice(b);
///         }
///     }
///     let used = feed.consumed();
///     drop(feed);
///     pending.drain(..used);
/// }
/// assert_eq!(text, b"hello");
/// ```
#[derive(Clone)]
pub struct Decoder {
    levels: [Delimiter; MAX_DEPTH],
    st: State,
}

impl core::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Decoder")
            .field("offset", &self.st.offset)
            .field("depth", &self.st.depth)
            .field("phase", &self.st.phase)
            .finish()
    }
}

impl Decoder {
    /// A decoder for a body with this boundary and the default (lenient) configuration.
    pub fn new(boundary: &[u8]) -> Result<Self, Error> {
        Self::with_config(boundary, Config::default())
    }

    /// A decoder for a body with this boundary and configuration.
    pub fn with_config(boundary: &[u8], cfg: Config) -> Result<Self, Error> {
        validate_boundary(boundary)?;
        let mut levels = [Delimiter::EMPTY; MAX_DEPTH];
        levels[0] = Delimiter::new(boundary);
        let mut cfg = cfg;
        cfg.limits.max_depth = cfg.limits.max_depth.clamp(1, MAX_DEPTH);
        Ok(Decoder {
            levels,
            st: State {
                cfg,
                offset: 0,
                depth: 1,
                src: [Src::Stored; MAX_DEPTH],
                staged: 0,
                staged_delims: [Delimiter::EMPTY; MAX_DEPTH],
                phase: Phase::Bom(0),
                held: None,
                failed: None,
                parts: 0,
                preamble_bytes: 0,
                pad_bytes: 0,
                hdr_scanned: 0,
                hdr_partial: 0,
                hdr_count: 0,
                body_start: 0,
                declared_len: None,
                http_limit: None,
                http_body: 0,
                msgtype: None,
                pending_end: PartEnd {
                    framed_len: 0,
                    declared_len: None,
                    http_body_len: 0,
                    http_declared_len: None,
                },
                outer: [(0, None); MAX_DEPTH],
                stats: Stats::default(),
            },
        })
    }

    /// A decoder for the body of a message with this `Content-Type` header value, which must
    /// be `multipart/*` with a valid boundary.
    ///
    /// ```
    /// let dec = batchpart::Decoder::from_content_type(
    ///     b"multipart/mixed; boundary=batch_36522ad7-fc75-4b56-8c71-56071383e77b",
    ///     Default::default(),
    /// );
    /// assert!(dec.is_ok());
    /// ```
    pub fn from_content_type(content_type: &[u8], cfg: Config) -> Result<Self, Error> {
        let ct = ContentType::parse(content_type)?;
        Self::with_config(ct.multipart_boundary()?, cfg)
    }

    /// Feeds the next slice of the body and returns the iterator of the events it completes.
    ///
    /// `input` must start with the bytes the previous feed left unconsumed (see
    /// [`Feed::consumed`]); that only happens when a header block straddles the edge, and
    /// only those bytes need keeping. `eof` says that no byte follows `input`.
    pub fn feed<'f>(&'f mut self, input: &'f [u8], eof: bool) -> Feed<'f> {
        // Levels opened during the previous feed were searched in that feed's input; their
        // delimiters were staged, and become the stored ones now.
        let mut staged = self.st.staged;
        while staged != 0 {
            let i = staged.trailing_zeros() as usize;
            self.levels[i] = self.st.staged_delims[i];
            staged &= staged - 1;
        }
        self.st.staged = 0;
        self.st.src = [Src::Stored; MAX_DEPTH];
        self.st.stats.feeds += 1;
        Feed {
            levels: &self.levels,
            st: &mut self.st,
            input,
            pos: 0,
            hint: 0,
            eof,
            finder: None,
            reported: false,
        }
    }

    /// The current nesting depth (1 at the top level).
    pub fn depth(&self) -> usize {
        self.st.depth
    }

    /// The absolute offset of the next byte to feed.
    pub fn offset(&self) -> u64 {
        self.st.offset
    }

    /// True once [`Event::End`] has been produced.
    pub fn is_done(&self) -> bool {
        matches!(self.st.phase, Phase::Done)
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.st.cfg
    }

    /// The work counters so far.
    pub fn stats(&self) -> Stats {
        self.st.stats
    }
}

/// The events of one fed slice. Iterate it until it returns `None`, then read
/// [`Feed::consumed`].
pub struct Feed<'f> {
    levels: &'f [Delimiter; MAX_DEPTH],
    st: &'f mut State,
    input: &'f [u8],
    pos: usize,
    /// Input bytes before this index were already compared (after a failed held-back match).
    hint: usize,
    eof: bool,
    finder: Option<(usize, Finder<'f>)>,
    reported: bool,
}

impl core::fmt::Debug for Feed<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Feed")
            .field("pos", &self.pos)
            .field("len", &self.input.len())
            .field("phase", &self.st.phase)
            .finish()
    }
}

impl Drop for Feed<'_> {
    fn drop(&mut self) {
        self.st.offset += self.pos as u64;
    }
}

enum BlockEnd {
    /// The block ended with a blank line; the body starts at `body`.
    Blank { end: usize, body: usize, crlf: bool },
    /// A delimiter line followed the block directly; `after` is past its boundary.
    Delim { end: usize, after: usize },
}

/// What one step of the state machine did.
enum Flow<'f> {
    /// Produced an event.
    Emit(Event<'f>),
    /// Changed state; step again.
    Continue,
    /// Needs more input (or is done).
    Wait,
}

impl<'f> From<Option<Event<'f>>> for Flow<'f> {
    fn from(e: Option<Event<'f>>) -> Self {
        e.map_or(Flow::Continue, Flow::Emit)
    }
}

type Step<'f> = Result<Flow<'f>, Error>;

impl<'f> Feed<'f> {
    /// How many bytes of the fed slice were consumed so far. Present the rest again, followed
    /// by new bytes, in the next feed.
    pub fn consumed(&self) -> usize {
        self.pos
    }

    /// The current nesting depth (1 at the top level).
    pub fn depth(&self) -> usize {
        self.st.depth
    }

    fn abs(&self, i: usize) -> u64 {
        self.st.offset + i as u64
    }

    fn err(&self, kind: ErrorKind, at: usize) -> Error {
        Error::new(kind, self.abs(at))
    }

    fn boundary(&self, level: usize) -> &'f [u8] {
        match self.st.src[level] {
            Src::Stored => self.levels[level].boundary(),
            Src::Input(s, e) => &self.input[s..e],
        }
    }

    /// Byte `i` of level `level`'s delimiter `CRLF -- boundary`.
    fn delim_byte(&self, level: usize, i: usize) -> u8 {
        if i < DELIM_HEAD.len() {
            DELIM_HEAD[i]
        } else {
            self.boundary(level)[i - DELIM_HEAD.len()]
        }
    }

    /// The next `h >= from` where the bare boundary of `level` starts and, for every `h` this
    /// returns that is a delimiter, `input[h-3..h]` is `LF--` (the caller checks that, and the
    /// CR). Short slices are scanned for LF with `memchr` and compared in place, which costs
    /// nothing to set up; longer ones use the level's `memmem::Finder`, built at most once per
    /// fed slice. Both give the caller the same first delimiter.
    fn find(&mut self, level: usize, from: usize) -> Option<usize> {
        let b = self.boundary(level);
        let mut from = from;
        if self.input.len().saturating_sub(from) < b.len() {
            return None;
        }
        let cached = matches!(&self.finder, Some((l, _)) if *l == level);
        if !cached && self.input.len() - from < SMALL_SLICE {
            match self.find_after_lf(b, from) {
                LfScan::Found(h) => return Some(h),
                LfScan::None => return None,
                // Line ends everywhere (near-miss delimiters, LF-heavy bodies): the Finder's
                // setup now pays for itself. No delimiter starts before `lf`.
                LfScan::Dense(lf) => {
                    from = from.max(lf + 3);
                    if self.input.len().saturating_sub(from) < b.len() {
                        return None;
                    }
                }
            }
        }
        if !matches!(&self.finder, Some((l, _)) if *l == level) {
            self.st.stats.finders_built += 1;
            self.finder = Some((level, Finder::new(b)));
        }
        let (_, f) = self.finder.as_ref()?;
        let hit = f.find(&self.input[from..]).map(|i| from + i);
        let end = hit.map_or(self.input.len(), |h| h + b.len());
        self.st.stats.bytes_examined += (end - from) as u64;
        hit
    }

    /// Scans for `LF -- boundary` from `from`; gives up after [`LF_CANDIDATES`] line ends
    /// that are not delimiters.
    fn find_after_lf(&mut self, b: &[u8], from: usize) -> LfScan {
        let input = self.input;
        let mut p = from.saturating_sub(3);
        let mut misses = 0;
        while let Some(i) = memchr::memchr(b'\n', &input[p..]) {
            let lf = p + i;
            let h = lf + 3;
            self.st.stats.bytes_examined += (i + 1) as u64;
            if h + b.len() > input.len() {
                self.st.stats.bytes_examined += (input.len() - lf - 1) as u64;
                return LfScan::None;
            }
            if h >= from && &input[lf + 1..h] == b"--" && &input[h..h + b.len()] == b {
                self.st.stats.bytes_examined += (2 + b.len()) as u64;
                return LfScan::Found(h);
            }
            misses += 1;
            if misses == LF_CANDIDATES {
                return LfScan::Dense(lf);
            }
            p = lf + 1;
        }
        self.st.stats.bytes_examined += (input.len() - p) as u64;
        LfScan::None
    }

    fn step(&mut self) -> Step<'f> {
        match self.st.phase {
            Phase::Bom(n) => self.bom(n),
            Phase::Scan(region) => self.scan(region),
            Phase::EndPart => self.end_part(),
            Phase::Tail(t) => self.tail(t),
            Phase::Headers => self.headers(),
            Phase::OpenNested => {
                self.st.phase = Phase::Scan(Region::Preamble);
                Ok(Flow::Emit(Event::MultipartStart(
                    self.boundary(self.st.depth - 1),
                )))
            }
            Phase::HttpHead => self.http_head(),
            Phase::TopEpilogue => {
                if self.pos < self.input.len() {
                    let s = &self.input[self.pos..];
                    self.pos = self.input.len();
                    return Ok(Flow::Emit(Event::Epilogue(s)));
                }
                if self.eof {
                    self.st.phase = Phase::End;
                    return Ok(Flow::Continue);
                }
                Ok(Flow::Wait)
            }
            Phase::End => {
                self.st.phase = Phase::Done;
                Ok(Flow::Emit(Event::End))
            }
            Phase::Done => Ok(Flow::Wait),
        }
    }

    /// Skips a UTF-8 BOM at the very start, then lets the first delimiter open the body with
    /// no line end before it.
    fn bom(&mut self, mut n: u8) -> Step<'f> {
        while (n as usize) < BOM.len() {
            match self.input.get(self.pos) {
                Some(&b) if b == BOM[n as usize] => {
                    n += 1;
                    self.pos += 1;
                }
                Some(_) => break,
                None if self.eof => break,
                None => {
                    self.st.phase = Phase::Bom(n);
                    return Ok(Flow::Wait);
                }
            }
        }
        self.st.phase = Phase::Scan(Region::Preamble);
        if (n as usize) < BOM.len() && n > 0 {
            // A BOM prefix that was not a BOM is preamble, re-emitted from the constant; the
            // body no longer starts at a delimiter, so none may open it without a line end.
            return Ok(self
                .content(Region::Preamble, &BOM[..n as usize], 0)?
                .into());
        }
        self.set_virtual_held(true, false);
        Ok(Flow::Continue)
    }

    /// The next delimiter may share the line end that was just consumed.
    fn set_virtual_held(&mut self, crlf: bool, head_blank: bool) {
        let _ = crlf;
        self.st.held = Some(Held {
            to: 2,
            content_from: 2,
            offset: self.abs(self.pos),
            head_blank,
        });
    }

    /// Accounts for content bytes and wraps them in their event (none when empty).
    fn content(
        &mut self,
        region: Region,
        s: &'f [u8],
        abs_start: u64,
    ) -> Result<Option<Event<'f>>, Error> {
        match region {
            Region::Preamble => {
                self.st.preamble_bytes += s.len() as u64;
                let max = self.st.cfg.limits.max_preamble_bytes;
                if self.st.preamble_bytes > max {
                    let over = self.st.preamble_bytes - max;
                    let at = abs_start + s.len() as u64 - over;
                    return Err(Error::new(ErrorKind::PreambleTooLarge, at));
                }
                Ok((!s.is_empty()).then_some(Event::Preamble(s)))
            }
            Region::Epilogue => Ok((!s.is_empty()).then_some(Event::Epilogue(s))),
            Region::Body => {
                let mut s = s;
                if let Some(limit) = self.st.http_limit {
                    let room = limit.saturating_sub(self.st.http_body);
                    if (s.len() as u64) > room {
                        let keep = room as usize;
                        // Past an embedded Content-Length only line ends and padding may
                        // stand before the delimiter.
                        if let Some(bad) = s[keep..]
                            .iter()
                            .position(|b| !matches!(b, b'\r' | b'\n' | b' ' | b'\t'))
                        {
                            return Err(Error::new(
                                ErrorKind::ContentLengthMismatch,
                                abs_start + (keep + bad) as u64,
                            ));
                        }
                        s = &s[..keep];
                    }
                }
                self.st.http_body += s.len() as u64;
                Ok((!s.is_empty()).then_some(Event::Body(s)))
            }
        }
    }

    fn scan(&mut self, region: Region) -> Step<'f> {
        let level = self.st.depth - 1;
        let blen = self.boundary(level).len();
        let dlen = DELIM_HEAD.len() + blen;
        if let Some(h) = self.st.held {
            let mut i = h.to as usize;
            let mut p = self.pos;
            while i < dlen && p < self.input.len() && self.input[p] == self.delim_byte(level, i) {
                i += 1;
                p += 1;
            }
            self.st.stats.bytes_examined += (p - self.pos) as u64 + 1;
            if i == dlen {
                if h.head_blank && self.st.cfg.strict {
                    return Err(Error::new(ErrorKind::HeadWithoutBlankLine, h.offset));
                }
                self.st.held = None;
                self.pos = p;
                self.delimiter_found(region, h.offset)?;
                return Ok(Flow::Continue);
            }
            if p == self.input.len() && !self.eof {
                self.st.held = Some(Held { to: i as u8, ..h });
                self.pos = p;
                return Ok(Flow::Wait);
            }
            self.st.held = None;
            self.hint = p;
            if h.content_from < h.to {
                // Held bytes from an earlier slice: they live in the stored delimiter.
                let d = self.levels[level].as_bytes();
                let s = &d[h.content_from as usize..h.to as usize];
                return Ok(self.content(region, s, h.offset)?.into());
            }
        }
        let start = self.pos;
        let mut from = self.hint.max(start);
        while let Some(h) = self.find(level, from) {
            if h >= start + 3 && &self.input[h - 3..h] == b"\n--" {
                let mut ds = h - 3;
                if ds > start && self.input[ds - 1] == b'\r' {
                    ds -= 1;
                } else if self.st.cfg.strict {
                    from = h + 1;
                    continue;
                }
                let s = &self.input[start..ds];
                let abs_start = self.abs(start);
                self.pos = h + blen;
                let ev = self.content(region, s, abs_start)?;
                self.delimiter_found(region, self.abs(ds))?;
                return Ok(ev.into());
            }
            from = h + 1;
        }
        let end = self.input.len();
        if self.eof {
            let s = &self.input[start..];
            let abs_start = self.abs(start);
            self.pos = end;
            return match self.content(region, s, abs_start)? {
                Some(ev) => Ok(Flow::Emit(ev)),
                None => Err(self.err(ErrorKind::MissingCloseDelimiter, end)),
            };
        }
        let hold = self.hold_point(start, end, level, dlen);
        if let Some((at, from)) = hold {
            self.st.held = Some(Held {
                to: from + (end - at) as u8,
                content_from: from,
                offset: self.abs(at),
                head_blank: false,
            });
        }
        let cut = hold.map_or(end, |(at, _)| at);
        let s = &self.input[start..cut];
        let abs_start = self.abs(start);
        self.pos = end;
        // Everything up to the end was searched: an empty remainder means wait for more.
        Ok(self
            .content(region, s, abs_start)?
            .map_or(Flow::Wait, Flow::Emit))
    }

    /// Where the longest suffix of `input[start..end]` that could begin a delimiter starts,
    /// and at which index of `CRLF -- boundary` it begins (0 with its CR, 1 without).
    /// A delimiter holds one CR and one LF, both at its head, so only the last CR or LF of the
    /// final `dlen - 1` bytes can start one: at most one delimiter's length is held back.
    fn hold_point(
        &self,
        start: usize,
        end: usize,
        level: usize,
        dlen: usize,
    ) -> Option<(usize, u8)> {
        if end == start {
            return None;
        }
        if self.input[end - 1] == b'\r' {
            return Some((end - 1, 0));
        }
        let window = start.max(end.saturating_sub(dlen - 1));
        let r = window + memchr::memrchr(b'\n', &self.input[window..end])?;
        let tail = &self.input[r..end];
        if !tail
            .iter()
            .enumerate()
            .all(|(k, &b)| b == self.delim_byte(level, k + 1))
        {
            return None;
        }
        if r > start && self.input[r - 1] == b'\r' {
            Some((r - 1, 0))
        } else if self.st.cfg.strict {
            None
        } else {
            Some((r, 1))
        }
    }

    /// A delimiter of the current level ends at `self.pos`; `at` is where it started.
    fn delimiter_found(&mut self, region: Region, at: u64) -> Result<(), Error> {
        self.st.pad_bytes = 0;
        self.st.phase = match region {
            Region::Preamble => Phase::Tail(Tail::AfterBoundary),
            Region::Body => {
                self.finish_part(at)?;
                Phase::EndPart
            }
            Region::Epilogue => {
                // The part that held the nested multipart that just closed.
                let (start, declared) = self.st.outer[self.st.depth];
                self.st.body_start = start;
                self.st.declared_len = declared;
                self.st.http_limit = None;
                self.st.http_body = 0;
                self.finish_part(at)?;
                Phase::EndPart
            }
        };
        Ok(())
    }

    /// Records the end of the current part, whose framing ends at absolute offset `at`.
    fn finish_part(&mut self, at: u64) -> Result<(), Error> {
        let end = PartEnd {
            framed_len: at.saturating_sub(self.st.body_start),
            declared_len: self.st.declared_len,
            http_body_len: self.st.http_body,
            http_declared_len: self.st.http_limit,
        };
        if self.st.cfg.strict
            && (end.content_length_mismatch().is_some()
                || end.http_content_length_mismatch().is_some())
        {
            return Err(Error::new(ErrorKind::ContentLengthMismatch, at));
        }
        self.st.pending_end = end;
        Ok(())
    }

    fn end_part(&mut self) -> Step<'f> {
        self.st.phase = Phase::Tail(Tail::AfterBoundary);
        Ok(Flow::Emit(Event::PartEnd(self.st.pending_end)))
    }

    fn tail(&mut self, mut t: Tail) -> Step<'f> {
        let strict = self.st.cfg.strict;
        loop {
            let Some(&b) = self.input.get(self.pos) else {
                if self.eof {
                    // A close delimiter may end the input, but in strict mode not halfway
                    // through its line end.
                    if t == Tail::ClosePad || t == Tail::CloseCr && !strict {
                        return self.close_done(None);
                    }
                    if t == Tail::CloseCr {
                        // Point at the lone CR, which may have come in an earlier slice.
                        let cr = self.abs(self.pos) - 1;
                        return Err(Error::new(ErrorKind::InvalidDelimiterLine, cr));
                    }
                    return Err(self.err(ErrorKind::MissingCloseDelimiter, self.pos));
                }
                self.st.phase = Phase::Tail(t);
                return Ok(Flow::Wait);
            };
            let at = self.pos;
            let bad = |s: &Self, k| Err(s.err(k, at));
            t = match (t, b) {
                (Tail::AfterBoundary, b'-') => Tail::Dash,
                (Tail::Dash, b'-') => Tail::ClosePad,
                (Tail::AfterBoundary | Tail::Pad, b' ' | b'\t') => {
                    self.count_pad(at)?;
                    Tail::Pad
                }
                (Tail::AfterBoundary | Tail::Pad, b'\r') => Tail::Cr,
                (Tail::AfterBoundary | Tail::Pad, b'\n') if !strict => {
                    self.pos += 1;
                    return self.open_part(at);
                }
                (Tail::Cr, b'\n') => {
                    self.pos += 1;
                    return self.open_part(at);
                }
                (Tail::AfterBoundary | Tail::Pad, b'\n') => {
                    return bad(self, ErrorKind::BareLineFeed)
                }
                (Tail::ClosePad, b' ' | b'\t') => {
                    self.count_pad(at)?;
                    Tail::ClosePad
                }
                (Tail::ClosePad, b'\r') => Tail::CloseCr,
                (Tail::ClosePad, b'\n') if !strict => {
                    self.pos += 1;
                    return self.close_done(Some(false));
                }
                (Tail::CloseCr, b'\n') => {
                    self.pos += 1;
                    return self.close_done(Some(true));
                }
                (Tail::ClosePad, b'\n') => return bad(self, ErrorKind::BareLineFeed),
                // Lenient: whatever follows `--b--` on its line is epilogue (the OData
                // specification has an example ending in `--b---`).
                (Tail::ClosePad, _) if !strict => return self.close_done(None),
                _ => return bad(self, ErrorKind::InvalidDelimiterLine),
            };
            self.pos += 1;
        }
    }

    fn count_pad(&mut self, at: usize) -> Result<(), Error> {
        self.st.pad_bytes += 1;
        if self.st.pad_bytes > self.st.cfg.limits.max_header_bytes {
            return Err(self.err(ErrorKind::HeaderTooLarge, at));
        }
        Ok(())
    }

    /// A close delimiter (and its line end, `Some(crlf)`, if any) was consumed.
    fn close_done(&mut self, eol: Option<bool>) -> Step<'f> {
        if self.st.depth == 1 {
            self.st.phase = Phase::TopEpilogue;
            return Ok(Flow::Continue);
        }
        self.st.depth -= 1;
        self.st.phase = Phase::Scan(Region::Epilogue);
        if let Some(crlf) = eol {
            // The close line's end may be the enclosing delimiter's leading CRLF.
            self.set_virtual_held(crlf, false);
        }
        Ok(Flow::Emit(Event::MultipartEnd))
    }

    fn open_part(&mut self, at: usize) -> Step<'f> {
        self.st.parts += 1;
        if self.st.parts > self.st.cfg.limits.max_parts {
            return Err(self.err(ErrorKind::TooManyParts, at));
        }
        self.st.hdr_scanned = 0;
        self.st.hdr_partial = 0;
        self.st.hdr_count = 0;
        self.st.phase = Phase::Headers;
        Ok(Flow::Continue)
    }

    /// Scans a header block starting at `pos` (an embedded head when `start_line`), line by
    /// line from where the last attempt stopped.
    fn scan_block(&mut self, start_line: bool) -> Result<Option<BlockEnd>, Error> {
        let strict = self.st.cfg.strict;
        let limits = self.st.cfg.limits;
        let bs = self.pos;
        let mut ls = bs + self.st.hdr_scanned;
        let b = self.boundary(self.st.depth - 1);
        loop {
            // Resume the LF search where the last feed left this line: never search a byte
            // twice, however the line is chunked.
            let skip = core::mem::take(&mut self.st.hdr_partial);
            let found = memchr::memchr(b'\n', &self.input[ls + skip..]).map(|i| i + skip);
            self.st.stats.bytes_examined +=
                found.map_or(self.input.len() - ls - skip, |i| i + 1 - skip) as u64;
            let Some(i) = found else {
                self.st.hdr_partial = self.input.len() - ls;
                if self.input.len() - bs > limits.max_header_bytes {
                    return Err(self.err(ErrorKind::HeaderTooLarge, bs + limits.max_header_bytes));
                }
                if self.eof {
                    // A close delimiter may end the input without a line end.
                    let rest = &self.input[ls..];
                    if !strict
                        && rest.len() >= 2 + b.len()
                        && rest.starts_with(b"--")
                        && &rest[2..2 + b.len()] == b
                        && matches!(rest.get(2 + b.len()), Some(b'-' | b' ' | b'\t') | None)
                    {
                        return Ok(Some(BlockEnd::Delim {
                            end: ls,
                            after: ls + 2 + b.len(),
                        }));
                    }
                    return Err(self.err(ErrorKind::IncompleteHeader, self.input.len()));
                }
                self.st.hdr_scanned = ls - bs;
                return Ok(None);
            };
            let le = ls + i;
            // Validation reads the complete line once more.
            self.st.stats.bytes_examined += (i + 1) as u64;
            if le + 1 - bs > limits.max_header_bytes {
                return Err(self.err(ErrorKind::HeaderTooLarge, bs + limits.max_header_bytes));
            }
            let line = &self.input[ls..=le];
            let has_cr = i > 0 && self.input[le - 1] == b'\r';
            if strict && !has_cr {
                return Err(self.err(ErrorKind::BareLineFeed, le));
            }
            let text = &line[..i - usize::from(has_cr)];
            if text.is_empty() {
                return Ok(Some(BlockEnd::Blank {
                    end: ls,
                    body: le + 1,
                    crlf: has_cr,
                }));
            }
            if !strict
                && text.len() >= 2 + b.len()
                && text.starts_with(b"--")
                && &text[2..2 + b.len()] == b
                && matches!(
                    line.get(2 + b.len()),
                    Some(b'-' | b' ' | b'\t' | b'\r' | b'\n')
                )
            {
                return Ok(Some(BlockEnd::Delim {
                    end: ls,
                    after: ls + 2 + b.len(),
                }));
            }
            if start_line && ls == bs {
                // The request or status line; judged by the head parser.
            } else if matches!(text[0], b' ' | b'\t') {
                if self.st.hdr_count == 0 || !valid_continuation_line(line) {
                    return Err(self.err(ErrorKind::InvalidHeader, ls));
                }
            } else {
                if !valid_field_line(line) {
                    return Err(self.err(ErrorKind::InvalidHeader, ls));
                }
                self.st.hdr_count += 1;
                if self.st.hdr_count > limits.max_headers {
                    return Err(self.err(ErrorKind::TooManyHeaders, ls));
                }
            }
            ls = le + 1;
        }
    }

    fn headers(&mut self) -> Step<'f> {
        let Some(end) = self.scan_block(false)? else {
            return Ok(Flow::Wait);
        };
        let bs = self.pos;
        let (block_end, body) = match end {
            BlockEnd::Blank { end, body, .. } => (end, Some(body)),
            BlockEnd::Delim { end, .. } => (end, None),
        };
        let headers = Headers::new(&self.input[bs..block_end]);
        self.st.stats.bytes_examined += headers.as_bytes().len() as u64;
        let mut content_type = None;
        let mut content_id = None;
        let mut content_length = None;
        for h in headers.iter() {
            let n = h.name();
            if content_type.is_none() && n.eq_ignore_ascii_case(b"content-type") {
                let ct = ContentType::parse(h.value().as_bytes())
                    .map_err(|_| self.err(ErrorKind::InvalidContentType, bs))?;
                content_type = Some(ct);
            } else if content_id.is_none() && n.eq_ignore_ascii_case(b"content-id") {
                content_id = Some(ContentId::new(h.value()));
            } else if content_length.is_none() && n.eq_ignore_ascii_case(b"content-length") {
                let v = parse_content_length(h.value().as_bytes())
                    .ok_or_else(|| self.err(ErrorKind::InvalidContentLength, bs))?;
                content_length = Some(v);
            }
        }
        let part = Part {
            headers,
            content_type,
            content_id,
            content_length,
            index: self.st.parts - 1,
            depth: self.st.depth,
        };
        self.st.declared_len = content_length;
        self.st.http_limit = None;
        self.st.http_body = 0;
        self.st.msgtype = None;
        let nested = match content_type {
            Some(ct) if ct.is_multipart() => ct.boundary(),
            _ => None,
        };
        let is_http = content_type.is_some_and(|ct| ct.is_http());
        match end {
            BlockEnd::Delim { after, end } => {
                if nested.is_some() {
                    return Err(self.err(ErrorKind::MissingCloseDelimiter, end));
                }
                if is_http {
                    return Err(self.err(ErrorKind::InvalidRequestLine, end));
                }
                self.st.body_start = self.abs(end);
                self.finish_part(self.abs(end))?;
                self.pos = after;
                self.st.phase = Phase::EndPart;
            }
            BlockEnd::Blank { crlf, .. } => {
                let body = body.unwrap_or(block_end);
                self.pos = body;
                self.st.body_start = self.abs(body);
                if let Some(nb) = nested {
                    self.open_nested(nb, bs)?;
                    self.set_virtual_held(crlf, false);
                    self.st.phase = Phase::OpenNested;
                } else if is_http {
                    self.st.msgtype =
                        content_type
                            .and_then(|ct| ct.param("msgtype"))
                            .and_then(|m| {
                                if m.eq_ignore_ascii_case(b"request") {
                                    Some(true)
                                } else if m.eq_ignore_ascii_case(b"response") {
                                    Some(false)
                                } else {
                                    None
                                }
                            });
                    self.st.hdr_scanned = 0;
                    self.st.hdr_partial = 0;
                    self.st.hdr_count = 0;
                    self.st.phase = Phase::HttpHead;
                } else {
                    self.set_virtual_held(crlf, false);
                    self.st.phase = Phase::Scan(Region::Body);
                }
            }
        }
        Ok(Flow::Emit(Event::PartStart(part)))
    }

    fn open_nested(&mut self, nb: &'f [u8], at: usize) -> Result<(), Error> {
        validate_boundary(nb).map_err(|e| self.err(e.kind(), at))?;
        for level in 0..self.st.depth {
            if self.boundary(level).starts_with(nb) {
                return Err(self.err(ErrorKind::NestedBoundaryConflict, at));
            }
        }
        if self.st.depth >= self.st.cfg.limits.max_depth {
            return Err(self.err(ErrorKind::NestingTooDeep, at));
        }
        let level = self.st.depth;
        self.st.outer[level] = (self.st.body_start, self.st.declared_len);
        // `nb` is a sub-slice of this feed's input.
        let s = nb.as_ptr() as usize - self.input.as_ptr() as usize;
        self.st.src[level] = Src::Input(s, s + nb.len());
        // A sibling changeset reuses the level with another boundary.
        if matches!(self.finder, Some((l, _)) if l == level) {
            self.finder = None;
        }
        self.st.staged_delims[level] = Delimiter::new(nb);
        self.st.staged |= 1 << level;
        self.st.depth += 1;
        self.st.preamble_bytes = 0;
        Ok(())
    }

    fn http_head(&mut self) -> Step<'f> {
        let strict = self.st.cfg.strict;
        let Some(end) = self.scan_block(true)? else {
            return Ok(Flow::Wait);
        };
        let bs = self.pos;
        let (block_end, after) = match end {
            BlockEnd::Blank { end, body, .. } => (end, body),
            BlockEnd::Delim { end, after } => (end, after),
        };
        let block = &self.input[bs..block_end];
        let Some(lf) = memchr::memchr(b'\n', block) else {
            return Err(self.err(ErrorKind::InvalidRequestLine, bs));
        };
        let start_line = &block[..=lf];
        let headers = Headers::new(&block[lf + 1..]);
        self.st.stats.bytes_examined += block.len() as u64;
        let mut info = HeadInfo::default();
        for h in headers.iter() {
            let n = h.name();
            if info.content_id.is_none() && n.eq_ignore_ascii_case(b"content-id") {
                info.content_id = Some(ContentId::new(h.value()));
            } else if info.content_length.is_none() && n.eq_ignore_ascii_case(b"content-length") {
                let v = parse_content_length(h.value().as_bytes())
                    .ok_or_else(|| self.err(ErrorKind::InvalidContentLength, bs + lf + 1))?;
                info.content_length = Some(v);
            }
        }
        let is_request = self
            .st
            .msgtype
            .unwrap_or_else(|| !looks_like_status_line(start_line));
        let ev = if is_request {
            let (method, target, version) = parse_request_line(start_line, strict)
                .ok_or_else(|| self.err(ErrorKind::InvalidRequestLine, bs))?;
            Event::Request(RequestHead {
                method,
                target,
                version,
                headers,
                info,
            })
        } else {
            let (version, status, reason) = parse_status_line(start_line, strict)
                .ok_or_else(|| self.err(ErrorKind::InvalidStatusLine, bs))?;
            Event::Response(ResponseHead {
                version,
                status,
                reason,
                headers,
                info,
            })
        };
        self.st.http_limit = info.content_length;
        self.st.http_body = 0;
        self.pos = after;
        match end {
            BlockEnd::Blank { crlf, .. } => {
                self.set_virtual_held(crlf, true);
                self.st.phase = Phase::Scan(Region::Body);
            }
            BlockEnd::Delim { end, .. } => {
                // Lenient only: the head ran straight into the delimiter line.
                self.finish_part(self.abs(end))?;
                self.st.phase = Phase::EndPart;
            }
        }
        Ok(Flow::Emit(ev))
    }
}

impl<'f> Iterator for Feed<'f> {
    type Item = Result<Event<'f>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.st.failed {
            if self.reported {
                return None;
            }
            self.reported = true;
            return Some(Err(e));
        }
        loop {
            match self.step() {
                Ok(Flow::Emit(ev)) => return Some(Ok(ev)),
                Ok(Flow::Continue) => {}
                Ok(Flow::Wait) => return None,
                Err(e) => {
                    self.st.failed = Some(e);
                    self.st.phase = Phase::Done;
                    self.reported = true;
                    return Some(Err(e));
                }
            }
        }
    }
}
