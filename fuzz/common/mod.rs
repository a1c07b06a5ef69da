//! Shared fixtures and invariant checks for the fuzz targets (included with `#[path]`).
//!
//! Every check is an `assert!`: a broken invariant is a crash that libFuzzer saves and
//! `cargo fuzz tmin` can minimise, like a panic inside the crate.
//!
//! `SEGMENT_MARKETO_FUZZ_SKIP` (comma-separated names) switches single invariant checks off, so a
//! campaign can go on past a finding that is already reported:
//! - `url-crlf`: no planned request URL holds CR or LF;
//! - `beacon-len`: a `visitWebPage` beacon URL is at most 8,192 bytes;
//! - `secret-debug`: the `Debug` of a token error does not show the client secret (its
//!   `Display` is always checked);
//! - `stream-eq`: `SoapDestination::write_sync_lead` writes the same envelope and warnings as
//!   the planned `syncLead`;
//! - `json-eq` (`message_json`): `SoapDestination::write_json` gives what `plan` gives on the
//!   parsed message (envelope, warnings, skip reason, error text, the parsed track or page);
//! - `json-validate` (`json_reader`): `json::validate` accepts exactly what
//!   `serde_json::from_str::<IgnoredAny>` accepts;
//! - `fields-object` (`json_reader`): `Fields::from_json` reads every object `serde_json` reads
//!   as a `Value` (so without lone surrogates), to the same keys and string values, and accepts
//!   nothing `json::validate` refuses.
#![allow(dead_code)]

use std::sync::OnceLock;

use segment_marketo::Error;
use segment_marketo::plan::{Plan, Step};
use segment_marketo::request::{Request, RequestKind};
use segment_marketo::time::Timestamp;

/// Marketo's public SOAP test vector, plus REST and browser credentials and an event mapping.
pub const SETTINGS_A: &str = r#"{
    "accountId": "561-HYG-937",
    "userId": "bigcorp1_461839624B16E06BA2D663",
    "encryptionKey": "899756834129871744AAEE88DDCC77CDEEDEC1AAAD66",
    "soapEndpoint": "https://561-HYG-937.mktoapi.com/soap/mktows/2_1",
    "privateKey": "k",
    "clientId": "x",
    "clientSecret": "y",
    "events": [
        {"event": "Signed Up", "marketoActivityId": 100001, "primaryAttribute": "plan",
         "properties": [{"segmentProperty": "plan", "marketoAttribute": "Plan"},
                        {"segmentProperty": "a.b", "marketoAttribute": "AB"}]},
        {"event": "Order Completed", "marketoActivityId": "100002"}
    ]
}"#;

/// The same credentials with every other knob turned: pascal casing, a field map, returnLead,
/// V2 trait mappings, userId lookups, update-only, anonymous activity, a beacon endpoint.
pub const SETTINGS_B: &str = r#"{
    "accountId": "561-HYG-937",
    "userId": "bigcorp1_461839624B16E06BA2D663",
    "encryptionKey": "899756834129871744AAEE88DDCC77CDEEDEC1AAAD66",
    "soapEndpoint": "https://561-HYG-937.mktoapi.com/soap/mktows/2_1",
    "beaconEndpoint": "https://beacon.example.com/",
    "privateKey": "k",
    "projectId": "o5v9ms0yvi",
    "clientId": "x",
    "clientSecret": "y",
    "restEndpoint": "https://561-HYG-937.mktorest.com/",
    "traitCasing": "pascal",
    "fieldMap": {"o": "Mapped<&>", "plan": "Plan__c"},
    "returnLead": true,
    "traits": [{"segmentTrait": "fax", "marketoFieldName": "fax"},
               {"segmentTrait": "plan", "marketoFieldName": "Plan__c", "marketoFieldType": "string"}],
    "lookupField": "userId",
    "createIfNotExist": false,
    "trackAnonymousActivity": true,
    "sendUserIdAndAnonymousId": true,
    "events": [{"event": "Signed Up", "marketoActivityId": 7, "primaryAttribute": "plan"}]
}"#;

/// The SOAP test vector's instant, 2010-04-09T14:04:54-07:00.
pub fn now() -> Timestamp {
    Timestamp::from_unix_ms(1_270_847_094_000).with_offset_minutes(-420)
}

/// Whether the named invariant check is switched off by `SEGMENT_MARKETO_FUZZ_SKIP`.
pub fn skipped(name: &str) -> bool {
    static SKIP: OnceLock<Vec<String>> = OnceLock::new();
    SKIP.get_or_init(|| {
        std::env::var("SEGMENT_MARKETO_FUZZ_SKIP")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    })
    .iter()
    .any(|s| s == name)
}

fn head(s: &str) -> String {
    s.chars().take(120).collect()
}

/// Exercises an error the way a caller logs it: `Display`, `Debug`, kind, retry, fault.
pub fn touch_error(e: &Error) -> String {
    let shown = format!("{e} {e:?} {:?} {:?}", e.kind(), e.retry());
    let _ = e.fault().map(|f| format!("{f:?}"));
    shown
}

/// Invariants of any planned request.
pub fn check_request(req: &Request) {
    for (name, value) in &req.headers {
        assert!(
            !value.contains(['\r', '\n']),
            "header {name} holds CR/LF: {:?}",
            head(value)
        );
    }
    if !skipped("url-crlf") {
        assert!(!req.url.contains(['\r', '\n']), "{:?} URL holds CR/LF: {:?}", req.kind, head(&req.url));
    }
    if req.kind == RequestKind::VisitWebPage && !skipped("beacon-len") {
        assert!(
            req.url.len() <= segment_marketo::munchkin::beacon::MAX_URL_BYTES,
            "beacon URL is {} bytes (> 8192): {:?}…",
            req.url.len(),
            head(&req.url)
        );
    }
    match (req.kind, req.body.as_deref()) {
        (RequestKind::SyncLead, Some(body)) => check_xml(body),
        (RequestKind::SyncLeads | RequestKind::CustomActivities, Some(body)) => check_json(body),
        _ => {}
    }
    let _ = format!("{req:?}");
}

/// Invariants of a plan (or its error).
pub fn check_plan(result: &Result<Plan, Error>) {
    match result {
        Ok(Plan::Send { steps, warnings }) => {
            for Step { request, .. } in steps {
                check_request(request);
            }
            for w in warnings {
                let _ = w.to_string();
            }
        }
        Ok(Plan::Skip(reason)) => {
            let _ = reason.to_string();
        }
        Ok(_) => {}
        Err(e) => {
            touch_error(e);
        }
    }
}

/// `text` must be valid JSON: the grammar, as `serde_json` checks it when it skips a value. A
/// number beyond `f64` (`1e400`, `0e22220222221`) is JSON (RFC 8259 §6 leaves the range to
/// implementations), and the crate passes numbers on as the text that arrived; reading one into a
/// `serde_json::Value` fails ("number out of range"), so that is not the test.
pub fn check_json(text: &str) {
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        panic!("not valid JSON ({e}): {:?}", head(text));
    }
}

/// `xml` must be a well-formed XML 1.0 document: tags balanced, only the predefined entities and
/// character references to XML 1.0 characters, no character XML 1.0 forbids.
pub fn check_xml(xml: &str) {
    use quick_xml::events::Event;
    let bad = xml
        .chars()
        .find(|&c| !matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..));
    assert!(bad.is_none(), "envelope holds {bad:?}, not an XML 1.0 character");
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut depth = 0usize;
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => break,
            Ok(Event::Start(_)) => depth += 1,
            Ok(Event::End(_)) => depth = depth.saturating_sub(1),
            Ok(Event::GeneralRef(r)) => {
                if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => assert!(
                            matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..),
                            "envelope references {c:?}, not an XML 1.0 character"
                        ),
                        other => panic!("bad character reference {other:?} in envelope"),
                    }
                } else {
                    let name = r.xml10_content();
                    assert!(
                        matches!(&*name, "lt" | "gt" | "amp" | "quot" | "apos"),
                        "undefined entity &{name}; in envelope"
                    );
                }
            }
            Ok(_) => {}
            Err(e) => panic!("envelope is not well-formed XML at {}: {e}", reader.buffer_position()),
        }
    }
    assert_eq!(depth, 0, "envelope has unclosed elements");
}

/// Splits `data` at the first `n - 1` zero bytes into `n` parts (missing parts are empty).
pub fn split_parts<const N: usize>(data: &[u8]) -> [&[u8]; N] {
    let mut parts = [&data[..0]; N];
    let mut rest = data;
    for (i, part) in parts.iter_mut().enumerate() {
        if i + 1 == N {
            *part = rest;
            break;
        }
        match rest.iter().position(|&b| b == 0) {
            Some(at) => {
                *part = &rest[..at];
                rest = &rest[at + 1..];
            }
            None => {
                *part = rest;
                rest = &rest[rest.len()..];
            }
        }
    }
    parts
}

/// The HTTP status from the first two bytes (big-endian) and the body after them.
pub fn status_and_body(data: &[u8]) -> (u16, &[u8]) {
    match data {
        [a, b, body @ ..] => (u16::from_be_bytes([*a, *b]), body),
        _ => (200, data),
    }
}
