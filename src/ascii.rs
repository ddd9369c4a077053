//! Byte-string compares and scans the core makes per header line, eight bytes at a time.

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);

/// Per byte of `low` (each under 0x80, so that no sum carries into the next byte), the high
/// bit set when the byte is within `lo..=hi`: that of `low + (0x80 - lo)` says `>= lo`, that
/// of `low + (0x7f - hi)` says `> hi`. Exact for every byte.
#[inline]
fn within(low: u64, lo: u8, hi: u8) -> u64 {
    (low + ONES * u64::from(0x80 - lo)) & !(low + ONES * u64::from(0x7f - hi)) & HIGH
}

/// The word with each ASCII upper-case letter made lower case, every other byte as it was.
#[inline]
fn lower(w: u64) -> u64 {
    // A byte whose own high bit is set is no letter.
    let upper = within(w & !HIGH, b'A', b'Z') & !w;
    w | (upper >> 2)
}

/// Eight bytes from `at` (the caller keeps `at + 8` within `s`).
#[inline]
fn word(s: &[u8], at: usize) -> u64 {
    load(&s[at..at + 8])
}

/// The eight bytes of `b` (which holds eight) as a little-endian word.
#[inline]
fn load(b: &[u8]) -> u64 {
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// The length of the run of ASCII letters, digits and `-` that starts `s`: eight bytes at a
/// time, each byte's class exact, then byte by byte for the last few.
#[inline]
pub(crate) fn name_run(s: &[u8]) -> usize {
    let mut i = 0;
    while let Some(w) = s.get(i..i + 8).map(load) {
        let low = w & !HIGH;
        // Setting bit 5 maps `A`-`Z` onto `a`-`z` and no other byte into that range.
        let letter = within(low | (ONES * 0x20), b'a', b'z');
        let good = (letter | within(low, b'0', b'9') | within(low, b'-', b'-')) & !w;
        let bad = !good & HIGH;
        if bad != 0 {
            return i + (bad.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + s[i..]
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || b == b'-'))
        .unwrap_or(s.len() - i)
}

/// The index of the first byte from `i` on that a field value may not hold (a control
/// character other than HTAB, or DEL), or `s.len()`: eight bytes at a time.
#[inline]
pub(crate) fn value_stop(s: &[u8], mut i: usize) -> usize {
    while let Some(w) = s.get(i..i + 8).map(load) {
        // A byte under 0x20 sets its high bit in `lt`, and DEL its high bit in `del` (the
        // classic has-zero test, of `w - 0x20` and of `w ^ 0x7f`). Only a flagged byte
        // borrows, so a false flag lies above a true one: the lowest flag is exact.
        let lt = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
        let x = w ^ (ONES * 0x7f);
        let del = x.wrapping_sub(ONES) & !x & HIGH;
        let m = lt | del;
        if m == 0 {
            i += 8;
            continue;
        }
        let j = i + (m.trailing_zeros() / 8) as usize;
        if s[j] != b'\t' {
            return j;
        }
        i = j + 1;
    }
    // `i` is at most `s.len()`: it moved by whole words, or to just past a byte.
    i + s[i..]
        .iter()
        .position(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
        .unwrap_or(s.len() - i)
}

/// `a.eq_ignore_ascii_case(b)`, eight bytes at a time.
pub(crate) fn eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if a.len() < 8 {
        return a.eq_ignore_ascii_case(b);
    }
    let last = a.len() - 8;
    let mut at = 0;
    loop {
        // The last word may overlap the one before it.
        let w = at.min(last);
        if lower(word(a, w)) != lower(word(b, w)) {
            return false;
        }
        if w == last {
            return true;
        }
        at += 8;
    }
}

/// Does `s` start with `prefix`, ignoring ASCII case?
#[inline]
pub(crate) fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.get(..prefix.len())
        .is_some_and(|head| eq_ignore_case(head, prefix))
}

/// Byte strings of fewer than `max` bytes, each byte drawn from `alphabet` `weight` times in
/// `weight + 1`, else any byte: the near misses a word-wise scan must tell apart.
#[cfg(test)]
pub(crate) fn near_bytes(
    alphabet: &'static [u8],
    weight: u32,
    max: usize,
) -> impl proptest::strategy::Strategy<Value = std::vec::Vec<u8>> {
    use proptest::prelude::*;
    prop::collection::vec(
        prop_oneof![weight => prop::sample::select(alphabet), 1 => any::<u8>()],
        0..max,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What [`name_run`] must find, byte by byte.
    fn naive_name_run(s: &[u8]) -> usize {
        s.iter()
            .position(|&b| !(b.is_ascii_alphanumeric() || b == b'-'))
            .unwrap_or(s.len())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]
        /// The word-at-a-time run agrees with the byte-by-byte one on any bytes, names long
        /// enough for several words and the neighbours of each range's ends among them.
        #[test]
        fn name_run_agrees_with_bytes(
            s in near_bytes(b"-09AZaz@[`{/:,.\r\x80\xc1\xda\xe1\xfa\xad\xb0", 8, 40),
        ) {
            prop_assert_eq!(name_run(&s), naive_name_run(&s), "{:?}", crate::headers::ByteStr(&s));
        }
    }

    #[test]
    fn name_run_classes_every_byte_in_every_place() {
        for at in 0..20 {
            for b in 0..=255u8 {
                let mut s = *b"Content-Transfer-Enc";
                s[at] = b;
                assert_eq!(name_run(&s), naive_name_run(&s), "{b:#04x} at {at}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]
        /// Agrees with the standard library on any bytes, and on near misses of any one
        /// byte of a copy (every case flip of a letter equal, every other change not).
        #[test]
        fn agrees_with_the_standard_library(
            a in near_bytes(b"aZ@[`{-_\x80\xc1\xfa\x00\x7f", 3, 20),
            b in prop::collection::vec(any::<u8>(), 0..20),
            at in any::<prop::sample::Index>(),
            to in any::<u8>(),
        ) {
            prop_assert_eq!(eq_ignore_case(&a, &b), a.eq_ignore_ascii_case(&b));
            let mut c = a.clone();
            if !c.is_empty() {
                c[at.index(a.len())] = to;
            }
            prop_assert_eq!(eq_ignore_case(&a, &c), a.eq_ignore_ascii_case(&c));
            prop_assert_eq!(eq_ignore_case(&a, &a.to_ascii_uppercase()), true);
            prop_assert_eq!(
                starts_with_ignore_case(&a, &b),
                a.len() >= b.len() && a[..b.len()].eq_ignore_ascii_case(&b)
            );
        }
    }

    #[test]
    fn every_byte_pair() {
        for x in 0..=255u8 {
            for y in 0..=255u8 {
                let (a, b) = ([x; 9], [y; 9]);
                assert_eq!(
                    eq_ignore_case(&a, &b),
                    x.eq_ignore_ascii_case(&y),
                    "{x} {y}"
                );
            }
        }
    }
}
