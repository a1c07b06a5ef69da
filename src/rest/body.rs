//! The pieces REST requests are made of: JSON scalars and strings written as text, batch size
//! accounting, URL query encoding. Bodies are written as text, not through `serde_json::Map`
//! (which would sort keys without serde_json's `preserve_order` feature), so key order is exactly
//! the order each builder documents.

use std::borrow::Cow;

use crate::event::{Value, write_compact_json};

use super::{MAX_BATCH_RECORDS, MAX_BODY_BYTES};

/// `Content-Type` of REST request bodies.
pub(crate) const CONTENT_TYPE_JSON: &str = "application/json";

/// A JSON scalar sent to Marketo as a field or attribute value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FieldValue {
    /// A JSON string.
    String(String),
    /// A JSON number, as the literal text that arrived (`1.50` stays `1.50`).
    Number(String),
    /// `true` or `false`.
    Bool(bool),
}

impl FieldValue {
    /// The value of a trait or property: strings, numbers and booleans as they are; objects and
    /// arrays as a string holding their compact JSON (as the SOAP path sends them); `None` for
    /// `null`.
    pub fn from_event(value: &Value<'_>) -> Option<FieldValue> {
        Some(match value {
            Value::Null => return None,
            Value::Bool(b) => FieldValue::Bool(*b),
            Value::Number(n) => FieldValue::Number(n.clone().into_owned()),
            Value::String(s) => FieldValue::String(s.clone().into_owned()),
            Value::Object(raw) | Value::Array(raw) => {
                let mut out = String::with_capacity(raw.len());
                write_compact_json(raw, &mut out);
                FieldValue::String(out)
            }
        })
    }

    /// The value as text: a string as it is, a number's literal, `true`/`false`.
    pub fn as_text(&self) -> Cow<'_, str> {
        match self {
            FieldValue::String(s) | FieldValue::Number(s) => Cow::Borrowed(s),
            FieldValue::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        }
    }

    /// Appends the value as JSON.
    pub(crate) fn write_json(&self, out: &mut String) {
        match self {
            FieldValue::String(s) => write_json_str(s, out),
            FieldValue::Number(n) => out.push_str(n),
            FieldValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        }
    }
}

/// Appends `s` as a JSON string: `"` and `\` escaped, control characters as `\n`, `\r`, `\t`,
/// `\b`, `\f` or `\u00XX`; everything else (including non-ASCII) as it is, in UTF-8.
pub(crate) fn write_json_str(s: &str, out: &mut String) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    loop {
        // The bytes JSON must escape are the ones that end a run of plain string bytes.
        let i = crate::json::string_stop(bytes, start);
        let Some(&b) = bytes.get(i) else { break };
        out.push_str(&s[start..i]);
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Appends an ordered JSON object of `(name, value)` pairs.
pub(crate) fn write_object<K: AsRef<str>>(fields: &[(K, FieldValue)], out: &mut String) {
    out.push('{');
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_str(name.as_ref(), out);
        out.push(':');
        value.write_json(out);
    }
    out.push('}');
}

/// Appends `value` percent-encoded for a URL query (`application/x-www-form-urlencoded`: only
/// ASCII letters, digits and `*-._` stay; a space becomes `+`).
pub(crate) fn push_query_value(value: &str, out: &mut String) {
    out.extend(url::form_urlencoded::byte_serialize(value.as_bytes()));
}

/// `base` (without trailing `/`) followed by `path` (starting with `/`).
pub(crate) fn join(base: &str, path: &str) -> String {
    let base = base.trim_end_matches('/');
    let mut url = String::with_capacity(base.len() + path.len() + 64);
    url.push_str(base);
    url.push_str(path);
    url
}

/// A record that is one element of a batch's `input` array.
pub(crate) trait InputJson {
    /// The record as JSON text.
    fn json(&self) -> &str;
}

/// Records of one batch body `<head>[r1,r2,…]}`, with the body's exact length kept up to date so
/// [`Records::try_push`] can refuse the record that would pass 300 records or 1 MB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Records<R> {
    records: Vec<R>,
    body_len: usize,
}

/// What closes a batch body after the last record.
const TAIL: &str = "]}";

impl<R: InputJson> Records<R> {
    /// No records yet, under a head of `head_len` bytes (`{…,"input":[`).
    pub(crate) fn new(head_len: usize) -> Records<R> {
        Records {
            records: Vec::new(),
            body_len: head_len + TAIL.len(),
        }
    }

    /// The body length with just `record` in it, under a head of `head_len` bytes.
    pub(crate) fn alone_len(head_len: usize, record: &R) -> usize {
        head_len + record.json().len() + TAIL.len()
    }

    /// Adds `record` unless the batch would then pass [`MAX_BATCH_RECORDS`] records or
    /// [`MAX_BODY_BYTES`] bytes of body; a refused record comes back.
    pub(crate) fn try_push(&mut self, record: R) -> Result<(), R> {
        let added = record.json().len() + usize::from(!self.records.is_empty());
        if self.records.len() >= MAX_BATCH_RECORDS || self.body_len + added > MAX_BODY_BYTES {
            return Err(record);
        }
        self.body_len += added;
        self.records.push(record);
        Ok(())
    }

    pub(crate) fn records(&self) -> &[R] {
        &self.records
    }

    pub(crate) fn into_records(self) -> Vec<R> {
        self.records
    }

    pub(crate) fn body_len(&self) -> usize {
        self.body_len
    }

    /// The whole body: `head`, the records joined by `,`, then `]}`.
    pub(crate) fn body(&self, head: &str) -> String {
        let mut out = String::with_capacity(self.body_len);
        self.write_body(head, &mut out);
        out
    }

    /// Appends [`Records::body`] to `out`.
    pub(crate) fn write_body(&self, head: &str, out: &mut String) {
        out.reserve(self.body_len);
        out.push_str(head);
        for (i, r) in self.records.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(r.json());
        }
        out.push_str(TAIL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_match_serde_json() {
        for s in [
            "",
            "plain",
            "quote \" back \\ slash",
            "ctl \u{0} \u{1f} \n\r\t\u{8}\u{c}",
            "é ✓ 𝄞",
            "\u{7f}</script>",
        ] {
            let mut out = String::new();
            write_json_str(s, &mut out);
            assert_eq!(serde_json::from_str::<String>(&out).unwrap(), s);
        }
        let mut out = String::new();
        write_json_str("a\u{1}", &mut out);
        assert_eq!(out, r#""a\u0001""#);
        // Every byte that needs an escape, at every offset of a text longer than a word.
        for c in (0u8..0x80).map(char::from).chain(['é', '\u{2028}']) {
            for at in 0..20 {
                let text = format!("{}{c}{}", "a".repeat(at), "b".repeat(20 - at));
                let mut out = String::new();
                write_json_str(&text, &mut out);
                assert_eq!(out, serde_json::to_string(&text).unwrap(), "{c:?} at {at}");
            }
        }
    }

    #[test]
    fn query_values_are_encoded() {
        let mut out = String::new();
        push_query_value("a@b.com &=+/ é", &mut out);
        assert_eq!(out, "a%40b.com+%26%3D%2B%2F+%C3%A9");
    }
}
