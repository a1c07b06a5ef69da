//! Properties of the transforms over structured random input: no panic; every envelope parses
//! back into exactly the attributes meant (after removing what XML 1.0 cannot carry); the
//! streaming and plan paths agree; beacon URLs parse and decode back; no header carries CR or LF.

mod common;

use proptest::prelude::*;
use quick_xml::Reader;
use quick_xml::events::Event;
use segment_marketo::destination::{MarketoDestination, Written};
use segment_marketo::event::Message;
use segment_marketo::plan::Plan;
use segment_marketo::settings::Secret;
use segment_marketo::soap::SignedHead;
use segment_marketo::time::Timestamp;

/// Text with the characters that make escaping hard.
fn nasty() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-zA-Z0-9 ]{0,8}",
        Just("]]>".to_owned()),
        Just("</attrValue>".to_owned()),
        Just("<&>\"'".to_owned()),
        Just("\r\n\t".to_owned()),
        Just("\u{0}\u{1}\u{8}\u{b}\u{c}\u{1f}".to_owned()),
        Just("\u{fffe}\u{ffff}\u{fffd}".to_owned()),
        Just("é東京😀\u{2028}".to_owned()),
        any::<String>(),
    ];
    proptest::collection::vec(piece, 0..6).prop_map(|v| v.concat())
}

fn xml_ok(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn first_upper(k: &str) -> String {
    let mut c = k.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// (attrName, attrValue) pairs of an envelope, decoded.
fn attributes(xml: &str) -> Vec<(String, String)> {
    let mut reader = Reader::from_str(xml);
    let (mut out, mut path, mut text) = (Vec::new(), Vec::<String>::new(), String::new());
    let mut name = String::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                path.push(e.name().as_ref().to_owned());
                text.clear();
            }
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => match r.resolve_char_ref().expect("char ref") {
                Some(c) => text.push(c),
                None => text.push_str(quick_xml::escape::resolve_xml_entity(&r).expect("entity")),
            },
            Event::End(_) => {
                match path.pop().as_deref() {
                    Some("attrName") => name = std::mem::take(&mut text),
                    Some("attrValue") => out.push((std::mem::take(&mut name), std::mem::take(&mut text))),
                    _ => {}
                }
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

/// `write_json` against `plan` on the cases the generators do not reach: a repeated `traits` key
/// (the later one replaces the earlier one and its warnings), `email` keys (the `Email` element is
/// written early when the email comes first, and must be replaced when a later key wins), skips.
#[test]
fn write_json_is_plan_on_the_odd_cases() {
    let dest = common::destination(|_| {});
    let now = common::vector_now();
    for json in [
        r#"{"type":"identify","traits":{"a":"x<","address":{"city":"c","q":1}},"userId":"a@b.co","traits":{"b":1}}"#,
        r#"{"traits":{"address":{"q":1}},"type":"identify","traits":null,"userId":"a@b.co","messageId":"m"}"#,
        r#"{"type":"identify","traits":{"email":"a@b.co","x":1,"email":"  "},"userId":"u@v.co"}"#,
        r#"{"type":"identify","traits":{"email":"  ","email":"c@d.co"}}"#,
        // The email written early, then replaced by a later one; an email after an attribute.
        r#"{"type":"identify","traits":{"email":"a@b.co","email":"c&d@e.co","y":2}}"#,
        r#"{"type":"identify","traits":{"x":1,"email":"a<b@c.co"}}"#,
        r#"{"type":"identify","traits":{"email":5},"userId":"no-email"}"#,
        r#"{"type":"identify","traits":{"email":"a@b.co","address":{"city":"\ud800"}}}"#,
        r#"{"type":"identify","traits":{"email":"a@b.co"},"integrations":{"Marketo":false}}"#,
        r#"{"type":"page","userId":"u1","integrations":{"Marketo":false},"properties":{"url":"https://example.com/pricing"}}"#,
        r#"{"type":"group","userId":"u1"}"#,
        r#"{"type":"identify","traits":{"email":"a@b.co"},"context":{"Marketo":{"marketoCookie":"bad"}},"userId":"u"}"#,
        r#"{"type":"identify","traits":{"email":"a@b.co"}"#,
    ] {
        let prefix = "<pre></attribute>";
        let (mut out, mut warnings) = (String::from(prefix), Vec::new());
        let written = dest.write_json(json.as_bytes(), now, &mut out, &mut warnings);
        match Message::from_json(json).and_then(|m| dest.plan(&m, now).map(|p| (m, p))) {
            Err(e) => {
                assert_eq!(written.map_err(|e| e.to_string()), Err(e.to_string()), "{json}");
                assert_eq!((out.as_str(), warnings.len()), (prefix, 0), "{json}");
            }
            Ok((_, Plan::Skip(reason))) => assert_eq!(written.ok(), Some(Written::Skipped(reason)), "{json}"),
            Ok((msg, Plan::Send { steps, warnings: planned })) => match written {
                Ok(Written::SyncLead) => {
                    assert_eq!(Some(&out[prefix.len()..]), steps[0].request.body.as_deref(), "{json}");
                    assert_eq!(warnings, planned, "{json}");
                }
                Ok(Written::Other(m)) => assert_eq!(*m, msg, "{json}"),
                other => panic!("{json}: {other:?}"),
            },
            Ok(other) => panic!("{json}: {other:?}"),
        }
    }
}

/// `write_json_with_head` writes what `write_json` writes, with one head carried across messages,
/// seconds, UTC offsets and destinations: it must re-sign exactly when the second, the offset or
/// the signer changes (a stale head shows as a different `requestTimestamp` or signature).
#[test]
fn a_reused_signed_head_writes_what_write_json_writes() {
    let a = common::destination(|_| {});
    let b = common::destination(|s| s.encryption_key = Some(Secret::new("another-key")));
    let c = common::destination(|s| s.user_id = Some("another_user".into()));
    let second = Timestamp::from_unix_ms(1_709_661_600_000).with_offset_minutes(-360);
    let times = [
        second,
        second.plus_ms(999),
        second.plus_ms(1000),
        second.plus_ms(999),
        second.plus_ms(-1),
        second.with_offset_minutes(60),
        second,
    ];
    let messages = [
        r#"{"type":"identify","traits":{"email":"a@b.co","plan":"pro"}}"#,
        r#"{"type":"identify","traits":{"x":1,"email":"c&d@e.co"},"userId":"u1"}"#,
        r#"{"type":"identify","traits":{"email":5},"userId":"no-email"}"#,
        r#"{"type":"track","event":"e","userId":"u1"}"#,
    ];
    let mut head = SignedHead::new();
    let mut signatures = std::collections::HashSet::new();
    for (i, now) in times.into_iter().enumerate() {
        for dest in [&a, &a, &b, &c, &a] {
            for json in messages {
                let (mut reused, mut w1) = (String::new(), Vec::new());
                let (mut plain, mut w2) = (String::new(), Vec::new());
                let r1 = dest.write_json_with_head(json.as_bytes(), now, &mut head, &mut reused, &mut w1);
                let r2 = dest.write_json(json.as_bytes(), now, &mut plain, &mut w2);
                assert_eq!(r1.map_err(|e| e.to_string()), r2.map_err(|e| e.to_string()), "{i} {json}");
                assert_eq!((&reused, &w1), (&plain, &w2), "{i} {json}");
                if !plain.is_empty() {
                    assert!(plain.starts_with(head.as_str()), "{i} {json}");
                    signatures.insert(head.as_str().to_owned());
                }
            }
        }
    }
    // Three signers, and four distinct (second, offset) pairs among the times.
    assert_eq!(signatures.len(), 3 * 4);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn envelopes_carry_exactly_the_meant_attributes(
        traits in proptest::collection::vec(("[a-z][a-zA-Z_]{0,6}", nasty()), 0..40),
        email in nasty(),
    ) {
        let dest = common::destination(|_| {});
        let mut seen = std::collections::HashSet::new();
        let traits: Vec<(String, String)> = traits
            .into_iter()
            .filter(|(k, _)| !matches!(k.as_str(), "email" | "id" | "userId" | "address" | "company") && seen.insert(k.clone()))
            .collect();
        let mut obj = serde_json::Map::new();
        obj.insert("email".into(), format!("x{email}@y.co").into());
        for (k, v) in &traits {
            obj.insert(k.clone(), v.clone().into());
        }
        // serde_json's map sorts keys: the envelope follows the order the JSON text has.
        let json = serde_json::json!({"type": "identify", "traits": obj}).to_string();
        let msg = Message::from_json(&json).unwrap();
        let Plan::Send { steps, .. } = dest.plan(&msg, common::vector_now()).unwrap() else { panic!() };
        let body = steps[0].request.body.clone().unwrap();
        let Message::Identify(m) = &msg else { panic!() };
        let mut streamed = String::new();
        dest.write_sync_lead(m, common::vector_now(), &mut streamed, &mut Vec::new()).unwrap();
        prop_assert_eq!(&streamed, &body);
        let mut expected: Vec<(String, String)> = obj
            .iter()
            .filter(|(k, _)| k.as_str() != "email")
            .map(|(k, v)| (first_upper(k), v.as_str().unwrap().chars().filter(|c| xml_ok(*c)).collect()))
            .collect();
        expected.sort();
        let mut got = attributes(&body);
        got.sort();
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn beacons_decode_back_and_headers_have_no_line_breaks(
        path in "(/[a-zA-Z0-9._~%-]{0,6}){0,4}",
        query in proptest::option::of("[a-zA-Z0-9=&%+._-]{0,30}"),
        fragment in proptest::option::of("[a-zA-Z0-9]{0,8}"),
        referrer in nasty(),
        agent in nasty(),
        user in "[a-zA-Z0-9]{1,10}",
    ) {
        let dest = common::destination(|_| {});
        let mut url = format!("https://example.com{path}");
        if let Some(q) = &query { url.push('?'); url.push_str(q); }
        if let Some(f) = &fragment { url.push('#'); url.push_str(f); }
        let json = serde_json::json!({"type": "page", "userId": user, "properties": {"url": url, "referrer": referrer},
            "context": {"userAgent": agent}}).to_string();
        let Plan::Send { steps, .. } = dest.plan(&Message::from_json(&json).unwrap(), common::vector_now()).unwrap() else { panic!() };
        let req = &steps[0].request;
        prop_assert!(req.url.len() <= 8192);
        for (_, v) in &req.headers {
            prop_assert!(!v.contains('\r') && !v.contains('\n'), "header {:?}", v);
        }
        let parsed = url::Url::parse(&req.url).unwrap();
        let get = |k: &str| parsed.query_pairs().find(|(n, _)| n == k).map(|(_, v)| v.into_owned()).unwrap_or_default();
        prop_assert_eq!(get("_mchRu"), if path.is_empty() { "/".to_owned() } else { path.clone() });
        prop_assert_eq!(get("_mchQp"), query.unwrap_or_default());
        prop_assert_eq!(get("_mchHa"), fragment.filter(|f| !f.is_empty()).map(|f| format!("#{f}")).unwrap_or_default());
        prop_assert_eq!(get("_mchRe"), referrer);
        prop_assert_eq!(get("_mchHo"), "example.com");
        prop_assert_eq!(get("_mchId"), "561-HYG-937");
    }

    #[test]
    fn any_text_is_a_typed_error_or_a_message(text in any::<String>(), bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let dest = common::destination(|_| {});
        for input in [text.as_bytes(), &bytes[..]] {
            if let Ok(msg) = Message::from_slice(input) {
                let _ = dest.plan(&msg, common::vector_now());
            }
        }
    }
}
