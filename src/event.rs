//! Segment spec messages (identify, track, page; group, alias and screen are recognised and
//! skipped), parsed from JSON with as little copying as possible.
//!
//! Field and property order is kept as it arrived: trait maps are ordered lists, not hash maps.
//! Strings without escapes, numbers and nested objects borrow from the input; numbers keep their
//! literal JSON text (`1.50` stays `1.50`). Nested objects and arrays stay raw JSON until someone
//! needs them. Source: Segment's HTTP tracking API spec (segmentio/segment-docs
//! `src/connections/spec/`).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{Error, MessageRef};
use crate::json::{JsonError, Reader};

/// A JSON value from a trait or property, with its literal text where that matters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number, as its literal JSON text.
    Number(Cow<'a, str>),
    /// A string, unescaped.
    String(Cow<'a, str>),
    /// An object, as its raw JSON text (parse with [`Fields::from_json`]).
    Object(Cow<'a, str>),
    /// An array, as its raw JSON text.
    Array(Cow<'a, str>),
}

impl<'a> Value<'a> {
    /// The string, when this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as Marketo receives it: strings as given, numbers as their JSON text, booleans
    /// `true`/`false`, objects and arrays as compact JSON; `None` for `null`.
    pub fn to_text(&self) -> Option<Cow<'_, str>> {
        match self {
            Value::Null => None,
            Value::Bool(true) => Some(Cow::Borrowed("true")),
            Value::Bool(false) => Some(Cow::Borrowed("false")),
            Value::Number(n) => Some(Cow::Borrowed(n)),
            Value::String(s) => Some(Cow::Borrowed(s)),
            Value::Object(raw) | Value::Array(raw) => {
                let mut out = String::with_capacity(raw.len());
                write_compact_json(raw, &mut out);
                Some(Cow::Owned(out))
            }
        }
    }

    /// Like [`Value::to_text`], writing into `out` (appends); returns false for `null`.
    pub fn write_text(&self, out: &mut String) -> bool {
        match self {
            Value::Null => return false,
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => out.push_str(n),
            Value::String(s) => out.push_str(s),
            Value::Object(raw) | Value::Array(raw) => write_compact_json(raw, out),
        }
        true
    }

    /// The same value borrowing from this one (no copy, whether its text is borrowed or owned).
    pub fn borrowed(&self) -> Value<'_> {
        match self {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(*b),
            Value::Number(n) => Value::Number(Cow::Borrowed(n)),
            Value::String(s) => Value::String(Cow::Borrowed(s)),
            Value::Object(s) => Value::Object(Cow::Borrowed(s)),
            Value::Array(s) => Value::Array(Cow::Borrowed(s)),
        }
    }

    /// An owned copy.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(b),
            Value::Number(n) => Value::Number(Cow::Owned(n.into_owned())),
            Value::String(s) => Value::String(Cow::Owned(s.into_owned())),
            Value::Object(s) => Value::Object(Cow::Owned(s.into_owned())),
            Value::Array(s) => Value::Array(Cow::Owned(s.into_owned())),
        }
    }

    /// Reads one JSON value's text (valid JSON, as the message parser captured it), borrowing
    /// strings without escapes, numbers, objects and arrays.
    pub(crate) fn from_raw(raw: &'a str) -> Result<Value<'a>, JsonError> {
        let mut reader = Reader::new(raw);
        let value = reader.value()?;
        reader.end()?;
        Ok(value)
    }
}

/// Copies JSON text without the whitespace outside strings (`{"a": [1, 2]}` -> `{"a":[1,2]}`),
/// keeping key order and number text. The input must be valid JSON (as parsed by this module).
pub fn write_compact_json(raw: &str, out: &mut String) {
    compact_json_runs(raw, |run| out.push_str(run));
}

/// Calls `run` with each piece of `raw` that [`write_compact_json`] keeps, in order: the text
/// between the whitespace outside strings. The one scanner behind the compact forms (plain, and
/// XML-escaped in `soap::envelope::escape_compact_json`).
pub(crate) fn compact_json_runs<'r>(raw: &'r str, mut run: impl FnMut(&'r str)) {
    let bytes = raw.as_bytes();
    let mut in_string = false;
    let mut escaped = false;
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            if start < i {
                run(&raw[start..i]);
            }
            start = i + 1;
        }
    }
    if start < raw.len() {
        run(&raw[start..]);
    }
}

/// An ordered list of `key: value` pairs (traits, properties), as they arrived.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fields<'a> {
    entries: Vec<(Cow<'a, str>, Value<'a>)>,
}

impl<'a> IntoIterator for Fields<'a> {
    type Item = (Cow<'a, str>, Value<'a>);
    type IntoIter = std::vec::IntoIter<(Cow<'a, str>, Value<'a>)>;

    /// The pairs in arrival order, moved out (no copy of owned text).
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a> Fields<'a> {
    /// Parses a JSON object's text (or `null`) into ordered fields.
    pub fn from_json(json: &'a str) -> Result<Fields<'a>, JsonError> {
        let mut reader = Reader::new(json);
        let fields = Fields::read(&mut reader)?;
        reader.end()?;
        Ok(fields)
    }

    /// Reads an object (or `null`, as no fields) at the reader's cursor.
    pub(crate) fn read(r: &mut Reader<'a>) -> Result<Fields<'a>, JsonError> {
        let mut entries = Vec::new();
        if r.object()? {
            let mut first = true;
            while let Some(key) = r.next_key(&mut first)? {
                if entries.capacity() == 0 {
                    // One allocation covers typical messages.
                    entries.reserve(32);
                }
                entries.push((key, r.value()?));
            }
        }
        Ok(Fields { entries })
    }

    /// An empty list.
    pub fn new() -> Fields<'a> {
        Fields { entries: Vec::new() }
    }

    /// Appends a pair.
    pub fn push(&mut self, key: impl Into<Cow<'a, str>>, value: Value<'a>) {
        self.entries.push((key.into(), value));
    }

    /// The pairs in arrival order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Value<'a>)> {
        self.entries.iter().map(|(k, v)| (k.as_ref(), v))
    }

    /// The value of `key` (the last one, when a key repeats, as JSON parsers do).
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        self.entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The string value of `key`, when it is a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// An owned copy.
    pub fn into_owned(self) -> Fields<'static> {
        Fields {
            entries: self
                .entries
                .into_iter()
                .map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned()))
                .collect(),
        }
    }
}

/// The parts of `context` this crate reads; everything else in it is ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Context<'a> {
    /// `context.Marketo.marketoCookie`: the user's Munchkin `_mkto_trk` cookie.
    pub marketo_cookie: Option<Cow<'a, str>>,
    /// `context.page.url`.
    pub page_url: Option<Cow<'a, str>>,
    /// `context.page.referrer`.
    pub page_referrer: Option<Cow<'a, str>>,
    /// `context.userAgent`.
    pub user_agent: Option<Cow<'a, str>>,
}

impl<'a> Context<'a> {
    /// Reads the object (or `null`) at the reader's cursor; keys other than these are skipped.
    fn read(r: &mut Reader<'a>) -> Result<Context<'a>, JsonError> {
        let mut c = Context::default();
        if !r.object()? {
            return Ok(c);
        }
        let mut first = true;
        while let Some(key) = r.next_key(&mut first)? {
            match key.as_ref() {
                // An object replaces what an earlier `Marketo` or `page` set (`null` leaves it),
                // and names each of its fields once, as serde's derived structs had it.
                "Marketo" => {
                    let mut seen = false;
                    if r.ws() == Some(b'{') {
                        c.marketo_cookie = None;
                    }
                    read_object(r, |r, key| {
                        if key == "marketoCookie" {
                            if std::mem::replace(&mut seen, true) {
                                return Err(r.error("duplicate field `marketoCookie`"));
                            }
                            c.marketo_cookie = r.opt_string()?;
                        } else {
                            r.skip()?;
                        }
                        Ok(())
                    })?
                }
                "page" => {
                    let (mut url, mut referrer) = (false, false);
                    if r.ws() == Some(b'{') {
                        (c.page_url, c.page_referrer) = (None, None);
                    }
                    read_object(r, |r, key| {
                        match key {
                            "url" if std::mem::replace(&mut url, true) => return Err(r.error("duplicate field `url`")),
                            "referrer" if std::mem::replace(&mut referrer, true) => return Err(r.error("duplicate field `referrer`")),
                            "url" => c.page_url = r.opt_string()?,
                            "referrer" => c.page_referrer = r.opt_string()?,
                            _ => {
                                r.skip()?;
                            }
                        }
                        Ok(())
                    })?
                }
                "userAgent" => c.user_agent = r.opt_string()?,
                _ => {
                    r.skip()?;
                }
            }
        }
        Ok(c)
    }
}

/// Calls `field` with each key and value of a JSON object's text (or `null`, which has none), in
/// order, without collecting them: the allocation-free way to read a nested object once.
pub fn each_field<'a>(json: &'a str, mut field: impl FnMut(Cow<'a, str>, Value<'a>)) -> Result<(), JsonError> {
    let mut reader = Reader::new(json);
    if reader.object()? {
        let mut first = true;
        while let Some(key) = reader.next_key(&mut first)? {
            field(key, reader.value()?);
        }
    }
    reader.end()
}

/// Reads an object (or `null`) at the reader's cursor, handing each key to `field`, which must
/// read or skip the value.
fn read_object<'a>(r: &mut Reader<'a>, mut field: impl FnMut(&mut Reader<'a>, &str) -> Result<(), JsonError>) -> Result<(), JsonError> {
    if r.object()? {
        let mut first = true;
        while let Some(key) = r.next_key(&mut first)? {
            field(r, &key)?;
        }
    }
    Ok(())
}

/// The `integrations` object, reduced to what matters here: is Marketo enabled?
///
/// Rule (Segment's own libraries): a `Marketo` key decides when present (`false` disables, any other
/// value, including an options object, enables); otherwise `All: false` disables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Integrations {
    /// The value of `Marketo`: `Some(false)` for `false`, `Some(true)` for anything else.
    pub marketo: Option<bool>,
    /// The value of `All`: `Some(false)` for `false`, `Some(true)` for anything else.
    pub all: Option<bool>,
}

impl Integrations {
    /// Reads the object (or `null`) at the reader's cursor.
    fn read(r: &mut Reader<'_>) -> Result<Integrations, JsonError> {
        let mut i = Integrations::default();
        if r.object()? {
            let mut first = true;
            while let Some(key) = r.next_key(&mut first)? {
                let on = r.skip()? != "false";
                match key.as_ref() {
                    "Marketo" => i.marketo = Some(on),
                    "All" => i.all = Some(on),
                    _ => {}
                }
            }
        }
        Ok(i)
    }

    /// Whether the message goes to Marketo.
    pub fn marketo_enabled(&self) -> bool {
        match self.marketo {
            Some(enabled) => enabled,
            None => self.all != Some(false),
        }
    }
}

/// The message type (`type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageType {
    /// `identify`
    Identify,
    /// `track`
    Track,
    /// `page`
    Page,
    /// `group`
    Group,
    /// `alias`
    Alias,
    /// `screen`
    Screen,
}

impl MessageType {
    /// The spec name (`identify`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Identify => "identify",
            MessageType::Track => "track",
            MessageType::Page => "page",
            MessageType::Group => "group",
            MessageType::Alias => "alias",
            MessageType::Screen => "screen",
        }
    }

    fn from_name(name: &str) -> Option<MessageType> {
        Some(match name {
            "identify" => MessageType::Identify,
            "track" => MessageType::Track,
            "page" => MessageType::Page,
            "group" => MessageType::Group,
            "alias" => MessageType::Alias,
            "screen" => MessageType::Screen,
            _ => return None,
        })
    }
}

/// Fields every message type has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Common<'a> {
    /// `messageId`.
    pub message_id: Option<Cow<'a, str>>,
    /// `userId`.
    pub user_id: Option<Cow<'a, str>>,
    /// `anonymousId`.
    pub anonymous_id: Option<Cow<'a, str>>,
    /// `timestamp`, as sent.
    pub timestamp: Option<Cow<'a, str>>,
    /// What this crate reads of `context`.
    pub context: Context<'a>,
    /// `integrations`.
    pub integrations: Integrations,
}

impl Common<'_> {
    /// This message as named in errors.
    pub fn message_ref(&self) -> MessageRef {
        MessageRef::new(self.message_id.as_deref())
    }
}

/// An identify message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Identify<'a> {
    /// Common fields.
    pub common: Common<'a>,
    /// `traits`, in arrival order.
    pub traits: Fields<'a>,
}

/// A track message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Track<'a> {
    /// Common fields.
    pub common: Common<'a>,
    /// `event`.
    pub event: Cow<'a, str>,
    /// `properties`, in arrival order.
    pub properties: Fields<'a>,
}

/// A page message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Page<'a> {
    /// Common fields.
    pub common: Common<'a>,
    /// `name`.
    pub name: Option<Cow<'a, str>>,
    /// `properties`, in arrival order.
    pub properties: Fields<'a>,
}

/// A Segment message. Parse with [`Message::from_json`] or [`Message::from_slice`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message<'a> {
    /// `identify`
    Identify(Identify<'a>),
    /// `track`
    Track(Track<'a>),
    /// `page`
    Page(Page<'a>),
    /// `group`, `alias` or `screen`: recognised, not sent to Marketo.
    Other(MessageType, Common<'a>),
}

impl<'a> Message<'a> {
    /// Parses one message from JSON text. Strings without escapes borrow from `json`.
    pub fn from_json(json: &'a str) -> Result<Message<'a>, Error> {
        Self::parse(json, |r| Fields::read(r).map(Some))
    }

    /// Parses one message from JSON bytes, which must be UTF-8 (RFC 8259 §8.1).
    pub fn from_slice(json: &'a [u8]) -> Result<Message<'a>, Error> {
        Self::from_slice_with(json, |r| Fields::read(r).map(Some))
    }

    /// [`Message::from_slice`], handing the `traits` value (each time the key appears) to
    /// `traits`, which reads it from the reader and returns the fields to keep, or `None` when it
    /// consumed them (a streaming writer). Everything else is parsed and checked as usual.
    pub(crate) fn from_slice_with(
        json: &'a [u8],
        traits: impl FnMut(&mut Reader<'a>) -> Result<Option<Fields<'a>>, JsonError>,
    ) -> Result<Message<'a>, Error> {
        match crate::json::utf8(json) {
            Ok(text) => Self::parse(text, traits),
            Err(source) => Err(Error::InvalidMessage {
                message: MessageRef(recover_message_id(json)),
                field: None,
                reason: source.to_string(),
                source: Some(source),
            }),
        }
    }

    fn parse(json: &'a str, traits: impl FnMut(&mut Reader<'a>) -> Result<Option<Fields<'a>>, JsonError>) -> Result<Message<'a>, Error> {
        let mut field = "";
        match Parsed::read(&mut Reader::new(json), &mut field, traits) {
            Ok(parsed) => parsed.into_message(),
            Err(source) => Err(Error::InvalidMessage {
                message: MessageRef(recover_message_id(json.as_bytes())),
                field: (!field.is_empty()).then(|| field.to_owned()),
                reason: source.to_string(),
                source: Some(source),
            }),
        }
    }

    /// The message type.
    pub fn message_type(&self) -> MessageType {
        match self {
            Message::Identify(_) => MessageType::Identify,
            Message::Track(_) => MessageType::Track,
            Message::Page(_) => MessageType::Page,
            Message::Other(t, _) => *t,
        }
    }

    /// The fields every type has.
    pub fn common(&self) -> &Common<'a> {
        match self {
            Message::Identify(m) => &m.common,
            Message::Track(m) => &m.common,
            Message::Page(m) => &m.common,
            Message::Other(_, c) => c,
        }
    }
}

/// On a parse error, the `messageId` if one can still be read from the text.
fn recover_message_id(bytes: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct OnlyId {
        #[serde(rename = "messageId")]
        message_id: Option<String>,
    }
    serde_json::from_slice::<OnlyId>(bytes).ok().and_then(|m| m.message_id)
}

struct Parsed<'a> {
    kind: Option<Cow<'a, str>>,
    common: Common<'a>,
    traits: Fields<'a>,
    event: Option<Cow<'a, str>>,
    properties: Fields<'a>,
    name: Option<Cow<'a, str>>,
}

impl<'a> Parsed<'a> {
    /// Reads the top-level object, recording the known field being read in `field` so that an
    /// error can name it (a static name: no allocation on the happy path).
    fn read(
        r: &mut Reader<'a>,
        field: &mut &'static str,
        mut traits: impl FnMut(&mut Reader<'a>) -> Result<Option<Fields<'a>>, JsonError>,
    ) -> Result<Parsed<'a>, JsonError> {
        let mut p = Parsed {
            kind: None,
            common: Common::default(),
            traits: Fields::new(),
            event: None,
            properties: Fields::new(),
            name: None,
        };
        if r.ws() != Some(b'{') || !r.object()? {
            return Err(r.error("expected a Segment message object"));
        }
        let mut first = true;
        while let Some(key) = r.next_key(&mut first)? {
            // An unknown key is skipped with no field named (not the last known one).
            *field = match key.as_ref() {
                "type" => "type",
                "messageId" => "messageId",
                "userId" => "userId",
                "anonymousId" => "anonymousId",
                "timestamp" => "timestamp",
                "context" => "context",
                "integrations" => "integrations",
                "traits" => "traits",
                "event" => "event",
                "properties" => "properties",
                "name" => "name",
                _ => "",
            };
            if field.is_empty() {
                r.skip()?;
                continue;
            }
            match *field {
                "type" => p.kind = r.opt_string()?,
                "messageId" => p.common.message_id = read_id(r)?,
                "userId" => p.common.user_id = read_id(r)?,
                "anonymousId" => p.common.anonymous_id = read_id(r)?,
                "timestamp" => p.common.timestamp = r.opt_string()?,
                "context" => p.common.context = Context::read(r)?,
                "integrations" => p.common.integrations = Integrations::read(r)?,
                "traits" => p.traits = traits(r)?.unwrap_or_default(),
                "event" => p.event = r.opt_string()?,
                "properties" => p.properties = Fields::read(r)?,
                _ => p.name = r.opt_string()?,
            }
        }
        *field = "";
        r.end()?; // nothing but whitespace may follow the message
        Ok(p)
    }

    fn into_message(self) -> Result<Message<'a>, Error> {
        // Named only in an error: built when there is one.
        let message = || MessageRef::new(self.common.message_id.as_deref());
        let Some(kind) = &self.kind else {
            return Err(Error::MissingField {
                message: message(),
                field: "type",
            });
        };
        let kind = MessageType::from_name(kind).ok_or_else(|| Error::InvalidField {
            message: message(),
            field: "type".into(),
            reason: format!("unknown message type {kind:?}"),
        })?;
        Ok(match kind {
            MessageType::Identify => Message::Identify(Identify {
                common: self.common,
                traits: self.traits,
            }),
            MessageType::Track => {
                let Some(event) = self.event else {
                    return Err(Error::MissingField {
                        message: message(),
                        field: "event",
                    });
                };
                Message::Track(Track {
                    common: self.common,
                    event,
                    properties: self.properties,
                })
            }
            MessageType::Page => Message::Page(Page {
                common: self.common,
                name: self.name,
                properties: self.properties,
            }),
            other => Message::Other(other, self.common),
        })
    }
}

/// An identifier: a string, or a number taken as its text (Segment libraries coerce numeric ids),
/// or `null`.
fn read_id<'a>(r: &mut Reader<'a>) -> Result<Option<Cow<'a, str>>, JsonError> {
    match r.ws() {
        Some(b'-' | b'0'..=b'9') => Ok(Some(Cow::Borrowed(r.number()?))),
        Some(b'"' | b'n') => r.opt_string(),
        _ => Err(r.error("expected a string, a number or null")),
    }
}

/// Whether `text` matches Segment's email test `/.+@.+\..+/` (is-email, as facade's `email()`
/// applies it to `userId`): unanchored, and `.` does not match line terminators.
///
/// Linear: on each line only the first `@` after the line's start is tried, since whatever a later
/// `@` could pair with (a `.` after it, not first, not last) lies in the first one's rest too.
pub fn looks_like_email(text: &str) -> bool {
    text.split(['\n', '\r', '\u{2028}', '\u{2029}']).any(|line| {
        let Some((at, _)) = line.char_indices().find(|&(at, c)| c == '@' && at > 0) else {
            return false;
        };
        let after = &line[at + 1..];
        after.char_indices().any(|(dot, d)| d == '.' && dot > 0 && dot + 1 < after.len())
    })
}

/// Splits a Segment batch object (`{"batch":[…]}`) into its messages' JSON texts; `None` when
/// `json` is not a batch object.
pub fn split_batch(json: &str) -> Option<Vec<&str>> {
    #[derive(Deserialize)]
    struct Batch<'a> {
        #[serde(borrow)]
        batch: Vec<&'a RawValue>,
    }
    serde_json::from_str::<Batch<'_>>(json)
        .ok()
        .map(|b| b.batch.into_iter().map(RawValue::get).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_number_text() {
        let m = Message::from_json(r#"{"type":"identify","traits":{"z":1.50,"a":"x","m":{"k": [1, 2]},"n":null,"b":true}}"#).unwrap();
        let Message::Identify(i) = m else { panic!("not identify") };
        let keys: Vec<_> = i.traits.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["z", "a", "m", "n", "b"]);
        let texts: Vec<_> = i.traits.iter().map(|(_, v)| v.to_text().map(|c| c.into_owned())).collect();
        assert_eq!(
            texts,
            [
                Some("1.50".into()),
                Some("x".into()),
                Some(r#"{"k":[1,2]}"#.into()),
                None,
                Some("true".into())
            ]
        );
    }

    #[test]
    fn errors_name_the_field_and_message() {
        let err = Message::from_json(r#"{"messageId":"m1","type":"identify","traits":[1]}"#).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("m1") && text.contains("`traits`"), "{text}");
        let err = Message::from_json(r#"{"messageId":"m2","type":"track"}"#).unwrap_err();
        assert_eq!(err.to_string(), "message \"m2\": required field `event` is missing");
        assert!(Message::from_json(r#"{"type":"group"}x"#).is_err(), "trailing text");
        assert!(Message::from_json("{\"type\":\"group\"} \n").is_ok());
        let err = Message::from_json("not json").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidJson);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused_where_they_are() {
        let err = Message::from_slice(b"{\"type\":\"identify\",\n\"ignored\":\"a\xffb\"}").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidJson);
        assert!(err.to_string().contains("invalid UTF-8 at line 2 column 13"), "{err}");
        assert!(Message::from_slice("{\"type\":\"identify\",\"x\":\"é\"}".as_bytes()).is_ok());
    }

    #[test]
    fn escaped_strings_and_numeric_ids() {
        let m = Message::from_json(r#"{"type":"identify","userId":42,"traits":{"q":"a\"b\u00e9"}}"#).unwrap();
        let Message::Identify(i) = m else { panic!() };
        assert_eq!(i.common.user_id.as_deref(), Some("42"));
        assert_eq!(i.traits.get_str("q"), Some("a\"bé"));
    }

    #[test]
    fn context_objects_replace_and_name_fields_once() {
        type Owned = (Option<String>, Option<String>, Option<String>);
        let ctx = |json: &str| -> Result<Owned, String> {
            let m = Message::from_json(json).map_err(|e| e.to_string())?;
            let c = &m.common().context;
            let own = |v: &Option<Cow<'_, str>>| v.as_deref().map(str::to_owned);
            Ok((own(&c.page_url), own(&c.page_referrer), own(&c.marketo_cookie)))
        };
        let (url, referrer, _) = ctx(r#"{"type":"page","context":{"page":{"url":"A","referrer":"B"},"page":{"url":"C"}}}"#).unwrap();
        assert_eq!((url.as_deref(), referrer), (Some("C"), None));
        let (url, ..) = ctx(r#"{"type":"page","context":{"page":{"url":"A"},"page":null}}"#).unwrap();
        assert_eq!(url.as_deref(), Some("A"));
        let (.., cookie) = ctx(r#"{"type":"page","context":{"Marketo":{"marketoCookie":"x"},"Marketo":{}}}"#).unwrap();
        assert_eq!(cookie, None);
        let err = ctx(r#"{"type":"page","context":{"Marketo":{"marketoCookie":"x","marketoCookie":"y"}}}"#).unwrap_err();
        assert!(
            err.contains("`context`") && err.contains("duplicate field `marketoCookie`"),
            "{err}"
        );
        assert!(ctx(r#"{"type":"page","context":{"page":{"url":"A","url":"B"}}}"#).is_err());
        assert!(ctx(r#"{"type":"page","context":{"page":["A","B"]}}"#).is_err());
    }

    #[test]
    fn an_unknown_field_is_not_blamed_on_the_last_known_one() {
        let err = Message::from_json(r#"{"type":"identify","foo":[1,]}"#).unwrap_err();
        assert!(!err.to_string().contains("`type`"), "{err}");
    }

    #[test]
    fn email_test_is_linear() {
        // Quadratic before: every `@` scanned the rest of the line.
        let text = format!("a{}", "@".repeat(1 << 20));
        assert!(!looks_like_email(&text));
        assert!(looks_like_email(&format!("{text}.x")));
    }

    #[test]
    fn email_test_is_segments() {
        for yes in ["a@b.c", "x a@b.c y", "@@a.b", "@a@b.c", "a@.b.c", "a@b..c", "é@é.é", "bad\na@b.c"] {
            assert!(looks_like_email(yes), "{yes:?}");
        }
        for no in [
            "",
            "a@b",
            "@b.c",
            "a@.c",
            "a@b.",
            "ab.c",
            "a\n@b.c",
            "a@b\n.c",
            "a\u{2028}@b.c",
            "id",
        ] {
            assert!(!looks_like_email(no), "{no:?}");
        }
    }

    #[test]
    fn integrations_rule() {
        let on = |j: &str| Integrations::read(&mut Reader::new(j)).unwrap().marketo_enabled();
        assert!(on("{}"));
        assert!(!on(r#"{"Marketo":false}"#));
        assert!(!on(r#"{"All":false}"#));
        assert!(on(r#"{"All":false,"Marketo":true}"#));
        assert!(on(r#"{"All":false,"Marketo":{"opt":1}}"#));
    }

    #[test]
    fn compact_json_keeps_string_spaces() {
        let mut s = String::new();
        write_compact_json("{ \"a b\" : [ 1 , \"x \\\" y\" ] }", &mut s);
        assert_eq!(s, r#"{"a b":[1,"x \" y"]}"#);
    }
}
