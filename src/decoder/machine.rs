//! The decoder's state machine: one enum of states whose variants carry their own data, and
//! one step function per state.

use super::types::{Carried, Chunk, Event, Part, PartEnd};
use super::{Config, Stats, MAX_DEPTH};
use crate::ascii::{eq_ignore_case, starts_with_ignore_case};
use crate::boundary::{validate_boundary, Boundary, Delimiter, DELIM_HEAD};
use crate::content_id::ContentId;
use crate::content_type::ContentType;
use crate::error::{Error, ErrorKind};
use crate::headers::{scan_field_line, valid_continuation_line, FieldLine, HeaderBlock, Value};
use crate::http::{
    looks_like_status_line, parse_content_length, parse_request_line, parse_status_line, HeadInfo,
    RequestHead, ResponseHead,
};

const BOM: &[u8; 3] = b"\xEF\xBB\xBF";

/// What the bytes between delimiters are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Region {
    Preamble,
    Body,
    Epilogue,
}

/// Delimiter bytes consumed but not yet judged: `D[content_from..to]` of the current level's
/// delimiter `D = CRLF -- boundary`. `D[..content_from]` are virtual: a line end that already
/// served as the end of a header block or a close-delimiter line, which the next delimiter may
/// share.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pending {
    pub(super) to: u8,
    pub(super) content_from: u8,
    /// Absolute offset of `D[content_from]`.
    pub(super) offset: u64,
    /// The virtual line end was an embedded HTTP head's blank line.
    head_blank: bool,
}

/// Searching for the current level's delimiter.
#[derive(Debug, Clone, Copy)]
struct Scan {
    region: Region,
    pending: Option<Pending>,
    /// Preamble bytes of this multipart so far.
    preamble: u64,
}

impl Scan {
    fn new(region: Region, pending: Option<Pending>) -> Self {
        Scan {
            region,
            pending,
            preamble: 0,
        }
    }
}

/// Where in the rest of a delimiter line (after its boundary) the decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TailStep {
    AfterBoundary,
    Dash,
    Pad,
    Cr,
    ClosePad,
    CloseCr,
}

#[derive(Debug, Clone, Copy)]
struct Tail {
    step: TailStep,
    /// Transport padding bytes on this line so far.
    pad: usize,
}

/// Progress through a header block, which may straddle chunk edges.
#[derive(Debug, Clone, Copy, Default)]
struct Block {
    /// Bytes of complete, validated lines.
    scanned: usize,
    /// Bytes of the current, unterminated line already searched for its LF.
    partial: usize,
    /// Header fields so far.
    fields: usize,
    /// An embedded head's start line: the index of its LF in the block.
    first_lf: usize,
    /// Where the fields the decoder acts on start, noted while the lines are validated.
    picks: Picks,
}

/// The first `Content-Type`, `Content-ID` and `Content-Length` fields of a block, noted
/// while its lines are validated, and how many `Content-Length` lines there were: the block
/// is walked once.
#[derive(Debug, Default, Clone, Copy)]
struct Picks {
    content_type: Option<Pick>,
    content_id: Option<Pick>,
    content_length: Option<Pick>,
    lengths: usize,
    /// The pick the last field line filled, which a continuation line would extend.
    last: Option<Which>,
}

/// A field's line, as offsets from the block's start: where it starts, and its value (the
/// bytes after the colon, to the line end).
#[derive(Debug, Clone, Copy)]
struct Pick {
    line: usize,
    value: (usize, usize),
    /// A continuation line followed: the value is read with its folds from `line`.
    folded: bool,
}

#[derive(Debug, Clone, Copy)]
enum Which {
    Type,
    Id,
    Length,
}

impl Picks {
    fn slot(&mut self, w: Which) -> &mut Option<Pick> {
        match w {
            Which::Type => &mut self.content_type,
            Which::Id => &mut self.content_id,
            Which::Length => &mut self.content_length,
        }
    }

    /// A field line: `line` starts it, `colon` and `end` (its line end) are offsets too.
    fn note(&mut self, name: &[u8], line: usize, colon: usize, end: usize) {
        self.last = None;
        let w = match name.len() {
            12 if eq_ignore_case(name, b"content-type") => Which::Type,
            10 if eq_ignore_case(name, b"content-id") => Which::Id,
            14 if eq_ignore_case(name, b"content-length") => {
                self.lengths += 1;
                Which::Length
            }
            _ => return,
        };
        let slot = self.slot(w);
        if slot.is_none() {
            *slot = Some(Pick {
                line,
                value: (colon + 1, end),
                folded: false,
            });
            self.last = Some(w);
        }
    }

    /// A continuation line: it belongs to the field before it.
    fn fold(&mut self) {
        if let Some(w) = self.last {
            if let Some(p) = self.slot(w) {
                p.folded = true;
            }
        }
    }
}

/// Does this `Content-Type` value name a type that changes what the decoder does:
/// `multipart/*`, `application/http` or `message/http` (prefixes only; the full parse
/// decides)?
fn may_frame(value: &[u8]) -> bool {
    let start = value
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .unwrap_or(value.len());
    let v = &value[start..];
    let starts = |p: &[u8]| starts_with_ignore_case(v, p);
    // The first letter picks the one or two prefixes to compare: most parts' types (text,
    // image, application/json) are told apart by one or two bytes.
    match v.first().map(u8::to_ascii_lowercase) {
        Some(b'm') => starts(b"multipart/") || starts(b"message/http"),
        Some(b'a') => {
            v.get(12).map(u8::to_ascii_lowercase) == Some(b'h') && starts(b"application/http")
        }
        _ => false,
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Before anything: this many bytes of a UTF-8 BOM matched.
    Bom(u8),
    /// Preamble, body or epilogue, up to the next delimiter.
    Scan(Scan),
    /// The rest of a delimiter line.
    Tail(Tail),
    /// A part's MIME header block (its progress in [`Inner::block`]).
    Headers,
    /// An `application/http` part's embedded head (its progress in [`Inner::block`]), and
    /// what its `msgtype` says it is.
    HttpHead(HeadKind),
    /// The part ended; report it.
    EndPart(PartEnd),
    /// A nested multipart opened; report it, then scan its preamble.
    OpenNested(Pending),
    /// After the top-level close delimiter.
    TopEpilogue,
    /// Report the end.
    End,
    Done,
    Failed(Error),
}

/// The framing of a part, for its [`PartEnd`].
#[derive(Debug, Clone, Copy, Default)]
struct Framing {
    body_start: u64,
    declared: Option<u64>,
    http_limit: Option<u64>,
    http_body: u64,
}

/// The decoder's state and what persists across states.
#[derive(Debug, Clone)]
pub(super) struct Inner {
    cfg: Config,
    state: State,
    /// Absolute offset of the current feed's first byte, its length, and how much of it was
    /// consumed: the next feed must present the rest again.
    base: u64,
    fed: usize,
    consumed: usize,
    depth: usize,
    parts: u64,
    part: Framing,
    /// The header block being read. Kept here rather than in its state, so that the state,
    /// moved at every step, stays small.
    block: Block,
    /// For each nested level, the framing of the part that holds it.
    outer: [Framing; MAX_DEPTH],
    /// The delimiter of each open level, the top one first: the one record of the nesting
    /// (a level's boundary is copied in when it opens, and read from here alone).
    pub(super) levels: [Delimiter; MAX_DEPTH],
    stats: Stats,
}

impl Inner {
    pub(super) fn new(boundary: &[u8], cfg: Config) -> Self {
        let mut levels = [Delimiter::EMPTY; MAX_DEPTH];
        levels[0] = Delimiter::new(boundary);
        Inner {
            cfg,
            state: State::Bom(0),
            base: 0,
            fed: 0,
            consumed: 0,
            depth: 1,
            parts: 0,
            part: Framing::default(),
            block: Block::default(),
            outer: [Framing::default(); MAX_DEPTH],
            levels,
            stats: Stats::default(),
        }
    }

    /// Checks that the new slice can hold what the last one left unconsumed.
    pub(super) fn start_feed(&mut self, len: usize) {
        let carry = self.fed - self.consumed;
        self.base += self.consumed as u64;
        self.fed = len;
        self.consumed = 0;
        self.stats.feeds += 1;
        if len < carry && !matches!(self.state, State::Failed(_) | State::Done) {
            let at = self.base + len as u64;
            self.state = State::Failed(Error::new(ErrorKind::UnconsumedInputMissing, at));
        }
    }

    pub(super) fn depth(&self) -> usize {
        self.depth
    }

    pub(super) fn offset(&self) -> u64 {
        self.base + self.consumed as u64
    }

    pub(super) fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    pub(super) fn error(&self) -> Option<Error> {
        match self.state {
            State::Failed(e) => Some(e),
            _ => None,
        }
    }

    pub(super) fn config(&self) -> &Config {
        &self.cfg
    }

    pub(super) fn stats(&self) -> Stats {
        self.stats
    }

    pub(super) fn state_name(&self) -> &'static str {
        match self.state {
            State::Bom(_) => "bom",
            State::Scan(s) => match s.region {
                Region::Preamble => "preamble",
                Region::Body => "body",
                Region::Epilogue => "epilogue",
            },
            State::Tail(_) => "delimiter line",
            State::Headers => "part headers",
            State::HttpHead(..) => "http head",
            State::EndPart(_) => "part end",
            State::OpenNested(_) => "nested start",
            State::TopEpilogue => "epilogue",
            State::End => "end",
            State::Done => "done",
            State::Failed(_) => "failed",
        }
    }
}

/// The events of one fed slice. Iterate it until it returns `None`, then read
/// [`Feed::consumed`]. The events borrow the slice (`'i`), not the decoder (`'d`).
pub struct Feed<'d, 'i> {
    dec: &'d mut Inner,
    pub(super) input: &'i [u8],
    pos: usize,
    /// Input bytes before this index were already compared (after a failed held-back match).
    hint: usize,
    eof: bool,
    reported: bool,
}

impl core::fmt::Debug for Feed<'_, '_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Feed")
            .field("pos", &self.pos)
            .field("len", &self.input.len())
            .field("state", &self.dec.state_name())
            .finish()
    }
}

enum BlockEnd {
    /// The block ended with a blank line; the body starts at `body`.
    Blank { end: usize, body: usize },
    /// A delimiter line followed the block directly; `after` is past its boundary.
    Delim { end: usize, after: usize },
}

/// What an `application/http` part's embedded head is: as its `msgtype` parameter says, or,
/// without one, told by its first line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeadKind {
    Request,
    Response,
    Sniff,
}

/// What one step of the state machine did.
enum Flow<'i> {
    /// Produced an event.
    Emit(Event<'i>),
    /// Changed state; step again.
    Continue,
    /// Needs more input.
    Wait,
    /// Finished or failed: nothing more, whatever is fed.
    Done,
}

impl<'i> From<Option<Event<'i>>> for Flow<'i> {
    fn from(e: Option<Event<'i>>) -> Self {
        e.map_or(Flow::Continue, Flow::Emit)
    }
}

/// What a state's function returns: what it did (the state to go on in it stores with
/// [`Feed::go`]).
type Step<'i> = Result<Flow<'i>, Error>;

/// Where [`Feed::field_lines`] stopped.
enum Lines {
    /// A blank line ended the block.
    End(BlockEnd),
    /// At the line that starts at `at`, which the one pass read up to `at + stop` (no LF
    /// before it) and left to the general reading.
    Other { at: usize, stop: usize },
}

/// What a header block says that the decoder acts on.
#[derive(Default)]
struct Fields<'a> {
    /// The first `Content-Type` value as sent, and the index of its value in the input.
    content_type_raw: Option<(&'a [u8], usize)>,
    /// What that type makes of the part's body.
    frame: Frame<'a>,
    content_id: Option<ContentId<'a>>,
    content_length: Option<u64>,
}

/// What a part's `Content-Type` makes of its body, as configured. Small on purpose: the
/// parsed type is not kept, so that no large value moves between the functions of a part.
#[derive(Debug, Clone, Copy, Default)]
enum Frame<'a> {
    /// Bytes, whatever the type says.
    #[default]
    Plain,
    /// A nested multipart with this boundary, named at this index of the input.
    Nested(&'a [u8], usize),
    /// An embedded HTTP message.
    Http(HeadKind),
}

impl<'d, 'i> Feed<'d, 'i> {
    pub(super) fn new(dec: &'d mut Inner, input: &'i [u8], eof: bool) -> Self {
        Feed {
            dec,
            input,
            pos: 0,
            hint: 0,
            eof,
            reported: false,
        }
    }

    /// How many bytes of the fed slice were consumed so far. Present the rest again, followed
    /// by new bytes, in the next feed.
    pub fn consumed(&self) -> usize {
        self.pos
    }

    /// The current nesting depth (1 at the top level).
    pub fn depth(&self) -> usize {
        self.dec.depth
    }

    pub(super) fn stats_mut(&mut self) -> &mut Stats {
        &mut self.dec.stats
    }

    /// The delimiter of `level`.
    pub(super) fn delimiter(&self, level: usize) -> &Delimiter {
        &self.dec.levels[level]
    }

    pub(super) fn strict(&self) -> bool {
        self.dec.cfg.strict
    }

    fn abs(&self, i: usize) -> u64 {
        self.dec.base + i as u64
    }

    fn err(&self, kind: ErrorKind, at: usize) -> Error {
        Error::new(kind, self.abs(at))
    }

    /// Runs the current state's function, which moves to the next state with [`Feed::go`]
    /// (or fails, which `next` records).
    fn step(&mut self) -> Step<'i> {
        match self.dec.state {
            State::Bom(n) => self.bom(n),
            State::Scan(sc) => self.scan(sc),
            State::Tail(t) => self.tail(t),
            State::Headers => self.headers(),
            State::HttpHead(kind) => self.http_head(kind),
            State::EndPart(end) => {
                let next = State::Tail(Tail {
                    step: TailStep::AfterBoundary,
                    pad: 0,
                });
                self.go(next, Flow::Emit(Event::PartEnd(end)))
            }
            State::OpenNested(p) => {
                let b = Boundary::new(self.boundary(self.dec.depth - 1));
                let next = State::Scan(Scan::new(Region::Preamble, Some(p)));
                self.go(next, Flow::Emit(Event::MultipartStart(b)))
            }
            State::TopEpilogue => self.top_epilogue(),
            State::End => self.go(State::Done, Flow::Emit(Event::End)),
            State::Done | State::Failed(_) => Ok(Flow::Done),
        }
    }

    /// Moves to `next`: the one place the state changes (but for a failure). A state's
    /// function returns what this returns; the state is stored, not handed back, so that
    /// no step moves a state and an event through its callers.
    #[inline(always)]
    fn go(&mut self, next: State, flow: Flow<'i>) -> Step<'i> {
        self.dec.state = next;
        Ok(flow)
    }

    /// Skips a UTF-8 BOM at the very start, then lets the first delimiter open the body with
    /// no line end before it.
    fn bom(&mut self, mut n: u8) -> Step<'i> {
        while (n as usize) < BOM.len() {
            match self.input.get(self.pos) {
                Some(&b) if b == BOM[n as usize] => {
                    n += 1;
                    self.pos += 1;
                }
                Some(_) => break,
                None if self.eof => break,
                None => return self.go(State::Bom(n), Flow::Wait),
            }
        }
        if (n as usize) < BOM.len() && n > 0 {
            // A BOM prefix that was not a BOM is preamble; the body no longer starts at a
            // delimiter, so none may open it without a line end.
            let mut sc = Scan::new(Region::Preamble, None);
            let ev = self.content(&mut sc, Chunk::Carried(Carried::new(&BOM[..n as usize])), 0);
            return self.go(State::Scan(sc), ev?.into());
        }
        let p = self.virtual_pending(false);
        self.go(
            State::Scan(Scan::new(Region::Preamble, Some(p))),
            Flow::Continue,
        )
    }

    /// The next delimiter may share the line end that was just consumed.
    fn virtual_pending(&self, head_blank: bool) -> Pending {
        Pending {
            to: 2,
            content_from: 2,
            offset: self.abs(self.pos),
            head_blank,
        }
    }

    /// Accounts for content bytes and wraps them in their event (none when empty).
    fn content(
        &mut self,
        sc: &mut Scan,
        mut chunk: Chunk<'i>,
        abs_start: u64,
    ) -> Result<Option<Event<'i>>, Error> {
        let len = chunk.len() as u64;
        match sc.region {
            Region::Preamble => {
                sc.preamble += len;
                let max = self.dec.cfg.limits.max_preamble_bytes;
                if sc.preamble > max {
                    let at = abs_start + len - (sc.preamble - max);
                    return Err(Error::new(ErrorKind::PreambleTooLarge, at));
                }
                Ok((len > 0).then_some(Event::Preamble(chunk)))
            }
            Region::Epilogue => Ok((len > 0).then_some(Event::Epilogue(chunk))),
            Region::Body => {
                let framed_only = self.dec.cfg.trust_framing && !self.strict();
                if let Some(limit) = self.dec.part.http_limit.filter(|_| !framed_only) {
                    let room = limit.saturating_sub(self.dec.part.http_body);
                    if len > room {
                        let keep = room as usize;
                        // Past an embedded Content-Length only line ends and padding may
                        // stand before the delimiter.
                        if let Some(bad) = chunk[keep..]
                            .iter()
                            .position(|b| !matches!(b, b'\r' | b'\n' | b' ' | b'\t'))
                        {
                            let at = abs_start + (keep + bad) as u64;
                            return Err(Error::new(ErrorKind::ContentLengthMismatch, at));
                        }
                        chunk.truncate(keep);
                    }
                }
                self.dec.part.http_body += chunk.len() as u64;
                Ok((!chunk.is_empty()).then_some(Event::Body(chunk)))
            }
        }
    }

    fn scan(&mut self, mut sc: Scan) -> Step<'i> {
        let level = self.dec.depth - 1;
        let dlen = DELIM_HEAD.len() + self.boundary(level).len();
        if let Some(p) = sc.pending.take() {
            let rest = &self.delimiter(level).as_bytes()[p.to as usize..];
            let same = rest
                .iter()
                .zip(&self.input[self.pos..])
                .take_while(|(d, b)| d == b)
                .count();
            let (i, q) = (p.to as usize + same, self.pos + same);
            self.dec.stats.bytes_examined += (q - self.pos) as u64 + 1;
            if i == dlen {
                if p.head_blank && self.strict() {
                    return Err(Error::new(ErrorKind::HeadWithoutBlankLine, p.offset));
                }
                self.pos = q;
                let next = self.delimiter_found(sc.region, p.offset)?;
                return self.go(next, Flow::Continue);
            }
            if q == self.input.len() && !self.eof {
                sc.pending = Some(Pending { to: i as u8, ..p });
                self.pos = q;
                return self.go(State::Scan(sc), Flow::Wait);
            }
            self.hint = q;
            if p.content_from < p.to {
                // Bytes held back from an earlier slice turned out to be content.
                let held = self.carried(level, p.content_from as usize, p.to as usize);
                let ev = self.content(&mut sc, Chunk::Carried(held), p.offset);
                return self.go(State::Scan(sc), ev?.into());
            }
        }
        let start = self.pos;
        if let Some(lf) = self.find(level, self.hint.max(start)) {
            // Every match is a delimiter; in strict mode its CR was part of the match.
            let ds = if lf > start && self.input[lf - 1] == b'\r' {
                lf - 1
            } else {
                lf
            };
            let s = &self.input[start..ds];
            let abs_start = self.abs(start);
            self.pos = lf + dlen - 1;
            let ev = self.content(&mut sc, Chunk::Input(s), abs_start)?;
            let next = self.delimiter_found(sc.region, self.abs(ds))?;
            return self.go(next, ev.into());
        }
        let end = self.input.len();
        let abs_start = self.abs(start);
        if self.eof {
            self.pos = end;
            let ev = self.content(&mut sc, Chunk::Input(&self.input[start..]), abs_start)?;
            return match ev {
                Some(ev) => self.go(State::Scan(sc), Flow::Emit(ev)),
                None => Err(self.err(ErrorKind::MissingCloseDelimiter, end)),
            };
        }
        let hold = self.hold_point(start, end, level, dlen);
        if let Some((at, from)) = hold {
            sc.pending = Some(Pending {
                to: from + (end - at) as u8,
                content_from: from,
                offset: self.abs(at),
                head_blank: false,
            });
        }
        let cut = hold.map_or(end, |(at, _)| at);
        self.pos = end;
        let ev = self.content(&mut sc, Chunk::Input(&self.input[start..cut]), abs_start)?;
        // Everything up to the end was searched: an empty remainder means wait for more.
        self.go(State::Scan(sc), ev.map_or(Flow::Wait, Flow::Emit))
    }

    /// `D[from..to]` of level `level`'s delimiter, as an owned chunk.
    fn carried(&self, level: usize, from: usize, to: usize) -> Carried {
        let d = &self.delimiter(level).as_bytes()[from..to];
        Carried::new(&d[..d.len().min(super::types::MAX_CARRIED)])
    }

    /// A delimiter of the current level ends at `self.pos`; `at` is where it started. Returns
    /// the state that reads what follows it.
    fn delimiter_found(&mut self, region: Region, at: u64) -> Result<State, Error> {
        Ok(match region {
            Region::Preamble => State::Tail(Tail {
                step: TailStep::AfterBoundary,
                pad: 0,
            }),
            Region::Body => State::EndPart(self.finish_part(at)?),
            Region::Epilogue => {
                // The part that held the nested multipart that just closed (a multipart
                // part: no embedded message's length was ever set in its framing).
                self.dec.part = self.dec.outer[self.dec.depth];
                State::EndPart(self.finish_part(at)?)
            }
        })
    }

    /// The end of the current part, whose framing ends at absolute offset `at`.
    fn finish_part(&mut self, at: u64) -> Result<PartEnd, Error> {
        let f = self.dec.part;
        let end = PartEnd {
            framed_len: at.saturating_sub(f.body_start),
            declared_len: f.declared,
            http_body_len: f.http_body,
            http_declared_len: f.http_limit,
        };
        if self.strict()
            && (end.content_length_mismatch().is_some()
                || end.http_content_length_mismatch().is_some())
        {
            return Err(Error::new(ErrorKind::ContentLengthMismatch, at));
        }
        Ok(end)
    }

    fn tail(&mut self, mut t: Tail) -> Step<'i> {
        use TailStep::*;
        let strict = self.strict();
        // The usual delimiter line ends right after the boundary: CRLF, and a part opens.
        if t.step == AfterBoundary && self.input.get(self.pos..self.pos + 2) == Some(b"\r\n") {
            self.pos += 2;
            return self.open_part(self.pos - 1);
        }
        loop {
            let Some(&b) = self.input.get(self.pos) else {
                if self.eof {
                    // A close delimiter may end the input, but in strict mode not halfway
                    // through its line end.
                    if t.step == ClosePad || t.step == CloseCr && !strict {
                        return self.close_done(false);
                    }
                    if t.step == CloseCr {
                        // Point at the lone CR, which may have come in an earlier slice.
                        let cr = self.abs(self.pos).saturating_sub(1);
                        return Err(Error::new(ErrorKind::InvalidDelimiterLine, cr));
                    }
                    return Err(self.err(ErrorKind::MissingCloseDelimiter, self.pos));
                }
                return self.go(State::Tail(t), Flow::Wait);
            };
            let at = self.pos;
            let bad = |s: &Self, k| Err(s.err(k, at));
            t.step = match (t.step, b) {
                (AfterBoundary, b'-') => Dash,
                (Dash, b'-') => ClosePad,
                (AfterBoundary | Pad, b' ' | b'\t') => {
                    self.count_pad(&mut t, at)?;
                    Pad
                }
                (AfterBoundary | Pad, b'\r') => Cr,
                (AfterBoundary | Pad, b'\n') if !strict => {
                    self.pos += 1;
                    return self.open_part(at);
                }
                (Cr, b'\n') => {
                    self.pos += 1;
                    return self.open_part(at);
                }
                (AfterBoundary | Pad, b'\n') => return bad(self, ErrorKind::BareLineFeed),
                (ClosePad, b' ' | b'\t') => {
                    self.count_pad(&mut t, at)?;
                    ClosePad
                }
                (ClosePad, b'\r') => CloseCr,
                (ClosePad, b'\n') if !strict => {
                    self.pos += 1;
                    return self.close_done(true);
                }
                (CloseCr, b'\n') => {
                    self.pos += 1;
                    return self.close_done(true);
                }
                (ClosePad, b'\n') => return bad(self, ErrorKind::BareLineFeed),
                // Lenient: whatever follows `--b--` on its line is epilogue (the OData
                // specification has an example ending in `--b---`).
                (ClosePad, _) if !strict => return self.close_done(false),
                _ => return bad(self, ErrorKind::InvalidDelimiterLine),
            };
            self.pos += 1;
        }
    }

    fn count_pad(&mut self, t: &mut Tail, at: usize) -> Result<(), Error> {
        t.pad += 1;
        if t.pad > self.dec.cfg.limits.max_header_bytes {
            return Err(self.err(ErrorKind::HeaderTooLarge, at));
        }
        Ok(())
    }

    /// A close delimiter was consumed, with its line end when `eol`.
    fn close_done(&mut self, eol: bool) -> Step<'i> {
        if self.dec.depth == 1 {
            return self.go(State::TopEpilogue, Flow::Continue);
        }
        self.dec.depth -= 1;
        // The close line's end may be the enclosing delimiter's leading CRLF.
        let pending = eol.then(|| self.virtual_pending(false));
        let next = State::Scan(Scan::new(Region::Epilogue, pending));
        self.go(next, Flow::Emit(Event::MultipartEnd))
    }

    fn top_epilogue(&mut self) -> Step<'i> {
        if self.pos < self.input.len() {
            let s = &self.input[self.pos..];
            self.pos = self.input.len();
            return self.go(
                State::TopEpilogue,
                Flow::Emit(Event::Epilogue(Chunk::Input(s))),
            );
        }
        if self.eof {
            return self.go(State::End, Flow::Continue);
        }
        self.go(State::TopEpilogue, Flow::Wait)
    }

    fn open_part(&mut self, at: usize) -> Step<'i> {
        self.dec.parts += 1;
        if self.dec.parts > self.dec.cfg.limits.max_parts {
            return Err(self.err(ErrorKind::TooManyParts, at));
        }
        self.dec.block = Block::default();
        // Straight on: the block is most often whole in the input.
        self.headers()
    }

    /// Is `line` (from its start) a delimiter line of the current level?
    fn delimiter_line(&self, line: &[u8], next: Option<&u8>) -> bool {
        let b = self.boundary(self.dec.depth - 1);
        line.len() >= 2 + b.len()
            && line.starts_with(b"--")
            && &line[2..2 + b.len()] == b
            && matches!(next, Some(b'-' | b' ' | b'\t' | b'\r' | b'\n') | None)
    }

    /// Scans a header block starting at `pos` (an embedded head when `start_line`), line by
    /// line from where the last attempt stopped.
    fn scan_block(&mut self, start_line: bool) -> Result<Option<BlockEnd>, Error> {
        let strict = self.strict();
        let blen = self.boundary(self.dec.depth - 1).len();
        let input = self.input;
        let bs = self.pos;
        // The feeding contract guarantees these are in bounds; clamping keeps a broken
        // contract from ever reading out of bounds.
        let mut ls = (bs + self.dec.block.scanned).min(input.len());
        let mut skip = self.dec.block.partial.min(input.len() - ls);
        // Is the line at `ls` met from its start (not the start line, not resumed)? Only the
        // first line can be neither.
        let mut fresh = skip == 0 && !(start_line && ls == bs);
        loop {
            // A field line met from its start is read in one pass: its name, then its value,
            // whose check is also the search for the line end. Any other line, or one the
            // pass cannot finish, is read the general way from where the pass stopped.
            if fresh {
                match self.field_lines(bs, ls)? {
                    Lines::End(end) => return Ok(Some(end)),
                    Lines::Other { at, stop } => (ls, skip) = (at, stop),
                }
            }
            fresh = true;
            // Resume the LF search where the last feed or the pass left this line: never
            // search a byte twice, however the line is chunked.
            let found = memchr::memchr(b'\n', &input[ls + skip..]).map(|i| i + skip);
            self.dec.stats.bytes_examined +=
                found.map_or(input.len() - ls - skip, |i| i + 1 - skip) as u64;
            skip = 0;
            let Some(i) = found else {
                return self.block_cut(bs, ls);
            };
            let le = ls + i;
            // Validation reads the complete line once more.
            self.dec.stats.bytes_examined += (i + 1) as u64;
            let has_cr = i > 0 && input[le - 1] == b'\r';
            self.check_line(bs, le, has_cr)?;
            let line = &input[ls..=le];
            let text = &line[..i - usize::from(has_cr)];
            if text.is_empty() {
                return Ok(Some(BlockEnd::Blank {
                    end: ls,
                    body: le + 1,
                }));
            }
            // A delimiter where a header line should be (lenient mode ends the block there).
            if !strict && text[0] == b'-' && self.delimiter_line(text, line.get(2 + blen)) {
                return Ok(Some(self.delimiter_ends_block(ls)));
            }
            if start_line && ls == bs {
                // The request or status line; judged by the head parser.
                self.dec.block.first_lf = i;
            } else if matches!(text[0], b' ' | b'\t') {
                if self.dec.block.fields == 0 || !valid_continuation_line(line) {
                    return Err(self.err(ErrorKind::InvalidHeader, ls));
                }
                self.dec.block.picks.fold();
            } else {
                // The whole line is here: read it as the one pass would have.
                let Ok(FieldLine { colon, .. }) = scan_field_line(line) else {
                    // gcp-storage-emulator writes an `application/http` part's status line
                    // right after its MIME headers, without the blank line. No field line
                    // starts `HTTP/` (a name holds no `/`): lenient mode ends the MIME block
                    // there, as Python's `email` does, and the embedded message starts.
                    if !strict && !start_line && text.starts_with(b"HTTP/") {
                        return Ok(Some(BlockEnd::Blank { end: ls, body: ls }));
                    }
                    return Err(self.err(ErrorKind::InvalidHeader, ls));
                };
                self.field(bs, ls, colon, le)?;
            }
            ls = le + 1;
        }
    }

    /// Reads the block's lines from `ls`, each met from its start, as long as they are whole
    /// field lines, and a blank line that ends the block; stops at any other line, at the
    /// byte where the one pass stopped.
    #[inline(always)]
    fn field_lines(&mut self, bs: usize, mut ls: usize) -> Result<Lines, Error> {
        let input = self.input;
        loop {
            match input.get(ls) {
                Some(b'\n') => return self.blank_line(bs, ls, false),
                Some(b'\r') if input.get(ls + 1) == Some(&b'\n') => {
                    return self.blank_line(bs, ls, true)
                }
                // A delimiter (lenient mode ends the block there), a lone CR, the end.
                Some(b'-') if !self.strict() => return Ok(Lines::Other { at: ls, stop: 0 }),
                Some(b'\r') | None => return Ok(Lines::Other { at: ls, stop: 0 }),
                Some(_) => {}
            }
            match scan_field_line(&input[ls..]) {
                Ok(line) => {
                    let le = ls + line.lf;
                    self.dec.stats.bytes_examined += (line.lf + 1) as u64;
                    self.check_line(bs, le, line.cr)?;
                    self.field(bs, ls, line.colon, le)?;
                    ls = le + 1;
                }
                Err(stop) => {
                    self.dec.stats.bytes_examined += stop as u64;
                    return Ok(Lines::Other { at: ls, stop });
                }
            }
        }
    }

    /// The blank line at `ls` (CRLF when `cr`) ends the block that starts at `bs`.
    fn blank_line(&mut self, bs: usize, ls: usize, cr: bool) -> Result<Lines, Error> {
        let le = ls + usize::from(cr);
        self.dec.stats.bytes_examined += (le + 1 - ls) as u64;
        self.check_line(bs, le, cr)?;
        Ok(Lines::End(BlockEnd::Blank {
            end: ls,
            body: le + 1,
        }))
    }

    /// The checks every line of a block meets, once its LF at `le` is found: the block's
    /// size, and in strict mode a CR before the LF.
    fn check_line(&self, bs: usize, le: usize, has_cr: bool) -> Result<(), Error> {
        self.within_header_limit(bs, le + 1)?;
        if self.strict() && !has_cr {
            return Err(self.err(ErrorKind::BareLineFeed, le));
        }
        Ok(())
    }

    /// The block from `bs` to `end` (exclusive) is within `max_header_bytes`; else the error
    /// names the first byte past the limit.
    fn within_header_limit(&self, bs: usize, end: usize) -> Result<(), Error> {
        let max = self.dec.cfg.limits.max_header_bytes;
        if end - bs > max {
            return Err(self.err(ErrorKind::HeaderTooLarge, bs + max));
        }
        Ok(())
    }

    /// A valid field line from `ls` to its LF at `le`, its colon at `ls + colon`: noted, and
    /// counted against the limit.
    #[inline(always)]
    fn field(&mut self, bs: usize, ls: usize, colon: usize, le: usize) -> Result<(), Error> {
        let name = &self.input[ls..ls + colon];
        let blk = &mut self.dec.block;
        blk.picks.note(name, ls - bs, ls - bs + colon, le + 1 - bs);
        blk.fields += 1;
        if blk.fields > self.dec.cfg.limits.max_headers {
            return Err(self.err(ErrorKind::TooManyHeaders, ls));
        }
        Ok(())
    }

    /// The input ends inside the line that starts at `ls`: wait for more, or at the end of
    /// the input, end the block at a close delimiter (lenient mode) or fail.
    fn block_cut(&mut self, bs: usize, ls: usize) -> Result<Option<BlockEnd>, Error> {
        let input = self.input;
        self.within_header_limit(bs, input.len())?;
        if self.eof {
            // A close delimiter may end the input without a line end.
            let rest = &input[ls..];
            let blen = self.boundary(self.dec.depth - 1).len();
            if !self.strict() && self.delimiter_line(rest, rest.get(2 + blen)) {
                return Ok(Some(self.delimiter_ends_block(ls)));
            }
            return Err(self.err(ErrorKind::IncompleteHeader, input.len()));
        }
        self.dec.block.scanned = ls - bs;
        self.dec.block.partial = input.len() - ls;
        Ok(None)
    }

    /// A delimiter line of the current level starts at `ls`, where a header line should be.
    fn delimiter_ends_block(&self, ls: usize) -> BlockEnd {
        let blen = self.boundary(self.dec.depth - 1).len();
        BlockEnd::Delim {
            end: ls,
            after: ls + 2 + blen,
        }
    }

    /// What the decoder acts on, from the lines [`Picks`] noted in `block` (which starts at
    /// `self.pos`); the `Content-Type` only for a MIME part's headers. Only a block with two
    /// `Content-Length` lines is walked again, to compare them. Every index is counted from
    /// what was parsed: where a line was noted, and where its value starts on it.
    #[inline(always)]
    fn fields(&self, block: &'i [u8], part: bool) -> Result<Fields<'i>, Error> {
        let picks = &self.dec.block.picks;
        let bs = self.pos;
        // A value on one line is taken where it was noted; a folded one is read with its
        // folds. With the index in the input where it starts.
        let value = |p: Option<Pick>| -> Option<(Value<'i>, usize)> {
            let p = p?;
            if p.folded {
                let (h, at) = HeaderBlock::new(block.get(p.line..)?).iter().next_at()?;
                return Some((h.value(), bs + p.line + at));
            }
            let raw = block.get(p.value.0..p.value.1)?;
            let r = crate::headers::trim_range(raw);
            Some((Value::new(&raw[r.clone()]), bs + p.value.0 + r.start))
        };
        let mut f = Fields::default();
        if part {
            if let Some((v, at)) = value(picks.content_type) {
                let raw = v.as_bytes();
                f.content_type_raw = Some((raw, at));
                f.frame = self.frame(raw, at)?;
            }
        }
        f.content_id = value(picks.content_id).map(|(v, _)| ContentId::new(v));
        let Some(first) = picks.content_length.map(|p| p.line) else {
            return Ok(f);
        };
        // One line: read where it was noted.
        if let (1, Some((v, at))) = (picks.lengths, value(picks.content_length)) {
            let len = parse_content_length(v.as_bytes())
                .ok_or_else(|| self.err(ErrorKind::InvalidContentLength, at))?;
            f.content_length = Some(len);
            return Ok(f);
        }
        // From the first Content-Length on: that one line, or every one when there are more.
        let mut lines = HeaderBlock::new(block.get(first..).unwrap_or_default()).iter();
        let lengths = core::iter::from_fn(|| lines.next_at())
            .filter(|(h, _)| eq_ignore_case(h.name(), b"content-length"))
            .take(picks.lengths);
        for (h, at) in lengths {
            let v = h.value();
            let at = bs + first.min(block.len()) + at;
            let len = parse_content_length(v.as_bytes())
                .ok_or_else(|| self.err(ErrorKind::InvalidContentLength, at))?;
            // RFC 9112 §6.3: differing values are an error; a repeat of the same value
            // may be read as one, which only the lenient mode does.
            match f.content_length {
                None => f.content_length = Some(len),
                Some(prev) if prev != len => {
                    return Err(self.err(ErrorKind::ConflictingContentLength, at))
                }
                Some(_) if self.strict() => {
                    return Err(self.err(ErrorKind::DuplicateContentLength, at))
                }
                Some(_) => {}
            }
        }
        Ok(f)
    }

    /// What a part's `Content-Type` value `raw`, at `at`, makes of its body. Only the types
    /// that may frame are parsed; any other is parsed by whoever asks for it (strict mode
    /// checks them all). The type of nearly every batch operation's part is told by one
    /// compare: it has no parameter to read, and is valid in either mode.
    #[inline(always)]
    fn frame(&self, raw: &'i [u8], at: usize) -> Result<Frame<'i>, Error> {
        let cfg = self.dec.cfg;
        if eq_ignore_case(raw, b"application/http") {
            return Ok(match cfg.interpret_http {
                true => Frame::Http(HeadKind::Sniff),
                false => Frame::Plain,
            });
        }
        if !(cfg.strict || may_frame(raw)) {
            return Ok(Frame::Plain);
        }
        let ct = ContentType::parse_in(raw, cfg.strict)
            .map_err(|_| self.err(ErrorKind::InvalidContentType, at))?;
        if cfg.nested && ct.is_multipart() {
            return match ct.boundary() {
                Some(b) => Ok(Frame::Nested(b, at)),
                // Lenient: a multipart part without a boundary is read as plain bytes.
                None if cfg.strict => Err(self.err(ErrorKind::MissingBoundary, at)),
                None => Ok(Frame::Plain),
            };
        }
        if cfg.interpret_http && ct.is_http() {
            return Ok(Frame::Http(match ct.param("msgtype") {
                Some(m) if eq_ignore_case(m, b"request") => HeadKind::Request,
                Some(m) if eq_ignore_case(m, b"response") => HeadKind::Response,
                _ => HeadKind::Sniff,
            }));
        }
        Ok(Frame::Plain)
    }

    fn headers(&mut self) -> Step<'i> {
        let Some(end) = self.scan_block(false)? else {
            return self.go(State::Headers, Flow::Wait);
        };
        let bs = self.pos;
        let block_end = match end {
            BlockEnd::Blank { end, .. } | BlockEnd::Delim { end, .. } => end,
        };
        let headers = HeaderBlock::new(&self.input[bs..block_end]);
        let f = self.fields(headers.as_bytes(), true)?;
        let part = Part {
            headers,
            content_type: f.content_type_raw.map(|(raw, at)| (raw, self.abs(at))),
            content_id: f.content_id,
            content_length: f.content_length,
            index: self.dec.parts - 1,
            depth: self.dec.depth,
        };
        self.dec.part = Framing {
            declared: f.content_length,
            ..Framing::default()
        };
        let next = match end {
            BlockEnd::Delim { after, end } => {
                match f.frame {
                    Frame::Nested(..) => {
                        return Err(self.err(ErrorKind::MissingCloseDelimiter, end))
                    }
                    Frame::Http(_) => return Err(self.err(ErrorKind::InvalidRequestLine, end)),
                    Frame::Plain => {}
                }
                self.dec.part.body_start = self.abs(end);
                let pe = self.finish_part(self.abs(end))?;
                self.pos = after;
                State::EndPart(pe)
            }
            BlockEnd::Blank { body, .. } => {
                self.pos = body;
                self.dec.part.body_start = self.abs(body);
                match f.frame {
                    Frame::Nested(nb, at) => {
                        self.open_nested(nb, at)?;
                        State::OpenNested(self.virtual_pending(false))
                    }
                    Frame::Http(kind) => {
                        self.dec.block = Block::default();
                        State::HttpHead(kind)
                    }
                    Frame::Plain => {
                        State::Scan(Scan::new(Region::Body, Some(self.virtual_pending(false))))
                    }
                }
            }
        };
        self.go(next, Flow::Emit(Event::PartStart(part)))
    }

    fn open_nested(&mut self, nb: &'i [u8], at: usize) -> Result<(), Error> {
        validate_boundary(nb).map_err(|e| self.err(e.kind(), at))?;
        for level in 0..self.dec.depth {
            if self.boundary(level).starts_with(nb) {
                return Err(self.err(ErrorKind::NestedBoundaryConflict, at));
            }
        }
        if self.dec.depth >= self.dec.cfg.limits.max_depth {
            return Err(self.err(ErrorKind::NestingTooDeep, at));
        }
        let level = self.dec.depth;
        self.dec.outer[level] = self.dec.part;
        self.dec.levels[level] = Delimiter::new(nb);
        self.dec.depth += 1;
        Ok(())
    }

    fn http_head(&mut self, kind: HeadKind) -> Step<'i> {
        let strict = self.strict();
        let Some(end) = self.scan_block(true)? else {
            return self.go(State::HttpHead(kind), Flow::Wait);
        };
        let bs = self.pos;
        let (block_end, after) = match end {
            BlockEnd::Blank { end, body } => (end, body),
            BlockEnd::Delim { end, after } => (end, after),
        };
        let block = &self.input[bs..block_end];
        let lf = self.dec.block.first_lf;
        if lf >= block.len() {
            // No start line: the head was empty, or was a delimiter line (lenient mode).
            return Err(self.err(ErrorKind::InvalidRequestLine, bs));
        }
        let start_line = &block[..=lf];
        let headers = HeaderBlock::new(&block[lf + 1..]);
        let f = self.fields(block, false)?;
        let info = HeadInfo {
            content_length: f.content_length,
            content_id: f.content_id,
        };
        let is_request = match kind {
            HeadKind::Request => true,
            HeadKind::Response => false,
            HeadKind::Sniff => !looks_like_status_line(start_line),
        };
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
        self.dec.part.http_limit = info.content_length;
        self.dec.part.http_body = 0;
        self.pos = after;
        let next = match end {
            BlockEnd::Blank { .. } => {
                State::Scan(Scan::new(Region::Body, Some(self.virtual_pending(true))))
            }
            BlockEnd::Delim { end, .. } => {
                // Lenient only: the head ran straight into the delimiter line.
                State::EndPart(self.finish_part(self.abs(end))?)
            }
        };
        self.go(next, Flow::Emit(ev))
    }
}

impl<'i> Iterator for Feed<'_, 'i> {
    type Item = Result<Event<'i>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if let State::Failed(e) = self.dec.state {
            if self.reported {
                return None;
            }
            self.reported = true;
            return Some(Err(e));
        }
        let out = loop {
            match self.step() {
                Ok(Flow::Emit(ev)) => break Some(Ok(ev)),
                Ok(Flow::Continue) => {}
                Ok(Flow::Wait | Flow::Done) => break None,
                Err(e) => {
                    self.dec.state = State::Failed(e);
                    self.reported = true;
                    break Some(Err(e));
                }
            }
        };
        // Kept in the decoder after every event, so that the next feed knows what was
        // consumed however this one is dropped (or leaked).
        self.dec.consumed = self.pos;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::may_frame;

    #[test]
    fn may_frame_knows_the_framing_prefixes_in_any_case() {
        for v in [
            "multipart/mixed; boundary=b",
            " \tMultipart/Related",
            "MESSAGE/HTTP",
            "message/http; msgtype=request",
            "application/http",
            "\r\n Application/HTTP; msgtype=response",
            "application/https",
        ] {
            assert!(may_frame(v.as_bytes()), "{v}");
        }
        for v in [
            "",
            " ",
            "text/plain",
            "application/json",
            "application/octet-stream",
            "applicationXhttp",
            "application/",
            "message/rfc822",
            "multipart",
            "image/png",
        ] {
            assert!(!may_frame(v.as_bytes()), "{v}");
        }
    }
}
