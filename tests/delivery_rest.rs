//! The outbox driving the REST destination with simulated time and scripted answers: batching,
//! record-to-message mapping, tokens, 601/602, Associate Lead, lead-id lookups and the cache,
//! custom activities, the daily-quota hold.

use segment_marketo::ErrorKind;
use segment_marketo::delivery::{Association, Config, Delivery, Outbox, Outcome, Transmit};
use segment_marketo::destination::RestDestination;
use segment_marketo::event::Message;
use segment_marketo::request::{RequestKind, Response};
use segment_marketo::settings::Settings;
use segment_marketo::soap::SyncStatus;
use segment_marketo::time::Timestamp;

const SETTINGS: &str = r#"{
    "api": "rest",
    "accountId": "561-HYG-937",
    "clientId": "client-1",
    "clientSecret": "very-secret",
    "events": [{"event": "Signed Up", "marketoActivityId": 100001, "primaryAttribute": "plan",
                "properties": [{"segmentProperty": "plan", "marketoAttribute": "Plan"}]}]
}"#;

fn t(seconds: f64) -> Timestamp {
    Timestamp::from_unix_ms(1_709_640_000_000 + (seconds * 1000.0) as i64)
}

fn outbox() -> Outbox<RestDestination> {
    Outbox::new(
        RestDestination::new(&Settings::from_json(SETTINGS).unwrap()).unwrap(),
        Config::default(),
    )
}

fn push(ob: &mut Outbox<RestDestination>, json: &str, now: Timestamp) {
    ob.push(&Message::from_json(json).unwrap(), now).unwrap();
}

fn identify(email: &str, extra: &str) -> String {
    format!(r#"{{"type":"identify","userId":"u-{email}","traits":{{"email":"{email}","firstName":"F"}}{extra}}}"#)
}

fn drain(ob: &mut Outbox<RestDestination>, now: Timestamp) -> Vec<Transmit> {
    std::iter::from_fn(|| ob.poll_transmit(now)).collect()
}

fn outcomes(ob: &mut Outbox<RestDestination>) -> Vec<Outcome> {
    std::iter::from_fn(|| ob.poll_outcome()).collect()
}

fn token_answer(token: &str) -> Response {
    Response::new(
        200,
        format!(r#"{{"access_token":"{token}","token_type":"bearer","expires_in":3599,"scope":"api@x"}}"#),
    )
}

fn ok(result: &str) -> Response {
    Response::new(200, format!(r#"{{"requestId":"r#1","success":true,"result":[{result}]}}"#))
}

fn error(code: u16, message: &str) -> Response {
    Response::new(
        200,
        format!(r#"{{"requestId":"r#2","success":false,"errors":[{{"code":"{code}","message":"{message}"}}]}}"#),
    )
}

/// Sends the token request and answers it.
fn authenticate(ob: &mut Outbox<RestDestination>, now: Timestamp, token: &str) {
    let tx = ob.poll_transmit(now).expect("a token request");
    assert_eq!(tx.request.kind, RequestKind::Token);
    assert!(ob.poll_transmit(now).is_none(), "nothing else goes out before the token");
    assert!(ob.handle_response(tx.tag, &token_answer(token), now));
}

fn records(body: &str) -> Vec<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["input"].as_array().unwrap().clone()
}

#[test]
fn identifies_are_batched_300_at_a_time_and_results_map_back_in_order() {
    let mut ob = outbox();
    for i in 0..350 {
        push(&mut ob, &identify(&format!("u{i}@x.com"), ""), t(0.0));
    }
    authenticate(&mut ob, t(0.0), "tok-1");
    let calls = drain(&mut ob, t(0.0));
    assert_eq!(calls.len(), 2, "350 records: two Sync Leads calls");
    assert!(calls.iter().all(|c| c.request.kind == RequestKind::SyncLeads));
    assert_eq!(calls[0].request.header("Authorization"), Some("Bearer tok-1"));
    assert!(!calls[0].request.url.contains("tok-1"), "the token never goes in a URL");
    let first = records(calls[0].request.body.as_deref().unwrap());
    assert_eq!(first.len(), 300);
    assert_eq!(records(calls[1].request.body.as_deref().unwrap()).len(), 50);
    assert_eq!(first[0]["email"], "u0@x.com");
    // Answer the 50: created, updated, then skipped for a bad value, 47 more updated.
    let mut result = vec![
        r#"{"id":1,"status":"created"}"#.to_owned(),
        r#"{"id":2,"status":"updated"}"#.to_owned(),
    ];
    result.push(r#"{"status":"skipped","reasons":[{"code":"1003","message":"Invalid value for field"}]}"#.to_owned());
    result.extend((3..50).map(|i| format!(r#"{{"id":{i},"status":"updated"}}"#)));
    ob.handle_response(calls[1].tag, &ok(&result.join(",")), t(1.0));
    let outs = outcomes(&mut ob);
    assert_eq!(outs.len(), 50);
    match &outs[0].delivery {
        Delivery::Delivered {
            lead_id: Some(1),
            status: Some(SyncStatus::Created),
            ..
        } => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        &outs[1].delivery,
        Delivery::Delivered {
            lead_id: Some(2),
            status: Some(SyncStatus::Updated),
            ..
        }
    ));
    assert!(
        matches!(&outs[2].delivery, Delivery::Failed { code: Some(1003), .. }),
        "{:?}",
        outs[2]
    );
    assert_eq!(ob.stats().tokens, 1);
}

#[test]
fn one_token_request_for_many_waiters_and_601_refreshes_and_resends_once() {
    let mut ob = outbox();
    for i in 0..5 {
        push(&mut ob, &identify(&format!("u{i}@x.com"), ""), t(0.0));
    }
    let tx = ob.poll_transmit(t(0.0)).unwrap();
    assert_eq!(tx.request.kind, RequestKind::Token);
    assert!(ob.poll_transmit(t(0.0)).is_none(), "one token request in flight, however many wait");
    ob.handle_response(tx.tag, &token_answer("tok-1"), t(0.1));
    let call = drain(&mut ob, t(0.1));
    assert_eq!(call.len(), 1);
    ob.handle_response(call[0].tag, &error(601, "Access token invalid"), t(0.2));
    // A new token, then the same five records again.
    authenticate(&mut ob, t(0.2), "tok-2");
    let again = drain(&mut ob, t(0.2));
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].request.header("Authorization"), Some("Bearer tok-2"));
    assert_eq!(records(again[0].request.body.as_deref().unwrap()).len(), 5);
    // A second 601 for the same records fails them: not a stale token.
    ob.handle_response(again[0].tag, &error(602, "Access token expired"), t(0.3));
    assert!(drain(&mut ob, t(0.3)).is_empty(), "nothing is resent a second time");
    let outs = outcomes(&mut ob);
    assert_eq!(outs.len(), 5);
    assert!(
        outs.iter().all(|o| matches!(o.delivery, Delivery::Failed { code: Some(602), .. })),
        "{outs:?}"
    );
}

#[test]
fn unknown_fields_are_dropped_from_that_record_only() {
    let mut ob = outbox();
    push(&mut ob, &identify("a@x.com", ""), t(0.0));
    push(&mut ob, &identify("b@x.com", ""), t(0.0));
    authenticate(&mut ob, t(0.0), "tok");
    let call = drain(&mut ob, t(0.0));
    ob.handle_response(
        call[0].tag,
        &ok(r#"{"status":"skipped","reasons":[{"code":"1006","message":"Field 'firstName' not found"}]},{"id":8,"status":"created"}"#),
        t(1.0),
    );
    let again = drain(&mut ob, t(1.0));
    assert_eq!(again.len(), 1);
    let rec = records(again[0].request.body.as_deref().unwrap());
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0]["email"], "a@x.com");
    assert!(rec[0].get("firstName").is_none());
    ob.handle_response(again[0].tag, &ok(r#"{"id":7,"status":"updated"}"#), t(2.0));
    let outs = outcomes(&mut ob);
    assert_eq!(outs.len(), 2);
    let dropped: Vec<_> = outs
        .iter()
        .map(|o| match &o.delivery {
            Delivery::Delivered { dropped_fields, .. } => dropped_fields.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(dropped.contains(&vec!["firstName".to_owned()]) && dropped.contains(&vec![]));
}

#[test]
fn a_cookie_is_associated_after_the_sync_and_1012_fails_only_the_association() {
    let mut ob = outbox();
    let cookie = r#","context":{"Marketo":{"marketoCookie":"id:561-HYG-937&token:_mch-x.com-1374552656411-90718"}}"#;
    push(&mut ob, &identify("a@x.com", cookie), t(0.0));
    push(&mut ob, &identify("b@x.com", cookie), t(0.0));
    authenticate(&mut ob, t(0.0), "tok");
    let call = drain(&mut ob, t(0.0));
    ob.handle_response(
        call[0].tag,
        &ok(r#"{"id":11,"status":"created"},{"id":12,"status":"updated"}"#),
        t(1.0),
    );
    let assoc = drain(&mut ob, t(1.0));
    assert_eq!(assoc.len(), 2);
    assert!(
        assoc[0]
            .request
            .url
            .contains("/rest/v1/leads/11/associate.json?cookie=id:561-HYG-937%26token:_mch-x.com-1374552656411-90718")
    );
    ob.handle_response(assoc[0].tag, &Response::new(200, r#"{"requestId":"a","success":true}"#), t(2.0));
    ob.handle_response(assoc[1].tag, &error(1012, "Invalid cookie value"), t(2.0));
    let outs = outcomes(&mut ob);
    assert_eq!(outs.len(), 2);
    assert!(matches!(
        &outs[0].delivery,
        Delivery::Delivered {
            lead_id: Some(11),
            association: Some(Association::Associated),
            ..
        }
    ));
    assert!(
        matches!(
            &outs[1].delivery,
            Delivery::Delivered {
                lead_id: Some(12),
                association: Some(Association::Failed { code: Some(1012), .. }),
                ..
            }
        ),
        "{:?}",
        outs[1]
    );
}

#[test]
fn activities_wait_for_one_lookup_per_lead_and_are_batched() {
    let mut ob = outbox();
    for i in 0..3 {
        push(
            &mut ob,
            &format!(r#"{{"type":"track","userId":"u-1","event":"Signed Up","properties":{{"plan":"p{i}"}}}}"#),
            t(0.0),
        );
    }
    push(
        &mut ob,
        r#"{"type":"track","userId":"u-2","event":"Signed Up","properties":{"plan":"x"}}"#,
        t(0.0),
    );
    authenticate(&mut ob, t(0.0), "tok");
    let lookup = drain(&mut ob, t(0.0));
    assert_eq!(lookup.len(), 1, "one lookup for both leads, however many events wait");
    assert_eq!(lookup[0].request.kind, RequestKind::LookupLead);
    assert!(lookup[0].request.url.contains("filterType=userId"));
    ob.handle_response(lookup[0].tag, &ok(r#"{"id":501,"userId":"u-1"}"#), t(1.0));
    let acts = drain(&mut ob, t(1.0));
    assert_eq!(acts.len(), 1);
    assert_eq!(acts[0].request.kind, RequestKind::CustomActivities);
    let input = records(acts[0].request.body.as_deref().unwrap());
    assert_eq!(input.len(), 3);
    assert!(input.iter().all(|r| r["leadId"] == 501 && r["activityTypeId"] == 100001));
    assert_eq!(input[1]["primaryAttributeValue"], "p1");
    ob.handle_response(
        acts[0].tag,
        &ok(r#"{"id":1,"status":"added"},{"id":2,"status":"added"},{"id":3,"status":"added"}"#),
        t(2.0),
    );
    let outs = outcomes(&mut ob);
    assert_eq!(outs.len(), 4);
    assert!(
        matches!(&outs[0].delivery, Delivery::Failed { code: Some(1004), .. }),
        "u-2 has no lead: {:?}",
        outs[0]
    );
    assert!(
        outs[1..]
            .iter()
            .all(|o| matches!(o.delivery, Delivery::Delivered { lead_id: Some(501), .. }))
    );
    // The id is cached: a later event for u-1 needs no lookup.
    push(
        &mut ob,
        r#"{"type":"track","userId":"u-1","event":"Signed Up","properties":{"plan":"later"}}"#,
        t(3.0),
    );
    let next = drain(&mut ob, t(3.0));
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].request.kind, RequestKind::CustomActivities);
    assert_eq!(ob.stats().lookups, 1);
}

#[test]
fn an_activity_right_after_its_identify_waits_for_the_sync_instead_of_a_lookup() {
    let mut ob = outbox();
    push(&mut ob, &identify("a@x.com", ""), t(0.0));
    push(
        &mut ob,
        r#"{"type":"track","userId":"u-a@x.com","event":"Signed Up","properties":{"plan":"p"}}"#,
        t(0.0),
    );
    authenticate(&mut ob, t(0.0), "tok");
    let sync = drain(&mut ob, t(0.0));
    assert_eq!(sync.len(), 1, "no lookup while the sync that will tell the id is pending");
    assert_eq!(sync[0].request.kind, RequestKind::SyncLeads);
    ob.handle_response(sync[0].tag, &ok(r#"{"id":42,"status":"created"}"#), t(1.0));
    let act = drain(&mut ob, t(1.0));
    assert_eq!(act.len(), 1);
    assert_eq!(records(act[0].request.body.as_deref().unwrap())[0]["leadId"], 42);
    assert_eq!(ob.stats().lookups, 0);
}

#[test]
fn daily_quota_607_holds_rest_until_central_midnight_while_beacons_go_on() {
    let mut ob = outbox();
    push(&mut ob, &identify("a@x.com", ""), t(0.0));
    authenticate(&mut ob, t(0.0), "tok");
    let call = drain(&mut ob, t(0.0));
    ob.handle_response(call[0].tag, &error(607, "Daily quota reached"), t(1.0));
    push(&mut ob, &identify("b@x.com", ""), t(2.0));
    push(
        &mut ob,
        r#"{"type":"page","userId":"u","properties":{"url":"https://x.com/"}}"#,
        t(2.0),
    );
    let during = drain(&mut ob, t(2.0));
    assert_eq!(during.len(), 1, "the beacon is not a REST call");
    assert_eq!(during[0].request.kind, RequestKind::VisitWebPage);
    let midnight = Timestamp::parse_rfc3339("2024-03-06T06:00:00Z").unwrap();
    assert!(drain(&mut ob, midnight.plus_ms(-1)).is_empty());
    assert_eq!(ob.stats().quota_holds, 1);
    // The token expired during the 18-hour hold: a fresh one first.
    authenticate(&mut ob, midnight, "tok-2");
    let after = drain(&mut ob, midnight);
    assert_eq!(after.len(), 1);
    assert_eq!(
        records(after[0].request.body.as_deref().unwrap()).len(),
        2,
        "both identifies in one call"
    );
}

#[test]
fn bad_credentials_fail_every_waiting_rest_message() {
    let mut ob = outbox();
    push(&mut ob, &identify("a@x.com", ""), t(0.0));
    push(
        &mut ob,
        r#"{"type":"track","userId":"u-9","event":"Signed Up","properties":{"plan":"p"}}"#,
        t(0.0),
    );
    let tx = ob.poll_transmit(t(0.0)).unwrap();
    ob.handle_response(
        tx.tag,
        &Response::new(401, r#"{"error":"unauthorized","error_description":"Bad client credentials"}"#),
        t(0.5),
    );
    let outs = outcomes(&mut ob);
    assert_eq!(outs.len(), 2);
    assert!(outs.iter().all(|o| matches!(o.delivery, Delivery::Failed { .. })), "{outs:?}");
    let text = format!("{outs:?}");
    assert!(!text.contains("very-secret"));
}

#[test]
fn an_activity_whose_lead_cannot_be_looked_up_fails_at_push_without_a_request() {
    // A lead lookup cannot carry a comma, and its URL must stay within 8 KB: the plan fails, so
    // the message ends at once with that error, before any token is fetched.
    let long = "x".repeat(9_000);
    for (user, kind, says) in [
        ("a,b", ErrorKind::InvalidField, "holds a comma"),
        (long.as_str(), ErrorKind::TooLarge, "lookup URL"),
    ] {
        let mut ob = outbox();
        let json = format!(r#"{{"type":"track","userId":"{user}","event":"Signed Up","properties":{{"plan":"p"}}}}"#);
        push(&mut ob, &json, t(0.0));
        let outs = outcomes(&mut ob);
        assert_eq!(outs.len(), 1, "{user:.20}");
        match &outs[0].delivery {
            Delivery::Failed { kind: k, reason, .. } => {
                assert_eq!(*k, kind, "{reason}");
                assert!(reason.contains(says), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(outs[0].attempts, 0);
        assert!(drain(&mut ob, t(0.0)).is_empty(), "no token request for a message that failed");
        assert!(ob.is_idle());
    }
}
