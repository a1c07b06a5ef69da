//! Word-at-a-time byte scanning, shared by the JSON string scan (`json::string_stop`, behind the
//! reader and the JSON escaper) and the XML escaper (`soap::envelope`).
//!
//! A scan passes over bytes eight at a time with a `flags` function that sets the high bit of each
//! byte it marks. The tricks the callers build on: a byte of `x ^ splat(c)` is zero where `x` has
//! `c`, and [`zero_bytes`] flags zero bytes; [`control_bytes`] flags bytes below 0x20.
//! Both never miss a byte and are exact at the lowest flag of a word; above a true flag a borrow
//! can raise a false one.

/// `0x01` in every byte.
pub(crate) const ONES: u64 = 0x0101_0101_0101_0101;
/// `0x80` in every byte.
pub(crate) const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of every zero byte of `v` (exact at the lowest one; see the module docs).
#[inline]
pub(crate) fn zero_bytes(v: u64) -> u64 {
    v.wrapping_sub(ONES) & !v & HIGH
}

/// The high bit of every byte of `x` below 0x20, a control character (exact at the lowest one).
#[inline]
pub(crate) fn control_bytes(x: u64) -> u64 {
    x.wrapping_sub(ONES * 0x20) & !x & HIGH
}

/// The first byte at or after `at` that `matches`, or the end. Eight bytes at a time with `flags`,
/// which must mark exactly the bytes `matches` accepts (the lowest flag of a full word is taken as
/// it is); the text's last few bytes are one word, its last eight, with the flags of bytes before
/// `at` masked off, and there a flag may be false (a borrow from a masked byte), so from it, as
/// for a text shorter than eight bytes, bytes are checked with `matches`.
#[inline]
pub(crate) fn first_match(bytes: &[u8], mut at: usize, flags: impl Fn(u64) -> u64, matches: impl Fn(u8) -> bool) -> usize {
    let word = |chunk: &[u8]| {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        flags(u64::from_le_bytes(word))
    };
    while let Some(chunk) = bytes.get(at..at + 8) {
        let hit = word(chunk);
        if hit != 0 {
            // The lowest flag of a word is exact.
            return at + (hit.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    if at < bytes.len() && bytes.len() >= 8 {
        let from = bytes.len() - 8;
        let hit = word(&bytes[from..]) & (u64::MAX << (8 * (at - from)));
        if hit == 0 {
            return bytes.len();
        }
        // Possibly false (a borrow from a masked flag): checked byte-wise from here.
        at = from + (hit.trailing_zeros() / 8) as usize;
    }
    while let Some(&b) = bytes.get(at) {
        if matches(b) {
            return at;
        }
        at += 1;
    }
    at
}
