//! Finding the current level's delimiter in a fed slice.
//!
//! The search is for `LF -- boundary` (lenient mode, where the CR is optional) or the whole
//! `CR LF -- boundary` (strict mode). Either needle holds its only LF near its start (a
//! boundary holds none), so two matches can never overlap, and every match is a delimiter:
//! no candidate is ever found and then rejected. That keeps the work linear with a small
//! constant whatever the boundary and the body: a run of one byte over a body of that byte, a
//! periodic boundary such as `abab…`, or a body of bare-LF delimiters in strict mode, cost
//! what a random body costs.

use memchr::arch::all::packedpair::Pair;

use super::machine::Feed;
use crate::boundary::DELIM_HEAD;

/// Line ends that are not delimiters after which the key scan hands over to the vector
/// searcher: where line ends are rare one `memchr` pass finds the delimiter; where they are
/// dense, the packed-pair searcher's second byte filters most of them out without a compare.
const CANDIDATES: usize = 4;

/// The outcome of the key scan.
enum KeyScan {
    /// A delimiter, at the index of its LF.
    Found(usize),
    None,
    /// Too many candidates that were not delimiters, the last at this index.
    Dense(usize),
}

/// What the packed-pair searcher said.
enum Packed {
    /// This target has no such searcher, or the haystack is too short for it.
    Unavailable,
    /// It searched: the needle's first occurrence, if any.
    #[cfg_attr(
        not(any(
            target_arch = "x86_64",
            target_arch = "aarch64",
            all(target_arch = "wasm32", target_feature = "simd128")
        )),
        allow(dead_code)
    )]
    Searched(Option<usize>),
}

/// Runs memchr's packed-pair searcher of type `$finder` if this CPU has it: `return`s the
/// search's answer, or [`Packed::Unavailable`] when `$hay` is shorter than the searcher can
/// take.
#[cfg(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    all(target_arch = "wasm32", target_feature = "simd128")
))]
macro_rules! packed_pair {
    ($finder:ty, $needle:expr, $pair:expr, $hay:expr) => {
        if let Some(f) = <$finder>::with_pair($needle, $pair) {
            return match $hay.len() >= f.min_haystack_len() {
                true => Packed::Searched(f.find($hay, $needle)),
                false => Packed::Unavailable,
            };
        }
    };
}

/// The first occurrence of `needle` in `hay` by memchr's packed-pair vector searcher, checking
/// the needle's first and last bytes together: [`Packed::Unavailable`] when this target has no
/// such searcher or `hay` is too short for it.
///
/// The searcher stores no needle and takes a few vector broadcasts to build, so it is built
/// per search and the decoder holds nothing (a `memmem::Finder` would cost about 240 ns to
/// build for a long needle and, to be kept across feeds, an allocation or a borrow of the
/// decoder). A candidate is compared from the needle's first byte on; since that byte (the
/// CR or LF) occurs nowhere else in the needle, the compares started at different candidates
/// never overlap, and the search stays linear whatever the needle's length.
fn packed_find(needle: &[u8], hay: &[u8]) -> Packed {
    let Some(last) = u8::try_from(needle.len() - 1).ok() else {
        return Packed::Unavailable;
    };
    let Some(pair) = Pair::with_indices(needle, 0, last) else {
        return Packed::Unavailable;
    };
    #[cfg(target_arch = "x86_64")]
    {
        packed_pair!(
            memchr::arch::x86_64::avx2::packedpair::Finder,
            needle,
            pair,
            hay
        );
        packed_pair!(
            memchr::arch::x86_64::sse2::packedpair::Finder,
            needle,
            pair,
            hay
        );
    }
    #[cfg(target_arch = "aarch64")]
    packed_pair!(
        memchr::arch::aarch64::neon::packedpair::Finder,
        needle,
        pair,
        hay
    );
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    packed_pair!(
        memchr::arch::wasm32::simd128::packedpair::Finder,
        needle,
        pair,
        hay
    );
    let _ = (pair, hay);
    Packed::Unavailable
}

impl Feed<'_, '_> {
    /// The boundary of `level`.
    pub(super) fn boundary(&self, level: usize) -> &[u8] {
        self.delimiter(level).boundary()
    }

    /// The index of the LF of the next delimiter of `level` whose line end starts at or after
    /// `from`: `LF -- boundary` in lenient mode, `CR LF -- boundary` in strict mode. The
    /// needle's first byte is scanned for with `memchr` and the rest compared in place; after
    /// [`CANDIDATES`] misses the packed-pair vector searcher takes over for the rest of the
    /// slice (the key scan goes on where the target has none). Both find the same first
    /// delimiter.
    pub(super) fn find(&mut self, level: usize, from: usize) -> Option<usize> {
        // The needle starts at the CR in strict mode, at the LF otherwise.
        let cr = usize::from(self.strict());
        let nlen = DELIM_HEAD.len() - 1 + cr + self.boundary(level).len();
        let from = from.min(self.input.len());
        if self.input.len() - from < nlen {
            // Too short to hold a delimiter: the hold-back check reads these bytes instead.
            self.stats_mut().bytes_examined += (self.input.len() - from) as u64;
            return None;
        }
        let from = match self.scan_for_key(level, from, true) {
            KeyScan::Found(lf) => return Some(lf),
            KeyScan::None => return None,
            // Line ends everywhere (near-miss delimiters, LF-heavy bodies). No delimiter
            // starts at or before `k`.
            KeyScan::Dense(k) => k + 1,
        };
        let input = self.input;
        let needle = &self.delimiter(level).as_bytes()[1 - cr..];
        match packed_find(needle, &input[from..]) {
            Packed::Searched(hit) => {
                let hit = hit.map(|i| from + i);
                let end = hit.map_or(input.len(), |h| h + nlen);
                let stats = self.stats_mut();
                stats.packed_searches += 1;
                stats.bytes_examined += (end - from) as u64;
                hit.map(|h| h + cr)
            }
            Packed::Unavailable => match self.scan_for_key(level, from, false) {
                KeyScan::Found(lf) => Some(lf),
                _ => None,
            },
        }
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
            // The last byte first, as the vector searcher does: a near miss usually differs
            // there, and then one byte is read instead of a prefix. When it matches, the rest
            // is compared (counted whole: at most that many bytes are read).
            let last = input[k + nlen - 1] == b[b.len() - 1];
            examined += if last { nlen - 1 } else { 1 } as u64;
            let hit = last
                && input[k + 1..k + lead.len()] == lead[1..]
                && input[k + lead.len()..k + nlen - 1] == b[..b.len() - 1];
            if hit {
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
        if self.delimiter(level).as_bytes().get(1..1 + tail.len()) != Some(tail) {
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
