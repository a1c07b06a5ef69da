//! The outbox over real HTTP against the fake Marketo, one rule at a time.

#[path = "../examples/support/driver.rs"]
#[allow(dead_code)]
mod driver;

use std::collections::HashSet;
use std::time::Duration;

use segment_marketo::delivery::{Config, Delivery, Outbox};
use segment_marketo::destination::SoapDestination;
use segment_marketo::settings::Settings;

fn settings(fake: &fake_marketo::FakeMarketo) -> Settings {
    Settings::from_json(&format!(
        r#"{{"accountId":"561-HYG-937","userId":"{}","encryptionKey":"{}","soapEndpoint":"{}","beaconEndpoint":"{}"}}"#,
        fake_marketo::VECTOR_USER_ID,
        fake_marketo::VECTOR_ENCRYPTION_KEY,
        fake.soap_url(),
        fake.beacon_base_url()
    ))
    .unwrap()
}

fn outcomes(fake: &fake_marketo::FakeMarketo, config: Config, messages: Vec<String>) -> Vec<Delivery> {
    let mut outbox = Outbox::new(SoapDestination::new(&settings(fake)).unwrap(), config);
    let mut out = Vec::new();
    driver::run(&mut outbox, messages, 4, Duration::from_secs(5), |r| match r {
        driver::Report::Outcome { outcome, .. } => out.push(outcome.delivery),
        driver::Report::Unreadable { reason, .. } => panic!("{reason}"),
    });
    out
}

fn fast_config() -> Config {
    let mut c = Config::default();
    c.lead_lock = Duration::from_millis(250);
    c.backoff_base = Duration::from_millis(10);
    c
}

#[test]
fn unknown_fields_are_dropped_and_the_rest_syncs() {
    let fc = fake_marketo::Config {
        known_fields: Some(HashSet::from(["FirstName".to_owned(), "UserId".to_owned()])),
        ..Default::default()
    };
    let fake = fake_marketo::start(fc).unwrap();
    let msg = r#"{"type":"identify","userId":"u1","traits":{"email":"a@x.com","firstName":"Ann","pants":"blue","shoe_size":9}}"#;
    let out = outcomes(&fake, fast_config(), vec![msg.into()]);
    match &out[..] {
        [Delivery::Delivered { dropped_fields, .. }] => assert_eq!(dropped_fields, &["Pants", "Shoe_size"]),
        other => panic!("{other:?}"),
    }
    let lead = fake.lead("a@x.com").unwrap();
    assert_eq!(lead.fields.get("FirstName").map(String::as_str), Some("Ann"));
    assert_eq!(fake.violations_total(), 0);
}

#[test]
fn a_burst_for_one_lead_is_merged_and_spaced_by_the_lock() {
    let fc = fake_marketo::Config {
        lock_window: Duration::from_millis(200),
        ..Default::default()
    };
    let fake = fake_marketo::start(fc).unwrap();
    let messages: Vec<String> = (0..30)
        .map(|i| {
            format!(
                r#"{{"type":"identify","traits":{{"email":"burst@x.com","n":{i},"k{}":"v"}}}}"#,
                i % 3
            )
        })
        .collect();
    let out = outcomes(&fake, fast_config(), messages);
    assert_eq!(out.len(), 30);
    assert!(out.iter().all(|d| matches!(d, Delivery::Delivered { .. })));
    let lead = fake.lead("burst@x.com").unwrap();
    assert!(lead.syncs < 30, "merged into fewer syncs: {}", lead.syncs);
    assert_eq!(lead.fields.get("N").map(String::as_str), Some("29"), "the last message wins");
    assert_eq!(fake.violations_total(), 0, "{:?}", fake.violations());
}

#[test]
fn rate_and_concurrency_limits_hold_under_load() {
    let fc = fake_marketo::Config {
        rate_limit: 20,
        rate_window: Duration::from_millis(200),
        max_concurrent: 4,
        latency: Duration::from_millis(5),
        ..Default::default()
    };
    let fake = fake_marketo::start(fc).unwrap();
    let mut config = fast_config();
    config.rate_limit = 20;
    config.rate_window = Duration::from_millis(230);
    config.max_in_flight = 3;
    let messages: Vec<String> = (0..120)
        .map(|i| format!(r#"{{"type":"track","userId":"u{i}","event":"E"}}"#))
        .collect();
    let out = outcomes(&fake, config, messages);
    assert_eq!(out.len(), 120);
    assert!(out.iter().all(|d| matches!(d, Delivery::Delivered { .. })));
    assert_eq!(fake.violations_total(), 0, "{:?}", fake.violations());
    assert_eq!(fake.counters().accepted_beacons, 120);
}

#[test]
fn a_wrong_key_fails_every_sync_permanently() {
    let fake = fake_marketo::start(fake_marketo::Config::default()).unwrap();
    let mut s = settings(&fake);
    s.encryption_key = Some(segment_marketo::settings::Secret::new("wrong-key"));
    let mut outbox = Outbox::new(SoapDestination::new(&s).unwrap(), fast_config());
    let mut out = Vec::new();
    driver::run(
        &mut outbox,
        vec![r#"{"type":"identify","traits":{"email":"k@x.com"}}"#.to_owned()],
        2,
        Duration::from_secs(5),
        |r| {
            if let driver::Report::Outcome { outcome, .. } = r {
                out.push(outcome)
            }
        },
    );
    assert!(
        matches!(out[0].delivery, Delivery::Failed { code: Some(20014), .. }),
        "{:?}",
        out[0]
    );
    assert_eq!(out[0].attempts, 1);
}

#[test]
fn rest_over_http_syncs_associates_and_records_activities() {
    let fake = fake_marketo::start(fake_marketo::Config {
        token_ttl: Duration::from_secs(3600),
        ..Default::default()
    })
    .unwrap();
    let settings = Settings::from_json(&format!(
        r#"{{"api":"rest","accountId":"561-HYG-937","clientId":"{}","clientSecret":"{}","restEndpoint":"{}","identityEndpoint":"{}","beaconEndpoint":"{}",
            "events":[{{"event":"Signed Up","marketoActivityId":100001,"primaryAttribute":"plan","properties":[{{"segmentProperty":"plan","marketoAttribute":"plan"}}]}}]}}"#,
        fake_marketo::TEST_CLIENT_ID,
        fake_marketo::TEST_CLIENT_SECRET,
        fake.rest_base_url(),
        fake.identity_url(),
        fake.beacon_base_url()
    ))
    .unwrap();
    let mut outbox = Outbox::new(
        segment_marketo::destination::RestDestination::new(&settings).unwrap(),
        fast_config(),
    );
    let cookie = r#","context":{"Marketo":{"marketoCookie":"id:561-HYG-937&token:_mch-x.com-1374552656411-90718"}}"#;
    let mut messages: Vec<String> = (0..40)
        .map(|i| {
            format!(
                r#"{{"type":"identify","userId":"u{i}","traits":{{"email":"r{i}@x.com","firstName":"N{i}"}}{}}}"#,
                if i == 0 { cookie } else { "" }
            )
        })
        .collect();
    messages.push(r#"{"type":"track","userId":"u3","event":"Signed Up","properties":{"plan":"pro"}}"#.into());
    messages.push(r#"{"type":"track","userId":"u3","event":"Signed Up","properties":{"plan":"team"}}"#.into());
    let mut out = Vec::new();
    driver::run(&mut outbox, messages, 4, Duration::from_secs(5), |r| match r {
        driver::Report::Outcome { outcome, .. } => out.push(outcome.delivery),
        driver::Report::Unreadable { reason, .. } => panic!("{reason}"),
    });
    assert_eq!(out.len(), 42);
    assert!(out.iter().all(|d| matches!(d, Delivery::Delivered { .. })), "{out:?}");
    let counters = fake.counters();
    assert_eq!(counters.tokens_issued, 1, "one token for everything");
    assert!(
        counters.rest_requests < 10,
        "40 identifies batched: {} REST calls",
        counters.rest_requests
    );
    assert_eq!(counters.rest_created, 40);
    assert_eq!(fake.lead("r0@x.com").unwrap().rest_value("firstName").as_deref(), Some("N0"));
    assert_eq!(fake.associations().len(), 1);
    let activities = fake.activities();
    assert_eq!(activities.len(), 2);
    assert_eq!(Some(activities[0].lead_id), fake.lead("r3@x.com").map(|l| l.id));
    assert_eq!(fake.violations_total(), 0, "{:?}", fake.violations());
}
