//! Finding the current level's delimiter in a fed slice.
//!
//! The search is for `LF -- boundary` (lenient mode, where the CR is optional) or the whole
//! `CR LF -- boundary` (strict mode). Either needle holds its only LF near its start (a
//! boundary holds none), so two matches can never overlap, and every match is a delimiter:
//! no candidate is ever found and then rejected. That keeps the work linear with a small
//! constant whatever the boundary and the body: a run of one byte over a body of that byte, a
//! periodic boundary such as `abab…`, or a body of bare-LF delimiters in strict mode, cost
//! what a random body costs.

use memchr::memmem::Finder;

use super::machine::Feed;
use crate::boundary::DELIM_HEAD;

/// Line ends that are not delimiters after which the key scan hands over to the
/// `memmem::Finder`: where line ends are rare the scan costs one `memchr` pass and no setup
/// (the Finder's is about 240 ns for a long boundary); where they are dense, the Finder's
/// prefilter pays for itself.
const CANDIDATES: usize = 16;

/// The outcome of the key scan.
enum KeyScan {
    /// A delimiter, at the index of its LF.
    Found(usize),
    None,
    /// Too many candidates that were not delimiters, the last at this index.
    Dense(usize),
}

/// How many leading bytes `a` and `b` share.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl Feed<'_, '_> {
    /// The boundary of `level`: stored in the decoder, or, for a level opened during this
    /// feed, read from this feed's input.
    pub(super) fn boundary(&self, level: usize) -> &[u8] {
        match self.opened[level] {
            Some((s, e)) => &self.input[s..e],
            None => self.levels[level].boundary(),
        }
    }

    /// Byte `i` of level `level`'s delimiter `CRLF -- boundary`.
    pub(super) fn delim_byte(&self, level: usize, i: usize) -> u8 {
        if i < DELIM_HEAD.len() {
            DELIM_HEAD[i]
        } else {
            self.boundary(level)[i - DELIM_HEAD.len()]
        }
    }

    /// The index of the LF of the next delimiter of `level` whose line end starts at or after
    /// `from`: `LF -- boundary` in lenient mode, `CR LF -- boundary` in strict mode. The
    /// needle's first byte is scanned for with `memchr` and the rest compared in place, which
    /// costs nothing to set up; after [`CANDIDATES`] misses a `memmem::Finder` over the stored
    /// delimiter takes over, built at most once per level per fed slice (a level opened in this
    /// feed is always scanned). Both find the same first delimiter.
    pub(super) fn find(&mut self, level: usize, from: usize) -> Option<usize> {
        // The needle starts at the CR in strict mode, at the LF otherwise.
        let cr = usize::from(self.strict());
        let nlen = DELIM_HEAD.len() - 1 + cr + self.boundary(level).len();
        let mut from = from.min(self.input.len());
        if self.input.len() - from < nlen {
            // Too short to hold a delimiter: the hold-back check reads these bytes instead.
            self.stats_mut().bytes_examined += (self.input.len() - from) as u64;
            return None;
        }
        let cached = matches!(&self.finder, Some((l, _)) if *l == level);
        let stored = self.opened[level].is_none();
        if !cached {
            match self.scan_for_key(level, from, stored) {
                KeyScan::Found(lf) => return Some(lf),
                KeyScan::None => return None,
                // Line ends everywhere (near-miss delimiters, LF-heavy bodies): the Finder's
                // setup now pays for itself. No delimiter starts at or before `k`.
                KeyScan::Dense(k) => {
                    from = k + 1;
                    if self.input.len() - from < nlen {
                        self.stats_mut().bytes_examined += (self.input.len() - from) as u64;
                        return None;
                    }
                }
            }
        }
        if !cached {
            self.stats_mut().finders_built += 1;
            let levels = self.levels;
            self.finder = Some((level, Finder::new(&levels[level].as_bytes()[1 - cr..])));
        }
        let (_, f) = self.finder.as_ref()?;
        let hit = f.find(&self.input[from..]).map(|i| from + i);
        let end = hit.map_or(self.input.len(), |h| h + nlen);
        self.stats_mut().bytes_examined += (end - from) as u64;
        hit.map(|h| h + cr)
    }

    /// Scans for the needle's first byte (CR in strict mode, LF otherwise) with `memchr` and
    /// compares the rest in place; gives up after [`CANDIDATES`] misses when `may_give_up`.
    fn scan_for_key(&mut self, level: usize, from: usize, may_give_up: bool) -> KeyScan {
        let input = self.input;
        let b = self.boundary(level);
        let (key, lead): (u8, &[u8]) = if self.strict() {
            (b'\r', b"\r\n--")
        } else {
            (b'\n', b"\n--")
        };
        let nlen = lead.len() + b.len();
        let mut p = from;
        let mut misses = 0;
        let mut examined = 0u64;
        let out = loop {
            let Some(i) = memchr::memchr(key, &input[p..]) else {
                examined += (input.len() - p) as u64;
                break KeyScan::None;
            };
            let k = p + i;
            examined += (i + 1) as u64;
            if k + nlen > input.len() {
                examined += (input.len() - k - 1) as u64;
                break KeyScan::None;
            }
            let mut same = common_prefix(&input[k..k + lead.len()], lead);
            if same == lead.len() {
                same += common_prefix(&input[k + lead.len()..k + nlen], b);
            }
            // The bytes that matched after the key, and the one that did not.
            examined += same.min(nlen - 1) as u64;
            if same == nlen {
                break KeyScan::Found(k + lead.len() - 3);
            }
            misses += 1;
            if may_give_up && misses == CANDIDATES {
                break KeyScan::Dense(k);
            }
            p = k + 1;
        };
        self.stats_mut().bytes_examined += examined;
        out
    }

    /// Where the longest suffix of `input[start..end]` that could begin a delimiter starts,
    /// and at which index of `CRLF -- boundary` it begins (0 with its CR, 1 without).
    /// A delimiter holds one CR and one LF, both at its head, so only the last CR or LF of the
    /// final `dlen - 1` bytes can start one: at most one delimiter's length is held back.
    pub(super) fn hold_point(
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
        } else if self.strict() {
            None
        } else {
            Some((r, 1))
        }
    }
}
