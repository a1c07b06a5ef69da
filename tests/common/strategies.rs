//! Structured proptest strategies: Segment messages, destination settings and Munchkin cookies as
//! plain models, with the JSON text they are sent as.
//!
//! A model keeps what the test needs to compute expected values independently of the crate:
//! numbers as literal JSON text (`1.50`, `1e-400`, `-0`), strings as the characters meant (the
//! JSON text escapes them in one of several styles chosen from a seed), objects as ordered pairs
//! (repeated keys allowed), and deep nesting. Include with
//! `#[path = "common/strategies.rs"] mod strategies;`.
#![allow(dead_code)]

use proptest::prelude::*;
use proptest::sample::{Index, select};

// ---------------------------------------------------------------------------------------------
// Text

/// Pieces text is built from: plain words, XML and URL specials, every kind of control
/// character, the non-characters XML 1.0 cannot carry, line separators, astral characters.
pub fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-zA-Z0-9]{1,6}",
        1 => select(vec![
            " ", "  ", "]]>", "</attrValue>", "<attrValue>", "<![CDATA[", "&amp;", "&#13;", "&", "<", ">", "\"", "'",
            "\r", "\n", "\r\n", "\t", "\\", "/", "%", "%2", "%zz", "%25", "%3A", "+", "#", "?", "=", "@", ".", ",",
            "_", "-", ":", ";", "{", "}", "[", "]", "a@b.co", "/event/", "null", "true", "0",
        ])
        .prop_map(str::to_owned),
        1 => (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap_or('?').to_string()),
        1 => select(vec![
            '\u{7f}', '\u{80}', '\u{85}', '\u{9f}', '\u{a0}', '\u{2028}', '\u{2029}', '\u{feff}', '\u{fffd}',
            '\u{fffe}', '\u{ffff}', '\u{d7ff}', '\u{e000}', '\u{10000}', '\u{10ffff}', 'é', 'ß', 'ǅ', 'İ', 'ﬀ', 'ŉ',
            '東', '😀', '\u{301}',
        ])
        .prop_map(String::from),
        1 => any::<char>().prop_map(String::from),
    ]
}

/// Text of up to `max_pieces` pieces.
pub fn text(max_pieces: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 0..=max_pieces).prop_map(|v| v.concat())
}

/// Usually short text, sometimes a few KB (enough to pass the beacon's 8 KB).
pub fn text_sometimes_long() -> impl Strategy<Value = String> {
    prop_oneof![8 => text(6), 1 => huge_text(300..=12_000)]
}

/// Text of about `bytes` bytes (one piece repeated), for the few huge cases.
pub fn huge_text(bytes: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = String> {
    (text(3), bytes).prop_map(|(p, n)| {
        let p = if p.is_empty() { "x".to_owned() } else { p };
        p.repeat((n / p.len()).max(1))
    })
}

/// Trait and property keys: the ones with rules, array-index look-alikes, casing traps, any text.
pub fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(vec![
            "email", "id", "userId", "address", "company", "firstName", "lastName", "name", "phone", "phones",
            "url", "referrer", "zip", "city", "plan", "0", "1", "17", "01", "4294967294", "4294967295", "-1", "a",
            "a b", "first_name", "second_favorite_color", "ßx", "ǅx", "", "Email", "ID", "user_id", "é",
        ])
        .prop_map(str::to_owned),
        3 => "[a-z][a-zA-Z_]{0,8}",
        1 => text(4),
    ]
}

// ---------------------------------------------------------------------------------------------
// JSON values

/// A JSON value as generated. Numbers are their literal text; objects keep order and repeats.
#[derive(Debug, Clone, PartialEq)]
pub enum J {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number, as its literal text.
    Num(String),
    /// A string, as meant (escaped when written).
    Str(String),
    /// An array.
    Arr(Vec<J>),
    /// An object, pairs in order (repeated keys allowed).
    Obj(Vec<(String, J)>),
}

impl J {
    /// A string value.
    pub fn s(text: &str) -> J {
        J::Str(text.to_owned())
    }
    /// The value of `key` in an object, the last one when it repeats (as JSON parsers read it).
    pub fn get(&self, key: &str) -> Option<&J> {
        match self {
            J::Obj(pairs) => pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Number literals at the limits, and random ones.
pub fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(vec![
            "0", "-0", "1", "-1", "1.50", "0.0", "-0.0", "1e308", "-1e308", "1.7976931348623157e308", "1e-400",
            "1E+400", "1e400", "-1e400", "5e-324", "2.2250738585072014e-308", "9223372036854775807",
            "-9223372036854775808", "9223372036854775808", "18446744073709551615", "18446744073709551616",
            "123456789012345678901234567890", "0.1", "1.0e-7", "12", "100", "1E2", "-0e0",
        ])
        .prop_map(str::to_owned),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<u64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| f.to_string()),
        1 => any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| format!("{f:e}")),
    ]
}

/// A scalar.
pub fn leaf() -> impl Strategy<Value = J> {
    prop_oneof![
        1 => Just(J::Null),
        1 => any::<bool>().prop_map(J::Bool),
        2 => number().prop_map(J::Num),
        5 => text(6).prop_map(J::Str),
    ]
}

/// Any value, a few levels deep.
pub fn value() -> impl Strategy<Value = J> {
    leaf().prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(J::Arr),
            prop::collection::vec((key(), inner), 0..6).prop_map(J::Obj),
        ]
    })
}

/// A value nested `depth` levels (arrays and objects mixed as `pattern`'s bits say).
pub fn nest(depth: usize, pattern: u64, inner: J) -> J {
    let mut v = inner;
    for level in 0..depth {
        v = if pattern.rotate_left(level as u32 % 64) & 1 == 0 {
            J::Arr(vec![v])
        } else {
            J::Obj(vec![("k".to_owned(), v)])
        };
    }
    v
}

/// Deep nesting, up to a few hundred levels.
pub fn deep() -> impl Strategy<Value = J> {
    (1usize..=400, any::<u64>(), leaf()).prop_map(|(depth, pattern, inner)| nest(depth, pattern, inner))
}

/// An `address` or `company` object: the known keys (repeated, `null`), unknown ones, any values.
pub fn nested_record() -> impl Strategy<Value = J> {
    let key = prop_oneof![
        4 => select(vec!["street", "city", "country", "postalCode", "zip", "state", "name", "unit"]).prop_map(str::to_owned),
        1 => key(),
    ];
    let val = prop_oneof![4 => leaf(), 1 => value(), 1 => deep()];
    prop::collection::vec((key, val), 0..8).prop_map(J::Obj)
}

/// A trait or property value.
pub fn field_value() -> impl Strategy<Value = J> {
    prop_oneof![
        8 => leaf(),
        3 => value(),
        1 => deep(),
        1 => nested_record(),
    ]
}

/// A list of fields: usually a handful, sometimes hundreds, rarely up to 2,000.
pub fn fields(max: usize) -> impl Strategy<Value = Vec<(String, J)>> {
    let small = prop::collection::vec((key(), field_value()), 0..12);
    let large = prop::collection::vec((key(), field_value()), 0..=max);
    prop_oneof![12 => small, 1 => large]
}

// ---------------------------------------------------------------------------------------------
// JSON text

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn fnv(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in bytes {
        h = (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// Writes JSON text. How a string is escaped depends only on the seed and the string (so a value
/// written alone reads exactly as it does inside a message); whitespace between tokens comes from
/// a separate stream and only when `pretty`.
pub struct JsonWriter {
    seed: u64,
    pretty: bool,
    ws: u64,
}

impl JsonWriter {
    /// A writer.
    pub fn new(seed: u64, pretty: bool) -> JsonWriter {
        JsonWriter {
            seed,
            pretty,
            ws: seed ^ 0x5bd1_e995,
        }
    }

    /// `j` as JSON text.
    pub fn write(seed: u64, pretty: bool, j: &J) -> String {
        let mut out = String::new();
        JsonWriter::new(seed, pretty).value(j, &mut out);
        out
    }

    fn space(&mut self, out: &mut String) {
        if self.pretty {
            self.ws = splitmix(self.ws);
            out.push_str(match self.ws % 12 {
                0 => " ",
                1 => "\n",
                2 => "\t",
                3 => "\r\n  ",
                4 => "  ",
                _ => "",
            });
        }
    }

    /// Appends `j`.
    pub fn value(&mut self, j: &J, out: &mut String) {
        match j {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Num(n) => out.push_str(n),
            J::Str(s) => self.string(s, out),
            J::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.space(out);
                        out.push(',');
                    }
                    self.space(out);
                    self.value(item, out);
                }
                self.space(out);
                out.push(']');
            }
            J::Obj(pairs) => {
                out.push('{');
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        self.space(out);
                        out.push(',');
                    }
                    self.space(out);
                    self.string(k, out);
                    self.space(out);
                    out.push(':');
                    self.space(out);
                    self.value(v, out);
                }
                self.space(out);
                out.push('}');
            }
        }
    }

    /// Appends `s` as a JSON string in one of four escape styles: minimal (raw U+FFFF and all),
    /// everything non-ASCII and `/` escaped, upper-case hex for C1 and non-characters, a random mix.
    pub fn string(&self, s: &str, out: &mut String) {
        let h = fnv(self.seed, s.as_bytes());
        let style = h % 4;
        out.push('"');
        for (i, c) in s.chars().enumerate() {
            let force = match style {
                0 => false,
                1 => !c.is_ascii() || c == '/',
                2 => matches!(c, '\u{7f}'..='\u{9f}' | '\u{fffe}' | '\u{ffff}' | '\u{2028}' | '\u{2029}'),
                _ => splitmix(h ^ i as u64).is_multiple_of(3),
            };
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '/' if force => out.push_str("\\/"),
                '\n' if style == 0 => out.push_str("\\n"),
                '\r' if style == 0 => out.push_str("\\r"),
                '\t' if style == 0 => out.push_str("\\t"),
                '\u{8}' if style == 0 => out.push_str("\\b"),
                '\u{c}' if style == 0 => out.push_str("\\f"),
                c if (c as u32) < 0x20 || force => {
                    let mut units = [0u16; 2];
                    for u in c.encode_utf16(&mut units) {
                        if style == 2 {
                            out.push_str(&format!("\\u{u:04X}"));
                        } else {
                            out.push_str(&format!("\\u{u:04x}"));
                        }
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
}

// ---------------------------------------------------------------------------------------------
// Cookies

/// A Munchkin account id.
pub fn munchkin_id() -> impl Strategy<Value = String> {
    "[0-9]{3}-[A-Z]{3}-[0-9]{3}"
}

/// A Munchkin token in either grammar.
pub fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        "_mch-[a-zA-Z0-9._-]{1,12}-[0-9]{10,13}-[0-9]{5}",
        "_mch-[a-zA-Z0-9._-]{1,12}-[0-9a-fA-F]{32}",
    ]
}

/// `encodeURIComponent`.
pub fn encode_uri_component(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A valid cookie (id, token) and one of the forms it is seen in.
pub fn valid_cookie() -> impl Strategy<Value = (String, String, String)> {
    (munchkin_id(), token(), 0u8..10).prop_map(|(id, token, form)| {
        let text = match form {
            0 | 1 => format!("id:{id}&token:{token}"),
            2 => format!("token:{token}&id:{id}"),
            3 => format!("id={id}&token={token}"),
            4 => format!("id={id}&token:{token}"),
            5 => format!(" id : {id} &\ttoken: {token}\n"),
            6 => format!("id%3A{id}%26token%3A{token}"),
            7 => encode_uri_component(&format!("id:{id}&token:{token}")),
            8 => encode_uri_component(&encode_uri_component(&format!("token={token}&id={id}"))),
            _ => format!("id%3a{id}%26token%3a{}", token.replace('-', "%2D")),
        };
        (id, token, text)
    })
}

/// One change to a cookie's text.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Remove the character at.
    Delete(Index),
    /// Insert text at.
    Insert(Index, String),
    /// Replace the character at.
    Replace(Index, char),
    /// Keep only what comes before.
    Truncate(Index),
    /// Change the case of everything.
    Case(bool),
    /// Wrap in text.
    Wrap(String, String),
}

/// A mutation.
pub fn mutation() -> impl Strategy<Value = Mutation> {
    let bits = select(vec![
        "%", "%2", "%zz", "%25", "%3A", "%26", "%+9", "%+d", "%C3", "%FF", "&", ":", "=", "-", " ", "\t", "\u{0}", "x", "7", "_mch-",
        "id:", "token:", "é", "\u{ffff}", "\u{2028}",
    ])
    .prop_map(str::to_owned);
    prop_oneof![
        any::<Index>().prop_map(Mutation::Delete),
        (any::<Index>(), bits.clone()).prop_map(|(i, s)| Mutation::Insert(i, s)),
        (any::<Index>(), any::<char>()).prop_map(|(i, c)| Mutation::Replace(i, c)),
        any::<Index>().prop_map(Mutation::Truncate),
        any::<bool>().prop_map(Mutation::Case),
        (bits.clone(), bits).prop_map(|(a, b)| Mutation::Wrap(a, b)),
    ]
}

/// Applies mutations to a text.
pub fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for m in mutations {
        let at = |i: &Index, len: usize| if len == 0 { 0 } else { i.index(len) };
        match m {
            Mutation::Delete(i) if !chars.is_empty() => {
                let at = at(i, chars.len());
                chars.remove(at);
            }
            Mutation::Insert(i, s) => {
                let at = at(i, chars.len() + 1);
                chars.splice(at..at, s.chars());
            }
            Mutation::Replace(i, c) if !chars.is_empty() => {
                let at = at(i, chars.len());
                chars[at] = *c;
            }
            Mutation::Truncate(i) => {
                let at = at(i, chars.len() + 1);
                chars.truncate(at);
            }
            Mutation::Case(upper) => {
                let s: String = chars.iter().collect();
                let s = if *upper { s.to_uppercase() } else { s.to_lowercase() };
                chars = s.chars().collect();
            }
            Mutation::Wrap(a, b) => {
                let s: String = chars.iter().collect();
                chars = format!("{a}{s}{b}").chars().collect();
            }
            _ => {}
        }
    }
    chars.into_iter().collect()
}

/// Cookie text: valid in any form, mutated (maybe still valid), or any text.
pub fn cookie_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => valid_cookie().prop_map(|(_, _, t)| t),
        4 => (valid_cookie(), prop::collection::vec(mutation(), 1..4)).prop_map(|((_, _, t), m)| mutate(&t, &m)),
        1 => text(6),
        1 => Just(String::new()),
    ]
}

// ---------------------------------------------------------------------------------------------
// URLs

/// A page URL built from parts, so the parts as written are known.
#[derive(Debug, Clone, PartialEq)]
pub struct PageUrl {
    /// The scheme as written (`https`, `HTTP`, `ftp`).
    pub scheme: String,
    /// The authority as written (host, maybe `user@`, maybe `:port`).
    pub authority: String,
    /// The path as written (no `?` or `#`); may be empty.
    pub path: String,
    /// The query without `?`, when there is a `?` (no `#`).
    pub query: Option<String>,
    /// The fragment without `#`, when there is a `#`.
    pub fragment: Option<String>,
}

impl PageUrl {
    /// The URL text.
    pub fn text(&self) -> String {
        let mut s = format!("{}://{}{}", self.scheme, self.authority, self.path);
        if let Some(q) = &self.query {
            s.push('?');
            s.push_str(q);
        }
        if let Some(f) = &self.fragment {
            s.push('#');
            s.push_str(f);
        }
        s
    }
}

/// Text without the characters that end a path (`?`, `#`).
pub fn path_text(max_pieces: usize) -> impl Strategy<Value = String> {
    text(max_pieces).prop_map(|t| t.replace(['?', '#'], "~"))
}

/// A structured page URL. Hosts include upper case, IDNA, IPv4 and IPv6 literals and a few
/// numeric forms the URL standard rewrites (`1.2.3` is `1.2.0.3`).
pub fn page_url() -> impl Strategy<Value = PageUrl> {
    let scheme = select(vec!["https", "https", "http", "HTTPS", "Http", "ftp", "wss", "foo"]).prop_map(str::to_owned);
    let host = select(vec![
        "example.com",
        "example.com",
        "a-b.c.example.com",
        "localhost",
        "127.0.0.1",
        "[::1]",
        "Example.COM",
        "bücher.example",
        "xn--bcher-kva.example",
        "example.com.",
        "user:pw@example.com",
        "1.2.3",
        "0x7f.1",
        "999.1.1.1",
        "a.b.1",
        "xn--a",
        "exa mple.com",
        "ex%41mple.com",
        "a_b.example",
    ])
    .prop_map(str::to_owned);
    let port = prop::option::of(select(vec!["", "443", "80", "8443", "0", "00", "00080", "65535", "65536", "99999"]));
    let path = prop::collection::vec(text_sometimes_long().prop_map(|t| t.replace(['?', '#'], "~")), 0..4)
        .prop_map(|segs| segs.iter().map(|s| format!("/{s}")).collect::<String>());
    let query = prop::option::of(text_sometimes_long().prop_map(|t| t.replace('#', "~")));
    let fragment = prop::option::of(text_sometimes_long());
    (scheme, host, port, path, query, fragment).prop_map(|(scheme, host, port, path, query, fragment)| PageUrl {
        scheme,
        authority: match port {
            Some(p) => format!("{host}:{p}"),
            None => host,
        },
        path,
        query,
        fragment,
    })
}

// ---------------------------------------------------------------------------------------------
// Messages

/// A message type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// identify
    Identify,
    /// track
    Track,
    /// page
    Page,
    /// group
    Group,
    /// alias
    Alias,
    /// screen
    Screen,
}

impl Kind {
    /// The spec name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Identify => "identify",
            Kind::Track => "track",
            Kind::Page => "page",
            Kind::Group => "group",
            Kind::Alias => "alias",
            Kind::Screen => "screen",
        }
    }
}

/// A Segment message model. `None` fields are absent from the JSON; `Some(J::Null)` is `null`.
#[derive(Debug, Clone)]
pub struct Msg {
    /// `type`.
    pub kind: Kind,
    /// `messageId`.
    pub message_id: Option<J>,
    /// `userId` (string, number or null).
    pub user_id: Option<J>,
    /// `anonymousId`.
    pub anonymous_id: Option<J>,
    /// `traits` (identify).
    pub traits: Option<Vec<(String, J)>>,
    /// `event` (track).
    pub event: Option<String>,
    /// `properties` (track, page).
    pub properties: Option<Vec<(String, J)>>,
    /// `name` (page).
    pub name: Option<J>,
    /// `context.Marketo.marketoCookie`.
    pub cookie: Option<J>,
    /// `context.page.url`.
    pub page_url: Option<J>,
    /// `context.page.referrer`.
    pub page_referrer: Option<J>,
    /// `context.userAgent`.
    pub user_agent: Option<J>,
    /// `integrations.Marketo` then `integrations.All`, each maybe repeated.
    pub integrations: Option<Vec<(String, J)>>,
    /// Unknown top-level and context fields, ignored by the parser.
    pub extra: Vec<(String, J)>,
    /// Seed of the JSON text's escapes, whitespace and field order.
    pub seed: u64,
    /// Whitespace between tokens.
    pub pretty: bool,
}

fn opt_str(s: &Option<J>) -> Option<&str> {
    match s {
        Some(J::Str(s)) => Some(s),
        _ => None,
    }
}

impl Msg {
    /// An identify with these traits and nothing else.
    pub fn identify(traits: Vec<(String, J)>) -> Msg {
        Msg {
            kind: Kind::Identify,
            message_id: None,
            user_id: None,
            anonymous_id: None,
            traits: Some(traits),
            event: None,
            properties: None,
            name: None,
            cookie: None,
            page_url: None,
            page_referrer: None,
            user_agent: None,
            integrations: None,
            extra: Vec::new(),
            seed: 0,
            pretty: false,
        }
    }

    /// `userId` as the crate reads it (a string, or a number's text).
    pub fn user_id_text(&self) -> Option<&str> {
        id_text(&self.user_id)
    }

    /// `anonymousId` as the crate reads it.
    pub fn anonymous_id_text(&self) -> Option<&str> {
        id_text(&self.anonymous_id)
    }

    /// `context.Marketo.marketoCookie` when a string.
    pub fn cookie_text(&self) -> Option<&str> {
        opt_str(&self.cookie)
    }

    /// `context.page.url` when a string.
    pub fn page_url_text(&self) -> Option<&str> {
        opt_str(&self.page_url)
    }

    /// `context.page.referrer` when a string.
    pub fn page_referrer_text(&self) -> Option<&str> {
        opt_str(&self.page_referrer)
    }

    /// `context.userAgent` when a string.
    pub fn user_agent_text(&self) -> Option<&str> {
        opt_str(&self.user_agent)
    }

    /// The message as a JSON value, top-level fields in a seed-chosen order.
    pub fn to_j(&self) -> J {
        let mut fields: Vec<(String, J)> = vec![("type".into(), J::s(self.kind.name()))];
        let mut put = |k: &str, v: &Option<J>| {
            if let Some(v) = v {
                fields.push((k.into(), v.clone()));
            }
        };
        put("messageId", &self.message_id);
        put("userId", &self.user_id);
        put("anonymousId", &self.anonymous_id);
        put("name", &self.name);
        if let Some(t) = &self.traits {
            fields.push(("traits".into(), J::Obj(t.clone())));
        }
        if let Some(e) = &self.event {
            fields.push(("event".into(), J::s(e)));
        }
        if let Some(p) = &self.properties {
            fields.push(("properties".into(), J::Obj(p.clone())));
        }
        let mut context: Vec<(String, J)> = Vec::new();
        if let Some(c) = &self.cookie {
            context.push(("Marketo".into(), J::Obj(vec![("marketoCookie".into(), c.clone())])));
        }
        let mut page = Vec::new();
        if let Some(u) = &self.page_url {
            page.push(("url".into(), u.clone()));
        }
        if let Some(r) = &self.page_referrer {
            page.push(("referrer".into(), r.clone()));
        }
        if !page.is_empty() {
            page.push(("title".into(), J::s("t")));
            context.push(("page".into(), J::Obj(page)));
        }
        if let Some(ua) = &self.user_agent {
            context.push(("userAgent".into(), ua.clone()));
        }
        for (k, v) in &self.extra {
            context.push((format!("x-{k}"), v.clone()));
        }
        if !context.is_empty() || self.seed.is_multiple_of(3) {
            fields.push(("context".into(), J::Obj(context)));
        }
        if let Some(i) = &self.integrations {
            fields.push(("integrations".into(), J::Obj(i.clone())));
        }
        for (k, v) in &self.extra {
            fields.push((format!("x-{k}"), v.clone()));
        }
        // A seed-chosen order (Fisher-Yates).
        let mut r = self.seed;
        for i in (1..fields.len()).rev() {
            r = splitmix(r);
            fields.swap(i, (r % (i as u64 + 1)) as usize);
        }
        J::Obj(fields)
    }

    /// The message's JSON text.
    pub fn json(&self) -> String {
        JsonWriter::write(self.seed, self.pretty, &self.to_j())
    }

    /// Whether `integrations` leaves Marketo on: a `Marketo` key decides (only `false` turns it
    /// off), else `All: false` turns it off. The last of a repeated key counts.
    pub fn marketo_enabled(&self) -> bool {
        let Some(i) = &self.integrations else { return true };
        let last = |k: &str| i.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v);
        match last("Marketo") {
            Some(v) => *v != J::Bool(false),
            None => last("All") != Some(&J::Bool(false)),
        }
    }
}

/// An id as the crate reads it: a string, or a number's text.
pub fn id_text(j: &Option<J>) -> Option<&str> {
    match j {
        Some(J::Str(s)) | Some(J::Num(s)) => Some(s),
        _ => None,
    }
}

/// A `userId` or `anonymousId`: absent, null, a number, an email, any text.
pub fn id_value() -> impl Strategy<Value = Option<J>> {
    prop::option::weighted(
        0.8,
        prop_oneof![
            3 => text(3).prop_map(J::Str),
            2 => "[a-z0-9.+]{1,8}@[a-z]{1,5}\\.[a-z]{2,3}".prop_map(J::Str),
            1 => "[a-z]{1,4}\n@[a-z]{1,3}\\.[a-z]{2}".prop_map(J::Str),
            1 => number().prop_map(J::Num),
            1 => Just(J::Null),
        ],
    )
}

/// A string field or `null`, usually present.
fn string_or_null(s: impl Strategy<Value = String>) -> impl Strategy<Value = Option<J>> {
    prop::option::weighted(0.7, prop_oneof![6 => s.prop_map(J::Str), 1 => Just(J::Null)])
}

/// `context.page.url` or `properties.url` text: structured, or any text.
pub fn url_text() -> impl Strategy<Value = String> {
    prop_oneof![6 => page_url().prop_map(|u| u.text()), 1 => text(5), 1 => Just(String::new())]
}

/// `integrations`.
pub fn integrations() -> impl Strategy<Value = Option<Vec<(String, J)>>> {
    let name = select(vec!["Marketo", "All", "Other", "marketo"]).prop_map(str::to_owned);
    let val = prop_oneof![3 => any::<bool>().prop_map(J::Bool), 1 => Just(J::Null), 1 => value()];
    prop::option::weighted(0.3, prop::collection::vec((name, val), 0..4))
}

/// Every type, identify, track and page more often.
pub const ALL_KINDS: &[Kind] = &[
    Kind::Identify,
    Kind::Identify,
    Kind::Track,
    Kind::Track,
    Kind::Page,
    Kind::Page,
    Kind::Group,
    Kind::Alias,
    Kind::Screen,
];

/// A structurally valid message of one of `kinds`: every field has a type the parser accepts.
pub fn message(max_fields: usize, kinds: &'static [Kind]) -> impl Strategy<Value = Msg> {
    let kind = select(kinds);
    let ids = (
        prop::option::of(prop_oneof![text(2).prop_map(J::Str), number().prop_map(J::Num), Just(J::Null)]),
        id_value(),
        id_value(),
    );
    let context = (
        string_or_null(cookie_text()),
        string_or_null(url_text()),
        string_or_null(text_sometimes_long()),
        string_or_null(text(5)),
    );
    let rest = (
        kind,
        fields(max_fields),
        text(4),
        prop::option::of(prop_oneof![text(2).prop_map(J::Str), Just(J::Null)]),
        integrations(),
        prop::collection::vec(("[a-z]{1,4}", value()), 0..2),
        any::<u64>(),
        any::<bool>(),
    );
    (ids, context, rest).prop_map(
        |(
            (message_id, user_id, anonymous_id),
            (cookie, page_url, page_referrer, user_agent),
            (kind, fields, event, name, integrations, extra, seed, pretty),
        )| {
            let mut m = Msg::identify(Vec::new());
            m.kind = kind;
            m.message_id = message_id;
            m.user_id = user_id;
            m.anonymous_id = anonymous_id;
            m.cookie = cookie;
            m.page_url = page_url;
            m.page_referrer = page_referrer;
            m.user_agent = user_agent;
            m.integrations = integrations;
            m.extra = extra;
            m.seed = seed;
            m.pretty = pretty;
            match kind {
                Kind::Identify => {
                    let mut traits = fields;
                    // Usually an email, in any position; sometimes blank, a number or absent.
                    match seed % 16 {
                        0 => {}
                        1 => traits.push(("email".into(), J::s("  "))),
                        2 => traits.insert(0, ("email".into(), J::Num("1".into()))),
                        _ => {
                            let at = (seed >> 8) as usize % (traits.len() + 1);
                            traits.insert(at, ("email".into(), J::Str(format!("{event}@e.co"))));
                        }
                    }
                    m.traits = Some(traits);
                }
                Kind::Track => {
                    m.event = Some(event);
                    m.properties = Some(fields);
                }
                Kind::Page => {
                    m.name = name;
                    let mut props = fields;
                    if seed % 5 != 0 {
                        let at = (seed >> 8) as usize % (props.len() + 1);
                        let url = url_for(seed);
                        props.insert(at, ("url".into(), J::Str(url)));
                    }
                    m.properties = Some(props);
                }
                _ => {}
            }
            m
        },
    )
}

/// A structured page URL picked from the seed, for `properties.url` (the message strategy's own
/// URLs come from [`url_text`]; this keeps pages mostly valid).
fn url_for(seed: u64) -> String {
    let hosts = [
        "example.com",
        "Example.COM",
        "bücher.example",
        "127.0.0.1",
        "[::1]",
        "a-b.example.com",
    ];
    let paths = ["", "/", "/pricing", "/a b/é", "/a/../b%20c", "/x\u{7}y", "/]]></attrValue>&"];
    let queries = ["", "?", "?plan=pro&ref=ad", "?q=a b&é=€", "?%zz=1&x=%41", "?a=\u{ffff}\r\n"];
    let frags = ["", "#", "#top", "#a b?c#d"];
    let r = splitmix(seed);
    format!(
        "https://{}{}{}{}",
        hosts[(r % 6) as usize],
        paths[((r >> 8) % 7) as usize],
        queries[((r >> 16) % 6) as usize],
        frags[((r >> 24) % 4) as usize]
    )
}

// ---------------------------------------------------------------------------------------------
// Settings

/// The destination's settings, as a model.
#[derive(Debug, Clone)]
pub struct Sets {
    /// `accountId`.
    pub account_id: String,
    /// `userId` (SOAP user).
    pub user_id: String,
    /// `encryptionKey`.
    pub encryption_key: String,
    /// `privateKey`.
    pub private_key: String,
    /// `traitCasing`, when set.
    pub casing: Option<&'static str>,
    /// `fieldMap`, keys unique.
    pub field_map: Vec<(String, String)>,
    /// `returnLead`, when set.
    pub return_lead: Option<bool>,
    /// `beaconEndpoint`, when set.
    pub beacon_endpoint: Option<String>,
    /// V2 `traits` mapping (segmentTrait, marketoFieldName).
    pub traits: Vec<(String, String)>,
}

/// The SOAP endpoint every generated setting uses.
pub const SOAP_ENDPOINT: &str = "https://561-HYG-937.mktoapi.com/soap/mktows/2_1";

impl Sets {
    /// The settings JSON.
    pub fn json(&self) -> String {
        let mut m = serde_json::Map::new();
        m.insert("accountId".into(), self.account_id.clone().into());
        m.insert("userId".into(), self.user_id.clone().into());
        m.insert("encryptionKey".into(), self.encryption_key.clone().into());
        m.insert("privateKey".into(), self.private_key.clone().into());
        m.insert("soapEndpoint".into(), SOAP_ENDPOINT.into());
        if let Some(c) = self.casing {
            m.insert("traitCasing".into(), c.into());
        }
        let map: serde_json::Map<String, serde_json::Value> = self.field_map.iter().map(|(k, v)| (k.clone(), v.clone().into())).collect();
        m.insert("fieldMap".into(), map.into());
        if let Some(r) = self.return_lead {
            m.insert("returnLead".into(), r.into());
        }
        if let Some(b) = &self.beacon_endpoint {
            m.insert("beaconEndpoint".into(), b.clone().into());
        }
        let traits: Vec<serde_json::Value> = self
            .traits
            .iter()
            .map(|(s, f)| serde_json::json!({"segmentTrait": s, "marketoFieldName": f}))
            .collect();
        m.insert("traits".into(), traits.into());
        serde_json::Value::Object(m).to_string()
    }

    /// Whether the SOAP destination accepts these settings (documented rules).
    pub fn soap_valid(&self) -> bool {
        is_munchkin_id(&self.account_id)
            && !self.user_id.trim().is_empty()
            && !self.encryption_key.is_empty()
            && self.field_map.iter().all(|(_, v)| !v.trim().is_empty())
    }

    /// The beacon base URL without trailing `/`.
    pub fn beacon_base(&self) -> String {
        self.beacon_endpoint
            .clone()
            .unwrap_or_else(|| format!("https://{}.mktoresp.com", self.account_id))
            .trim_end_matches('/')
            .to_owned()
    }

    /// The Marketo name of a trait key: the field map, else the casing.
    pub fn field_name(&self, key: &str) -> String {
        if let Some((_, v)) = self.field_map.iter().find(|(k, _)| k == key) {
            return v.clone();
        }
        match self.casing {
            Some("preserve") => key.to_owned(),
            Some("pascal") => heck::ToUpperCamelCase::to_upper_camel_case(key),
            _ => {
                let mut c = key.chars();
                match c.next() {
                    Some(first) => first.to_uppercase().chain(c).collect(),
                    None => String::new(),
                }
            }
        }
    }
}

/// `ddd-LLL-ddd`.
pub fn is_munchkin_id(id: &str) -> bool {
    let c: Vec<char> = id.chars().collect();
    c.len() == 11
        && c[3] == '-'
        && c[7] == '-'
        && c[..3].iter().chain(&c[8..]).all(|c| c.is_ascii_digit())
        && c[4..7].iter().all(|c| c.is_ascii_uppercase())
}

/// Settings: usually valid, with weird field-map names (XML specials, controls, the nested
/// `address.*` / `company.name` forms) and any casing.
pub fn settings() -> impl Strategy<Value = Sets> {
    settings_with(1)
}

/// Settings that are valid (text that could be blank or empty is made non-blank).
pub fn valid_settings() -> impl Strategy<Value = Sets> {
    settings_with(0).prop_map(|mut s| {
        let fill = |t: &mut String| {
            if t.trim().is_empty() {
                t.push('x');
            }
        };
        fill(&mut s.user_id);
        fill(&mut s.encryption_key);
        for (_, v) in &mut s.field_map {
            fill(v);
        }
        s
    })
}

fn settings_with(invalid: u32) -> impl Strategy<Value = Sets> {
    let account = prop_oneof![12 => munchkin_id(), invalid => text(2), invalid => Just("561-hyg-937".to_owned())];
    let user = prop_oneof![8 => "[a-zA-Z0-9_]{1,30}", 2 => text(4), invalid => Just(" ".to_owned())];
    let secret = prop_oneof![8 => "[A-F0-9]{8,44}", 2 => text(4), invalid => Just(String::new())];
    let casing = prop::option::of(select(vec!["first-upper", "pascal", "preserve"]));
    let map_key = prop_oneof![
        2 => key_for_map(),
        1 => select(vec![
            "address.city", "address.postalCode", "address.zip", "address.street", "address.country",
            "address.state", "company.name", "userId", "email", "id",
        ])
        .prop_map(str::to_owned),
    ];
    let map_val = prop_oneof![6 => "[A-Za-z_][A-Za-z0-9_]{0,12}", 3 => text(4), invalid => Just(" ".to_owned())];
    let field_map = prop::collection::vec((map_key, map_val), 0..6).prop_map(|v| {
        let mut out: Vec<(String, String)> = Vec::new();
        for (k, val) in v {
            out.retain(|(o, _)| *o != k);
            out.push((k, val));
        }
        out
    });
    let beacon = prop::option::of(select(vec![
        "https://b.example.com",
        "https://b.example.com/",
        "https://b.example.com/base//",
        "https://b.example.com:8443",
        "http://127.0.0.1:9/x",
    ]));
    let traits = prop::collection::vec((key(), prop_oneof!["[a-zA-Z]{1,10}", text(3)]), 0..3);
    (
        account,
        user,
        secret,
        casing,
        field_map,
        prop::option::of(any::<bool>()),
        beacon,
        traits,
        "[a-z0-9]{1,12}",
    )
        .prop_map(
            |(account_id, user_id, encryption_key, casing, field_map, return_lead, beacon, traits, private_key)| Sets {
                account_id,
                user_id,
                encryption_key,
                private_key,
                casing,
                field_map,
                return_lead,
                beacon_endpoint: beacon.map(str::to_owned),
                traits,
            },
        )
}

fn key_for_map() -> impl Strategy<Value = String> {
    key()
}
