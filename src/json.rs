//! A strict, borrowing JSON reader for the messages this crate parses on its hot path.
//!
//! It accepts exactly what `serde_json` accepts when it skips a value (RFC 8259 text, the same
//! number and escape grammar, any nesting depth; the differential test at the end of this module
//! holds the two together), and reads values the way the transforms need them: strings
//! borrowed when they hold no escape, numbers as their literal text (`1.50` stays `1.50`),
//! objects and arrays as their raw text, found in one pass without recursion.
//!
//! Why not serde: reading every trait through serde's visitor with a `RawValue` per value scanned
//! each string twice and went through the visitor machinery for every value, and a message is
//! parsed once per event on a pipeline's hot path. `serde_json` still reads settings and Marketo's
//! REST answers, where speed does not matter.

use std::borrow::Cow;
use std::fmt;

use crate::event::Value;

/// Why and where JSON text was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError(Box<Fault>);

/// Boxed so that the reader's results stay small on the hot path (one pointer for the error).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fault {
    offset: usize,
    line: usize,
    column: usize,
    reason: &'static str,
}

impl JsonError {
    /// What was wrong.
    pub fn reason(&self) -> &'static str {
        self.0.reason
    }

    /// The byte offset of the fault in the text.
    pub fn offset(&self) -> usize {
        self.0.offset
    }

    /// The line of the fault, from 1.
    pub fn line(&self) -> usize {
        self.0.line
    }

    /// The column of the fault on its line, in bytes, from 1.
    pub fn column(&self) -> usize {
        self.0.column
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at line {} column {}", self.0.reason, self.0.line, self.0.column)
    }
}

impl std::error::Error for JsonError {}

/// Checks that `text` is one JSON value and nothing else (whitespace aside), as the message
/// parser reads it: what `serde_json::from_str::<serde::de::IgnoredAny>` accepts, at any depth.
pub fn validate(text: &str) -> Result<(), JsonError> {
    let mut reader = Reader::new(text);
    reader.skip()?;
    reader.end()
}

/// Whether [`validate`] accepts `text`.
pub(crate) fn is_json(text: &str) -> bool {
    validate(text).is_ok()
}

/// The text of JSON bytes, which must be UTF-8 (RFC 8259 §8.1).
pub(crate) fn utf8(bytes: &[u8]) -> Result<&str, JsonError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let valid = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default();
        Reader::new(valid).error_at(valid.len(), "invalid UTF-8")
    })
}

/// A cursor over JSON text. Methods that read a value expect the cursor on its first byte
/// (after whitespace, see [`Reader::ws`]) and leave it just past the value.
pub(crate) struct Reader<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(text: &'a str) -> Reader<'a> {
        Reader { text, pos: 0 }
    }

    /// An error at byte `at` (cold: kept out of the hot paths' code).
    #[cold]
    #[inline(never)]
    pub(crate) fn error_at(&self, at: usize, reason: &'static str) -> JsonError {
        let at = at.min(self.text.len());
        let before = &self.text.as_bytes()[..at];
        let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        JsonError(Box::new(Fault {
            offset: at,
            line: 1 + before.iter().filter(|&&b| b == b'\n').count(),
            column: 1 + at - line_start,
            reason,
        }))
    }

    /// An error at the cursor.
    pub(crate) fn error(&self, reason: &'static str) -> JsonError {
        self.error_at(self.pos, reason)
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    /// Skips whitespace; returns the next byte, if any.
    pub(crate) fn ws(&mut self) -> Option<u8> {
        let bytes = self.text.as_bytes();
        while let Some(&b) = bytes.get(self.pos) {
            if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(b);
            }
            self.pos += 1;
        }
        None
    }

    /// Succeeds when only whitespace is left.
    pub(crate) fn end(&mut self) -> Result<(), JsonError> {
        match self.ws() {
            None => Ok(()),
            Some(_) => Err(self.error("trailing characters")),
        }
    }

    /// Reads any value: strings unescaped, the rest as its text.
    pub(crate) fn value(&mut self) -> Result<Value<'a>, JsonError> {
        Ok(match self.ws() {
            Some(b'"') => Value::String(self.string()?),
            Some(b'{') => Value::Object(Cow::Borrowed(self.skip()?)),
            Some(b'[') => Value::Array(Cow::Borrowed(self.skip()?)),
            Some(b'-' | b'0'..=b'9') => Value::Number(Cow::Borrowed(self.number()?)),
            Some(b't') => self.literal("true", Value::Bool(true))?,
            Some(b'f') => self.literal("false", Value::Bool(false))?,
            Some(b'n') => self.literal("null", Value::Null)?,
            Some(_) => return Err(self.error("expected value")),
            None => return Err(self.error("EOF while parsing a value")),
        })
    }

    /// Reads a string or `null`.
    pub(crate) fn opt_string(&mut self) -> Result<Option<Cow<'a, str>>, JsonError> {
        match self.ws() {
            Some(b'"') => self.string().map(Some),
            Some(b'n') => self.literal("null", None),
            _ => Err(self.error("expected a string or null")),
        }
    }

    fn literal<T>(&mut self, word: &'static str, value: T) -> Result<T, JsonError> {
        let end = self.pos + word.len();
        if self.text.as_bytes().get(self.pos..end) == Some(word.as_bytes()) {
            self.pos = end;
            Ok(value)
        } else {
            Err(self.error("expected value"))
        }
    }

    /// Opens an object, or reads `null` (false). Anything else is an error.
    pub(crate) fn object(&mut self) -> Result<bool, JsonError> {
        match self.ws() {
            Some(b'{') => {
                self.pos += 1;
                Ok(true)
            }
            Some(b'n') => self.literal("null", false),
            _ => Err(self.error("expected an object or null")),
        }
    }

    /// The next key of the object opened by [`Reader::object`], with the cursor left on its
    /// value; `None` (and the object closed) at its end. `first` is true for the first call.
    pub(crate) fn next_key(&mut self, first: &mut bool) -> Result<Option<Cow<'a, str>>, JsonError> {
        match (self.ws(), *first) {
            (Some(b'}'), _) => {
                self.pos += 1;
                return Ok(None);
            }
            (Some(b','), false) => {
                self.pos += 1;
                self.ws();
            }
            (_, true) => {}
            (None, false) => return Err(self.error("EOF while parsing an object")),
            (Some(_), false) => return Err(self.error("expected `,` or `}`")),
        }
        if !*first && self.peek() == Some(b'}') {
            return Err(self.error("trailing comma"));
        }
        *first = false;
        if self.peek() != Some(b'"') {
            return Err(self.error("key must be a string"));
        }
        let key = self.string()?;
        self.colon()?;
        Ok(Some(key))
    }

    fn colon(&mut self) -> Result<(), JsonError> {
        if self.ws() != Some(b':') {
            return Err(self.error("expected `:`"));
        }
        self.pos += 1;
        self.ws();
        Ok(())
    }

    /// Reads a string (the cursor is on its opening quote), borrowed when it has no escape.
    pub(crate) fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        let bytes = self.text.as_bytes();
        let start = self.pos + 1;
        let end = string_stop(bytes, start);
        match bytes.get(end) {
            Some(b'"') => {
                self.pos = end + 1;
                Ok(Cow::Borrowed(&self.text[start..end]))
            }
            Some(b'\\') => self.unescape(start, end).map(Cow::Owned),
            Some(_) => Err(self.error_at(end, "control character in string")),
            None => Err(self.error_at(end, "EOF while parsing a string")),
        }
    }

    /// The slow path of [`Reader::string`]: `start` is the first byte inside the quotes, `at`
    /// the first backslash. Out of line, so the fast path stays small.
    #[inline(never)]
    fn unescape(&mut self, start: usize, mut at: usize) -> Result<String, JsonError> {
        let bytes = self.text.as_bytes();
        let mut out = String::with_capacity(at - start + 16);
        let mut run = start;
        loop {
            // `at` is on an ASCII byte, so `run..at` is whole characters.
            out.push_str(&self.text[run..at]);
            match bytes.get(at) {
                Some(b'"') => {
                    self.pos = at + 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    let (c, len) = self.escape(at)?;
                    out.push(c);
                    run = at + len;
                    at = string_stop(bytes, run);
                }
                Some(_) => return Err(self.error_at(at, "control character in string")),
                None => return Err(self.error_at(at, "EOF while parsing a string")),
            }
        }
    }

    /// Decodes the escape at `at` (a backslash): the character and the escape's length.
    fn escape(&self, at: usize) -> Result<(char, usize), JsonError> {
        let bytes = self.text.as_bytes();
        let c = match bytes.get(at + 1) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let first = self.hex4(at + 2)?;
                if (0xDC00..0xE000).contains(&first) {
                    return Err(self.error_at(at, "lone surrogate in hex escape"));
                }
                if !(0xD800..0xDC00).contains(&first) {
                    let c = char::from_u32(first).ok_or_else(|| self.error_at(at, "invalid unicode code point"))?;
                    return Ok((c, 6));
                }
                // A high surrogate must be followed by an escaped low one.
                if bytes.get(at + 6..at + 8) != Some(b"\\u") {
                    return Err(self.error_at(at, "lone surrogate in hex escape"));
                }
                let low = self.hex4(at + 8)?;
                if !(0xDC00..0xE000).contains(&low) {
                    return Err(self.error_at(at + 6, "lone surrogate in hex escape"));
                }
                let code = 0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00);
                let c = char::from_u32(code).ok_or_else(|| self.error_at(at, "invalid unicode code point"))?;
                return Ok((c, 12));
            }
            Some(_) => return Err(self.error_at(at + 1, "invalid escape")),
            None => return Err(self.error_at(at + 1, "EOF while parsing a string")),
        };
        Ok((c, 2))
    }

    /// Four hex digits at `at`.
    fn hex4(&self, at: usize) -> Result<u32, JsonError> {
        let digits = self
            .text
            .as_bytes()
            .get(at..at + 4)
            .ok_or_else(|| self.error_at(at, "EOF while parsing a string"))?;
        digits.iter().try_fold(0u32, |acc, &d| match (d as char).to_digit(16) {
            Some(v) => Ok(acc * 16 + v),
            None => Err(self.error_at(at, "invalid escape")),
        })
    }

    /// Validates a string without decoding it (escapes are checked for form only, as serde_json
    /// does for values it ignores).
    fn skip_string(&mut self) -> Result<(), JsonError> {
        let bytes = self.text.as_bytes();
        let mut at = string_stop(bytes, self.pos + 1);
        loop {
            match bytes.get(at) {
                Some(b'"') => {
                    self.pos = at + 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    at += match bytes.get(at + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => 2,
                        Some(b'u') => {
                            self.hex4(at + 2)?;
                            6
                        }
                        Some(_) => return Err(self.error_at(at + 1, "invalid escape")),
                        None => return Err(self.error_at(at + 1, "EOF while parsing a string")),
                    };
                    at = string_stop(bytes, at);
                }
                Some(_) => return Err(self.error_at(at, "control character in string")),
                None => return Err(self.error_at(at, "EOF while parsing a string")),
            }
        }
    }

    /// Reads a number's text (`-? int frac? exp?`).
    pub(crate) fn number(&mut self) -> Result<&'a str, JsonError> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let mut at = start + usize::from(bytes.get(start) == Some(&b'-'));
        let digits = |at: usize| {
            at + bytes
                .get(at..)
                .map_or(0, |rest| rest.iter().take_while(|b| b.is_ascii_digit()).count())
        };
        match bytes.get(at) {
            Some(b'0') => at += 1,
            Some(b'1'..=b'9') => at = digits(at),
            _ => return Err(self.error_at(at, "invalid number")),
        }
        if bytes.get(at) == Some(&b'.') {
            let end = digits(at + 1);
            if end == at + 1 {
                return Err(self.error_at(end, "invalid number"));
            }
            at = end;
        }
        if matches!(bytes.get(at), Some(b'e' | b'E')) {
            at += 1;
            if matches!(bytes.get(at), Some(b'+' | b'-')) {
                at += 1;
            }
            let end = digits(at);
            if end == at {
                return Err(self.error_at(end, "invalid number"));
            }
            at = end;
        }
        self.pos = at;
        Ok(&self.text[start..at])
    }

    /// Validates one value of any kind and returns its text, without recursion, at any depth:
    /// open containers are a bit stack (1 = object), 128 levels in a register, deeper ones
    /// spilled to the heap.
    pub(crate) fn skip(&mut self) -> Result<&'a str, JsonError> {
        self.ws();
        let start = self.pos;
        let mut stack: u128 = 0;
        let mut spilled: Vec<u128> = Vec::new();
        let mut open = 0usize;
        loop {
            // A value starts here.
            match self.ws() {
                Some(b @ (b'{' | b'[')) => {
                    self.pos += 1;
                    let close = if b == b'{' { b'}' } else { b']' };
                    if self.ws() == Some(close) {
                        self.pos += 1;
                    } else {
                        if open > 0 && open.is_multiple_of(128) {
                            spilled.push(stack);
                            stack = 0;
                        }
                        stack = (stack << 1) | u128::from(b == b'{');
                        open += 1;
                        if b == b'{' {
                            self.skip_key()?;
                        }
                        continue;
                    }
                }
                Some(b'"') => self.skip_string()?,
                Some(b'-' | b'0'..=b'9') => {
                    self.number()?;
                }
                Some(b't') => self.literal("true", ())?,
                Some(b'f') => self.literal("false", ())?,
                Some(b'n') => self.literal("null", ())?,
                Some(_) => return Err(self.error("expected value")),
                None => return Err(self.error("EOF while parsing a value")),
            }
            // A value ended: close the containers that end here, or move to the next element.
            loop {
                if open == 0 {
                    return Ok(&self.text[start..self.pos]);
                }
                let in_object = stack & 1 == 1;
                match self.ws() {
                    Some(b',') => {
                        self.pos += 1;
                        if in_object {
                            self.ws();
                            if self.peek() == Some(b'}') {
                                return Err(self.error("trailing comma"));
                            }
                            self.skip_key()?;
                        } else if self.ws() == Some(b']') {
                            return Err(self.error("trailing comma"));
                        }
                        break;
                    }
                    Some(b'}') if in_object => {}
                    Some(b']') if !in_object => {}
                    None => return Err(self.error("EOF while parsing a value")),
                    Some(_) if in_object => return Err(self.error("expected `,` or `}`")),
                    Some(_) => return Err(self.error("expected `,` or `]`")),
                }
                self.pos += 1;
                stack >>= 1;
                open -= 1;
                if open > 0 && open.is_multiple_of(128) {
                    stack = spilled.pop().unwrap_or_default();
                }
            }
        }
    }

    fn skip_key(&mut self) -> Result<(), JsonError> {
        if self.ws() != Some(b'"') {
            return Err(self.error("key must be a string"));
        }
        self.skip_string()?;
        self.colon()
    }
}

/// The first byte at or after `at` that ends a run of plain string bytes: `"`, `\` or a control
/// character (or the end). Eight bytes at a time (see [`crate::scan`]): quotes and backslashes are
/// the zero bytes of `x ^ splat(c)`, control characters the bytes below 0x20.
#[inline]
pub(crate) fn string_stop(bytes: &[u8], at: usize) -> usize {
    use crate::scan::{ONES, control_bytes, zero_bytes};
    let flags = |x: u64| zero_bytes(x ^ (ONES * u64::from(b'"'))) | zero_bytes(x ^ (ONES * u64::from(b'\\'))) | control_bytes(x);
    crate::scan::first_match(bytes, at, flags, |b| b == b'"' || b == b'\\' || b < 0x20)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn accepts_like_serde(text: &str) {
        let ours = validate(text);
        let theirs = serde_json::from_str::<serde::de::IgnoredAny>(text);
        assert_eq!(ours.is_ok(), theirs.is_ok(), "{text:?}: ours {ours:?}, serde_json {theirs:?}");
    }

    #[test]
    fn grammar_matches_serde_json() {
        for text in [
            "0",
            "-0",
            "01",
            "-",
            "1.",
            "1.5",
            ".5",
            "1e",
            "1e+",
            "1E-7",
            "+1",
            "1e400",
            "-12.50e+3",
            "true",
            "tru",
            "nul",
            "null ",
            "\"\"",
            "\"a",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\u12G4\"",
            "\"\\ud800\"",
            "\"\t\"",
            "\"\u{7f}\"",
            "[]",
            "[1,]",
            "[,1]",
            "[1 2]",
            "{}",
            "{,}",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{1:2}",
            "{\"a\":1 \"b\":2}",
            "[{\"a\":[{}]}]",
            " [ 1 , { \"b\" : null } ] ",
            "",
            " ",
            "[",
            "{",
            "]",
            "}",
            "[1]]",
            "{\"a\":1}}",
            "\u{feff}1",
        ] {
            accepts_like_serde(text);
        }
        for depth in [127, 128, 129, 255, 256, 257, 1000] {
            accepts_like_serde(&format!("{}{}", "[".repeat(depth), "]".repeat(depth)));
            accepts_like_serde(&format!("{}1{}", "[".repeat(depth), "]".repeat(depth)));
            accepts_like_serde(&format!("{}{}", "{\"a\":".repeat(depth), "}".repeat(depth)).replace(":}", ":1}"));
            // Alternating containers across the 128-level spill, closed right and wrong.
            let open: String = (0..depth).map(|i| if i % 2 == 0 { "[" } else { "{\"k\":" }).collect();
            let close: String = (0..depth).rev().map(|i| if i % 2 == 0 { "]" } else { "}" }).collect();
            accepts_like_serde(&format!("{open}0{close}"));
            accepts_like_serde(&format!("{open}0{}", close.replacen(']', "}", 1)));
            accepts_like_serde(&format!("{open}0{}", &close[1..]));
        }
    }

    #[test]
    fn strings_decode_like_serde_json() {
        for raw in [
            r#""plain""#,
            r#""a\"b""#,
            r#""\\ \/ \b\f\n\r\t""#,
            r#""\u00e9\u6771\ud83d\ude00 tail""#,
            r#""x\u0000y""#,
            "\"long run of plain text before an escape\\n and after it\"",
        ] {
            let mut r = Reader::new(raw);
            assert_eq!(r.string().unwrap(), serde_json::from_str::<String>(raw).unwrap(), "{raw}");
            assert_eq!(r.pos, raw.len());
        }
        for bad in [r#""\ud800""#, r#""\ud800\u0041""#, r#""\udc00""#, r#""\u12""#, "\"a\u{1}\""] {
            assert!(Reader::new(bad).string().is_err(), "{bad}");
            assert!(serde_json::from_str::<String>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_say_where() {
        let err = validate("{\"a\":\n  [1,,2]}").unwrap_err();
        assert_eq!((err.line(), err.column(), err.reason()), (2, 6, "expected value"));
        assert_eq!(err.to_string(), "expected value at line 2 column 6");
    }

    /// JSON-ish text: mostly valid pieces, sometimes broken.
    fn jsonish() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_owned()),
            Just("tru".to_owned()),
            any::<bool>().prop_map(|b| b.to_string()),
            "-?(0|[1-9][0-9]{0,3}|00)(\\.[0-9]{0,2})?([eE][+-]?[0-9]{0,2})?",
            "\"([a-z \u{e9}\u{1F600}]|\\\\[nt\"\\\\/u]|\\\\u[0-9a-fA-F]{4}|\\\\x|[\u{0}-\u{1f}])*\"",
        ];
        leaf.prop_recursive(6, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec(("\"[a-z]{0,3}\"|[a-z]", inner), 0..5)
                    .prop_map(|v| format!("{{{}}}", v.iter().map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>().join(","))),
            ]
        })
        .prop_flat_map(|s| {
            let len = s.len();
            (
                Just(s),
                0..=len,
                prop_oneof![Just(""), Just(","), Just(" "), Just("]"), Just("}"), Just("\"")],
            )
        })
        .prop_map(|(s, at, insert)| {
            let at = (0..=at).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
            format!("{}{insert}{}", &s[..at], &s[at..])
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The word-wise scan against a byte-wise one, from any start, on short texts dense with
        /// stop bytes: the last word is read overlapping bytes already passed, whose flags (and the
        /// false flags a borrow from them can raise) must not stop the scan early.
        #[test]
        fn string_stop_is_the_first_stop_byte(
            bytes in proptest::collection::vec(prop_oneof![Just(b'"'), Just(b'\\'), Just(0x01u8), Just(0x1Fu8), Just(0x20u8), Just(0x21u8), Just(b'a'), Just(0xC3u8), any::<u8>()], 0..40),
            at in 0usize..40,
        ) {
            let at = at.min(bytes.len());
            let slow = (at..bytes.len()).find(|&i| matches!(bytes[i], b'"' | b'\\' | 0..=0x1F)).unwrap_or(bytes.len());
            prop_assert_eq!(string_stop(&bytes, at), slow);
        }

        #[test]
        fn accepts_exactly_what_serde_json_accepts(text in jsonish()) {
            accepts_like_serde(&text);
        }

        #[test]
        fn values_read_like_serde_json(text in jsonish()) {
            let mut r = Reader::new(&text);
            let ours = r.value().and_then(|v| r.end().map(|()| v));
            match (ours, serde_json::from_str::<serde_json::Value>(&text)) {
                (Ok(Value::String(s)), Ok(serde_json::Value::String(t))) => prop_assert_eq!(s.as_ref(), t.as_str()),
                (Ok(Value::Object(raw) | Value::Array(raw)), Ok(v)) => prop_assert_eq!(serde_json::from_str::<serde_json::Value>(&raw).ok(), Some(v)),
                (Ok(Value::Number(n)), Ok(serde_json::Value::Number(_))) => prop_assert_eq!(n.as_ref(), text.trim()),
                (Ok(Value::Bool(b)), Ok(serde_json::Value::Bool(c))) => prop_assert_eq!(b, c),
                (Ok(Value::Null), Ok(serde_json::Value::Null)) | (Err(_), Err(_)) => {}
                // Text serde_json can skip but not hold (lone surrogates inside containers,
                // numbers beyond f64) is read raw here, as `IgnoredAny` accepts it.
                (Ok(Value::Object(_) | Value::Array(_) | Value::Number(_)), Err(_)) => {
                    prop_assert!(serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok(), "{:?}", text);
                }
                (ours, theirs) => prop_assert!(false, "{:?}: ours {:?}, serde_json {:?}", text, ours, theirs),
            }
        }
    }
}
