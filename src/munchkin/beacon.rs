//! The server-side Munchkin webevents beacon: `visitWebPage` as one `GET`.
//!
//! Wire format (DESIGN.md, "Munchkin beacon"): `GET {base}/webevents/visitWebPage?_mchNc=<epoch
//! ms>&_mchCn=&_mchId=<id>&_mchTk=<token>&_mchHo=<host>&_mchPo=<port>&_mchRu=<path>&_mchPc=<protocol>&_mchVr=159&_mchHa=<hash>&_mchRe=<referrer>&_mchQp=<query>`,
//! every value `encodeURIComponent`-encoded. `_mchRu` is the path as written (`/` when empty),
//! `_mchQp` the raw query without `?`, `_mchHa` the fragment with its `#` (as `location.hash`),
//! `_mchPo` only for a non-default port, `_mchPc` the scheme with its colon (as
//! `location.protocol`).

use super::encode_uri_component;
use crate::cookie::Cookie;
use crate::time::Timestamp;

/// Marketo caps URLs at 8 KB; a beacon longer than this is cut (see [`write_visit_web_page`]).
pub const MAX_URL_BYTES: usize = 8 * 1024;

/// Where a page view happened: the pieces of `location` Munchkin reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageView<'a> {
    /// `location.hostname`.
    pub host: &'a str,
    /// `location.port`, empty for the scheme's default.
    pub port: String,
    /// `location.protocol` (`https:`), empty when unknown.
    pub protocol: String,
    /// The path as written (`/event/signed-up` for a track).
    pub path: &'a str,
    /// The query without `?`.
    pub query: &'a str,
    /// The fragment with its `#`, or empty.
    pub hash: &'a str,
    /// `document.referrer`.
    pub referrer: &'a str,
}

/// A URL split as written: (scheme, path, query, fragment), no normalisation.
/// `path` is `/` when the URL has none.
pub fn split_url(url: &str) -> (&str, &str, &str, &str) {
    let (before_hash, fragment) = match url.find('#') {
        Some(i) => (&url[..i], &url[i + 1..]),
        None => (url, ""),
    };
    let (before_query, query) = match before_hash.find('?') {
        Some(i) => (&before_hash[..i], &before_hash[i + 1..]),
        None => (before_hash, ""),
    };
    let (scheme, rest) = match before_query.find("://") {
        Some(i) => (&before_query[..i], &before_query[i + 3..]),
        None => ("", before_query),
    };
    let path = if scheme.is_empty() {
        rest
    } else {
        rest.find('/').map_or("", |i| &rest[i..])
    };
    (scheme, if path.is_empty() { "/" } else { path }, query, fragment)
}

/// Appends the beacon URL. `base` is the webevents host (`https://561-HYG-937.mktoresp.com`).
///
/// When the URL would pass [`MAX_URL_BYTES`], `_mchQp` and then `_mchRe` are cut (at a character
/// boundary of the encoded text, never inside an escape) and the names of what was cut are
/// returned so the caller can warn.
pub fn write_visit_web_page(base: &str, now: Timestamp, cookie: &Cookie<'_>, view: &PageView<'_>, out: &mut String) -> Vec<&'static str> {
    let start = out.len();
    out.push_str(base.trim_end_matches('/'));
    out.push_str("/webevents/visitWebPage?_mchNc=");
    out.push_str(&now.unix_ms().to_string());
    out.push_str("&_mchCn=&_mchId=");
    encode_uri_component(&cookie.munchkin_id, out);
    out.push_str("&_mchTk=");
    encode_uri_component(&cookie.token, out);
    out.push_str("&_mchHo=");
    encode_uri_component(view.host, out);
    out.push_str("&_mchPo=");
    encode_uri_component(&view.port, out);
    out.push_str("&_mchRu=");
    encode_uri_component(view.path, out);
    out.push_str("&_mchPc=");
    encode_uri_component(&view.protocol, out);
    out.push_str("&_mchVr=159&_mchHa=");
    encode_uri_component(view.hash, out);
    let mut cut = Vec::new();
    let mut referrer = String::new();
    encode_uri_component(view.referrer, &mut referrer);
    let mut query = String::new();
    encode_uri_component(view.query, &mut query);
    let fixed = out.len() - start + "&_mchRe=&_mchQp=".len();
    if fixed + referrer.len() + query.len() > MAX_URL_BYTES {
        let room = MAX_URL_BYTES.saturating_sub(fixed + referrer.len());
        if query.len() > room {
            truncate_encoded(&mut query, room);
            cut.push("_mchQp");
        }
        let room = MAX_URL_BYTES.saturating_sub(fixed + query.len());
        if referrer.len() > room {
            truncate_encoded(&mut referrer, room);
            cut.push("_mchRe");
        }
    }
    out.push_str("&_mchRe=");
    out.push_str(&referrer);
    out.push_str("&_mchQp=");
    out.push_str(&query);
    cut
}

/// Cuts percent-encoded ASCII text to at most `max` bytes without splitting a `%XX` escape.
fn truncate_encoded(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut end = max;
    let b = text.as_bytes();
    if end >= 1 && b[end - 1] == b'%' {
        end -= 1;
    } else if end >= 2 && b[end - 2] == b'%' {
        end -= 2;
    }
    text.truncate(end);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_as_written() {
        assert_eq!(
            split_url("https://example.com/pricing?plan=pro&ref=ad#top"),
            ("https", "/pricing", "plan=pro&ref=ad", "top")
        );
        assert_eq!(split_url("http://example.com"), ("http", "/", "", ""));
        assert_eq!(split_url("https://e.com/a/../b%20c?"), ("https", "/a/../b%20c", "", ""));
        assert_eq!(split_url("/relative?q#f"), ("", "/relative", "q", "f"));
    }

    #[test]
    fn truncation_keeps_escapes_whole() {
        let mut s = "ab%20cd".to_string();
        truncate_encoded(&mut s, 4);
        assert_eq!(s, "ab");
        let mut s = "ab%20cd".to_string();
        truncate_encoded(&mut s, 5);
        assert_eq!(s, "ab%20");
    }
}
