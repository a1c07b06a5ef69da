//! The server-side Munchkin webevents beacon: `visitWebPage` as one `GET`.
//!
//! Wire format (DESIGN.md, "Munchkin beacon"): `GET {base}/webevents/visitWebPage?_mchNc=<epoch
//! ms>&_mchCn=&_mchId=<id>&_mchTk=<token>&_mchHo=<host>&_mchPo=<port>&_mchRu=<path>&_mchPc=<protocol>&_mchVr=159&_mchHa=<hash>&_mchRe=<referrer>&_mchQp=<query>`,
//! every value `encodeURIComponent`-encoded. `_mchRu` is the path as written (`/` when empty),
//! `_mchQp` the raw query without `?`, `_mchHa` the fragment with its `#` (as `location.hash`),
//! `_mchPo` only for a non-default port, `_mchPc` the scheme with its colon (as
//! `location.protocol`).

use std::borrow::Cow;

use super::{encode_uri_component, write_track_path};
use crate::cookie::Cookie;
use crate::error::Error;
use crate::event::{Common, Fields, Page, Track};
use crate::plan::{Operation, Plan, Step, Warning, WarningKind};
use crate::request::{Method, Request, RequestKind};
use crate::settings::Settings;
use crate::time::Timestamp;

/// Marketo caps URLs at 8 KB; a beacon longer than this is cut (see [`write_visit_web_page`]).
pub const MAX_URL_BYTES: usize = 8 * 1024;

/// Where a page view happened: the pieces of `location` Munchkin reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageView<'a> {
    /// `location.hostname`.
    pub host: &'a str,
    /// `location.port`, empty for the scheme's default.
    pub port: &'a str,
    /// `location.protocol` (`https:`), empty when unknown.
    pub protocol: &'a str,
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
    // The first `://`, found as a `:` followed by `//` (a substring search costs more on short URLs).
    let scheme_end = before_query
        .match_indices(':')
        .map(|(i, _)| i)
        .find(|&i| before_query[i + 1..].starts_with("//"));
    let (scheme, rest) = match scheme_end {
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
    write_visit(base, now, cookie, view, Query::Raw(view.query), out)
}

/// Where `_mchQp` comes from.
#[derive(Clone, Copy)]
enum Query<'a> {
    /// A page's query, encoded once.
    Raw(&'a str),
    /// A track's properties, as the browser's params (see `client::write_js_params`), encoded
    /// once more in the same pass.
    Properties(&'a Fields<'a>),
}

impl Query<'_> {
    fn write(self, out: &mut String) {
        match self {
            Query::Raw(query) => encode_uri_component(query, out),
            Query::Properties(properties) => super::client::write_js_params_encoded(properties, out),
        }
    }
}

/// [`write_visit_web_page`] with the query from `query` (`view.query` is not read).
fn write_visit(
    base: &str,
    now: Timestamp,
    cookie: &Cookie<'_>,
    view: &PageView<'_>,
    query: Query<'_>,
    out: &mut String,
) -> Vec<&'static str> {
    let start = out.len();
    out.push_str(base.trim_end_matches('/'));
    out.push_str("/webevents/visitWebPage?_mchNc=");
    write_decimal(now.unix_ms(), out);
    out.push_str("&_mchCn=&_mchId=");
    encode_uri_component(&cookie.munchkin_id, out);
    out.push_str("&_mchTk=");
    encode_uri_component(&cookie.token, out);
    out.push_str("&_mchHo=");
    encode_uri_component(view.host, out);
    out.push_str("&_mchPo=");
    encode_uri_component(view.port, out);
    let fixed = out.len() - start;
    // The common case: encode straight into the URL, then check.
    out.push_str("&_mchRu=");
    encode_uri_component(view.path, out);
    out.push_str("&_mchPc=");
    encode_uri_component(view.protocol, out);
    out.push_str("&_mchVr=159&_mchHa=");
    encode_uri_component(view.hash, out);
    out.push_str("&_mchRe=");
    encode_uri_component(view.referrer, out);
    out.push_str("&_mchQp=");
    query.write(out);
    if out.len() - start <= MAX_URL_BYTES {
        return Vec::new();
    }
    out.truncate(start + fixed);
    let fixed = fixed + "&_mchRu=&_mchPc=&_mchVr=159&_mchHa=&_mchRe=&_mchQp=".len() + super::encoded_len(view.protocol);
    // The page parts, encoded, in the order they are cut when the URL would pass 8 KB: the
    // query, the referrer, the fragment, then the path.
    let mut parts: [(&'static str, String); 4] = Default::default();
    parts[0].0 = "_mchQp";
    query.write(&mut parts[0].1);
    for (slot, (name, value)) in parts[1..]
        .iter_mut()
        .zip([("_mchRe", view.referrer), ("_mchHa", view.hash), ("_mchRu", view.path)])
    {
        slot.0 = name;
        encode_uri_component(value, &mut slot.1);
    }
    let mut cut = Vec::new();
    let mut total = fixed + parts.iter().map(|(_, v)| v.len()).sum::<usize>();
    for (name, value) in parts.iter_mut() {
        if total <= MAX_URL_BYTES {
            break;
        }
        let room = value.len().saturating_sub(total - MAX_URL_BYTES);
        let before = value.len();
        truncate_encoded(value, room);
        total -= before - value.len();
        if value.len() < before {
            cut.push(*name); // only what actually lost bytes is named
        }
    }
    let [(_, query), (_, referrer), (_, hash), (_, path)] = &parts;
    out.push_str("&_mchRu=");
    out.push_str(path);
    out.push_str("&_mchPc=");
    encode_uri_component(view.protocol, out);
    out.push_str("&_mchVr=159&_mchHa=");
    out.push_str(hash);
    out.push_str("&_mchRe=");
    out.push_str(referrer);
    out.push_str("&_mchQp=");
    out.push_str(query);
    cut
}

/// Appends `n` in decimal (the `_mchNc` stamp), without the formatting machinery.
fn write_decimal(n: i64, out: &mut String) {
    if n < 0 {
        out.push('-');
    }
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = n.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&digits[at..]).unwrap_or_default());
}

/// Cuts percent-encoded ASCII text to at most `max` bytes without splitting a `%XX` escape or the
/// escapes of one UTF-8 character (so the cut text still decodes to valid UTF-8).
fn truncate_encoded(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let b = text.as_bytes();
    let mut end = max;
    if end >= 1 && b[end - 1] == b'%' {
        end -= 1;
    } else if end >= 2 && b[end - 2] == b'%' {
        end -= 2;
    }
    // Walk back over trailing escapes of non-ASCII bytes: continuation bytes (0x80-0xBF) and at
    // most one lead byte. Keep them only when the character is complete.
    let byte_at = |at: usize| -> Option<u8> {
        let hex = b.get(at + 1..at + 3)?;
        (b[at] == b'%')
            .then(|| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok())
            .flatten()
    };
    let mut at = end;
    let mut continuation = 0;
    while at >= 3 {
        match byte_at(at - 3) {
            Some(byte) if (0x80..0xC0).contains(&byte) => {
                continuation += 1;
                at -= 3;
            }
            Some(lead) if lead >= 0xC0 => {
                let needed = if lead >= 0xF0 {
                    3
                } else if lead >= 0xE0 {
                    2
                } else {
                    1
                };
                if continuation < needed {
                    end = at - 3;
                }
                break;
            }
            _ => break,
        }
    }
    text.truncate(end);
}

/// Plans Munchkin beacons for track and page messages: the visitor (cookie or derived token) and
/// the `visitWebPage` request. Shared by the SOAP and REST destinations.
#[derive(Debug, Clone)]
pub struct Beacons {
    account_id: String,
    beacon_base: String,
}

impl Beacons {
    /// From settings: `accountId` and `beaconEndpoint` (default `https://{accountId}.mktoresp.com`).
    pub fn new(settings: &Settings) -> Result<Beacons, Error> {
        settings.validate_beacon()?;
        Ok(Beacons {
            account_id: settings.account_id.clone(),
            beacon_base: settings
                .beacon_endpoint
                .clone()
                .unwrap_or_else(|| format!("https://{}.mktoresp.com", settings.account_id)),
        })
    }

    /// The visitor a track or page is for: the message's cookie, else one derived from `userId`,
    /// else `anonymousId`.
    /// On error no warning is added.
    pub fn visitor<'a>(&self, common: &'a Common<'_>, warnings: &mut Vec<Warning>) -> Result<Cookie<'a>, Error> {
        let warned = warnings.len();
        if let Some(cookie) = crate::cookie::from_message(common, "a visitor derived from the user id is used instead", warnings) {
            return Ok(cookie);
        }
        let user = common.user_id.as_deref().or(common.anonymous_id.as_deref());
        match user {
            Some(u) => Ok(Cookie::derive(&self.account_id, u)),
            None => {
                warnings.truncate(warned); // a bad cookie's warning, for a message that fails anyway
                Err(Error::MissingIdentity {
                    message: common.message_ref(),
                })
            }
        }
    }

    /// Writes the beacon URL of `view` for the message's visitor into `out` (appends; on error
    /// `out` is left as it was).
    pub fn write<'a>(
        &self,
        common: &'a Common<'_>,
        view: &PageView<'_>,
        now: Timestamp,
        out: &mut String,
        warnings: &mut Vec<Warning>,
    ) -> Result<Beacon<'a>, Error> {
        self.write_query(common, view, Query::Raw(view.query), now, out, warnings)
    }

    fn write_query<'a>(
        &self,
        common: &'a Common<'_>,
        view: &PageView<'_>,
        query: Query<'_>,
        now: Timestamp,
        out: &mut String,
        warnings: &mut Vec<Warning>,
    ) -> Result<Beacon<'a>, Error> {
        // On error, neither `out` nor `warnings` keeps anything of this message.
        let warned = warnings.len();
        let visitor = self.visitor(common, warnings)?;
        let start = out.len();
        let cut = write_visit(&self.beacon_base, now, &visitor, view, query, out);
        if out.len() - start > MAX_URL_BYTES {
            // The parts that cannot be cut (host, visitor token) alone pass Marketo's 8 KB.
            let len = out.len() - start;
            out.truncate(start);
            warnings.truncate(warned);
            return Err(Error::TooLarge {
                message: common.message_ref(),
                reason: format!("the beacon URL would be {len} bytes even with the page parts cut; Marketo takes at most {MAX_URL_BYTES}"),
            });
        }
        if !cut.is_empty() {
            warnings.push(Warning::new(
                WarningKind::Truncated,
                format!(
                    "{}: {} cut to keep the beacon URL within Marketo's 8 KB",
                    common.message_ref(),
                    cut.join(" and ")
                ),
            ));
        }
        Ok(Beacon {
            visitor,
            user_agent: user_agent(common, warnings),
        })
    }

    /// Plans the beacon of `view` for the message's visitor.
    pub fn plan(&self, common: &Common<'_>, view: &PageView<'_>, now: Timestamp, warnings: Vec<Warning>) -> Result<Plan, Error> {
        plan_from(warnings, |url, warnings| self.write(common, view, now, url, warnings))
    }

    /// The beacon of a track: path `/event/<slug>`, query the properties as the browser sends them,
    /// host, protocol and referrer from `context.page`.
    pub fn track(&self, msg: &Track<'_>, now: Timestamp) -> Result<Plan, Error> {
        plan_from(Vec::new(), |url, warnings| self.write_track(msg, now, url, warnings))
    }

    /// The hot path of [`Beacons::track`]: writes the beacon URL into `out` (appends; on error
    /// `out` is left as it was), warnings into `warnings`.
    pub fn write_track<'a>(
        &self,
        msg: &'a Track<'_>,
        now: Timestamp,
        out: &mut String,
        warnings: &mut Vec<Warning>,
    ) -> Result<Beacon<'a>, Error> {
        let mut path = String::with_capacity(msg.event.len() + 8);
        write_track_path(&msg.event, &mut path);
        let ctx = &msg.common.context;
        let location = ctx.page_url.as_deref().and_then(location).unwrap_or_default();
        let view = PageView {
            host: &location.host,
            port: &location.port,
            protocol: &location.protocol,
            path: &path,
            query: "",
            hash: "",
            referrer: ctx.page_referrer.as_deref().unwrap_or(""),
        };
        // The properties go straight into `_mchQp`, encoded twice in one pass.
        self.write_query(&msg.common, &view, Query::Properties(&msg.properties), now, out, warnings)
    }

    /// The beacon of a page: path, query, fragment and referrer from `properties.url` and
    /// `properties.referrer`, else `context.page`. No URL anywhere is [`Error::MissingUrl`].
    pub fn page(&self, msg: &Page<'_>, now: Timestamp) -> Result<Plan, Error> {
        plan_from(Vec::new(), |url, warnings| self.write_page(msg, now, url, warnings))
    }

    /// The hot path of [`Beacons::page`]: writes the beacon URL into `out` (appends; on error
    /// `out` is left as it was), warnings into `warnings`.
    pub fn write_page<'a>(
        &self,
        msg: &'a Page<'_>,
        now: Timestamp,
        out: &mut String,
        warnings: &mut Vec<Warning>,
    ) -> Result<Beacon<'a>, Error> {
        let ctx = &msg.common.context;
        let (url, field) = match (msg.properties.get_str("url"), ctx.page_url.as_deref()) {
            (Some(u), _) if !u.is_empty() => (u, "properties.url"),
            (_, Some(u)) if !u.is_empty() => (u, "context.page.url"),
            _ => {
                return Err(Error::MissingUrl {
                    message: msg.common.message_ref(),
                });
            }
        };
        let location = location(url).ok_or_else(|| Error::InvalidField {
            message: msg.common.message_ref(),
            field: field.into(),
            reason: "not an absolute URL".into(),
        })?;
        let (_, path, query, fragment) = split_url(url);
        // `location.hash`: the fragment with its `#`, which sits just before it at the URL's end.
        let hash = if fragment.is_empty() {
            ""
        } else {
            &url[url.len() - fragment.len() - 1..]
        };
        let referrer = msg.properties.get_str("referrer").or(ctx.page_referrer.as_deref()).unwrap_or("");
        let view = PageView {
            host: &location.host,
            port: &location.port,
            protocol: &location.protocol,
            path,
            query,
            hash,
            referrer,
        };
        self.write(&msg.common, &view, now, out, warnings)
    }
}

/// The plan of a beacon from one of the writers: the URL written into a new buffer, then the
/// request and the operation (the writers are the hot path; the plans are built on them).
fn plan_from<'a>(
    mut warnings: Vec<Warning>,
    write: impl FnOnce(&mut String, &mut Vec<Warning>) -> Result<Beacon<'a>, Error>,
) -> Result<Plan, Error> {
    let mut url = String::with_capacity(256);
    let beacon = write(&mut url, &mut warnings)?;
    Ok(beacon.plan(url, warnings))
}

/// What goes with a beacon URL written by [`Beacons::write_track`] or [`Beacons::write_page`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Beacon<'a> {
    /// The visitor the beacon is for: the message's cookie or a derived one.
    pub visitor: Cookie<'a>,
    /// The `User-Agent` header to send, when the message has one (control characters removed).
    pub user_agent: Option<Cow<'a, str>>,
}

impl Beacon<'_> {
    /// The `GET` request for `url`, with the `User-Agent` header when there is one.
    pub fn request(&self, url: String) -> Request {
        Request {
            kind: RequestKind::VisitWebPage,
            method: Method::Get,
            url,
            headers: self.user_agent.iter().map(|ua| ("User-Agent", ua.clone().into_owned())).collect(),
            body: None,
        }
    }

    fn plan(self, url: String, warnings: Vec<Warning>) -> Plan {
        let request = self.request(url);
        Plan::Send {
            steps: vec![Step {
                operation: Operation::VisitWebPage {
                    cookie: self.visitor.into_owned(),
                    request: request.clone(),
                },
                request,
            }],
            warnings,
        }
    }
}

/// `context.userAgent` without control characters (a warning when some were removed).
fn user_agent<'a>(common: &'a Common<'_>, warnings: &mut Vec<Warning>) -> Option<Cow<'a, str>> {
    let ua = common.context.user_agent.as_deref()?;
    // Printable ASCII is the common case; anything else is checked character by character.
    if ua.bytes().all(|b| (0x20..0x7F).contains(&b)) || !ua.chars().any(char::is_control) {
        return Some(Cow::Borrowed(ua));
    }
    warnings.push(Warning::new(
        WarningKind::RemovedCharacters,
        "control characters removed from context.userAgent",
    ));
    Some(Cow::Owned(ua.chars().filter(|c| !c.is_control()).collect()))
}

/// Host, port and protocol of a page URL (`location.hostname`, `location.port`,
/// `location.protocol`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Location<'a> {
    host: Cow<'a, str>,
    port: Cow<'a, str>,
    protocol: Cow<'a, str>,
}

/// The location of a page URL, via the `url` crate (host lower-cased and IDNA-encoded as
/// `location.hostname` is) unless the fast path can tell.
fn location(url: &str) -> Option<Location<'_>> {
    if let Some(fast) = simple_location(url) {
        return Some(fast);
    }
    location_parsed(url)
}

/// The common case without a full URL parse: `http(s)://host[:port]…` with a lower-case ASCII
/// host name, no user info, no IPv6 literal. Anything else goes to the `url` crate.
fn simple_location(url: &str) -> Option<Location<'_>> {
    let (default_port, protocol, rest) = if let Some(rest) = url.strip_prefix("https://") {
        ("443", "https:", rest)
    } else {
        ("80", "http:", url.strip_prefix("http://")?)
    };
    let authority = &rest[..rest.bytes().position(|c| matches!(c, b'/' | b'?' | b'#')).unwrap_or(rest.len())];
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            let trimmed = p.trim_start_matches('0');
            (h, if trimmed.is_empty() { "0" } else { trimmed })
        }
        Some(_) => return None, // `host:` with no port, or not a port
        None => (authority, ""),
    };
    // One pass over the host: lower-case letters, digits, `-` and `.`; no empty label (no leading
    // `.` or `..`; one trailing `.` is allowed), no leading `-`; no `xn--` label (IDNA checks are
    // the `url` crate's); and a last label that starts with a letter (a numeric one makes the
    // host an IPv4 address to the URL standard). Anything else goes to the `url` crate.
    let bytes = host.as_bytes();
    let mut label = 0; // where the current label starts
    for (i, &c) in bytes.iter().enumerate() {
        match c {
            b'.' if i == label => return None,
            b'.' => label = i + 1,
            b'-' if i == 0 => return None,
            b'a'..=b'z' | b'0'..=b'9' | b'-' => {
                if i == label && bytes[i..].starts_with(b"xn--") {
                    return None;
                }
            }
            _ => return None,
        }
    }
    let trimmed = host.strip_suffix('.').unwrap_or(host);
    let last = trimmed.rsplit('.').next().unwrap_or("");
    if !last.starts_with(|c: char| c.is_ascii_lowercase()) || port.parse::<u32>().is_ok_and(|p| p > 65_535) {
        return None;
    }
    let port = if port == default_port { "" } else { port };
    Some(Location {
        host: Cow::Borrowed(host),
        port: Cow::Borrowed(port),
        protocol: Cow::Borrowed(protocol),
    })
}

fn location_parsed(url: &str) -> Option<Location<'static>> {
    let parsed = url::Url::parse(url).ok()?;
    Some(Location {
        host: Cow::Owned(parsed.host_str().unwrap_or_default().to_owned()),
        port: Cow::Owned(parsed.port().map(|p| p.to_string()).unwrap_or_default()),
        protocol: Cow::Owned(format!("{}:", parsed.scheme())),
    })
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
        assert_eq!(split_url("a:b://c/d"), ("a:b", "/d", "", ""));
        assert_eq!(split_url("mailto:x"), ("", "mailto:x", "", ""));
    }

    #[test]
    fn fast_location_agrees_with_the_url_crate() {
        for url in [
            "https://example.com/pricing?plan=pro#top",
            "http://example.com",
            "https://example.com:443/a",
            "https://example.com:8443/a",
            "http://example.com:80",
            "https://a-b.c.example.com:00080/x",
            "http://127.0.0.1:8080/",
            "https://Example.COM/",
            "https://user@example.com/",
            "https://[::1]:8080/",
            "https://xn--bcher-kva.example/",
            "https://bücher.example/",
            "https://example.com:99999/",
            "http://1.2.3/",
            "http://0x7f.1/",
            "https://example.com:0/",
            "https://999.1.1.1/",
            "https://a.b.1/",
            "https://xn--a/",
            "https://example.com:/",
            "ftp://example.com/",
            "https:///path",
        ] {
            let fast = simple_location(url);
            let full = location_parsed(url);
            if let Some(fast) = fast {
                assert_eq!(Some(fast), full, "{url}");
            }
        }
        // The fast path answers the common shapes (else it would only cost speed, unnoticed).
        for url in [
            "https://example.com/x",
            "http://www.example.com:8080/a?b#c",
            "https://a-b.c.example.com:00080/x",
            "https://example.com.",
            "http://localhost/",
        ] {
            assert!(simple_location(url).is_some(), "{url}");
        }
    }

    #[test]
    fn track_query_is_the_browser_params_encoded_again() {
        // The one-pass double encoding against the two steps it replaces (each checked on its
        // own against node and the analytics.js vectors).
        for json in [
            r#"{}"#,
            r#"{"plan":"pro plus","n":1.50,"ok":true,"none":null}"#,
            r#"{"q":"a&b=c/d?e#f%g","u":"Zürich 東京 😀","arr":[1,[2,"x y"],null],"o":{"k":1}}"#,
            r#"{"b":1,"2":"two","1":"one","b":3}"#,
            r#"{"k e y":"v","é":"~*'()!-_.","":""}"#,
        ] {
            let properties = Fields::from_json(json).unwrap();
            let mut params = String::new();
            super::super::client::write_js_params(&properties, &mut params);
            let mut two_steps = String::new();
            encode_uri_component(&params, &mut two_steps);
            let mut one_pass = String::new();
            Query::Properties(&properties).write(&mut one_pass);
            assert_eq!(one_pass, two_steps, "{json}");
        }
    }

    #[test]
    fn truncation_keeps_escapes_whole() {
        let mut s = "ab%20cd".to_string();
        truncate_encoded(&mut s, 4);
        assert_eq!(s, "ab");
        let mut s = "ab%20cd".to_string();
        truncate_encoded(&mut s, 5);
        assert_eq!(s, "ab%20");
        // "é€" is %C3%A9%E2%82%AC: a cut inside € drops all of it, keeps é.
        for max in 6..15 {
            let mut s = "%C3%A9%E2%82%AC".to_string();
            truncate_encoded(&mut s, max);
            assert_eq!(
                s,
                if max < 6 {
                    ""
                } else if max < 15 {
                    "%C3%A9"
                } else {
                    "%C3%A9%E2%82%AC"
                },
                "{max}"
            );
        }
    }
}
