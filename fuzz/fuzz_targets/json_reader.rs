//! The crate's own JSON reader (`src/json.rs`) against `serde_json`, on UTF-8 inputs:
//! `segment_marketo::json::validate` and `segment_marketo::event::Fields::from_json`.
//!
//! Invariants: no panic; `json::validate(s)` accepts exactly what
//! `serde_json::from_str::<serde::de::IgnoredAny>(s)` accepts (no depth limit on either side;
//! lone surrogate escapes are accepted by both); an error's offset is inside the text and its
//! line/column point at it; `Fields::from_json(s)` accepts only text that `validate` accepts
//! (an object or `null`), and reads every JSON object that `serde_json` reads as a `Value` (which
//! refuses lone surrogates, and nests at most 128 deep), to the same set of keys, the last value of
//! a repeated key winning, with the same decoded string values.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use segment_marketo::event::{Fields, Value};
use segment_marketo::json;

fn head(s: &str) -> String {
    s.chars().take(200).collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let ours = json::validate(s);
    let serde = serde_json::from_str::<serde::de::IgnoredAny>(s);
    if let Err(e) = &ours {
        let _ = (e.to_string(), e.reason(), format!("{e:?}"));
        assert!(
            e.offset() <= s.len(),
            "error offset {} past the text ({} bytes)",
            e.offset(),
            s.len()
        );
        let before = &s.as_bytes()[..e.offset()];
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let column = 1 + e.offset() - before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        assert_eq!(
            (e.line(), e.column()),
            (line, column),
            "line/column do not match offset {}",
            e.offset()
        );
    }
    if !common::skipped("json-validate") {
        assert_eq!(
            ours.is_ok(),
            serde.is_ok(),
            "json::validate gave {:?}, serde_json gave {:?}, on {:?}",
            ours.as_ref().err().map(ToString::to_string),
            serde.as_ref().err().map(ToString::to_string),
            head(s)
        );
    }

    let fields = Fields::from_json(s);
    match &fields {
        Ok(f) => {
            for (k, v) in f.iter() {
                let _ = (k.len(), v.to_text(), format!("{v:?}"));
                if let Value::Object(raw) = v {
                    let _ = Fields::from_json(raw);
                }
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    if common::skipped("fields-object") {
        return;
    }
    if fields.is_ok() {
        assert!(ours.is_ok(), "Fields::from_json read text json::validate refuses: {:?}", head(s));
        assert!(
            matches!(s.trim_start_matches([' ', '\t', '\n', '\r']).as_bytes().first(), Some(b'{' | b'n')),
            "Fields::from_json read something else than an object or null: {:?}",
            head(s)
        );
    }
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(s) {
        let fields = match fields {
            Ok(f) => f,
            Err(e) => panic!("serde_json reads an object, Fields::from_json says {e}: {:?}", head(s)),
        };
        let mut keys: Vec<&str> = fields.iter().map(|(k, _)| k).collect();
        keys.sort_unstable();
        keys.dedup();
        let mut theirs: Vec<&str> = map.keys().map(String::as_str).collect();
        theirs.sort_unstable();
        assert_eq!(keys, theirs, "Fields::from_json and serde_json read other keys: {:?}", head(s));
        for (k, v) in &map {
            let mine = fields.get(k);
            match v {
                serde_json::Value::String(text) => {
                    assert_eq!(mine.and_then(Value::as_str), Some(text.as_str()), "key {k:?}: another string value")
                }
                serde_json::Value::Null => assert_eq!(mine, Some(&Value::Null), "key {k:?}: not null"),
                serde_json::Value::Bool(b) => assert_eq!(mine, Some(&Value::Bool(*b)), "key {k:?}: another boolean"),
                serde_json::Value::Number(_) => assert!(matches!(mine, Some(Value::Number(_))), "key {k:?}: not a number"),
                serde_json::Value::Array(_) => assert!(matches!(mine, Some(Value::Array(_))), "key {k:?}: not an array"),
                serde_json::Value::Object(_) => assert!(matches!(mine, Some(Value::Object(_))), "key {k:?}: not an object"),
            }
        }
    }
});
