//! Writing the `syncLead` SOAP envelope.
//!
//! Layout follows `../shared/marketo-wsdl/syncLead-envelope-profile.xsd`: only the top-level
//! `ns1:AuthenticationHeader` and `ns1:paramsSyncLead` are in the `http://www.marketo.com/mktows/`
//! namespace; their children are unprefixed, in the schema's order (`leadRecord{Email,
//! leadAttributeList}`, `returnLead`, `marketoCookie`). Text is XML-escaped; characters XML 1.0
//! cannot carry are removed and counted so the caller can warn. Carriage returns are written as
//! `&#13;` so they survive XML line-end normalisation.

use super::lead::LeadRecord;
use super::signature::Signer;
use crate::cookie::Cookie;
use crate::time::Timestamp;

const HEAD: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?>"#,
    r#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ns1="http://www.marketo.com/mktows/">"#,
    "<SOAP-ENV:Header><ns1:AuthenticationHeader><mktowsUserId>"
);

/// Writes the whole `syncLead` envelope for `lead`, signed for `now`, into `out` (appends).
/// Returns how many characters XML cannot carry were removed (0 in the common case).
pub fn write_sync_lead(signer: &Signer, now: Timestamp, lead: &LeadRecord<'_>, return_lead: bool, out: &mut String) -> usize {
    out.reserve(512 + lead.attributes.iter().map(|a| a.name.len() + a.value.len() + 48).sum::<usize>());
    let mut removed = write_head(signer, now, &lead.email, out);
    let mut listed = false;
    for attr in &lead.attributes {
        removed += write_attribute(
            out,
            &mut listed,
            |out| escape_text(&attr.name, out),
            |out| escape_text(&attr.value, out),
        );
    }
    removed + write_tail(listed, return_lead, lead.cookie.as_ref(), out)
}

/// Writes everything up to and including `<Email>…</Email>`.
pub(crate) fn write_head(signer: &Signer, now: Timestamp, email: &str, out: &mut String) -> usize {
    let removed = write_head_start(signer, now, out);
    removed + write_email(email, out)
}

/// Writes the head up to and including `<leadRecord>`: everything before the email, which a
/// one-pass writer may learn only after the attributes.
pub(crate) fn write_head_start(signer: &Signer, now: Timestamp, out: &mut String) -> usize {
    let stamp = now.soap_text();
    let stamp = stamp.as_str();
    out.push_str(HEAD);
    let removed = escape_text(signer.user_id(), out);
    out.push_str("</mktowsUserId><requestSignature>");
    let sig = signer.sign(stamp);
    out.push_str(std::str::from_utf8(&sig).unwrap_or_default());
    out.push_str("</requestSignature><requestTimestamp>");
    out.push_str(stamp);
    out.push_str("</requestTimestamp></ns1:AuthenticationHeader></SOAP-ENV:Header><SOAP-ENV:Body><ns1:paramsSyncLead><leadRecord>");
    removed
}

/// The start of every `syncLead` envelope signed in one second by one signer: everything up to
/// `<leadRecord>`, the HMAC included.
///
/// Marketo's `requestTimestamp` has whole seconds, so all envelopes of a second share this text. A
/// pipeline keeps one per thread and passes it to
/// [`SoapDestination::write_json_with_head`](crate::destination::SoapDestination::write_json_with_head):
/// one HMAC then serves every message of a second. It re-signs itself when the second changes or
/// when another signer (another key or user id) uses it.
#[derive(Clone, Default)]
pub struct SignedHead {
    /// (signer fingerprint, unix second, UTC offset in minutes) signed for; `None` when empty.
    signed_for: Option<([u8; 8], i64, i16)>,
    text: String,
    /// Characters of the user id XML cannot carry, removed from `text`.
    removed: usize,
}

impl std::fmt::Debug for SignedHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedHead")
            .field("unix_second", &self.signed_for.map(|(_, second, _)| second))
            .field("text", &self.text)
            .finish()
    }
}

impl SignedHead {
    /// An empty head: the first [`SignedHead::refresh`] signs it.
    pub fn new() -> SignedHead {
        SignedHead::default()
    }

    /// Makes this the head for `signer` at `now`: re-signs (into the same buffer) unless it already
    /// is, that is unless it was signed by a signer with the same key and user id in the same
    /// second and UTC offset.
    pub fn refresh(&mut self, signer: &Signer, now: Timestamp) {
        let wanted = (signer.fingerprint(), now.unix_ms().div_euclid(1000), now.offset_minutes());
        if self.signed_for == Some(wanted) {
            return;
        }
        self.text.clear();
        self.removed = write_head_start(signer, now, &mut self.text);
        self.signed_for = Some(wanted);
    }

    /// The head's text, as [`write_sync_lead`] begins an envelope (empty before the first
    /// [`SignedHead::refresh`]).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// How many characters XML cannot carry were removed from the user id in the head.
    pub fn removed(&self) -> usize {
        self.removed
    }
}

/// Writes `<Email>…</Email>`, the first child of `leadRecord`.
pub(crate) fn write_email(email: &str, out: &mut String) -> usize {
    out.push_str("<Email>");
    let removed = escape_text(email, out);
    out.push_str("</Email>");
    removed
}

/// Writes one `attribute`; the first one (`listed` still false) also opens `leadAttributeList`,
/// which [`write_tail`] closes when `listed` is true. `name` writes the escaped name, `value` the
/// escaped value; each returns how many characters it removed.
pub(crate) fn write_attribute(
    out: &mut String,
    listed: &mut bool,
    name: impl FnOnce(&mut String) -> usize,
    value: impl FnOnce(&mut String) -> usize,
) -> usize {
    if !*listed {
        out.push_str("<leadAttributeList>");
        *listed = true;
    }
    // Constant pieces: the compiler copies them inline.
    out.push_str("<attribute><attrName>");
    let mut removed = name(out);
    out.push_str("</attrName><attrValue>");
    removed += value(out);
    out.push_str("</attrValue></attribute>");
    removed
}

/// Writes the rest: closes the attribute list, `returnLead`, `marketoCookie`, the closing tags.
pub(crate) fn write_tail(listed: bool, return_lead: bool, cookie: Option<&Cookie<'_>>, out: &mut String) -> usize {
    let mut removed = 0;
    if listed {
        out.push_str("</leadAttributeList>");
    }
    out.push_str("</leadRecord><returnLead>");
    out.push_str(if return_lead { "true" } else { "false" });
    out.push_str("</returnLead>");
    if let Some(cookie) = cookie {
        out.push_str("<marketoCookie>id:");
        removed += escape_text(&cookie.munchkin_id, out);
        out.push_str("&amp;token:");
        removed += escape_text(&cookie.token, out);
        out.push_str("</marketoCookie>");
    }
    out.push_str("</ns1:paramsSyncLead></SOAP-ENV:Body></SOAP-ENV:Envelope>");
    removed
}

/// Whether XML 1.0 can carry `c` (the `Char` production: tab, LF, CR, U+0020–U+D7FF,
/// U+E000–U+FFFD, U+10000–U+10FFFF; surrogates cannot occur in a Rust string).
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Appends raw JSON (an object or array) compacted and XML-escaped in one pass: whitespace
/// outside strings dropped, as [`crate::event::write_compact_json`] does, each remaining piece
/// through [`escape_text`]. JSON text has no raw control characters, but may hold U+FFFE and
/// U+FFFF, which are removed and counted.
pub fn escape_compact_json(raw: &str, out: &mut String) -> usize {
    let mut removed = 0;
    crate::event::compact_json_runs(raw, |run| removed += escape_text(run, out));
    removed
}

/// Bytes [`escape_text`] must look at: `& < > "`, CR, the C0 controls other than tab and LF, and
/// 0xEF (the lead byte of U+FFFE and U+FFFF). Everything else is copied as it is.
const SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = b != b'\t' as usize && b != b'\n' as usize;
        b += 1;
    }
    t[b'&' as usize] = true;
    t[b'<' as usize] = true;
    t[b'>' as usize] = true;
    t[b'"' as usize] = true;
    t[0xEF] = true;
    t
};

/// Appends `text` XML-escaped (`&`, `<`, `>`, `"`, CR as `&#13;`), without the characters XML
/// cannot carry; returns how many were removed.
#[inline]
pub fn escape_text(text: &str, out: &mut String) -> usize {
    // The common case, kept small enough to inline: nothing to change.
    let first = next_special(text.as_bytes(), 0);
    if first == text.len() {
        out.push_str(text);
        return 0;
    }
    escape_from(text, first, out)
}

/// [`escape_text`] from the first byte that may need a change.
#[inline(never)]
fn escape_from(text: &str, first: usize, out: &mut String) -> usize {
    let bytes = text.as_bytes();
    let mut removed = 0;
    let mut start = 0;
    let mut i = first;
    loop {
        i = next_special(bytes, i);
        let Some(&b) = bytes.get(i) else { break };
        let (replacement, len): (Option<&str>, usize) = match b {
            b'&' => (Some("&amp;"), 1),
            b'<' => (Some("&lt;"), 1),
            b'>' => (Some("&gt;"), 1),
            b'"' => (Some("&quot;"), 1),
            b'\r' => (Some("&#13;"), 1),
            // U+FFFE and U+FFFF are EF BF BE / EF BF BF in UTF-8; other EF sequences are fine.
            0xEF if bytes.get(i + 1) == Some(&0xBF) && matches!(bytes.get(i + 2), Some(0xBE | 0xBF)) => (None, 3),
            _ if b == 0xEF || !SPECIAL[usize::from(b)] => {
                // Tab, LF, or another EF sequence: kept as it is.
                i += 1;
                continue;
            }
            _ => (None, 1),
        };
        // Everything before i is whole characters: i sits on an ASCII byte or a lead byte.
        out.push_str(&text[start..i]);
        match replacement {
            Some(r) => out.push_str(r),
            None => removed += 1,
        }
        i += len;
        start = i;
    }
    out.push_str(&text[start..]);
    removed
}

/// The first byte at or after `at` that [`escape_text`] may have to change, or the end: a byte of
/// [`SPECIAL`], or tab or LF (kept, but found by the same word test). Eight bytes at a time (see
/// [`crate::scan`]): `x | 0x04` turns `"` into `&` and `x | 0x02` turns `<` into `>` (and nothing
/// else into either), so four characters are two zero-byte tests; `0xEF` (which starts U+FFFE and
/// U+FFFF) is a third; control characters are the bytes below 0x20.
#[inline]
fn next_special(bytes: &[u8], at: usize) -> usize {
    use crate::scan::{ONES, control_bytes, zero_bytes};
    let flags = |x: u64| {
        zero_bytes((x | (ONES * 0x04)) ^ (ONES * 0x26))
            | zero_bytes((x | (ONES * 0x02)) ^ (ONES * 0x3E))
            | zero_bytes(x ^ (ONES * 0xEF))
            | control_bytes(x)
    };
    crate::scan::first_match(bytes, at, flags, |b| b < 0x20 || SPECIAL[usize::from(b)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_removes() {
        let mut s = String::new();
        let removed = escape_text("a<b>&\"c'\r\n\t\u{0}\u{1F}\u{FFFE}\u{FFFF}\u{FFFD}]]>é", &mut s);
        assert_eq!(s, "a&lt;b&gt;&amp;&quot;c'&#13;\n\t\u{FFFD}]]&gt;é");
        assert_eq!(removed, 4);
    }

    #[test]
    fn compact_json_escapes_like_the_two_steps() {
        let raw = "{ \"a <b>\" : [ 1 , \"x & \\\" y\u{fffe}\" ], \"c\": { } }";
        let mut compact = String::new();
        crate::event::write_compact_json(raw, &mut compact);
        let mut two_steps = String::new();
        let removed = escape_text(&compact, &mut two_steps);
        let mut one_pass = String::new();
        assert_eq!(escape_compact_json(raw, &mut one_pass), removed);
        assert_eq!(removed, 1);
        assert_eq!(one_pass, two_steps);
    }

    #[test]
    fn every_byte_at_every_offset() {
        // The word-at-a-time scan against the byte table: each special byte, placed at every
        // offset of a text longer than a word, is found and handled as the table says.
        for c in (0..=0x7Fu8).map(char::from).chain(['\u{FFFE}', '\u{FFFF}', '\u{FFFD}', 'é', '東']) {
            for at in 0..20 {
                let text = format!("{}{c}{}", "a".repeat(at), "b".repeat(20 - at));
                let mut fast = String::new();
                let removed = escape_text(&text, &mut fast);
                assert_eq!((fast, removed), slow_escape(&text), "{c:?} at {at}");
            }
        }
    }

    /// `escape_text` a character at a time: the reference the word-wise scan must match.
    fn slow_escape(text: &str) -> (String, usize) {
        let (mut slow, mut removed) = (String::new(), 0);
        for ch in text.chars() {
            match ch {
                '&' => slow.push_str("&amp;"),
                '<' => slow.push_str("&lt;"),
                '>' => slow.push_str("&gt;"),
                '"' => slow.push_str("&quot;"),
                '\r' => slow.push_str("&#13;"),
                ch if is_xml_char(ch) => slow.push(ch),
                _ => removed += 1,
            }
        }
        (slow, removed)
    }

    proptest::proptest! {
        /// Several special characters close together, at any length: the last word of a text is
        /// read overlapping bytes already handled, whose flags must be masked off.
        #[test]
        fn escapes_like_the_reference(text in "[a&<>\"\r\t\n\u{0}\u{1}\u{FFFE}\u{FFFF}\u{FFFD}é東\u{1F600}]{0,40}") {
            let mut fast = String::new();
            let removed = escape_text(&text, &mut fast);
            proptest::prop_assert_eq!((fast, removed), slow_escape(&text));
        }
    }

    #[test]
    fn is_xml_char_matches_escape() {
        for c in ['\u{0}', '\u{8}', '\u{B}', '\u{C}', '\u{1F}', '\u{FFFE}', '\u{FFFF}'] {
            assert!(!is_xml_char(c));
            let mut s = String::new();
            assert_eq!(escape_text(&c.to_string(), &mut s), 1);
        }
        assert!(is_xml_char('\u{7F}') && is_xml_char('\u{10FFFF}'));
    }
}
