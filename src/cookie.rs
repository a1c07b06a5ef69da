//! The Munchkin `_mkto_trk` cookie: parse, print, find in a `Cookie` header, derive.
//!
//! Grammar (as Munchkin writes it): `id:<MUNCHKIN-ID>&token:_mch-<domain>-<epoch ms>-<5 digits>`;
//! newer tokens end in a 32-hex id instead of the ms-random pair. The cookie is also seen
//! URL-encoded (`id%3A…%26token%3A…`) and as `id=…&token=…`; all parse to the same [`Cookie`],
//! which always prints in the canonical `id:…&token:…` form Marketo's `marketoCookie` expects.

use std::borrow::Cow;
use std::fmt;

use sha1::{Digest, Sha1};

use crate::event::Common;
use crate::plan::{Warning, WarningKind};
use crate::settings::is_munchkin_id;

/// The domain written into derived visitor tokens (see [`Cookie::derive`]). `.invalid` is
/// reserved (RFC 2606), so a derived token can never be mistaken for one a browser set.
pub const DERIVED_TOKEN_DOMAIN: &str = "segment-marketo.invalid";

/// A parsed Munchkin cookie.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cookie<'a> {
    /// The Munchkin account id (`561-HYG-937`).
    pub munchkin_id: Cow<'a, str>,
    /// The visitor token (`_mch-marketo.com-1374552656411-90718`).
    pub token: Cow<'a, str>,
}

/// Why a cookie did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CookieError {
    /// The cookie is empty.
    #[error("the cookie is empty")]
    Empty,
    /// Percent-encoding is broken or decodes to invalid UTF-8.
    #[error("the cookie's percent-encoding is invalid")]
    BadEncoding,
    /// Not two parts `id:…` and `token:…` joined by `&`.
    #[error("the cookie is not of the form id:<munchkin id>&token:<token>")]
    Shape,
    /// The id is not a Munchkin id.
    #[error("the cookie's id is not a Munchkin account id like 561-HYG-937")]
    BadId,
    /// The token does not follow Munchkin's grammar.
    #[error("the cookie's token is not of the form _mch-<domain>-<epoch ms>-<5 digits> or _mch-<domain>-<32 hex>")]
    BadToken,
}

impl<'a> Cookie<'a> {
    /// Parses a cookie value in any of the accepted forms.
    pub fn parse(text: &'a str) -> Result<Cookie<'a>, CookieError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(CookieError::Empty);
        }
        if text.contains('%') {
            // URL-encoded once (as seen), or twice at most; deeper is not a cookie. Bounded so that
            // `%252525…` cannot recurse without end.
            let mut decoded = percent_decode(text).ok_or(CookieError::BadEncoding)?;
            if decoded.contains('%') {
                decoded = percent_decode(&decoded).ok_or(CookieError::BadEncoding)?;
                if decoded.contains('%') {
                    return Err(CookieError::BadEncoding);
                }
            }
            return Cookie::parse(&decoded).map(Cookie::into_owned);
        }
        let (first, second) = text.split_once('&').ok_or(CookieError::Shape)?;
        let part = |p: &'a str| -> Option<(&'a str, &'a str)> {
            let (name, value) = p.split_once([':', '='])?;
            Some((name.trim(), value.trim()))
        };
        let (a, b) = (part(first).ok_or(CookieError::Shape)?, part(second).ok_or(CookieError::Shape)?);
        let (id, token) = match (a.0, b.0) {
            ("id", "token") => (a.1, b.1),
            ("token", "id") => (b.1, a.1),
            _ => return Err(CookieError::Shape),
        };
        if !is_munchkin_id(id) {
            return Err(CookieError::BadId);
        }
        if !is_token(token) {
            return Err(CookieError::BadToken);
        }
        Ok(Cookie {
            munchkin_id: Cow::Borrowed(id),
            token: Cow::Borrowed(token),
        })
    }

    /// Finds `_mkto_trk` in an HTTP `Cookie` header and parses it; `None` when absent.
    pub fn from_cookie_header(header: &'a str) -> Option<Result<Cookie<'a>, CookieError>> {
        header
            .split(';')
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == "_mkto_trk")
            .map(|(_, v)| Cookie::parse(v.trim_matches('"')))
    }

    /// The visitor token derived for a user without a cookie: same account and user, same token,
    /// in every process, machine and version. Token form `_mch-<DERIVED_TOKEN_DOMAIN>-<13
    /// digits>-<5 digits>`, digits taken from SHA-1(`account_id` + `user_key`), where `user_key` is
    /// the `userId`, else the `anonymousId`.
    pub fn derive(account_id: &str, user_key: &str) -> Cookie<'static> {
        let digest = Sha1::new().chain_update(account_id).chain_update(user_key).finalize();
        let word = |i: usize| u64::from_be_bytes(digest[i..i + 8].try_into().unwrap_or([0; 8]));
        // 13 digits like an epoch-ms stamp (1e12 ..= 1e13-1), then 5 digits.
        let ms = 1_000_000_000_000 + word(0) % 9_000_000_000_000;
        let random = word(8) % 100_000;
        let mut token = String::with_capacity(DERIVED_TOKEN_DOMAIN.len() + 25);
        token.push_str("_mch-");
        token.push_str(DERIVED_TOKEN_DOMAIN);
        token.push('-');
        push_digits(ms, 13, &mut token);
        token.push('-');
        push_digits(random, 5, &mut token);
        Cookie {
            munchkin_id: Cow::Owned(account_id.to_owned()),
            token: Cow::Owned(token),
        }
    }

    /// An owned copy.
    pub fn into_owned(self) -> Cookie<'static> {
        Cookie {
            munchkin_id: Cow::Owned(self.munchkin_id.into_owned()),
            token: Cow::Owned(self.token.into_owned()),
        }
    }

    /// Writes the canonical `id:…&token:…` form into `out` (appends).
    pub fn write(&self, out: &mut String) {
        out.push_str("id:");
        out.push_str(&self.munchkin_id);
        out.push_str("&token:");
        out.push_str(&self.token);
    }
}

/// Appends the last `width` decimal digits of `n`, zero-padded (a token is built per beacon, so
/// without the formatting machinery).
fn push_digits(n: u64, width: u32, out: &mut String) {
    for place in (0..width).rev() {
        let digit = (n / 10u64.pow(place)) % 10;
        out.push(char::from(b'0' + digit as u8));
    }
}

impl fmt::Display for Cookie<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "id:{}&token:{}", self.munchkin_id, self.token)
    }
}

/// The message's `context.Marketo.marketoCookie`, parsed. A malformed cookie is not an error: it
/// becomes an [`WarningKind::InvalidCookie`] warning that ends with `consequence` (what happens
/// instead), and `None`.
pub fn from_message<'a>(common: &'a Common<'_>, consequence: &str, warnings: &mut Vec<Warning>) -> Option<Cookie<'a>> {
    let raw = common.context.marketo_cookie.as_deref()?;
    match Cookie::parse(raw) {
        Ok(cookie) => Some(cookie),
        Err(e) => {
            warnings.push(Warning::new(
                WarningKind::InvalidCookie,
                format!("{}: context.Marketo.marketoCookie: {e}; {consequence}", common.message_ref()),
            ));
            None
        }
    }
}

/// `_mch-<domain>-<ms digits>-<5 digits>` or `_mch-<domain>-<32 hex>`.
fn is_token(token: &str) -> bool {
    let Some(rest) = token.strip_prefix("_mch-") else {
        return false;
    };
    let is_domain = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    let digits = |s: &str, n: std::ops::RangeInclusive<usize>| n.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    let Some((head, last)) = rest.rsplit_once('-') else {
        return false;
    };
    if last.len() == 32 && last.bytes().all(|b| b.is_ascii_hexdigit()) {
        return is_domain(head);
    }
    match head.rsplit_once('-') {
        Some((domain, ms)) => digits(last, 5..=5) && digits(ms, 10..=13) && is_domain(domain),
        None => false,
    }
}

fn percent_decode(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            // Two hex digits exactly (from_str_radix alone would take a sign: `%+9`).
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANON: &str = "id:561-HYG-937&token:_mch-marketo.com-1374552656411-90718";

    #[test]
    fn accepts_all_forms() {
        for form in [
            CANON,
            "id%3A561-HYG-937%26token%3A_mch-marketo.com-1374552656411-90718",
            "id=561-HYG-937&token=_mch-marketo.com-1374552656411-90718",
            "token:_mch-marketo.com-1374552656411-90718&id:561-HYG-937",
        ] {
            assert_eq!(Cookie::parse(form).unwrap().to_string(), CANON, "{form}");
        }
        let hex = "id:561-HYG-937&token:_mch-my-site.co.uk-0123456789abcdef0123456789ABCDEF";
        assert_eq!(Cookie::parse(hex).unwrap().to_string(), hex);
    }

    #[test]
    fn rejects_with_reasons() {
        assert_eq!(Cookie::parse(""), Err(CookieError::Empty));
        assert_eq!(Cookie::parse("garbage"), Err(CookieError::Shape));
        assert_eq!(
            Cookie::parse("id:561-hyg-937&token:_mch-a.com-1374552656411-90718"),
            Err(CookieError::BadId)
        );
        assert_eq!(Cookie::parse("id:561-HYG-937&token:mch-a.com-1-2"), Err(CookieError::BadToken));
        assert_eq!(Cookie::parse("id%3"), Err(CookieError::BadEncoding));
        assert_eq!(Cookie::parse("id%FF%FE"), Err(CookieError::BadEncoding));
        assert_eq!(Cookie::parse("id%+9"), Err(CookieError::BadEncoding));
        // Found by fuzzing: a long run of %25 recursed once per layer.
        let deep = format!("%{}", "25".repeat(100_000));
        assert_eq!(Cookie::parse(&deep), Err(CookieError::BadEncoding));
        let twice = "id%253A561-HYG-937%2526token%253A_mch-marketo.com-1374552656411-90718";
        assert_eq!(Cookie::parse(twice).unwrap().to_string(), CANON);
    }

    #[test]
    fn header_and_derivation() {
        let header = format!("a=b; _mkto_trk={CANON}; c=d");
        assert_eq!(Cookie::from_cookie_header(&header).unwrap().unwrap().to_string(), CANON);
        assert!(Cookie::from_cookie_header("a=b").is_none());
        let d1 = Cookie::derive("561-HYG-937", "user-1");
        assert_eq!(d1, Cookie::derive("561-HYG-937", "user-1"));
        assert_ne!(d1, Cookie::derive("561-HYG-937", "user-2"));
        // The derived cookie follows the real grammar.
        assert_eq!(Cookie::parse(&d1.to_string()).unwrap(), d1);
    }
}
