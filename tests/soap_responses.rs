//! The SOAP response reader against every example in `../shared/marketo-wsdl/examples/`, against
//! hand-written variants (prefixes, whitespace, nil, CDATA, entities, FAILED, each retry class),
//! and against truncated and garbage bodies, which must never panic.
//!
//! Expected values were taken by reading the XML files by hand, not from the reader.

use segment_marketo::error::{Error, ErrorKind, Retry};
use segment_marketo::fault::{Api, Fault, FaultClass};
use segment_marketo::soap::response::{SyncLeadResult, SyncStatus, read_fault, read_sync_lead};

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/marketo-wsdl/examples/");

fn example(name: &str) -> Vec<u8> {
    let path = format!("{EXAMPLES}{name}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// What a whole example file must give.
enum Expect {
    Sync(Option<i64>, SyncStatus),
    Fault {
        code: u32,
        text: &'static str,
        message: &'static str,
        class: FaultClass,
        unknown_fields: &'static [&'static str],
    },
    Unexpected,
}

fn expectations() -> Vec<(&'static str, Expect)> {
    vec![
        ("syncLead-response-adobe-doc.xml", Expect::Sync(Some(1089965), SyncStatus::Updated)),
        (
            "syncLead-response-created-rapleaf.xml",
            Expect::Sync(Some(12345), SyncStatus::Created),
        ),
        (
            "syncLead-response-updated-rapleaf.xml",
            Expect::Sync(Some(12345), SyncStatus::Updated),
        ),
        (
            "fault-20014-adobe-doc.xml",
            Expect::Fault {
                code: 20014,
                text: "Authentication failed",
                message: "Authentication failed (20014)",
                class: FaultClass::Permanent,
                unknown_fields: &[],
            },
        ),
        (
            "fault-20105-markety.xml",
            Expect::Fault {
                code: 20105,
                text: "Unknown lead field",
                message: "syncLead operation failed: unknown fields for import: pants (20105)",
                class: FaultClass::Permanent,
                unknown_fields: &["pants"],
            },
        ),
        ("syncLead-request-adobe-doc.xml", Expect::Unexpected),
        ("syncLead-request-testvector.xml", Expect::Unexpected),
    ]
}

/// Asserts `err` is an `UnexpectedResponse` with this status and a short excerpt.
#[track_caller]
fn assert_unexpected(err: &Error, want_status: u16) {
    match err {
        Error::UnexpectedResponse { status, reason, excerpt } => {
            assert_eq!(*status, want_status, "{err}");
            assert!(!reason.is_empty());
            assert!(
                excerpt.chars().count() <= 200,
                "excerpt too long: {} chars",
                excerpt.chars().count()
            );
        }
        other => panic!("expected UnexpectedResponse, got {other:?}"),
    }
    assert_eq!(err.kind(), ErrorKind::UnexpectedResponse);
}

#[track_caller]
fn unexpected(status: u16, body: &[u8]) -> Error {
    let err = read_sync_lead(status, body).expect_err("must not be Ok");
    assert_unexpected(&err, status);
    err
}

#[track_caller]
fn fault_of(status: u16, body: &[u8]) -> Fault {
    let err = read_sync_lead(status, body).expect_err("must be a fault");
    let Error::Marketo(fault) = &err else {
        panic!("expected Error::Marketo, got {err:?}");
    };
    assert_eq!(err.kind(), ErrorKind::MarketoFault);
    assert_eq!(read_fault(body).as_ref(), Some(fault), "read_fault agrees");
    fault.clone()
}

#[test]
fn every_example_file_is_covered() {
    let mut on_disk: Vec<String> = std::fs::read_dir(EXAMPLES)
        .unwrap_or_else(|e| panic!("cannot list {EXAMPLES}: {e}"))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut covered: Vec<String> = expectations().iter().map(|(n, _)| (*n).to_owned()).collect();
    covered.sort();
    assert_eq!(on_disk, covered, "every example file needs an expectation here");
}

#[test]
fn every_example_file_reads_as_expected() {
    for (name, expect) in expectations() {
        let body = example(name);
        match expect {
            Expect::Sync(lead_id, status) => {
                let got = read_sync_lead(200, &body).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(got.lead_id, lead_id, "{name}");
                assert_eq!(got.status, status, "{name}");
                assert_eq!(got, SyncLeadResult::new(lead_id, status.clone()));
                assert!(read_fault(&body).is_none(), "{name}");
                // A success must come with a 2xx.
                unexpected(500, &body);
                unexpected(302, &body);
                assert_eq!(read_sync_lead(201, &body).unwrap(), got);
            }
            Expect::Fault {
                code,
                text,
                message,
                class,
                unknown_fields,
            } => {
                for status in [500, 200, 400, 503] {
                    let fault = fault_of(status, &body);
                    assert_eq!(fault.api, Api::Soap, "{name}");
                    assert_eq!(fault.code, Some(code), "{name}");
                    assert_eq!(fault.text, text, "{name}");
                    assert_eq!(fault.message, message, "{name}");
                    assert_eq!(fault.class, class, "{name}");
                    assert_eq!(fault.unknown_fields, unknown_fields, "{name}");
                    assert!(!fault.is_lock());
                    assert_eq!(Error::Marketo(fault).retry(), None, "{name}: permanent");
                }
            }
            Expect::Unexpected => {
                let err = unexpected(200, &body);
                assert_eq!(err.retry(), None);
                assert!(read_fault(&body).is_none(), "{name}");
            }
        }
    }
}

fn envelope(prefix: &str, body: &str) -> String {
    let (open, close) = if prefix.is_empty() {
        (
            r#"<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/">"#.to_owned(),
            "</Envelope>".to_owned(),
        )
    } else {
        (
            format!(r#"<{prefix}:Envelope xmlns:{prefix}="http://schemas.xmlsoap.org/soap/envelope/">"#),
            format!("</{prefix}:Envelope>"),
        )
    };
    let p = if prefix.is_empty() { String::new() } else { format!("{prefix}:") };
    format!("{open}<{p}Body>{body}</{p}Body>{close}")
}

fn success(lead_id: &str, status: &str) -> String {
    format!(
        r#"<ns1:successSyncLead xmlns:ns1="http://www.marketo.com/mktows/"><result><leadId>{lead_id}</leadId><syncStatus><leadId>{lead_id}</leadId><status>{status}</status><error xsi:nil="true" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/></syncStatus><leadRecord xsi:nil="true" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/></result></ns1:successSyncLead>"#
    )
}

fn fault_body(faultstring: &str, message: &str, code: &str) -> String {
    format!(
        r#"<SOAP-ENV:Fault><faultcode>SOAP-ENV:Client</faultcode><faultstring>{faultstring}</faultstring><detail><ns1:serviceException xmlns:ns1="http://www.marketo.com/mktows/"><name>mktServiceException</name><message>{message}</message><code>{code}</code></ns1:serviceException></detail></SOAP-ENV:Fault>"#
    )
}

#[test]
fn any_namespace_prefix() {
    for prefix in ["SOAP-ENV", "soapenv", "soap", "s", "env", ""] {
        let body = envelope(prefix, &success("42", "CREATED"));
        assert_eq!(
            read_sync_lead(200, body.as_bytes()).unwrap(),
            SyncLeadResult::new(Some(42), SyncStatus::Created),
            "{prefix}"
        );
    }
    // No prefix anywhere, mktows as a default namespace.
    let body = r#"<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body><successSyncLead xmlns="http://www.marketo.com/mktows/"><result><leadId>5</leadId><syncStatus><leadId>5</leadId><status>UPDATED</status></syncStatus></result></successSyncLead></Body></Envelope>"#;
    assert_eq!(
        read_sync_lead(200, body.as_bytes()).unwrap(),
        SyncLeadResult::new(Some(5), SyncStatus::Updated)
    );
    // Prefixed children too.
    let body = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://www.marketo.com/mktows/"><soap:Body><m:successSyncLead><m:result><m:leadId>6</m:leadId><m:syncStatus><m:leadId>6</m:leadId><m:status>CREATED</m:status></m:syncStatus></m:result></m:successSyncLead></soap:Body></soap:Envelope>"#;
    assert_eq!(
        read_sync_lead(200, body.as_bytes()).unwrap(),
        SyncLeadResult::new(Some(6), SyncStatus::Created)
    );
    // Faults with any prefix.
    for prefix in ["soapenv", "soap", ""] {
        let fault = fault_body("20014 - Authentication failed", "Authentication failed (20014)", "20014")
            .replace("SOAP-ENV:", if prefix.is_empty() { "" } else { "soap:" });
        let body = envelope(prefix, &fault.replace("soap:", &format!("{prefix}:")));
        let f = fault_of(500, body.as_bytes());
        assert_eq!((f.code, f.text.as_str()), (Some(20014), "Authentication failed"), "{prefix}");
    }
}

#[test]
fn whitespace_comments_declaration_and_a_header() {
    let body = "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- a comment -->\n<?pi something?>\n\
        <SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\">\n\
        <SOAP-ENV:Header><ns1:MktowsContextHeader xmlns:ns1=\"http://www.marketo.com/mktows/\"><status>FAILED</status></ns1:MktowsContextHeader></SOAP-ENV:Header>\r\n\
        <SOAP-ENV:Body>\n  <!-- before -->\n  <ns1:successSyncLead xmlns:ns1=\"http://www.marketo.com/mktows/\">\n\
        <result>\n<leadId>\n\t 77 \n</leadId>\n<syncStatus>\n<leadId> 77 </leadId>\n<status>\r\n  UPDATED <!-- inside --> \n</status>\n\
        <error></error>\n</syncStatus>\n</result>\n</ns1:successSyncLead>\n</SOAP-ENV:Body>\n</SOAP-ENV:Envelope>\n";
    assert_eq!(
        read_sync_lead(200, body.as_bytes()).unwrap(),
        SyncLeadResult::new(Some(77), SyncStatus::Updated)
    );
}

#[test]
fn failed_status_with_error_text() {
    // Entities and CDATA in the error text; a lead id present.
    let body = envelope(
        "SOAP-ENV",
        "<ns1:successSyncLead xmlns:ns1=\"http://www.marketo.com/mktows/\"><result><leadId>9</leadId><syncStatus><leadId>9</leadId>\
         <status>FAILED</status><error>\n  Field &quot;Foo&quot; &amp; <![CDATA[<Bar> & baz]]> &#233;&#x263A; &lt;ok&gt;\n</error></syncStatus></result></ns1:successSyncLead>",
    );
    assert_eq!(
        read_sync_lead(200, body.as_bytes()).unwrap(),
        SyncLeadResult::new(
            Some(9),
            SyncStatus::Failed {
                error: "Field \"Foo\" & <Bar> & baz é☺ <ok>".into()
            }
        )
    );
    // FAILED without a lead id and with a nil error.
    let body = envelope(
        "SOAP-ENV",
        r#"<ns1:successSyncLead xmlns:ns1="http://www.marketo.com/mktows/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><result><leadId xsi:nil="true"/><syncStatus><leadId>x</leadId><status>FAILED</status><error xsi:nil="true"/></syncStatus></result></ns1:successSyncLead>"#,
    );
    assert_eq!(
        read_sync_lead(200, body.as_bytes()).unwrap(),
        SyncLeadResult::new(None, SyncStatus::Failed { error: String::new() })
    );
    // nil wins over text.
    let body = envelope(
        "s",
        r#"<successSyncLead><result><syncStatus><status>FAILED</status><error xmlns:i="http://www.w3.org/2001/XMLSchema-instance" i:nil="true">ignored</error></syncStatus></result></successSyncLead>"#,
    );
    assert_eq!(
        read_sync_lead(200, body.as_bytes()).unwrap(),
        SyncLeadResult::new(None, SyncStatus::Failed { error: String::new() })
    );
}

#[test]
fn lead_id_preference() {
    // result/leadId wins over syncStatus/leadId.
    let body = envelope(
        "s",
        "<successSyncLead><result><leadId>1</leadId><syncStatus><leadId>2</leadId><status>CREATED</status></syncStatus></result></successSyncLead>",
    );
    assert_eq!(read_sync_lead(200, body.as_bytes()).unwrap().lead_id, Some(1));
    // Only syncStatus/leadId.
    let body = envelope(
        "s",
        "<successSyncLead><result><syncStatus><leadId>2</leadId><status>CREATED</status></syncStatus></result></successSyncLead>",
    );
    assert_eq!(read_sync_lead(200, body.as_bytes()).unwrap().lead_id, Some(2));
    // Unparsable result/leadId falls back to syncStatus/leadId.
    let body = envelope(
        "s",
        "<successSyncLead><result><leadId>abc</leadId><syncStatus><leadId>3</leadId><status>UPDATED</status></syncStatus></result></successSyncLead>",
    );
    assert_eq!(read_sync_lead(200, body.as_bytes()).unwrap().lead_id, Some(3));
    // CREATED / UPDATED without a usable lead id are not Marketo answers.
    for lead in ["", "abc", "1.5", "99999999999999999999", "&amp;"] {
        for status in ["CREATED", "UPDATED"] {
            unexpected(200, envelope("s", &success(lead, status)).as_bytes());
        }
    }
    let body = envelope(
        "s",
        "<successSyncLead><result><syncStatus><status>CREATED</status></syncStatus></result></successSyncLead>",
    );
    unexpected(200, body.as_bytes());
}

#[test]
fn unknown_or_missing_status_is_unexpected() {
    for status in ["MERGED", "created", "", "CREATED UPDATED"] {
        unexpected(200, envelope("s", &success("1", status)).as_bytes());
    }
    unexpected(200, envelope("s", "<successSyncLead/>").as_bytes());
    unexpected(
        200,
        envelope("s", "<successSyncLead><result><leadId>1</leadId></result></successSyncLead>").as_bytes(),
    );
    // status outside syncStatus does not count.
    unexpected(
        200,
        envelope(
            "s",
            "<successSyncLead><result><leadId>1</leadId><status>CREATED</status></result></successSyncLead>",
        )
        .as_bytes(),
    );
}

#[test]
fn other_body_content_is_unexpected() {
    unexpected(200, envelope("s", "").as_bytes());
    unexpected(200, envelope("s", "<successGetLead><result/></successGetLead>").as_bytes());
    unexpected(200, envelope("s", "<paramsSyncLead/>").as_bytes());
    unexpected(200, b"<Envelope><Header/></Envelope>");
    unexpected(200, b"<Envelope/>");
    unexpected(
        200,
        b"<successSyncLead><result><leadId>1</leadId><syncStatus><status>CREATED</status></syncStatus></result></successSyncLead>",
    );
    // An empty Fault says nothing.
    unexpected(500, envelope("s", "<Fault/>").as_bytes());
    assert!(read_fault(envelope("s", "<Fault/>").as_bytes()).is_none());
    // Only the first Body child counts.
    let body = envelope(
        "s",
        &format!("{}{}", success("1", "CREATED"), fault_body("20014 - x", "y", "20014")),
    );
    assert_eq!(
        read_sync_lead(200, body.as_bytes()).unwrap(),
        SyncLeadResult::new(Some(1), SyncStatus::Created)
    );
    // Anything after the first Body child is not read: even garbage.
    let mut body = envelope("s", &success("1", "CREATED")).into_bytes();
    let cut = body.len() - "</s:Body></s:Envelope>".len();
    body.truncate(cut);
    body.extend_from_slice(b"<<<\xff\xfe garbage");
    unexpected(200, &body); // not UTF-8: refused before parsing
    let mut body = envelope("s", &success("1", "CREATED")).into_bytes();
    body.truncate(cut);
    body.extend_from_slice(b"</oops><<< garbage");
    assert_eq!(
        read_sync_lead(200, &body).unwrap(),
        SyncLeadResult::new(Some(1), SyncStatus::Created)
    );
}

/// faultstring, detail message, detail code; expected code, class and retry hint.
type FaultCase = (&'static str, &'static str, &'static str, Option<u32>, FaultClass, Option<Retry>);

#[test]
fn faults_and_their_retry_hints() {
    let cases: &[FaultCase] = &[
        (
            "20016 - Request Expired",
            "Request Expired (20016)",
            "20016",
            Some(20016),
            FaultClass::Resign,
            Some(Retry::Resign),
        ),
        (
            "20023 - Rate Limit Exceeded",
            "",
            "20023",
            Some(20023),
            FaultClass::Throttle,
            Some(Retry::Throttle),
        ),
        (
            "20024 - Concurrency Limit Exceeded",
            "",
            "",
            Some(20024),
            FaultClass::Throttle,
            Some(Retry::Throttle),
        ),
        (
            "20015 - Request Limit Exceeded",
            "Request limit exceeded (20015)",
            "20015",
            Some(20015),
            FaultClass::Quota,
            Some(Retry::AfterQuotaReset),
        ),
        (
            "20011 - Internal Error",
            "",
            "20011",
            Some(20011),
            FaultClass::Retry,
            Some(Retry::Later),
        ),
        // Code only in the detail.
        (
            "Request Expired",
            "Request Expired",
            "20016",
            Some(20016),
            FaultClass::Resign,
            Some(Retry::Resign),
        ),
        // Code in neither: unknown, permanent.
        ("Something odd", "", "", None, FaultClass::Permanent, None),
        // faultstring code wins over the detail code.
        (
            "20023 - Rate Limit Exceeded",
            "",
            "20014",
            Some(20023),
            FaultClass::Throttle,
            Some(Retry::Throttle),
        ),
        // A garbage detail code is ignored.
        ("Rate Limit Exceeded", "", "2x", None, FaultClass::Permanent, None),
    ];
    for &(faultstring, message, code, want_code, class, retry) in cases {
        for status in [500, 200, 429] {
            let body = envelope("SOAP-ENV", &fault_body(faultstring, message, code));
            let err = read_sync_lead(status, body.as_bytes()).unwrap_err();
            let fault = err.fault().unwrap_or_else(|| panic!("{faultstring}: {err:?}"));
            assert_eq!(fault.code, want_code, "{faultstring}");
            assert_eq!(fault.class, class, "{faultstring}");
            assert_eq!(err.retry(), retry, "{faultstring}");
            let want_message = if message.is_empty() { &fault.text } else { message };
            assert_eq!(&fault.message, want_message);
        }
    }
}

#[test]
fn lock_fault_retries_after_the_lock() {
    let bodies = [
        envelope("SOAP-ENV", &fault_body("Exceeded lock attempts", "Exceeded lock attempts", "")),
        envelope(
            "soapenv",
            "<soapenv:Fault><faultcode>soapenv:Server</faultcode><faultstring>Exceeded lock attempts</faultstring></soapenv:Fault>",
        ),
        // The lock text only in the detail message.
        envelope("SOAP-ENV", &fault_body("", "syncLead failed: Exceeded lock attempts", "")),
    ];
    for body in &bodies {
        let err = read_sync_lead(500, body.as_bytes()).unwrap_err();
        let fault = err.fault().unwrap_or_else(|| panic!("{err:?}"));
        assert_eq!(fault.code, None);
        assert!(fault.is_lock(), "{fault:?}");
        assert_eq!(fault.class, FaultClass::Retry);
        assert_eq!(err.retry(), Some(Retry::AfterLeadLock));
        assert_eq!(read_fault(body.as_bytes()).as_ref(), Some(fault));
    }
    // A lock message with a generic code still waits for the lock.
    let body = envelope(
        "SOAP-ENV",
        &fault_body("20106 - Lead Sync Failed", "Exceeded lock attempts", "20106"),
    );
    let err = read_sync_lead(500, body.as_bytes()).unwrap_err();
    assert_eq!(err.fault().unwrap().code, Some(20106));
    assert_eq!(err.retry(), Some(Retry::AfterLeadLock));
}

#[test]
fn fault_text_is_unescaped() {
    let body = envelope(
        "SOAP-ENV",
        &fault_body(
            "20105 - Unknown lead field &amp; more",
            "syncLead operation failed: unknown fields for import: a&amp;b, <![CDATA[c<d]]> (20105)",
            " 20105 ",
        ),
    );
    let f = fault_of(500, body.as_bytes());
    assert_eq!(f.text, "Unknown lead field & more");
    assert_eq!(f.unknown_fields, vec!["a&b", "c<d"]);
}

/// The value a whole body gives.
#[derive(Clone, Copy)]
enum Full<'a> {
    Ok(&'a SyncLeadResult),
    Fault(&'a Fault),
}

/// Checks the contract for any part of a body: no panic; `Ok` only with the full body's value; a
/// fault only the full body's fault; anything else `UnexpectedResponse` with the status. Returns
/// whether the part gave the full answer.
fn check_prefix(full: Full<'_>, prefix: &[u8], status: u16) -> bool {
    let complete = match (read_sync_lead(status, prefix), full) {
        (Ok(got), Full::Ok(want)) => {
            assert_eq!(&got, want, "prefix of {} bytes", prefix.len());
            true
        }
        (Err(Error::Marketo(got)), Full::Fault(want)) => {
            assert_eq!(&got, want, "prefix of {} bytes", prefix.len());
            true
        }
        (Err(err @ Error::UnexpectedResponse { .. }), _) => {
            assert_unexpected(&err, status);
            false
        }
        (other, _) => panic!("prefix of {} bytes gave {other:?}", prefix.len()),
    };
    match (read_fault(prefix), full) {
        (None, _) => {}
        (Some(got), Full::Fault(want)) => assert_eq!(&got, want),
        (Some(got), Full::Ok(_)) => panic!("prefix of {} bytes is a fault: {got:?}", prefix.len()),
    }
    complete
}

/// Where the first Body child's end tag ends.
fn end_of_answer(body: &[u8]) -> usize {
    for tag in [&b"</ns1:successSyncLead>"[..], b"</SOAP-ENV:Fault>"] {
        if let Some(pos) = body.windows(tag.len()).position(|w| w == tag) {
            return pos + tag.len();
        }
    }
    panic!("no answer end tag");
}

#[test]
fn every_prefix_of_every_example() {
    for (name, expect) in expectations() {
        let body = example(name);
        let full_ok;
        let full_fault;
        let full = match expect {
            Expect::Sync(..) => {
                full_ok = read_sync_lead(200, &body).unwrap();
                Full::Ok(&full_ok)
            }
            Expect::Fault { .. } => {
                full_fault = read_fault(&body).unwrap();
                Full::Fault(&full_fault)
            }
            Expect::Unexpected => {
                for len in 0..=body.len() {
                    unexpected(200, &body[..len]);
                    assert!(read_fault(&body[..len]).is_none());
                }
                continue;
            }
        };
        // Exactly the prefixes that hold the whole Body child give the answer; the rest of the
        // envelope is not needed.
        let end = end_of_answer(&body);
        for len in 0..=body.len() {
            let prefix = &body[..len];
            assert_eq!(check_prefix(full, prefix, 200), len >= end, "{name}: prefix of {len} bytes");
            let fault_despite_status = check_prefix(full, prefix, 500);
            assert_eq!(fault_despite_status, len >= end && matches!(full, Full::Fault(_)), "{name}: {len}");
        }
    }
}

#[test]
fn truncated_hand_written_answers() {
    let bodies = [
        envelope("soapenv", &success("42", "CREATED")),
        envelope("SOAP-ENV", &fault_body("Exceeded lock attempts", "Exceeded lock attempts", "")),
        envelope(
            "s",
            "<successSyncLead><result><syncStatus><status>FAILED</status><error>a &amp; <![CDATA[b]]></error></syncStatus></result></successSyncLead>",
        ),
    ];
    for body in &bodies {
        let body = body.as_bytes();
        let full = read_sync_lead(200, body);
        let full_fault = full.as_ref().err().and_then(Error::fault).cloned();
        let full_ok = full.as_ref().ok().cloned();
        let full = match (&full_ok, &full_fault) {
            (Some(ok), _) => Full::Ok(ok),
            (None, Some(f)) => Full::Fault(f),
            _ => panic!("{full:?}"),
        };
        let complete = (0..=body.len()).filter(|&len| check_prefix(full, &body[..len], 200)).count();
        assert!(complete > "</s:Body></s:Envelope>".len(), "{complete}");
    }
}

#[test]
fn garbage_is_unexpected_with_its_status() {
    let err = unexpected(200, b"");
    assert_eq!(err.retry(), None);
    let err = unexpected(503, b"");
    assert_eq!(err.retry(), Some(Retry::Backoff));
    let err = unexpected(502, b"<html>502 Bad Gateway</html>");
    assert_eq!(err.retry(), Some(Retry::Backoff));
    let Error::UnexpectedResponse { excerpt, .. } = &err else {
        unreachable!()
    };
    assert_eq!(excerpt, "<html>502 Bad Gateway</html>");
    unexpected(
        502,
        b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>",
    );
    unexpected(200, b"   \n\t ");
    unexpected(200, b"OK");
    unexpected(200, b"{\"success\":true}");
    unexpected(500, b"Internal Server Error");
    unexpected(200, b"<");
    unexpected(200, b"<?xml version=\"1.0\"?>");
    unexpected(200, b"<!-- only a comment -->");
    unexpected(200, b"<a:Envelope xmlns:a='x'><a:Body></a:Body>");
    unexpected(200, b"<Envelope><Body><successSyncLead></Body></Envelope>");
    unexpected(200, b"<Envelope><Body><successSyncLead>&bogus;</successSyncLead></Body></Envelope>");
    unexpected(200, b"<Envelope><Body><successSyncLead>&#0;</successSyncLead></Body></Envelope>");
    unexpected(200, b"<Envelope><Body><successSyncLead><result><syncStatus><error x=>a</error>");
    // A long body: the excerpt stays at 200 characters.
    let long = "é".repeat(10_000);
    let err = unexpected(200, long.as_bytes());
    let Error::UnexpectedResponse { excerpt, .. } = &err else {
        unreachable!()
    };
    assert_eq!(excerpt.chars().count(), 200);
}

#[test]
fn invalid_utf8_is_unexpected() {
    let body = envelope("s", &success("1", "CREATED")).replace("CREATED", "CREA\u{1}TED");
    let bytes: Vec<u8> = body.bytes().map(|b| if b == 1 { 0xff } else { b }).collect();
    unexpected(200, &bytes);
    unexpected(200, &[0xff, 0xfe, b'<', 0, b'a', 0, b'>', 0]); // UTF-16 LE
    unexpected(200, &[0xc3]);
    unexpected(500, b"<html>\x80\x81\x82</html>");
}

#[test]
fn deep_nesting_is_refused() {
    let deep = "<a>".repeat(10_000) + &"</a>".repeat(10_000);
    unexpected(200, deep.as_bytes());
    unexpected(200, "<a>".repeat(10_000).as_bytes());
    let inside = "<x>".repeat(10_000) + &"</x>".repeat(10_000);
    let body = envelope("s", &format!("<successSyncLead><result>{inside}</result></successSyncLead>"));
    unexpected(200, body.as_bytes());
    let body = envelope("s", &format!("<Fault><detail>{inside}</detail></Fault>"));
    unexpected(500, body.as_bytes());
    assert!(read_fault(body.as_bytes()).is_none());
    // A Header that is too deep also stops the reader.
    let body = format!(
        "<Envelope><Header>{inside}</Header><Body>{}</Body></Envelope>",
        success("1", "CREATED")
    );
    unexpected(200, body.as_bytes());
}

/// xorshift64*: deterministic pseudo-random numbers without a crate.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_bytes_are_unexpected() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..2_000 {
        let len = rng.below(600);
        let body: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let status = [200, 201, 400, 500, 502, 503][rng.below(6)];
        unexpected(status, &body);
        assert!(read_fault(&body).is_none());
    }
}

/// Splices of XML-ish pieces into real answers, to reach the reader's deeper states.
const PIECES: &[&str] = &[
    "<SOAP-ENV:Body>",
    "</SOAP-ENV:Body>",
    "<ns1:successSyncLead>",
    "</ns1:successSyncLead>",
    "<SOAP-ENV:Fault>",
    "</SOAP-ENV:Fault>",
    "<result>",
    "</result>",
    "<leadId>",
    "</leadId>",
    "<syncStatus>",
    "</syncStatus>",
    "<status>",
    "</status>",
    "<error xsi:nil=\"true\"/>",
    "<error xsi:nil=\"true\" xsi:nil=\"false\"/>",
    "<error>",
    "</error>",
    "<faultstring>",
    "</faultstring>",
    "<detail>",
    "</detail>",
    "<code>",
    "</code>",
    "<message>",
    "</message>",
    "CREATED",
    "FAILED",
    "20014 - Authentication failed",
    "Exceeded lock attempts",
    "12345",
    "-1",
    "&amp;",
    "&#x41;",
    "&#xD800;",
    "&nope;",
    "&",
    "<![CDATA[x]]>",
    "<![CDATA[",
    "<!-- c -->",
    "<!--",
    "<?pi?>",
    "<!DOCTYPE x>",
    " ",
    "\n",
    "<",
    ">",
    "/>",
    "\"",
    "=",
    "é",
];

#[test]
fn mutated_answers_never_panic() {
    let mut rng = XorShift(42);
    let (mut oks, mut faults, mut others) = (0, 0, 0);
    let originals: Vec<Vec<u8>> = expectations().iter().map(|(name, _)| example(name)).collect();
    for round in 0..21_000 {
        let mut body = originals[round % originals.len()].clone();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(body.len() + 1);
            match rng.below(5) {
                0 => {
                    let to = (at + rng.below(64)).min(body.len());
                    body.drain(at..to);
                }
                1 => {
                    let piece = PIECES[rng.below(PIECES.len())].as_bytes();
                    body.splice(at..at, piece.iter().copied());
                }
                2 => {
                    if let Some(b) = body.get_mut(at) {
                        *b = rng.next() as u8;
                    }
                }
                3 => {
                    let to = (at + rng.below(200)).min(body.len());
                    let copy = body[at..to].to_vec();
                    body.splice(at..at, copy);
                }
                _ => body.truncate(at),
            }
        }
        let status = [200, 500, 503][rng.below(3)];
        match read_sync_lead(status, &body) {
            Ok(r) => {
                oks += 1;
                assert_eq!(status, 200);
                assert!(r.lead_id.is_some() || matches!(r.status, SyncStatus::Failed { .. }));
            }
            Err(Error::Marketo(f)) => {
                faults += 1;
                assert_eq!(f.api, Api::Soap);
                assert_eq!(read_fault(&body).as_ref(), Some(&f));
            }
            Err(err) => {
                others += 1;
                assert_unexpected(&err, status);
            }
        }
    }
    // All three outcomes occur, so the mutations reach every part of the reader.
    assert!(
        oks > 100 && faults > 100 && others > 1000,
        "{oks} ok, {faults} faults, {others} other"
    );
}
