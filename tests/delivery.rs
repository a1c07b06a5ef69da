//! The outbox with simulated time and a scripted Marketo (no HTTP): lock spacing, merging, rate
//! window, in-flight cap, every fault class, quota hold, 20105 stripping, re-signing, backoff caps.

mod common;

use std::time::Duration;

use segment_marketo::ErrorKind;
use segment_marketo::delivery::{Config, Delivery, Outbox, Outcome, Tag, Transmit};
use segment_marketo::destination::SoapDestination;
use segment_marketo::event::Message;
use segment_marketo::request::Response;
use segment_marketo::soap::SyncStatus;
use segment_marketo::time::Timestamp;

fn t(seconds: f64) -> Timestamp {
    // 2024-03-05T12:00:00Z plus `seconds`.
    Timestamp::from_unix_ms(1_709_640_000_000 + (seconds * 1000.0) as i64)
}

fn config(edit: impl FnOnce(&mut Config)) -> Config {
    let mut c = Config::default();
    edit(&mut c);
    c
}

fn outbox(config: Config) -> Outbox<SoapDestination> {
    Outbox::new(common::destination(|_| {}), config)
}

fn identify(email: &str, traits: &str) -> String {
    format!(
        r#"{{"type":"identify","messageId":"m-{email}-{}","traits":{{"email":"{email}"{}{traits}}}}}"#,
        traits.len(),
        if traits.is_empty() { "" } else { "," }
    )
}

fn push(ob: &mut Outbox<SoapDestination>, json: &str, now: Timestamp) {
    ob.push(&Message::from_json(json).unwrap(), now).unwrap();
}

const SUCCESS: &str = r#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ns1="http://www.marketo.com/mktows/"><SOAP-ENV:Body><ns1:successSyncLead><result><leadId>77</leadId><syncStatus><leadId>77</leadId><status>CREATED</status></syncStatus></result></ns1:successSyncLead></SOAP-ENV:Body></SOAP-ENV:Envelope>"#;

fn ok() -> Response {
    Response::new(200, SUCCESS)
}

fn fault(code: Option<u32>, text: &str, message: &str) -> Response {
    let faultstring = match code {
        Some(c) => format!("{c} - {text}"),
        None => text.to_owned(),
    };
    let code_el = code.map(|c| format!("<code>{c}</code>")).unwrap_or_default();
    Response::new(
        500,
        format!(
            r#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>SOAP-ENV:Client</faultcode><faultstring>{faultstring}</faultstring><detail><ns1:serviceException xmlns:ns1="http://www.marketo.com/mktows/"><name>mktServiceException</name><message>{message}</message>{code_el}</ns1:serviceException></detail></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>"#
        ),
    )
}

fn drain(ob: &mut Outbox<SoapDestination>, now: Timestamp) -> Vec<Transmit> {
    std::iter::from_fn(|| ob.poll_transmit(now)).collect()
}

fn outcomes(ob: &mut Outbox<SoapDestination>) -> Vec<Outcome> {
    std::iter::from_fn(|| ob.poll_outcome()).collect()
}

fn body(tx: &Transmit) -> &str {
    tx.request.body.as_deref().unwrap_or("")
}

#[test]
fn one_sync_per_lead_and_30_s_between_starts() {
    let mut ob = outbox(Config::default());
    push(&mut ob, &identify("a@x.com", r#""n":1"#), t(0.0));
    let first = drain(&mut ob, t(0.0));
    assert_eq!(first.len(), 1);
    push(&mut ob, &identify("a@x.com", r#""n":2"#), t(1.0));
    assert!(drain(&mut ob, t(1.0)).is_empty(), "second sync while the first is in flight");
    assert!(ob.handle_response(first[0].tag, &ok(), t(2.0)));
    assert!(drain(&mut ob, t(2.0)).is_empty(), "second sync inside the 30 s lock");
    assert_eq!(ob.poll_timeout(), Some(t(30.0)));
    assert!(drain(&mut ob, t(29.999)).is_empty());
    let second = drain(&mut ob, t(30.0));
    assert_eq!(second.len(), 1);
    assert!(body(&second[0]).contains("<attrName>N</attrName><attrValue>2</attrValue>"));
    // A different lead is not held by a's lock.
    push(&mut ob, &identify("b@x.com", ""), t(30.0));
    assert_eq!(drain(&mut ob, t(30.0)).len(), 1);
}

#[test]
fn waiting_identifies_merge_trait_by_trait_and_each_gets_an_outcome() {
    let mut ob = outbox(Config::default());
    push(&mut ob, &identify("a@x.com", r#""first":"A""#), t(0.0));
    let first = drain(&mut ob, t(0.0));
    push(&mut ob, &identify("a@x.com", r#""plan":"free","color":"red""#), t(1.0));
    push(&mut ob, &identify("a@x.com", r#""plan":"pro""#), t(2.0));
    push(&mut ob, &identify("a@x.com", r#""seats":3,"color":null"#), t(3.0));
    assert_eq!(ob.stats().merged, 2);
    ob.handle_response(first[0].tag, &ok(), t(4.0));
    let merged = drain(&mut ob, t(30.0));
    assert_eq!(merged.len(), 1);
    let b = body(&merged[0]);
    // Order of first appearance, later value wins; null is not sent and does not erase.
    let attrs = "<attribute><attrName>Plan</attrName><attrValue>pro</attrValue></attribute><attribute><attrName>Color</attrName><attrValue>red</attrValue></attribute><attribute><attrName>Seats</attrName><attrValue>3</attrValue></attribute>";
    assert!(b.contains(attrs), "{b}");
    ob.handle_response(merged[0].tag, &ok(), t(31.0));
    let outs = outcomes(&mut ob);
    assert_eq!(outs.len(), 4);
    let merged_counts: Vec<usize> = outs
        .iter()
        .map(|o| match &o.delivery {
            Delivery::Delivered {
                merged_with,
                lead_id: Some(77),
                status: Some(SyncStatus::Created),
                ..
            } => *merged_with,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(merged_counts, [0, 2, 2, 2]);
}

#[test]
fn rate_window_and_in_flight_cap() {
    let mut ob = outbox(Config::default());
    for i in 0..150 {
        push(&mut ob, &identify(&format!("u{i}@x.com"), ""), t(0.0));
    }
    // Ten in flight at most.
    let batch = drain(&mut ob, t(0.0));
    assert_eq!(batch.len(), 10);
    let mut sent = batch.len();
    let mut pending: Vec<Tag> = batch.iter().map(|x| x.tag).collect();
    // Answer everything at once and keep going: the 101st start must wait for the window.
    for _ in 0..20 {
        for tag in pending.drain(..) {
            ob.handle_response(tag, &ok(), t(1.0));
        }
        let more = drain(&mut ob, t(1.0));
        sent += more.len();
        pending = more.iter().map(|x| x.tag).collect();
    }
    assert_eq!(sent, 100, "at most 100 starts per 20 s");
    for tag in pending.drain(..) {
        ob.handle_response(tag, &ok(), t(1.0));
    }
    assert_eq!(ob.poll_timeout(), Some(t(20.0)));
    assert!(drain(&mut ob, t(19.9)).is_empty());
    assert_eq!(drain(&mut ob, t(20.0)).len(), 10);
}

#[test]
fn resign_20016_resends_at_once_with_a_fresh_timestamp() {
    let mut ob = outbox(Config::default());
    push(&mut ob, &identify("a@x.com", ""), t(0.0));
    let first = drain(&mut ob, t(0.0));
    ob.handle_response(
        first[0].tag,
        &fault(Some(20016), "Request Expired", "Request has expired (20016)"),
        t(5.0),
    );
    let again = drain(&mut ob, t(5.0));
    assert_eq!(again.len(), 1, "resent at once, the lock restored");
    assert!(body(&again[0]).contains(&t(5.0).to_soap_string()));
    assert_ne!(body(&first[0]), body(&again[0]));
    // Bounded: after max_resigns the message fails.
    let mut tag = again[0].tag;
    for _ in 0..3 {
        ob.handle_response(tag, &fault(Some(20016), "Request Expired", ""), t(6.0));
        match drain(&mut ob, t(6.0)).pop() {
            Some(tx) => tag = tx.tag,
            None => break,
        }
    }
    let outs = outcomes(&mut ob);
    assert_eq!(outs.len(), 1);
    assert!(
        matches!(outs[0].delivery, Delivery::Failed { code: Some(20016), .. }),
        "{:?}",
        outs[0]
    );
    assert_eq!(ob.stats().resigns, 3);
}

#[test]
fn throttle_pauses_everything() {
    let mut ob = outbox(Config::default());
    push(&mut ob, &identify("a@x.com", ""), t(0.0));
    push(&mut ob, &identify("b@x.com", ""), t(0.0));
    let tx = ob.poll_transmit(t(0.0)).unwrap();
    ob.handle_response(tx.tag, &fault(Some(20023), "Rate Limit Exceeded", ""), t(0.5));
    assert!(drain(&mut ob, t(0.5)).is_empty(), "paused after 20023");
    let resume = ob.poll_timeout().unwrap();
    assert_eq!(resume, t(2.5), "the default throttle pause is 2 s");
    assert_eq!(drain(&mut ob, resume).len(), 2);
}

#[test]
fn lock_fault_retries_after_the_lock() {
    let mut ob = outbox(Config::default());
    push(&mut ob, &identify("a@x.com", ""), t(0.0));
    let tx = drain(&mut ob, t(0.0));
    ob.handle_response(tx[0].tag, &fault(None, "Exceeded lock attempts", "Exceeded lock attempts"), t(1.0));
    assert!(drain(&mut ob, t(30.9)).is_empty());
    let again = drain(&mut ob, t(31.0));
    assert_eq!(again.len(), 1);
    ob.handle_response(again[0].tag, &ok(), t(31.5));
    let outs = outcomes(&mut ob);
    assert!(matches!(outs[0].delivery, Delivery::Delivered { .. }));
    assert_eq!(outs[0].attempts, 2);
}

#[test]
fn quota_holds_until_us_central_midnight() {
    let mut ob = outbox(Config::default());
    for i in 0..5 {
        push(&mut ob, &identify(&format!("u{i}@x.com"), ""), t(0.0));
    }
    let tx = ob.poll_transmit(t(0.0)).unwrap();
    let mut others = drain(&mut ob, t(0.0));
    ob.handle_response(tx.tag, &fault(Some(20015), "Request Limit Exceeded", ""), t(1.0));
    // 2024-03-05T12:00:01Z -> next midnight at UTC-6 is 2024-03-06T06:00:00Z.
    let midnight = Timestamp::parse_rfc3339("2024-03-06T06:00:00Z").unwrap();
    for o in others.drain(..) {
        ob.handle_response(o.tag, &ok(), t(1.0));
    }
    push(&mut ob, &identify("late@x.com", ""), t(2.0));
    assert!(drain(&mut ob, t(3600.0)).is_empty(), "held");
    assert_eq!(ob.stats().quota_holds, 1);
    assert_eq!(ob.stats().held, 2, "the refused sync and the one pushed during the hold");
    assert_eq!(ob.poll_timeout(), Some(midnight));
    assert!(drain(&mut ob, midnight.plus_ms(-1)).is_empty());
    assert_eq!(drain(&mut ob, midnight).len(), 2);
    assert_eq!(ob.stats().held, 0);
}

#[test]
fn unknown_fields_20105_are_stripped_and_reported() {
    let mut ob = outbox(Config::default());
    push(&mut ob, &identify("a@x.com", r#""pants":"blue","shoes":"red","ok":"yes""#), t(0.0));
    let tx = drain(&mut ob, t(0.0));
    ob.handle_response(
        tx[0].tag,
        &fault(
            Some(20105),
            "Unknown lead field",
            "syncLead operation failed: unknown fields for import: Pants, Shoes (20105)",
        ),
        t(1.0),
    );
    let again = drain(&mut ob, t(1.0));
    assert_eq!(again.len(), 1, "resent at once");
    assert!(!body(&again[0]).contains("Pants") && !body(&again[0]).contains("Shoes"));
    assert!(body(&again[0]).contains("<attrName>Ok</attrName>"));
    ob.handle_response(again[0].tag, &ok(), t(2.0));
    let outs = outcomes(&mut ob);
    match &outs[0].delivery {
        Delivery::Delivered { dropped_fields, .. } => assert_eq!(dropped_fields, &["Pants", "Shoes"]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn transport_errors_back_off_exponentially_then_fail() {
    let mut ob = outbox(config(|c| c.max_attempts = 4));
    push(&mut ob, &identify("a@x.com", ""), t(0.0));
    let mut now = t(0.0);
    let mut delays = Vec::new();
    loop {
        let tx = drain(&mut ob, now);
        if tx.is_empty() {
            break;
        }
        ob.handle_transport_error(tx[0].tag, "connection reset", now);
        if ob.stats().failed > 0 {
            break;
        }
        match ob.poll_timeout() {
            Some(next) => {
                // The next start also waits for the 30 s lead lock: look at the retry delay only.
                delays.push(next.ms_since(now));
                now = next;
            }
            None => break,
        }
    }
    let outs = outcomes(&mut ob);
    assert_eq!(outs.len(), 1);
    assert!(matches!(outs[0].delivery, Delivery::Failed { .. }));
    assert_eq!(outs[0].attempts, 4);
    // Three waits, each at least the 30 s lock (a transport error may have been processed).
    assert_eq!(delays.len(), 3, "{delays:?}");
    assert!(delays.iter().all(|d| *d >= 30_000), "{delays:?}");
}

#[test]
fn beacon_5xx_backoff_grows_and_is_jittered_deterministically() {
    let run = || {
        let mut ob = outbox(config(|c| c.max_attempts = 5));
        push(&mut ob, r#"{"type":"track","userId":"u","event":"E"}"#, t(0.0));
        let mut now = t(0.0);
        let mut delays = Vec::new();
        while let Some(tx) = ob.poll_transmit(now) {
            ob.handle_response(tx.tag, &Response::new(503, "<html>busy</html>"), now);
            let Some(next) = ob.poll_timeout() else { break };
            delays.push(next.ms_since(now));
            now = next;
        }
        (delays, outcomes(&mut ob))
    };
    let (delays, outs) = run();
    assert_eq!(delays, run().0, "deterministic");
    assert_eq!(delays.len(), 4);
    // base 1 s doubled per attempt, jittered into [50 %, 100 %].
    for (i, d) in delays.iter().enumerate() {
        let full = 1000 << i;
        assert!(*d >= full / 2 && *d <= full, "attempt {i}: {d} ms");
    }
    assert!(matches!(
        outs[0].delivery,
        Delivery::Failed {
            kind: ErrorKind::UnexpectedResponse,
            ..
        }
    ));
}

#[test]
fn permanent_faults_fail_at_once_and_bad_input_ends_at_push() {
    let mut ob = outbox(Config::default());
    push(&mut ob, &identify("a@x.com", ""), t(0.0));
    push(&mut ob, r#"{"type":"identify","messageId":"no-email","traits":{}}"#, t(0.0));
    push(&mut ob, r#"{"type":"group","messageId":"grp"}"#, t(0.0));
    let tx = drain(&mut ob, t(0.0));
    assert_eq!(tx.len(), 1);
    ob.handle_response(tx[0].tag, &fault(Some(20014), "Authentication failed", ""), t(1.0));
    let outs = outcomes(&mut ob);
    assert_eq!(outs.len(), 3);
    assert!(matches!(
        &outs[0].delivery,
        Delivery::Failed {
            kind: ErrorKind::MissingEmail,
            ..
        }
    ));
    assert!(matches!(&outs[1].delivery, Delivery::Skipped(_)));
    assert!(matches!(&outs[2].delivery, Delivery::Failed { code: Some(20014), .. }));
    assert!(drain(&mut ob, t(100.0)).is_empty());
    assert!(ob.is_idle());
    // A tag reported twice changes nothing.
    assert!(!ob.handle_response(tx[0].tag, &ok(), t(2.0)));
}

#[test]
fn queue_limit_refuses_without_dropping() {
    let mut ob = outbox(config(|c| c.queue_limit = 3));
    for i in 0..3 {
        push(&mut ob, &identify(&format!("u{i}@x.com"), ""), t(0.0));
    }
    let err = ob
        .push(&Message::from_json(&identify("u9@x.com", "")).unwrap(), t(0.0))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::QueueFull);
    let tx = drain(&mut ob, t(0.0));
    assert_eq!(tx.len(), 3);
    for x in &tx {
        ob.handle_response(x.tag, &ok(), t(1.0));
    }
    assert_eq!(outcomes(&mut ob).len(), 3);
    assert!(ob.push(&Message::from_json(&identify("u9@x.com", "")).unwrap(), t(1.0)).is_ok());
}

#[test]
fn idle_leads_are_forgotten_after_their_lock() {
    let mut ob = outbox(config(|c| c.lead_lock = Duration::from_secs(30)));
    for i in 0..50 {
        push(&mut ob, &identify(&format!("u{i}@x.com"), ""), t(0.0));
    }
    let mut now = t(0.0);
    while !ob.is_idle() {
        for tx in drain(&mut ob, now) {
            ob.handle_response(tx.tag, &ok(), now);
        }
        outcomes(&mut ob);
        now = ob.poll_timeout().unwrap_or(now.plus_ms(1000));
    }
    assert!(ob.tracked_leads() > 0);
    ob.poll_transmit(now.plus_ms(31_000));
    assert_eq!(ob.tracked_leads(), 0);
}
