//! Munchkin: the browser calls (`visitWebPage`, `associateLead` and its hash) as values, and the
//! server-side webevents beacon.
//!
//! Sources: segmentio/analytics.js-integrations `integrations/marketo/lib/index.js` (v1) and
//! `integrations/marketo-v2` (V2), vectors in `../shared/vectors/analytics-js-marketo.json`;
//! segment-boneyard/marketo-sign for the hash. Marketo retired `associateLead` in 2021; the live
//! replacement is REST "Associate Lead" (`POST /rest/v1/leads/{id}/associate.json?cookie=…`).

pub mod beacon;
pub mod client;

use crate::event::Fields;

/// The length of `text` after [`encode_uri_component`], without encoding it.
pub fn encoded_len(text: &str) -> usize {
    text.bytes().map(|b| if KEEP[usize::from(b)] { 1 } else { 3 }).sum()
}

/// The bytes `encodeURIComponent` keeps: `A-Z a-z 0-9 - _ . ! ~ * ' ( )`.
const KEEP: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')');
        b += 1;
    }
    t
};

/// `%00%01…%FF`: the escape of byte `b` is `ESCAPES[3 * b..3 * b + 3]`.
const ESCAPES: &str = {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    const BYTES: [u8; 768] = {
        let mut t = [0u8; 768];
        let mut b = 0;
        while b < 256 {
            t[3 * b] = b'%';
            t[3 * b + 1] = HEX[b >> 4];
            t[3 * b + 2] = HEX[b & 15];
            b += 1;
        }
        t
    };
    match std::str::from_utf8(&BYTES) {
        Ok(s) => s,
        Err(_) => panic!("ASCII"),
    }
};

/// Appends `text` percent-encoded exactly as JavaScript's `encodeURIComponent` does: everything
/// but `A-Z a-z 0-9 - _ . ! ~ * ' ( )` becomes `%XX` of its UTF-8 bytes (upper-case hex).
pub fn encode_uri_component(text: &str, out: &mut String) {
    encode_uri_component_with(text, false, out);
}

/// [`encode_uri_component`], or with `twice` the text encoded twice in one pass: the second pass
/// keeps everything but the `%`, so each escape becomes `%25XX`.
pub(crate) fn encode_uri_component_with(text: &str, twice: bool, out: &mut String) {
    let bytes = text.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !KEEP[usize::from(b)] {
            // Bytes start..i are ASCII (kept), so both ends are char boundaries when the run is not
            // empty (between two escaped bytes `i` may sit inside a character).
            if start < i {
                out.push_str(&text[start..i]);
            }
            let at = 3 * usize::from(b);
            if twice {
                out.push_str("%25");
                out.push_str(&ESCAPES[at + 1..at + 3]);
            } else {
                out.push_str(&ESCAPES[at..at + 3]);
            }
            start = i + 1;
        }
    }
    out.push_str(&text[start..]);
}

/// Appends the `visitWebPage` URL of a track, as the browser integration builds it: every space
/// and underscore in the event name becomes `-`, case kept, `/event/` prefixed unless the name
/// already starts with it.
pub fn write_track_path(event: &str, out: &mut String) {
    if !event.starts_with("/event/") {
        out.push_str("/event/");
    }
    out.extend(event.chars().map(|c| if c == ' ' || c == '_' { '-' } else { c }));
}

/// Appends the `visitWebPage` params of a track: `key=encodeURIComponent(String(value))&` per
/// property, key not encoded, trailing `&` kept, in JavaScript object order (as the browser
/// integration iterates `for (var prop in properties)`).
pub fn write_track_params(properties: &Fields<'_>, out: &mut String) {
    client::write_js_params(properties, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_javascript() {
        // Expected values from node: encodeURIComponent("a b&c=d/é€😀!~*'()")
        let mut s = String::new();
        encode_uri_component("a b&c=d/é€😀!~*'()", &mut s);
        assert_eq!(s, "a%20b%26c%3Dd%2F%C3%A9%E2%82%AC%F0%9F%98%80!~*'()");
    }

    #[test]
    fn track_vectors() {
        let mut url = String::new();
        write_track_path("testing_a-page/inMarketo", &mut url);
        assert_eq!(url, "/event/testing-a-page/inMarketo");
        url.clear();
        write_track_path("/event/testing", &mut url);
        assert_eq!(url, "/event/testing");
        let props = Fields::from_json(r#"{"one":1,"two":2,"o":{"a":1},"arr":[1,[2,null],{"b":2}],"n":null,"s":"a b","7":"x"}"#).unwrap();
        let mut params = String::new();
        write_track_params(&props, &mut params);
        // In node: String([1,[2,null],{b:2}]) === "1,2,,[object Object]"; integer keys come first.
        assert_eq!(
            params,
            "7=x&one=1&two=2&o=%5Bobject%20Object%5D&arr=1%2C2%2C%2C%5Bobject%20Object%5D&n=null&s=a%20b&"
        );
    }
}
