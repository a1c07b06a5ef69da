//! REST wire helpers: JSON objects read with their members in order and every value kept as the
//! JSON text that arrived (`1.50` stays `1.50`), JSON written as text, and URL query or form
//! parameters decoded the way Marketo's Java servlets decode them.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// A JSON object: its members in order, each value as its JSON text. A repeated name appears
/// twice (the later one wins where it matters).
#[derive(Debug, Default)]
pub(crate) struct Object(pub Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Object, D::Error> {
        struct ObjectVisitor;

        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = Object;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Object, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, Box<RawValue>>()? {
                    members.push(member);
                }
                Ok(Object(members))
            }
        }

        deserializer.deserialize_map(ObjectVisitor)
    }
}

impl Object {
    /// Reads a JSON object; `None` for anything else (not JSON, or another kind of value).
    pub(crate) fn parse(text: &str) -> Option<Object> {
        serde_json::from_str(text).ok()
    }

    /// The last member called `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&RawValue> {
        self.0.iter().rev().find(|(key, _)| key == name).map(|(_, value)| &**value)
    }
}

/// The kind of a JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonKind {
    String,
    Number,
    Bool,
    Null,
    Object,
    Array,
}

/// The kind of a (valid) JSON value, from its first character.
pub(crate) fn kind(raw: &RawValue) -> JsonKind {
    match raw.get().trim_start().as_bytes().first() {
        Some(b'"') => JsonKind::String,
        Some(b'{') => JsonKind::Object,
        Some(b'[') => JsonKind::Array,
        Some(b't' | b'f') => JsonKind::Bool,
        Some(b'n') => JsonKind::Null,
        _ => JsonKind::Number,
    }
}

/// A JSON string's content.
pub(crate) fn as_str(raw: &RawValue) -> Option<String> {
    serde_json::from_str(raw.get()).ok()
}

/// A JSON number that is a whole number in `u64` (no fraction, no exponent).
pub(crate) fn as_u64(raw: &RawValue) -> Option<u64> {
    serde_json::from_str(raw.get()).ok()
}

/// A JSON array's elements, each as its JSON text.
pub(crate) fn as_array(raw: &RawValue) -> Option<Vec<Box<RawValue>>> {
    serde_json::from_str(raw.get()).ok()
}

/// Appends `text` as a JSON string.
pub(crate) fn push_str(out: &mut String, text: &str) {
    // Serialising a `&str` cannot fail.
    out.push_str(&serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned()));
}

/// `text` as a JSON string.
pub(crate) fn string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    push_str(&mut out, text);
    out
}

/// Decodes a URL query or form value: `+` is a space and `%XX` a byte, as
/// `application/x-www-form-urlencoded` and Java servlets have it. `None` for a malformed escape
/// or bytes that are not UTF-8.
pub(crate) fn form_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The parameters of a query string or form body, in order: names and values decoded with
/// [`form_decode`] (a value that does not decode is kept as sent).
pub(crate) fn parse_params(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |t: &str| form_decode(t).unwrap_or_else(|| t.to_owned());
            (decode(name), decode(value))
        })
        .collect()
}

/// The first parameter called `name`.
pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_keep_order_and_text() {
        let object = Object::parse(r#" {"b": 1.50, "a": "x\u00e9", "n": null, "b": [1, 2], "o": {"k": true}} "#).unwrap();
        let names: Vec<&str> = object.0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["b", "a", "n", "b", "o"]);
        assert_eq!(object.0[0].1.get(), "1.50");
        assert_eq!(kind(&object.0[0].1), JsonKind::Number);
        assert_eq!(as_str(object.get("a").unwrap()).as_deref(), Some("xé"));
        assert_eq!(kind(object.get("n").unwrap()), JsonKind::Null);
        assert_eq!(kind(object.get("b").unwrap()), JsonKind::Array);
        assert_eq!(as_array(object.get("b").unwrap()).unwrap().len(), 2);
        assert_eq!(kind(object.get("o").unwrap()), JsonKind::Object);
        assert!(Object::parse("[1]").is_none());
        assert!(Object::parse("{").is_none());
        assert!(Object::parse("{} x").is_none());
    }

    #[test]
    fn numbers() {
        let raw = |t: &str| RawValue::from_string(t.to_owned()).unwrap();
        assert_eq!(as_u64(&raw("1001")), Some(1001));
        assert_eq!(as_u64(&raw("1001.0")), None);
        assert_eq!(as_u64(&raw("-1")), None);
        assert_eq!(as_u64(&raw("\"1001\"")), None);
    }

    #[test]
    fn params() {
        let params = parse_params("a=1&cookie=id:561-HYG-937%26token:_mch-x&e=a%2Bb+c&bad=%zz&flag");
        assert_eq!(param(&params, "a"), Some("1"));
        assert_eq!(param(&params, "cookie"), Some("id:561-HYG-937&token:_mch-x"));
        assert_eq!(param(&params, "e"), Some("a+b c"));
        assert_eq!(param(&params, "bad"), Some("%zz"));
        assert_eq!(param(&params, "flag"), Some(""));
        assert_eq!(string("a\"b\n"), "\"a\\\"b\\n\"");
    }
}
