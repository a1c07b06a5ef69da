//! syncLead over real HTTP: acceptance, the fault bodies, and each rule's counter.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use fake_marketo::{Config, Rule, VECTOR_USER_ID, parse_timestamp, start};

#[test]
fn signed_sync_creates_then_updates() {
    let fake = start(Config {
        lock_window: Duration::from_millis(150),
        ..Config::default()
    })
    .unwrap();
    let agent = agent();
    let body = signed(
        &fake,
        &params(
            Some("ada@example.com"),
            &[("FirstName", "Ada"), ("LastName", "Love &amp; Lace")],
            false,
            None,
        ),
    );
    let first = post_soap(&agent, &fake, &body);
    assert_eq!(first.status(), Some(200), "{}", first.body());
    assert!(first.body().contains("<ns1:successSyncLead>"));
    assert!(first.body().contains("<status>CREATED</status>"));
    assert!(first.body().contains("<leadRecord xsi:nil=\"true\" />"));
    let id = between(first.body(), "<leadId>", "</leadId>").unwrap().to_owned();

    std::thread::sleep(Duration::from_millis(200));
    let body = signed(&fake, &params(Some("ada@example.com"), &[("City", "London")], true, None));
    let second = post_soap(&agent, &fake, &body);
    assert_eq!(second.status(), Some(200), "{}", second.body());
    assert!(second.body().contains("<status>UPDATED</status>"));
    assert_eq!(between(second.body(), "<leadId>", "</leadId>"), Some(id.as_str()));
    // returnLead: the stored record comes back, attributes merged.
    assert!(second.body().contains("<Email>ada@example.com</Email>"));
    assert!(second.body().contains("<attrName>City</attrName>"));
    assert!(second.body().contains("<attrValue>Love &amp; Lace</attrValue>"));

    let lead = fake.lead("ada@example.com").unwrap();
    assert_eq!(lead.id.to_string(), id);
    assert_eq!(lead.syncs, 2);
    assert_eq!(lead.fields["FirstName"], "Ada");
    assert_eq!(lead.fields["LastName"], "Love & Lace");
    assert_eq!(lead.fields["City"], "London");
    let c = fake.counters();
    assert_eq!((c.accepted_sync, c.created, c.updated), (2, 1, 1));
    assert_eq!((c.soap_requests, c.requests_total), (2, 2));
    assert_eq!(c.violations_total(), 0, "{:?}", fake.violations());
}

#[test]
fn marketo_test_vector_request_is_accepted_verbatim() {
    // The fake's clock pinned to the vector's timestamp: the vector's signature is valid.
    let at = parse_timestamp("2010-04-09T14:04:54-07:00").unwrap();
    let fake = start(Config {
        clock: Some(Arc::new(move || at + 1_000)),
        ..Config::default()
    })
    .unwrap();
    let reply = post_soap(&agent(), &fake, &example("syncLead-request-testvector.xml"));
    assert_eq!(reply.status(), Some(200), "{}", reply.body());
    assert!(reply.body().contains("<status>CREATED</status>"));
    let lead = fake.lead_by_cookie_token("_mch-marketo.com-1374552656411-90718").unwrap();
    assert_eq!(lead.email.as_deref(), Some("t@t.com"));
    assert_eq!(lead.fields["LastName"], "of the Jungle");
    assert_eq!(fake.lead("t@t.com"), Some(lead));
}

#[test]
fn bad_signature_gets_marketos_20014_body() {
    let fake = start(Config::default()).unwrap();
    let agent = agent();
    let expected = example("fault-20014-adobe-doc.xml");

    // Adobe's documented request: its signature verifies with no known key.
    let reply = post_soap(&agent, &fake, &example("syncLead-request-adobe-doc.xml"));
    assert_eq!(reply, Reply::Http(500, expected.clone()));

    // A fresh timestamp signed with the wrong key.
    let timestamp = fake_marketo::format_timestamp(fake.now_ms(), 0);
    let body = envelope(
        VECTOR_USER_ID,
        &sign("not-the-key", &timestamp, VECTOR_USER_ID),
        &timestamp,
        &params(Some("a@example.com"), &[], false, None),
    );
    assert_eq!(post_soap(&agent, &fake, &body), Reply::Http(500, expected.clone()));

    // Right key, wrong user id.
    let body = envelope(
        "someone_else",
        &sign(fake_marketo::VECTOR_ENCRYPTION_KEY, &timestamp, "someone_else"),
        &timestamp,
        &params(Some("a@example.com"), &[], false, None),
    );
    assert_eq!(post_soap(&agent, &fake, &body), Reply::Http(500, expected));

    let c = fake.counters();
    assert_eq!((c.signature, c.violations_total(), c.accepted_sync), (3, 3, 0));
}

#[test]
fn stale_timestamp_is_expired() {
    let fake = start(Config {
        max_skew: Duration::from_secs(60),
        ..Config::default()
    })
    .unwrap();
    let agent = agent();
    let p = params(Some("old@example.com"), &[], false, None);
    let reply = post_soap(&agent, &fake, &signed_at(fake.now_ms() - 65_000, &p));
    assert_eq!(reply.faultstring(), Some("20016 - Request Expired"));
    assert!(reply.body().contains("<code>20016</code>"));
    let reply = post_soap(&agent, &fake, &signed_at(fake.now_ms() + 65_000, &p));
    assert_eq!(reply.faultstring(), Some("20016 - Request Expired"));
    let reply = post_soap(&agent, &fake, &signed_at(fake.now_ms() - 50_000, &p));
    assert_eq!(reply.status(), Some(200), "{}", reply.body());
    assert_eq!(fake.counters().expired, 2);

    // A fake whose clock runs an hour ahead rejects a client on the wall clock.
    let ahead = start(Config {
        clock_offset_ms: 3_600_000,
        ..Config::default()
    })
    .unwrap();
    let wall = fake.now_ms();
    let reply = post_soap(&agent, &ahead, &signed_at(wall, &p));
    assert_eq!(reply.faultstring(), Some("20016 - Request Expired"));
}

fn without_header(envelope: &str) -> String {
    let start = envelope.find("<SOAP-ENV:Header>").unwrap();
    let end = envelope.find("<SOAP-ENV:Body>").unwrap();
    format!("{}{}", &envelope[..start], &envelope[end..])
}

#[test]
fn schema_breaks_are_20012() {
    let fake = start(Config::default()).unwrap();
    let agent = agent();
    let good = params(Some("s@example.com"), &[("A", "1")], false, None);
    let bodies = [
        // children in the mktows namespace through a default xmlns
        signed(
            &fake,
            &good.replace("<leadRecord>", "<leadRecord xmlns=\"http://www.marketo.com/mktows/\">"),
        ),
        // wrong order in paramsSyncLead
        signed(
            &fake,
            "<returnLead>false</returnLead><leadRecord><Email>s@example.com</Email></leadRecord>",
        ),
        // attrType after attrValue
        signed(
            &fake,
            &good.replace(
                "<attrType>string</attrType><attrValue>1</attrValue>",
                "<attrValue>1</attrValue><attrType>string</attrType>",
            ),
        ),
        // neither Email nor cookie
        signed(&fake, &params(None, &[("A", "1")], false, None)),
        // cookie without a token and no Email
        signed(&fake, &params(None, &[], false, Some("id:561-HYG-937"))),
        // missing header
        without_header(&signed(&fake, &good)),
        // wrong root
        signed(&fake, &good).replace("SOAP-ENV:Envelope", "SOAP-ENV:Envelop"),
        // timestamp without an offset
        signed(&fake, &good).replace("-07:00</requestTimestamp>", "Z</requestTimestamp>"),
        // not XML at all
        "hello".to_owned(),
    ];
    for body in &bodies {
        let reply = post_soap(&agent, &fake, body);
        assert_eq!(reply.faultstring(), Some("20012 - Request Not Understood"), "{body}");
        assert!(reply.body().contains("<code>20012</code>"));
    }
    // HTTP framing: SOAPAction and Content-Type.
    let body = signed(&fake, &good);
    let url = fake.soap_url();
    let replies = [
        post_soap_with(&agent, &url, "text/xml", "\"http://www.marketo.com/mktows/getLead\"", &body),
        post_soap_with(&agent, &url, "application/json", SOAP_ACTION, &body),
    ];
    for reply in replies {
        assert_eq!(reply.faultstring(), Some("20012 - Request Not Understood"));
    }
    let c = fake.counters();
    assert_eq!(c.schema, bodies.len() as u64 + 2);
    assert_eq!(c.accepted_sync, 0);
    assert!(fake.violations().iter().all(|v| v.rule == Rule::Schema));
}

#[test]
fn lock_window_and_lock_fault() {
    let fake = start(Config {
        lock_window: Duration::from_millis(300),
        ..Config::default()
    })
    .unwrap();
    let agent = agent();
    let cookie = "id:561-HYG-937&amp;token:_mch-example.com-1700000000000-12345";
    let p = params(Some("lock@example.com"), &[], false, Some(cookie));
    assert_eq!(post_soap(&agent, &fake, &signed(&fake, &p)).status(), Some(200));

    // Same cookie token, even with another email: same lead, locked.
    let other = params(Some("other@example.com"), &[], false, Some(cookie));
    let reply = post_soap(&agent, &fake, &signed(&fake, &other));
    assert_eq!(reply.status(), Some(500));
    assert_eq!(reply.faultstring(), Some("Exceeded lock attempts"));
    assert!(reply.body().contains("<message>Exceeded lock attempts</message>"));
    assert!(!reply.body().contains("<code>"));
    // Another lead is not locked.
    let free = params(Some("free@example.com"), &[], false, None);
    assert_eq!(post_soap(&agent, &fake, &signed(&fake, &free)).status(), Some(200));

    std::thread::sleep(Duration::from_millis(350));
    let reply = post_soap(&agent, &fake, &signed(&fake, &p));
    assert!(reply.body().contains("<status>UPDATED</status>"), "{}", reply.body());
    let c = fake.counters();
    assert_eq!((c.lock, c.accepted_sync, c.violations_total()), (1, 3, 1));
}

#[test]
fn unknown_fields_are_listed_in_request_order() {
    let fake = start(Config {
        known_fields: Some(HashSet::from(["FirstName".to_owned()])),
        ..Config::default()
    })
    .unwrap();
    let p = params(
        Some("pants@example.com"),
        &[("pants", "blue"), ("FirstName", "Pat"), ("shirt", "red")],
        false,
        None,
    );
    let reply = post_soap(&agent(), &fake, &signed(&fake, &p));
    assert_eq!(reply.status(), Some(500));
    assert_eq!(reply.faultstring(), Some("20105 - Unknown lead field"));
    assert_eq!(
        between(reply.body(), "<message>", "</message>"),
        Some("syncLead operation failed: unknown fields for import: pants, shirt (20105)")
    );
    let c = fake.counters();
    assert_eq!((c.unknown_fields, c.violations_total(), c.accepted_sync), (1, 0, 0));
    assert!(fake.lead("pants@example.com").is_none());
    // It took no lock: the corrected request goes through at once.
    let p = params(Some("pants@example.com"), &[("FirstName", "Pat")], false, None);
    assert_eq!(post_soap(&agent(), &fake, &signed(&fake, &p)).status(), Some(200));
}

#[test]
fn daily_quota_is_20015() {
    let fake = start(Config {
        daily_quota: 2,
        ..Config::default()
    })
    .unwrap();
    let agent = agent();
    let labels: Vec<String> = (0..3)
        .map(|i| {
            let p = params(Some(&format!("q{i}@example.com")), &[], false, None);
            post_soap(&agent, &fake, &signed(&fake, &p)).label()
        })
        .collect();
    assert_eq!(labels, ["200", "200", "500 20015 - Request Limit Exceeded"]);
    let c = fake.counters();
    assert_eq!((c.quota, c.accepted_sync, c.violations_total()), (1, 2, 0));
}

#[test]
fn responses_validate_against_the_response_profile() {
    // xmllint is optional locally; CI installs it.
    let has_xmllint = std::process::Command::new("xmllint").arg("--version").output().is_ok();
    if !has_xmllint {
        eprintln!("xmllint not found: skipping the schema check of answers");
        return;
    }
    let fake = start(Config::default()).unwrap();
    let agent = agent();
    let dir = std::env::temp_dir().join(format!("fake-marketo-xsd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (i, return_lead) in [false, true].into_iter().enumerate() {
        let p = params(Some(&format!("x{i}@example.com")), &[("A", "1 &lt; 2")], return_lead, None);
        let reply = post_soap(&agent, &fake, &signed(&fake, &p));
        assert_eq!(reply.status(), Some(200));
        let file = dir.join(format!("answer{i}.xml"));
        std::fs::write(&file, reply.body()).unwrap();
        let schema = format!(
            "{}/../../shared/marketo-wsdl/syncLead-response-profile.xsd",
            env!("CARGO_MANIFEST_DIR")
        );
        let out = std::process::Command::new("xmllint")
            .args(["--noout", "--schema", &schema])
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let _ = std::fs::remove_dir_all(dir);
}
