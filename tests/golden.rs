//! Golden files: envelopes and beacons from fixed settings and a fixed `now`, compared exactly.
//!
//! The files under `tests/golden/` were checked by hand against the sources: the envelope layout
//! against `../shared/marketo-wsdl/examples/syncLead-request-testvector.xml` (also checked
//! mechanically below), the signature against `soap-signatures.tsv`, beacon parameters against
//! DESIGN.md's wire format. Regenerate with `UPDATE_GOLDEN=1 cargo test --test golden` and review
//! the diff.

mod common;

use quick_xml::Reader;
use quick_xml::events::Event;
use segment_marketo::destination::MarketoDestination;
use segment_marketo::event::Message;
use segment_marketo::plan::Plan;

fn plan_json(json: &str, edit: impl FnOnce(&mut segment_marketo::settings::Settings)) -> String {
    let dest = common::destination(edit);
    let msg = Message::from_json(json).unwrap();
    match dest.plan(&msg, common::vector_now()).unwrap() {
        Plan::Send { steps, warnings } => {
            let mut out = String::new();
            for step in steps {
                out.push_str(&format!("{} {}\n", step.request.method.as_str(), step.request.url));
                for (k, v) in &step.request.headers {
                    out.push_str(&format!("{k}: {v}\n"));
                }
                for w in &warnings {
                    out.push_str(&format!("warning: {w}\n"));
                }
                if let Some(body) = &step.request.body {
                    out.push('\n');
                    out.push_str(body);
                    out.push('\n');
                }
            }
            out
        }
        other => panic!("not sent: {other:?}"),
    }
}

fn check(name: &str, actual: &str) {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e} (UPDATE_GOLDEN=1 writes it)"));
    assert_eq!(actual, expected, "golden file {name} differs");
}

const TESTVECTOR_MESSAGE: &str = r#"{"type":"identify","messageId":"golden-1","traits":{"email":"t@t.com","firstName":"George","lastName":"of the Jungle"},"context":{"Marketo":{"marketoCookie":"id:561-HYG-937&token:_mch-marketo.com-1374552656411-90718"}}}"#;

#[test]
fn identify_testvector() {
    check("identify-testvector.txt", &plan_json(TESTVECTOR_MESSAGE, |_| {}));
}

#[test]
fn identify_nested_and_casing() {
    let json = r#"{"type":"identify","userId":"u-7","traits":{"email":"jane@example.com","second_favorite_color":"teal","someTrait":1.50,"address":{"street":"1 Main St","city":"San Francisco","state":"CA","zip":"94103","country":"USA","unit":"4"},"company":{"name":"Initech"},"tags":["a", "b"],"id":"x","nothing":null,"ok":true},"context":{"Marketo":{"marketoCookie":"bogus"}}}"#;
    check("identify-nested.txt", &plan_json(json, |_| {}));
    check(
        "identify-pascal-fieldmap.txt",
        &plan_json(json, |s| {
            s.trait_casing = segment_marketo::casing::TraitCasing::Pascal;
            s.field_map.insert("someTrait".into(), "Custom_Field__c".into());
        }),
    );
}

#[test]
fn track_beacon() {
    let json = r#"{"type":"track","userId":"u-7","event":"Signed Up_now","properties":{"plan":"pro","seats":12,"note":"a&b c"},"context":{"userAgent":"Mozilla/5.0 (golden)","page":{"url":"https://example.com:8443/signup","referrer":"https://google.com/?q=a b"},"Marketo":{"marketoCookie":"id:561-HYG-937&token:_mch-marketo.com-1374552656411-90718"}}}"#;
    check("track-beacon.txt", &plan_json(json, |_| {}));
}

#[test]
fn page_beacon() {
    let json = r#"{"type":"page","anonymousId":"anon-42","properties":{"url":"https://example.com/pricing?plan=pro&ref=ad#top","referrer":"https://example.com/"}}"#;
    check("page-beacon.txt", &plan_json(json, |_| {}));
}

/// (element path, text) pairs of an XML document, whitespace-only text and `attrType` dropped.
fn leaves(xml: &str) -> Vec<(String, String)> {
    let mut reader = Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut out = Vec::new();
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) => path.push(e.name().as_ref().to_owned()),
            Event::End(_) => {
                path.pop();
            }
            Event::Text(t) => {
                let text = t.xml10_content().into_owned();
                if !text.trim().is_empty() && path.last().map(String::as_str) != Some("attrType") {
                    out.push((path.join("/"), text));
                }
            }
            Event::GeneralRef(r) => {
                let ch = quick_xml::escape::resolve_xml_entity(&r).expect("predefined entity");
                if let Some(last) = out.last_mut() {
                    last.1.push_str(ch);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

#[test]
fn envelope_matches_the_shared_testvector_request() {
    let dest = common::destination(|_| {});
    let msg = Message::from_json(TESTVECTOR_MESSAGE).unwrap();
    let Plan::Send { steps, .. } = dest.plan(&msg, common::vector_now()).unwrap() else {
        panic!()
    };
    let ours = leaves(steps[0].request.body.as_deref().unwrap());
    let theirs = leaves(&common::shared("marketo-wsdl/examples/syncLead-request-testvector.xml"));
    assert_eq!(ours, theirs);
}

#[test]
fn streaming_writer_matches_the_plan() {
    use segment_marketo::casing::TraitCasing;
    let messages = [
        TESTVECTOR_MESSAGE,
        r#"{"type":"identify","userId":"u","traits":{"email":"a@b.co","ßx":"1","<k>":"v\u0001","address":{"city":"X","zip":"1"},"company":{"name":"C"},"o":{"a":[1, 2]},"userId":"t"}}"#,
        r#"{"type":"identify","userId":"a@b.co","traits":{},"context":{"Marketo":{"marketoCookie":"bad"}}}"#,
    ];
    for casing in [TraitCasing::FirstUpper, TraitCasing::Pascal, TraitCasing::Preserve] {
        let dest = common::destination(|s| {
            s.trait_casing = casing;
            s.field_map.insert("o".into(), "Mapped<&>".into());
        });
        for json in messages {
            let msg = Message::from_json(json).unwrap();
            let Plan::Send { steps, warnings } = dest.plan(&msg, common::vector_now()).unwrap() else {
                panic!()
            };
            let Message::Identify(m) = &msg else { panic!() };
            let mut out = String::from("prefix");
            let mut streamed_warnings = Vec::new();
            dest.write_sync_lead(m, common::vector_now(), &mut out, &mut streamed_warnings)
                .unwrap();
            assert_eq!(
                &out["prefix".len()..],
                steps[0].request.body.as_deref().unwrap(),
                "{casing:?} {json}"
            );
            assert_eq!(streamed_warnings, warnings);
        }
    }
}
