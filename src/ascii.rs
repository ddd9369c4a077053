//! Byte-string compares the core makes per header line, eight bytes at a time.

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);

/// The word with each ASCII upper-case letter made lower case, every other byte as it was.
fn lower(w: u64) -> u64 {
    // Per byte, on its low seven bits (so that no sum carries into the next byte): the high
    // bit of `low + (0x80 - b'A')` says `low >= b'A'`, that of `low + (0x7f - b'Z')` says
    // `low > b'Z'`; a byte whose own high bit is set is no letter.
    let low = w & !HIGH;
    let ge_a = low + ONES * u64::from(0x80 - b'A');
    let gt_z = low + ONES * u64::from(0x7f - b'Z');
    let upper = ge_a & !gt_z & !w & HIGH;
    w | (upper >> 2)
}

/// Eight bytes from `at` (the caller keeps `at + 8` within `s`).
fn word(s: &[u8], at: usize) -> u64 {
    let mut w = [0; 8];
    w.copy_from_slice(&s[at..at + 8]);
    u64::from_le_bytes(w)
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]
        /// Agrees with the standard library on any bytes, and on near misses of any one
        /// byte of a copy (every case flip of a letter equal, every other change not).
        #[test]
        fn agrees_with_the_standard_library(
            a in prop::collection::vec(prop_oneof![
                3 => prop::sample::select(b"aZ@[`{-_\x80\xc1\xfa\x00\x7f".to_vec()),
                1 => any::<u8>(),
            ], 0..20),
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
