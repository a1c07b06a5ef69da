//! The REST side: settings, the token life cycle with simulated time, lead records and batches,
//! lookup, associate, custom activities, and the answer readers.
//!
//! Expected values come from outside the code under test: the shared error-code table
//! (`../shared/vectors/marketo-error-codes.tsv`), the examples of Marketo's documentation
//! (AdobeDocs/marketo-developer.en `help/rest-api/authentication.md`, `leads.md`,
//! `activities.md`, `error-codes.md`, quoted below as string literals), and the golden files
//! `tests/golden/rest-*.json`, written by hand:
//!
//! - `rest-sync-leads-doc.json` is the Sync Leads request body of `leads.md` ("Create and
//!   Update"), whitespace removed; the three identifies below reproduce it.
//! - `rest-activities-doc.json` is the Add Custom Activities body of `activities.md`, whitespace
//!   removed, with `"apiName"` written `"name"` (Marketo accepts either; this crate sends the
//!   attribute's name).
//! - `rest-sync-leads-full.json` is one identify using every rule of `src/rest/leads.rs`, derived
//!   by hand from that table, trait by trait.

use proptest::prelude::*;
use segment_marketo::cookie::Cookie;
use segment_marketo::error::{Error, ErrorKind, Retry};
use segment_marketo::event::{Identify, Message, Track};
use segment_marketo::fault::{Api, Fault, FaultClass};
use segment_marketo::plan::{Warning, WarningKind};
use segment_marketo::request::{Method, RequestKind, Response};
use segment_marketo::rest::{
    AccessToken, ActivityBatch, AssociateOutcome, FieldValue, LeadBatch, LeadInput, LeadLookup, RecordOutcome, RestApi, SyncAction,
    TokenHolder, TokenState, associate_request, read_associate, read_success,
};
use segment_marketo::settings::{Secret, Settings};
use segment_marketo::time::Timestamp;

const CLIENT_SECRET: &str = "sEcReT/+&=value 9";
const TOKEN: &str = "cdf01657-110d-4155-99a7-f986b2ff13a0:int";

fn settings_json(extra: &str) -> String {
    format!(
        r#"{{"accountId":"561-HYG-937","clientId":"client id/1","clientSecret":"{}","api":"rest"{}{extra}}}"#,
        CLIENT_SECRET.replace('\\', "\\\\"),
        if extra.is_empty() { "" } else { "," }
    )
}

fn api(extra: &str) -> RestApi {
    RestApi::new(&Settings::from_json(&settings_json(extra)).unwrap()).unwrap()
}

fn identify(json: &str) -> Identify<'_> {
    match Message::from_json(json).unwrap() {
        Message::Identify(i) => i,
        other => panic!("not an identify: {other:?}"),
    }
}

fn track(json: &str) -> Track<'_> {
    match Message::from_json(json).unwrap() {
        Message::Track(t) => t,
        other => panic!("not a track: {other:?}"),
    }
}

fn t(rfc3339: &str) -> Timestamp {
    Timestamp::parse_rfc3339(rfc3339).unwrap()
}

fn token() -> AccessToken {
    AccessToken::new(TOKEN)
}

fn golden(name: &str) -> String {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .trim_end()
        .to_owned()
}

/// JSON text without whitespace outside strings, for comparing with documentation examples.
fn compact(json: &str) -> String {
    let mut out = String::new();
    segment_marketo::event::write_compact_json(json, &mut out);
    out
}

fn ok(body: &str) -> Response {
    Response::new(200, body)
}

// ---------------------------------------------------------------------------------------------
// Settings

#[test]
fn rest_settings_parse_with_defaults() {
    let s = Settings::from_json(&settings_json("")).unwrap();
    assert_eq!(s.api, Api::Rest);
    assert_eq!(s.client_id.as_deref(), Some("client id/1"));
    assert_eq!(s.client_secret.as_ref().map(Secret::expose), Some(CLIENT_SECRET));
    assert_eq!(s.rest_base(), "https://561-HYG-937.mktorest.com");
    assert_eq!(s.identity_base(), "https://561-HYG-937.mktorest.com/identity");
    assert_eq!(s.lookup_field, "email");
    assert!(s.create_if_not_exist);
    assert!(s.send_user_id_and_anonymous_id);
    assert!(!s.track_anonymous_activity);
    assert!(s.events.is_empty());
    s.validate_rest().unwrap();
    // The default `api` is soap.
    assert_eq!(Settings::default().api, Api::Soap);
    assert_eq!(Settings::from_json(r#"{"accountId":"561-HYG-937"}"#).unwrap().api, Api::Soap);

    let s = Settings::from_json(&settings_json(
        r#""restEndpoint":"https://rest.example.com/","identityEndpoint":"https://id.example.com/identity/",
           "lookupField":"userId","trackAnonymousActivity":true,"createIfNotExist":false,"sendUserIdAndAnonymousId":false,
           "events":[{"event":"Signed Up","marketoActivityId":"100001","primaryAttribute":"plan",
                      "properties":[{"segmentProperty":"plan","marketoAttribute":"Plan"}]},
                     {"event":"Left","marketoActivityId":7}]"#,
    ))
    .unwrap();
    assert_eq!(s.rest_base(), "https://rest.example.com");
    assert_eq!(s.identity_base(), "https://id.example.com/identity");
    assert_eq!(s.lookup_field, "userId");
    assert!(s.track_anonymous_activity && !s.create_if_not_exist && !s.send_user_id_and_anonymous_id);
    assert_eq!(s.events.len(), 2);
    assert_eq!(s.events[0].marketo_activity_id, 100_001);
    assert_eq!(s.events[0].primary_attribute.as_deref(), Some("plan"));
    assert_eq!(s.events[0].properties[0].marketo_attribute, "Plan");
    assert_eq!(s.events[1].marketo_activity_id, 7);
    assert!(s.events[1].properties.is_empty());
    s.validate_rest().unwrap();
    // Identity defaults to the REST endpoint's /identity.
    let s = Settings::from_json(&settings_json(r#""restEndpoint":"http://127.0.0.1:9/""#)).unwrap();
    assert_eq!(s.identity_base(), "http://127.0.0.1:9/identity");
    s.validate_rest().unwrap();
}

#[test]
fn rest_settings_errors_name_the_field() {
    let field_of = |extra: &str| -> String {
        let e = match Settings::from_json(&settings_json(extra)) {
            Err(e) => e,
            Ok(s) => s.validate_rest().expect_err(extra),
        };
        match e {
            Error::InvalidSettings { field, .. } => field,
            Error::UnknownSetting { key } => format!("unknown:{key}"),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(field_of(r#""api":"graphql""#), "api");
    assert_eq!(field_of(r#""clientId":"""#), "clientId");
    assert_eq!(field_of(r#""clientSecret":"""#), "clientSecret");
    assert_eq!(field_of(r#""restEndpoint":"http://rest.example.com""#), "restEndpoint");
    assert_eq!(field_of(r#""identityEndpoint":"ftp://x""#), "identityEndpoint");
    assert_eq!(field_of(r#""accountId":"nope""#), "restEndpoint");
    assert_eq!(field_of(r#""lookupField":"""#), "lookupField");
    assert_eq!(field_of(r#""lookupField":"a,b""#), "lookupField");
    assert_eq!(field_of(r#""createIfNotExist":"yes""#), "createIfNotExist");
    assert_eq!(field_of(r#""trackAnonymousActivity":1"#), "trackAnonymousActivity");
    assert_eq!(field_of(r#""sendUserIdAndAnonymousId":null,"restApi":1"#), "unknown:restApi");
    assert_eq!(field_of(r#""events":{}"#), "events");
    assert_eq!(field_of(r#""events":[{"marketoActivityId":1}]"#), "events[0].event");
    assert_eq!(field_of(r#""events":[{"event":"a"}]"#), "events[0].marketoActivityId");
    assert_eq!(
        field_of(r#""events":[{"event":"a","marketoActivityId":0}]"#),
        "events[0].marketoActivityId"
    );
    assert_eq!(
        field_of(r#""events":[{"event":"a","marketoActivityId":-3}]"#),
        "events[0].marketoActivityId"
    );
    assert_eq!(
        field_of(r#""events":[{"event":"a","marketoActivityId":"12x"}]"#),
        "events[0].marketoActivityId"
    );
    assert_eq!(
        field_of(r#""events":[{"event":"a","marketoActivityId":1,"bogus":1}]"#),
        "unknown:events[0].bogus"
    );
    assert_eq!(
        field_of(r#""events":[{"event":"a","marketoActivityId":1},{"event":"a","marketoActivityId":2}]"#),
        "events[1].event"
    );
    assert_eq!(
        field_of(r#""events":[{"event":"a","marketoActivityId":1,"properties":[{"segmentProperty":"p"}]}]"#),
        "events[0].properties[0].marketoAttribute"
    );
    assert_eq!(
        field_of(r#""events":[{"event":"a","marketoActivityId":1,"properties":[{"segmentProperty":"p","marketoAttribute":"q","x":1}]}]"#),
        "unknown:events[0].properties[0].x"
    );
    assert_eq!(
        field_of(r#""traits":[{"segmentTrait":"a","marketoFieldName":" "}]"#),
        "traits[0].marketoFieldName"
    );
    // Without REST keys at all, the REST side is not configured.
    let e = Settings::from_json(r#"{"accountId":"561-HYG-937"}"#)
        .unwrap()
        .validate_rest()
        .unwrap_err();
    assert!(matches!(e, Error::InvalidSettings { ref field, .. } if field == "clientId"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Token life cycle

/// authentication.md's example answer.
const DOC_TOKEN_ANSWER: &str = r#"{
    "access_token": "cdf01657-110d-4155-99a7-f986b2ff13a0:int",
    "token_type": "bearer",
    "expires_in": 3599,
    "scope": "apis@acmeinc.com"
}"#;

fn token_answer(token: &str, expires_in: i64) -> Response {
    ok(&format!(
        r#"{{"access_token":"{token}","token_type":"bearer","expires_in":{expires_in},"scope":"apis@acmeinc.com"}}"#
    ))
}

fn expect_fetch(holder: &mut TokenHolder, now: Timestamp) -> segment_marketo::request::Request {
    match holder.token(now) {
        TokenState::Fetch(r) => r,
        other => panic!("expected Fetch at {now}, got {other:?}"),
    }
}

fn expect_ready(holder: &mut TokenHolder, now: Timestamp) -> AccessToken {
    match holder.token(now) {
        TokenState::Ready(t) => t.clone(),
        other => panic!("expected Ready at {now}, got {other:?}"),
    }
}

#[test]
fn token_request_is_the_documented_get() {
    let mut holder = api("").token_holder();
    let req = expect_fetch(&mut holder, t("2024-01-01T00:00:00Z"));
    assert_eq!(req.kind, RequestKind::Token);
    assert_eq!(req.method, Method::Get);
    assert_eq!(req.body, None);
    // `GET <Identity URL>/oauth/token?grant_type=client_credentials&client_id=<Client Id>&client_secret=<Client Secret>`,
    // values form-encoded by hand: ' ' -> '+', '/' -> %2F, '+' -> %2B, '&' -> %26, '=' -> %3D.
    assert_eq!(
        req.url,
        "https://561-HYG-937.mktorest.com/identity/oauth/token?grant_type=client_credentials&client_id=client+id%2F1&client_secret=sEcReT%2F%2B%26%3Dvalue+9"
    );
    assert!(req.header("Authorization").is_none());
}

#[test]
fn token_life_cycle_with_simulated_time() {
    let mut holder = TokenHolder::new("https://561-HYG-937.mktorest.com/identity/", "id", Secret::new(CLIENT_SECRET));
    let t0 = t("2024-01-01T00:00:00Z");

    // First use fetches; every other waiter waits: one fetch in flight.
    let req = expect_fetch(&mut holder, t0);
    assert!(req.url.starts_with("https://561-HYG-937.mktorest.com/identity/oauth/token?"));
    for i in 0..100 {
        assert!(matches!(holder.token(t0.plus_ms(i)), TokenState::Waiting));
    }
    assert!(holder.is_fetching());

    // The answer arrives 1 s later: expiry counts from then (3599 s).
    let got = t0.plus_ms(1000);
    holder.handle_token_response(&ok(DOC_TOKEN_ANSWER), got).unwrap();
    assert!(!holder.is_fetching());
    assert_eq!(holder.expires_at(), Some(got.plus_ms(3_599_000)));
    assert_eq!(expect_ready(&mut holder, got), token());
    // Ready while at least 60 s remain ...
    assert_eq!(expect_ready(&mut holder, got.plus_ms(3_539_000)), token());
    // ... refreshed when fewer than 60 s remain.
    let refresh_at = got.plus_ms(3_539_001);
    expect_fetch(&mut holder, refresh_at);
    assert!(matches!(holder.token(refresh_at), TokenState::Waiting));

    // Marketo gives the same token back with its remaining life (59 s): used to its end, not
    // fetched again and again.
    holder.handle_token_response(&token_answer(TOKEN, 59), refresh_at).unwrap();
    assert_eq!(expect_ready(&mut holder, refresh_at.plus_ms(58_999)), token());
    let expired = refresh_at.plus_ms(59_000);
    expect_fetch(&mut holder, expired);

    // A transport failure allows a new fetch at once.
    holder.handle_token_failure();
    assert!(!holder.is_fetching());
    expect_fetch(&mut holder, expired);

    // expires_in 0 is never used: no token, and the next fetch waits 1 s, then 2 s, ...
    holder.handle_token_response(&token_answer("zero-life", 0), expired).unwrap();
    assert!(holder.expires_at().is_none());
    match holder.token(expired) {
        TokenState::NotBefore(at) => assert_eq!(at, expired.plus_ms(1000)),
        other => panic!("{other:?}"),
    }
    match holder.token(expired.plus_ms(999)) {
        TokenState::NotBefore(_) => {}
        other => panic!("{other:?}"),
    }
    let again = expired.plus_ms(1000);
    expect_fetch(&mut holder, again);
    holder.handle_token_response(&token_answer("zero-life", 0), again).unwrap();
    match holder.token(again) {
        TokenState::NotBefore(at) => assert_eq!(at, again.plus_ms(2000)),
        other => panic!("{other:?}"),
    }
    // ... never more than 60 s, however many zeros.
    let mut now = again;
    for _ in 0..20 {
        now = match holder.token(now) {
            TokenState::NotBefore(at) => {
                assert!(at.ms_since(now) <= 60_000);
                at
            }
            TokenState::Fetch(_) => {
                holder.handle_token_response(&token_answer("zero-life", 0), now).unwrap();
                now
            }
            other => panic!("{other:?}"),
        };
    }
    let now = match holder.token(now) {
        TokenState::NotBefore(at) => at,
        _ => now,
    };
    if let TokenState::Fetch(_) = holder.token(now) {}
    holder.handle_token_response(&token_answer("fresh-token", 3600), now).unwrap();
    assert_eq!(expect_ready(&mut holder, now).expose(), "fresh-token");

    // 601/602: invalidate the token used; the next call fetches.
    let used = AccessToken::new("fresh-token");
    assert!(holder.invalidate(&used));
    assert!(!holder.invalidate(&used), "already gone");
    expect_fetch(&mut holder, now);
    holder.handle_token_response(&token_answer("newer-token", 3600), now).unwrap();
    // A late 602 for the old token changes nothing.
    assert!(!holder.invalidate(&used));
    assert_eq!(expect_ready(&mut holder, now).expose(), "newer-token");
}

#[test]
fn token_error_answers() {
    let now = t("2024-01-01T00:00:00Z");
    let mut holder = api("").token_holder();
    expect_fetch(&mut holder, now);
    // Identity 401 for bad credentials (error-codes.md: "The Identity endpoint can return a 401").
    let e = holder
        .handle_token_response(
            &Response::new(401, r#"{"error":"unauthorized","error_description":"Bad client credentials"}"#),
            now,
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MarketoFault);
    assert_eq!(e.retry(), None, "bad credentials are permanent");
    let fault = e.fault().unwrap();
    assert_eq!((fault.code, fault.class), (None, FaultClass::Permanent));
    assert_eq!(fault.text, "unauthorized");
    assert_eq!(fault.message, "Bad client credentials");
    assert!(!holder.is_fetching(), "the fetch is over");

    // 5xx: back off and fetch again.
    expect_fetch(&mut holder, now);
    let e = holder
        .handle_token_response(&Response::new(503, "<html>down</html>"), now)
        .unwrap_err();
    assert_eq!((e.kind(), e.retry()), (ErrorKind::UnexpectedResponse, Some(Retry::Backoff)));
    expect_fetch(&mut holder, now);

    // A REST envelope with a code is classified by the table.
    let e = holder
        .handle_token_response(
            &ok(r#"{"requestId":"1","success":false,"errors":[{"code":"606","message":"Max rate limit"}]}"#),
            now,
        )
        .unwrap_err();
    assert_eq!(e.retry(), Some(Retry::Throttle));

    for bad in [
        r#"{"token_type":"bearer","expires_in":3599}"#,
        r#"{"access_token":"x","token_type":"mac","expires_in":3599}"#,
        r#"{"access_token":"x","token_type":"bearer"}"#,
        r#"{"access_token":"x","token_type":"bearer","expires_in":-1}"#,
        r#"{"access_token":"x","token_type":"bearer","expires_in":"3599"}"#,
        r#"{"access_token":"","token_type":"bearer","expires_in":3599}"#,
        r#"[]"#,
        "",
    ] {
        expect_fetch(&mut holder, now);
        let e = holder.handle_token_response(&ok(bad), now).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnexpectedResponse, "{bad}");
        assert!(holder.expires_at().is_none());
    }
}

#[test]
fn secrets_never_in_debug_urls_or_errors() {
    let now = t("2024-01-01T00:00:00Z");
    let settings = Settings::from_json(&settings_json("")).unwrap();
    let rest = RestApi::new(&settings).unwrap();
    let mut holder = rest.token_holder();
    let clean = |what: &str, text: &str| {
        for secret in [CLIENT_SECRET, TOKEN, "sEcReT"] {
            assert!(!text.contains(secret), "{what} leaks {secret:?}: {text}");
        }
    };
    clean("Settings", &format!("{settings:?} {settings:#?}"));
    clean("RestApi", &format!("{rest:?}"));
    clean("TokenHolder", &format!("{holder:?}"));
    let state = format!("{:?}", holder.token(now));
    clean("TokenState::Fetch", &state);
    clean("TokenState::Waiting", &format!("{:?}", holder.token(now)));
    holder.handle_token_response(&ok(DOC_TOKEN_ANSWER), now).unwrap();
    clean("TokenHolder with a token", &format!("{holder:?} {holder:#?}"));
    clean("TokenState::Ready", &format!("{:?}", holder.token(now)));
    clean("AccessToken", &format!("{:?}", token()));

    // An identity service that echoes the secret does not get it into the error.
    holder.invalidate(&token());
    let _ = holder.token(now);
    let echo = format!(r#"{{"error":"invalid_client","error_description":"no client with secret {CLIENT_SECRET}"}}"#);
    let e = holder.handle_token_response(&Response::new(401, echo), now).unwrap_err();
    clean("error", &format!("{e} {e:?}"));
    let _ = holder.token(now);
    let e = holder
        .handle_token_response(&Response::new(500, format!("boom {CLIENT_SECRET}")), now)
        .unwrap_err();
    clean("error", &format!("{e} {e:?}"));

    // The token never goes into a URL: only into `Authorization: Bearer`.
    let msg = identify(r#"{"type":"identify","traits":{"email":"a@b.co"}}"#);
    let mut batch = rest.lead_batch();
    batch.push(rest.lead_input(&msg, &mut Vec::new()).unwrap()).unwrap();
    let cookie = Cookie::parse("id:561-HYG-937&token:_mch-marketo.com-1374552656411-90718").unwrap();
    let mut activities = ActivityBatch::new();
    let activity_api = api(r#""events":[{"event":"E","marketoActivityId":1}]"#);
    let activity = activity_api
        .activity(&track(r#"{"type":"track","event":"E","userId":"u"}"#), now, &mut Vec::new())
        .unwrap()
        .unwrap();
    activities.push(activity.input(5).unwrap()).unwrap();
    let requests = [
        batch.request(rest.rest_base(), &token()),
        rest.lookup(vec!["a@b.co".into()])
            .unwrap()
            .request(rest.rest_base(), &token())
            .unwrap(),
        associate_request(rest.rest_base(), 5, &cookie, &token()),
        activities.request(rest.rest_base(), &token()),
    ];
    for r in &requests {
        assert!(!r.url.contains(TOKEN) && !r.url.contains("access_token"), "{}", r.url);
        assert!(!r.url.contains(CLIENT_SECRET) && !r.url.contains("sEcReT"));
        assert_eq!(r.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
        assert_eq!(r.headers.iter().filter(|(_, v)| v.contains(TOKEN)).count(), 1);
        assert!(r.body.as_deref().is_none_or(|b| !b.contains(TOKEN)));
    }
}

// ---------------------------------------------------------------------------------------------
// The shared error-code table

struct Row {
    line: usize,
    code: u32,
    meaning: String,
    class: FaultClass,
    record_level: bool,
}

fn rest_rows() -> Vec<Row> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors/marketo-error-codes.tsv");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let cols: Vec<&str> = line.split('\t').collect();
        if line.starts_with('#') || cols[0] != "rest" {
            continue;
        }
        let class = match cols[3] {
            "retry" => FaultClass::Retry,
            "resign" => FaultClass::Resign,
            "throttle" => FaultClass::Throttle,
            "quota" => FaultClass::Quota,
            "reauth" => FaultClass::Reauth,
            "permanent" => FaultClass::Permanent,
            other => panic!("line {}: class {other:?}", i + 1),
        };
        rows.push(Row {
            line: i + 1,
            code: cols[1].parse().unwrap_or_else(|e| panic!("line {}: {e}", i + 1)),
            meaning: cols[2].to_owned(),
            class,
            record_level: cols.get(4).is_some_and(|n| n.contains("record level")),
        });
    }
    rows
}

fn retry_for(class: FaultClass) -> Option<Retry> {
    match class {
        FaultClass::Retry => Some(Retry::Later),
        FaultClass::Throttle => Some(Retry::Throttle),
        FaultClass::Quota => Some(Retry::AfterQuotaReset),
        FaultClass::Reauth => Some(Retry::Reauthenticate),
        FaultClass::Permanent => None,
        other => panic!("no REST row is {other:?}"),
    }
}

fn one_lead_batch(rest: &RestApi) -> LeadBatch {
    let mut batch = rest.lead_batch();
    batch
        .push(
            rest.lead_input(&identify(r#"{"type":"identify","traits":{"email":"a@b.co"}}"#), &mut Vec::new())
                .unwrap(),
        )
        .unwrap();
    batch
}

#[test]
fn every_rest_row_of_the_error_table() {
    let rows = rest_rows();
    assert!(rows.len() >= 37, "only {} rest rows read from the table", rows.len());
    assert!(rows.iter().filter(|r| r.record_level).count() >= 14);
    assert!(rows.iter().any(|r| r.record_level) && rows.iter().any(|r| !r.record_level));
    let rest = api("");
    let batch = one_lead_batch(&rest);
    let lookup = rest.lookup(vec!["a@b.co".into()]).unwrap();
    for row in &rows {
        let what = format!("line {}: {} {}", row.line, row.code, row.meaning);
        if !row.record_level {
            // Request level: HTTP 200, success false, the code as a string.
            let body = format!(
                r#"{{"requestId":"e42b#14272d07d78","success":false,"errors":[{{"code":"{}","message":"{}"}}]}}"#,
                row.code, row.meaning
            );
            let response = ok(&body);
            let errors = [
                read_success(&response).unwrap_err(),
                batch.read_response(&response).unwrap_err(),
                ActivityBatch::new().read_response(&response).unwrap_err(),
                lookup.read_response(&response).unwrap_err(),
                read_associate(&response).unwrap_err(),
            ];
            for e in errors {
                let fault = e.fault().unwrap_or_else(|| panic!("{what}: {e:?}"));
                assert_eq!(fault.api, Api::Rest, "{what}");
                assert_eq!(fault.code, Some(row.code), "{what}");
                assert_eq!(fault.class, row.class, "{what}");
                assert_eq!(fault.message, row.meaning, "{what}");
                assert_eq!(e.retry(), retry_for(row.class), "{what}");
            }
        } else {
            // Record level: a skipped result with this reason (`reasons` for leads, `errors` for
            // activities, as in the documentation's examples).
            let reason = format!(r#"{{"code":"{}","message":"{}"}}"#, row.code, row.meaning);
            let leads = ok(&format!(
                r#"{{"requestId":"1","success":true,"result":[{{"status":"skipped","reasons":[{reason}]}}]}}"#
            ));
            let record = &batch.read_response(&leads).unwrap_or_else(|e| panic!("{what}: {e}")).value[0];
            assert!(!record.is_success(), "{what}");
            assert_eq!(record.class(), Some(row.class), "{what}");
            assert_eq!(record.reasons()[0].code, Some(row.code), "{what}");
            assert_eq!(record.error().unwrap().retry(), retry_for(row.class), "{what}");

            let mut activities = ActivityBatch::new();
            let act_api = api(r#""events":[{"event":"E","marketoActivityId":1}]"#);
            let a = act_api.activity(
                &track(r#"{"type":"track","event":"E","userId":"u"}"#),
                t("2024-01-01T00:00:00Z"),
                &mut Vec::new(),
            );
            activities.push(a.unwrap().unwrap().input(1).unwrap()).unwrap();
            let acts = ok(&format!(
                r#"{{"requestId":"1","success":true,"result":[{{"status":"skipped","errors":[{reason}]}}]}}"#
            ));
            let record = &activities.read_response(&acts).unwrap().value[0];
            assert_eq!(record.class(), Some(row.class), "{what}");

            if row.code == 1012 {
                let answer = format!(r#"{{"requestId":"1","success":false,"errors":[{reason}]}}"#);
                match read_associate(&ok(&answer)).unwrap().value {
                    AssociateOutcome::InvalidCookie(f) => assert_eq!(f.code, Some(1012)),
                    other => panic!("{other:?}"),
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Lead records

#[test]
fn sync_leads_doc_example_is_reproduced() {
    let rest = api("");
    let mut batch = LeadBatch::new(SyncAction::CreateOnly, "email");
    for i in 1..=3 {
        let json = format!(
            r#"{{"type":"identify","traits":{{"email":"kjashaedd-{i}@klooblept.com","firstName":"Kataldar-{i}","address":{{"postalCode":"04828"}}}}}}"#
        );
        let mut warnings = Vec::new();
        batch.push(rest.lead_input(&identify(&json), &mut warnings).unwrap()).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
    }
    // leads.md, "Create and Update", request body.
    let doc = r#"{
   "action":"createOnly",
   "lookupField":"email",
   "input":[
      {
         "email":"kjashaedd-1@klooblept.com",
         "firstName":"Kataldar-1",
         "postalCode":"04828"
      },
      {
         "email":"kjashaedd-2@klooblept.com",
         "firstName":"Kataldar-2",
         "postalCode":"04828"
      },
      {
         "email":"kjashaedd-3@klooblept.com",
         "firstName":"Kataldar-3",
         "postalCode":"04828"
      }
   ]
}"#;
    assert_eq!(batch.body(), compact(doc));
    assert_eq!(batch.body(), golden("rest-sync-leads-doc.json"));
    assert_eq!(batch.body_len(), batch.body().len());

    let req = batch.request("https://561-HYG-937.mktorest.com/", &token());
    assert_eq!(req.kind, RequestKind::SyncLeads);
    assert_eq!(req.method, Method::Post);
    assert_eq!(req.url, "https://561-HYG-937.mktorest.com/rest/v1/leads.json");
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.body.as_deref(), Some(golden("rest-sync-leads-doc.json").as_str()));

    // leads.md's answer to it.
    let answer = r#"{
   "requestId":"e42b#14272d07d78",
   "success":true,
   "result":[
      { "id":50, "status":"created" },
      { "id":51, "status":"created" },
      { "id":52, "status":"created" }
   ]
}"#;
    let reply = batch.read_response(&ok(answer)).unwrap();
    assert_eq!(reply.request_id.as_deref(), Some("e42b#14272d07d78"));
    assert_eq!(
        reply.value,
        vec![
            RecordOutcome::Created { id: 50 },
            RecordOutcome::Created { id: 51 },
            RecordOutcome::Created { id: 52 }
        ]
    );
}

const FULL_IDENTIFY: &str = r#"{"type":"identify","messageId":"rest-golden-1","userId":"user-42","anonymousId":"anon-7",
 "traits":{"firstName":"Ada","lastName":"Lovelace","email":"ada@example.com","phone":"+44 20 7946 0958",
  "title":"Countess","website":"https://example.com","company":{"name":"Analytical Engines","industry":"Computing"},
  "address":{"street":"12 St James's Square","city":"London","zip":"SW1Y 4JH","country":"UK","state":null,"line2":"x"},
  "birthday":"1815-12-10T00:00:00.000Z","plan":"pro","logins":1.50,"vip":true,"nickname":null,"favoriteColor":"blue",
  "quote":"He said \"hi\"\n"}}"#;

const FULL_TRAITS: &str = r#""createIfNotExist":false,"traits":[
    {"segmentTrait":"plan","marketoFieldName":"plan"},
    {"segmentTrait":"logins","marketoFieldName":"loginCount","marketoFieldType":"float"},
    {"segmentTrait":"vip","marketoFieldName":"isVip"},
    {"segmentTrait":"quote","marketoFieldName":"quote"},
    {"segmentTrait":"nickname","marketoFieldName":"nickname"}]"#;

#[test]
fn identify_with_every_rule_matches_golden() {
    let rest = api(FULL_TRAITS);
    assert_eq!(rest.action(), SyncAction::UpdateOnly, "createIfNotExist false -> updateOnly");
    let msg = identify(FULL_IDENTIFY);
    let mut warnings = Vec::new();
    let input = rest.lead_input(&msg, &mut warnings).unwrap();
    let mut batch = rest.lead_batch();
    batch.push(input.clone()).unwrap();
    assert_eq!(batch.body(), golden("rest-sync-leads-full.json"));
    // The body is JSON whose values are what the message said.
    let v: serde_json::Value = serde_json::from_str(&batch.body()).unwrap();
    assert_eq!(v["input"][0]["quote"], "He said \"hi\"\n");
    assert_eq!(v["input"][0]["loginCount"].as_f64(), Some(1.5));
    assert_eq!(input.get("isVip"), Some(&FieldValue::Bool(true)));
    assert_eq!(input.get("loginCount"), Some(&FieldValue::Number("1.50".into())));
    assert_eq!(input.get("nickname"), None, "null is not sent");
    assert_eq!(input.lookup().map(|(k, _)| k), Some("email"));
    // Nothing silent: the traits without a field are named.
    assert_eq!(
        warnings,
        vec![Warning::new(
            WarningKind::FieldNotSent,
            "message \"rest-golden-1\": company.industry, address.line2, favoriteColor not sent: no standard Marketo field for them, and no entry in the `traits` setting"
        )]
    );
}

#[test]
fn lead_rules() {
    let rest = api("");
    let input = |json: &str| rest.lead_input(&identify(json), &mut Vec::new());
    // The email falls back to an email-like userId, and goes first.
    let r = input(r#"{"type":"identify","userId":"u@example.com","traits":{"firstName":"A"}}"#).unwrap();
    assert_eq!(r.json(), r#"{"email":"u@example.com","firstName":"A","userId":"u@example.com"}"#);
    // No email: MissingEmail naming the message.
    let e = input(r#"{"type":"identify","messageId":"m9","userId":"u1","traits":{"firstName":"A"}}"#).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MissingEmail);
    assert!(e.to_string().contains("m9"));
    // Company as a string, address as a string, an ISO date birthday.
    let r =
        input(r#"{"type":"identify","traits":{"email":"a@b.co","company":"ACME","address":"1 Main St","birthday":"1990-05-17"}}"#).unwrap();
    assert_eq!(
        r.json(),
        r#"{"email":"a@b.co","company":"ACME","address":"1 Main St","dateOfBirth":"1990-05-17"}"#
    );
    // postalCode wins over zip.
    let r = input(r#"{"type":"identify","traits":{"email":"a@b.co","address":{"zip":"1","postalCode":"2"}}}"#).unwrap();
    assert_eq!(r.get("postalCode"), Some(&FieldValue::String("2".into())));

    // sendUserIdAndAnonymousId off: no ids.
    let quiet = api(r#""sendUserIdAndAnonymousId":false"#);
    let r = quiet.lead_input(
        &identify(r#"{"type":"identify","userId":"u","anonymousId":"a","traits":{"email":"a@b.co"}}"#),
        &mut Vec::new(),
    );
    assert_eq!(r.unwrap().json(), r#"{"email":"a@b.co"}"#);

    // Another lookup field: must be in the record, else InvalidField naming it.
    let by_user = api(r#""lookupField":"userId""#);
    let r = by_user
        .lead_input(
            &identify(r#"{"type":"identify","userId":"u1","traits":{"firstName":"A"}}"#),
            &mut Vec::new(),
        )
        .unwrap();
    assert_eq!(r.json(), r#"{"userId":"u1","firstName":"A"}"#);
    let e = by_user
        .lead_input(
            &identify(r#"{"type":"identify","anonymousId":"a","traits":{"email":"x@y.z"}}"#),
            &mut Vec::new(),
        )
        .unwrap_err();
    match e {
        Error::InvalidField { field, .. } => assert_eq!(field, "userId"),
        other => panic!("{other:?}"),
    }
    let by_custom = api(r#""lookupField":"crmId","traits":[{"segmentTrait":"crm_id","marketoFieldName":"crmId"}]"#);
    let mut batch = by_custom.lead_batch();
    let r = by_custom
        .lead_input(
            &identify(r#"{"type":"identify","traits":{"firstName":"A","crm_id":77}}"#),
            &mut Vec::new(),
        )
        .unwrap();
    assert_eq!(r.json(), r#"{"crmId":77,"firstName":"A"}"#);
    batch.push(r).unwrap();
    assert!(
        batch
            .body()
            .starts_with(r#"{"action":"createOrUpdate","lookupField":"crmId","input":["#)
    );
    // A record for another lookup field is refused by the batch.
    let other = rest
        .lead_input(&identify(r#"{"type":"identify","traits":{"email":"a@b.co"}}"#), &mut Vec::new())
        .unwrap();
    assert!(batch.push(other).is_err());

    // The `traits` mapping wins over the standard name; one trait may go to two fields; a field
    // set twice keeps the first value and warns.
    let mapped = api(
        r#""traits":[{"segmentTrait":"firstName","marketoFieldName":"givenName"},{"segmentTrait":"firstName","marketoFieldName":"nick"},{"segmentTrait":"nick","marketoFieldName":"nick"}]"#,
    );
    let mut warnings = Vec::new();
    let r = mapped
        .lead_input(
            &identify(r#"{"type":"identify","traits":{"email":"a@b.co","firstName":"A","nick":"B"}}"#),
            &mut warnings,
        )
        .unwrap();
    assert_eq!(r.json(), r#"{"email":"a@b.co","givenName":"A","nick":"A"}"#);
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].message.contains("nick not sent: field `nick` is already set"),
        "{}",
        warnings[0]
    );
}

#[test]
fn unknown_field_1006_is_dropped_and_the_record_resent() {
    let rest = api(r#""traits":[{"segmentTrait":"foo","marketoFieldName":"foo"},{"segmentTrait":"bar","marketoFieldName":"bar"}]"#);
    let mut batch = rest.lead_batch();
    for json in [
        r#"{"type":"identify","traits":{"email":"a@b.co","foo":1,"bar":2}}"#,
        r#"{"type":"identify","traits":{"email":"c@d.co"}}"#,
        r#"{"type":"identify","traits":{"email":"e@f.co","firstName":"E"}}"#,
    ] {
        batch.push(rest.lead_input(&identify(json), &mut Vec::new()).unwrap()).unwrap();
    }
    // Mixed answer: created, updated, skipped (1006, text as error-codes.md gives it).
    let answer = r#"{"requestId":"e42b#14272d07d78","success":true,"result":[
        {"status":"skipped","reasons":[{"code":"1006","message":"Field 'foo' not found"},{"code":"1006","message":"Field ‘bar’ not found"}]},
        {"id":51,"status":"updated"},
        {"id":52,"status":"created"}]}"#;
    let reply = batch.read_response(&ok(answer)).unwrap();
    assert_eq!(reply.value[1], RecordOutcome::Updated { id: 51 });
    assert_eq!(reply.value[2], RecordOutcome::Created { id: 52 });
    let skipped = &reply.value[0];
    assert_eq!(skipped.class(), Some(FaultClass::Permanent));
    assert_eq!(skipped.unknown_fields(), vec!["foo", "bar"]);
    // Result 0 belongs to input 0: drop its unknown fields and send it again.
    let mut records = batch.into_records();
    let mut first: LeadInput = records.remove(0);
    assert_eq!(first.remove_fields(&skipped.unknown_fields()), vec!["foo", "bar"]);
    assert_eq!(first.json(), r#"{"email":"a@b.co"}"#);

    // Fault::new extracts the names for REST 1006 only, and still for SOAP 20105.
    let f = Fault::new(Api::Rest, Some(1006), "Field 'a_b' not found", "Field 'a_b' not found");
    assert_eq!(f.unknown_fields, vec!["a_b"]);
    let f = Fault::new(Api::Rest, Some(1006), "Field \"x\" not found", "");
    assert_eq!(f.unknown_fields, vec!["x"]);
    let f = Fault::new(Api::Rest, Some(1006), "Field zz not found", "");
    assert_eq!(f.unknown_fields, vec!["zz"]);
    let f = Fault::new(Api::Rest, Some(1001), "Invalid value 'x'. Required of type 'integer'", "");
    assert!(f.unknown_fields.is_empty());
    let f = Fault::new(
        Api::Soap,
        Some(20105),
        "Unknown lead field",
        "syncLead operation failed: unknown fields for import: pants (20105)",
    );
    assert_eq!(f.unknown_fields, vec!["pants"]);
}

#[test]
fn record_level_doc_examples() {
    let rest = api("");
    let mut batch = rest.lead_batch();
    for e in ["a@b.co", "c@d.co", "e@f.co"] {
        batch
            .push(
                rest.lead_input(
                    &identify(&format!(r#"{{"type":"identify","traits":{{"email":"{e}"}}}}"#)),
                    &mut Vec::new(),
                )
                .unwrap(),
            )
            .unwrap();
    }
    // error-codes.md, "Record-Level".
    let answer = r#"{
   "requestId":"e42b#14272d07d78",
   "success":true,
   "result":[
      { "id":50, "status":"created" },
      { "id":51, "status":"created" },
      { "status":"skipped", "reasons":[ { "code":"1005", "message":"Lead already exists" } ] }
   ]
}"#;
    let reply = batch.read_response(&ok(answer)).unwrap();
    assert_eq!(reply.value[0], RecordOutcome::Created { id: 50 });
    assert_eq!(reply.value[1].id(), Some(51));
    assert_eq!(reply.value[2].reasons()[0].code, Some(1005));
    assert_eq!(reply.value[2].class(), Some(FaultClass::Permanent));
    assert_eq!(reply.value[2].error().unwrap().retry(), None);
    // A result count that does not match the input is unexpected.
    let short = r#"{"requestId":"1","success":true,"result":[{"id":50,"status":"created"}]}"#;
    assert_eq!(batch.read_response(&ok(short)).unwrap_err().kind(), ErrorKind::UnexpectedResponse);
    // error-codes.md's request-level example (601, "Unauthorized").
    let e = batch
        .read_response(&ok(
            r#"{"requestId":"e42b#14272d07d78","success":false,"errors":[{"code":"601","message":"Unauthorized"}]}"#,
        ))
        .unwrap_err();
    assert_eq!(e.retry(), Some(Retry::Reauthenticate));
    // Warnings are kept.
    let warned = r#"{"requestId":"1","success":true,"warnings":["w1",{"code":"1","message":"w2"}],"result":[{"id":1,"status":"updated"},{"id":2,"status":"updated"},{"id":3,"status":"updated"}]}"#;
    assert_eq!(batch.read_response(&ok(warned)).unwrap().warnings, vec!["w1", "1 w2"]);
}

// ---------------------------------------------------------------------------------------------
// Batches: 300 records, 1 MB

fn email_record(rest: &RestApi, i: usize, pad: usize) -> LeadInput {
    let json = format!(
        r#"{{"type":"identify","traits":{{"email":"user{i}@example.com","firstName":"{}"}}}}"#,
        "x".repeat(pad)
    );
    rest.lead_input(&identify(&json), &mut Vec::new()).unwrap()
}

#[test]
fn batch_splits_at_exactly_300_records() {
    let rest = api("");
    let mut batch = rest.lead_batch();
    for i in 0..300 {
        batch
            .push(email_record(&rest, i, 1))
            .unwrap_or_else(|_| panic!("record {i} refused"));
    }
    assert_eq!(batch.len(), 300);
    let refused = batch.push(email_record(&rest, 300, 1)).unwrap_err();
    assert_eq!(
        refused.get("email"),
        Some(&FieldValue::String("user300@example.com".into())),
        "the refused record comes back"
    );
    assert_eq!(batch.len(), 300);
    let body: serde_json::Value = serde_json::from_str(&batch.body()).unwrap();
    assert_eq!(body["input"].as_array().unwrap().len(), 300);
    assert_eq!(body["input"][299]["email"], "user299@example.com");
    // The same for activities.
    let act = api(r#""events":[{"event":"E","marketoActivityId":1}]"#);
    let a = act
        .activity(
            &track(r#"{"type":"track","event":"E","userId":"u"}"#),
            t("2024-01-01T00:00:00Z"),
            &mut Vec::new(),
        )
        .unwrap()
        .unwrap();
    let mut acts = ActivityBatch::new();
    for i in 0..300 {
        acts.push(a.input(i).unwrap()).unwrap();
    }
    assert_eq!(acts.push(a.input(300).unwrap()).unwrap_err().lead_id(), 300);
}

#[test]
fn batch_splits_at_exactly_one_megabyte() {
    const MB: usize = 1_048_576;
    let rest = api("");
    // `{"action":"createOrUpdate","lookupField":"email","input":[` + records joined by `,` + `]}`.
    let head = r#"{"action":"createOrUpdate","lookupField":"email","input":["#.len();
    let base = email_record(&rest, 0, 0).json().len(); // {"email":"user0@example.com","firstName":""}
    // Three records of 300,000 bytes, a fourth filling the body to exactly 1 MB.
    let pad = 300_000 - base;
    let mut batch = rest.lead_batch();
    for i in 0..3 {
        batch.push(email_record(&rest, i, pad)).unwrap();
    }
    let used = head + 3 * 300_000 + 2 + 2; // two commas, `]}`
    assert_eq!(batch.body_len(), used);
    let last_len = MB - used - 1; // its comma
    let too_big = email_record(&rest, 3, last_len - base + 1);
    assert_eq!(too_big.json().len(), last_len + 1);
    let back = batch.push(too_big).unwrap_err();
    assert_eq!(back.json().len(), last_len + 1);
    batch.push(email_record(&rest, 3, last_len - base)).unwrap();
    assert_eq!(batch.body_len(), MB);
    assert_eq!(batch.body().len(), MB);
    // Full: not even the smallest record fits now.
    assert!(batch.push(email_record(&rest, 4, 0)).is_err());

    // A single record over 1 MB is a typed error, not a batch.
    let huge = format!(
        r#"{{"type":"identify","messageId":"big","traits":{{"email":"a@b.co","firstName":"{}"}}}}"#,
        "y".repeat(MB)
    );
    let e = rest.lead_input(&identify(&huge), &mut Vec::new()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge);
    assert!(e.to_string().contains("big"));
    // A record exactly filling a batch alone is accepted.
    let alone = MB - head - 2;
    let fits = email_record(&rest, 0, alone - base);
    let mut batch = rest.lead_batch();
    batch.push(fits).unwrap();
    assert_eq!(batch.body().len(), MB);
    assert!(
        rest.lead_input(
            &identify(&format!(
                r#"{{"type":"identify","traits":{{"email":"user0@example.com","firstName":"{}"}}}}"#,
                "x".repeat(alone - base + 1)
            )),
            &mut Vec::new()
        )
        .is_err()
    );
}

// ---------------------------------------------------------------------------------------------
// Lookup

#[test]
fn lookup_by_email() {
    let rest = api("");
    let one = rest.lookup(vec!["a@b.com".into()]).unwrap();
    let req = one.request("https://561-HYG-937.mktorest.com", &token()).unwrap();
    assert_eq!(req.kind, RequestKind::LookupLead);
    assert_eq!(req.method, Method::Get);
    assert_eq!(
        req.url,
        "https://561-HYG-937.mktorest.com/rest/v1/leads.json?filterType=email&filterValues=a%40b.com&fields=id,email"
    );
    assert_eq!(req.body, None);
    let none = one
        .read_response(&ok(r#"{"requestId":"177a1#1578b643357","result":[],"success":true}"#))
        .unwrap();
    assert_eq!(none.value, vec![None]);

    // leads.md's filter answer (default fields include email), looked up by email in another order.
    let doc = r#"{
    "requestId": "12951#15699db5c97",
    "result": [
        { "id": 318581, "updatedAt": "2016-05-17T22:11:45Z", "lastName": "Lincoln", "email": "abe@usa.gov", "createdAt": "2015-03-17T00:18:40Z", "firstName": "Abraham" },
        { "id": 318592, "updatedAt": "2016-05-17T22:20:51Z", "lastName": "Washington", "email": "george@usa.gov", "createdAt": "2015-04-06T16:29:21Z", "firstName": "George" }
    ],
    "success": true
}"#;
    let many = LeadLookup::new(
        "email",
        vec!["George@USA.gov".into(), "nobody@usa.gov".into(), "abe@usa.gov".into()],
    )
    .unwrap();
    assert_eq!(
        many.request("https://x.mktorest.com", &token()).unwrap().url,
        "https://x.mktorest.com/rest/v1/leads.json?filterType=email&filterValues=George%40USA.gov,nobody%40usa.gov,abe%40usa.gov&fields=id,email"
    );
    assert_eq!(
        many.read_response(&ok(doc)).unwrap().value,
        vec![Some(318_592), None, Some(318_581)]
    );
    // By id (the doc's own request): `fields=id` only.
    let by_id = LeadLookup::new("id", vec!["318581".into(), "318592".into()]).unwrap();
    assert_eq!(
        by_id.request("https://x.mktorest.com", &token()).unwrap().url,
        "https://x.mktorest.com/rest/v1/leads.json?filterType=id&filterValues=318581,318592&fields=id"
    );
    assert_eq!(by_id.read_response(&ok(doc)).unwrap().value, vec![Some(318_581), Some(318_592)]);
    // Duplicates: the lowest id, whatever the order.
    let dup = r#"{"requestId":"1","success":true,"result":[{"id":9,"userId":"u"},{"id":4,"userId":"u"},{"id":7,"userId":"v"}]}"#;
    let by_user = LeadLookup::new("userId", vec!["u".into(), "v".into(), "U".into()]).unwrap();
    assert_eq!(
        by_user.read_response(&ok(dup)).unwrap().value,
        vec![Some(4), Some(7), None],
        "userId is case-sensitive"
    );

    // Limits: 1..=300 values, no commas, URL within 8 KB.
    assert_eq!(LeadLookup::new("email", vec![]).unwrap_err().kind(), ErrorKind::InvalidField);
    assert!(LeadLookup::new("email", (0..301).map(|i| format!("u{i}@x.co")).collect()).is_err());
    assert!(LeadLookup::new("email", (0..300).map(|i| format!("u{i}@x.co")).collect()).is_ok());
    assert!(LeadLookup::new("email", vec!["a,b@x.co".into()]).is_err());
    assert!(LeadLookup::new("email", vec!["".into()]).is_err());
    assert!(LeadLookup::new("e&mail", vec!["a".into()]).is_err());
    let long = LeadLookup::new("email", vec![format!("{}@x.co", "a".repeat(8192))]).unwrap();
    assert_eq!(
        long.request("https://x.mktorest.com", &token()).unwrap_err().kind(),
        ErrorKind::TooLarge
    );
    // A result without an id is unexpected.
    let bad = r#"{"requestId":"1","success":true,"result":[{"email":"a@b.com"}]}"#;
    assert_eq!(one.read_response(&ok(bad)).unwrap_err().kind(), ErrorKind::UnexpectedResponse);
}

// ---------------------------------------------------------------------------------------------
// Associate

#[test]
fn associate_lead_as_documented() {
    let cookie = Cookie::parse("id:287-GTJ-838&token:_mch-marketo.com-1396310362214-46169").unwrap();
    let req = associate_request("https://287-GTJ-838.mktorest.com", 318_581, &cookie, &token());
    // leads.md, "Associate Web Activity": `POST /rest/v1/leads/{id}/associate.json?cookie=id:287-GTJ-838%26token:_mch-marketo.com-1396310362214-46169`
    assert_eq!(
        req.url,
        "https://287-GTJ-838.mktorest.com/rest/v1/leads/318581/associate.json?cookie=id:287-GTJ-838%26token:_mch-marketo.com-1396310362214-46169"
    );
    assert_eq!((req.kind, req.method), (RequestKind::AssociateLead, Method::Post));
    assert_eq!(req.body, None);
    // The same cookie in its URL-encoded or `=` forms gives the same URL (canonical form).
    for raw in [
        "id%3A287-GTJ-838%26token%3A_mch-marketo.com-1396310362214-46169",
        "token=_mch-marketo.com-1396310362214-46169&id=287-GTJ-838",
    ] {
        let c = Cookie::parse(raw).unwrap();
        assert_eq!(
            associate_request("https://287-GTJ-838.mktorest.com", 318_581, &c, &token()).url,
            req.url
        );
    }

    let reply = read_associate(&ok(r#"{"requestId":"e42b#14272d07d78","success":true}"#)).unwrap();
    assert_eq!(reply.value, AssociateOutcome::Associated);
    assert_eq!(reply.request_id.as_deref(), Some("e42b#14272d07d78"));
    let bad = r#"{"requestId":"1","success":false,"errors":[{"code":"1012","message":"Invalid cookie value 'x'"}]}"#;
    match read_associate(&ok(bad)).unwrap().value {
        AssociateOutcome::InvalidCookie(f) => {
            assert_eq!(f.code, Some(1012));
            assert_eq!(f.class, FaultClass::Permanent);
        }
        other => panic!("{other:?}"),
    }
    let skipped = r#"{"requestId":"1","success":true,"result":[{"status":"skipped","reasons":[{"code":"1012","message":"Invalid cookie value 'x'"}]}]}"#;
    assert!(matches!(
        read_associate(&ok(skipped)).unwrap().value,
        AssociateOutcome::InvalidCookie(_)
    ));
    let not_found =
        r#"{"requestId":"1","success":true,"result":[{"status":"skipped","reasons":[{"code":"1004","message":"Lead not found"}]}]}"#;
    assert_eq!(read_associate(&ok(not_found)).unwrap_err().fault().unwrap().code, Some(1004));
    let expired = r#"{"requestId":"1","success":false,"errors":[{"code":"602","message":"Access token expired"}]}"#;
    assert_eq!(read_associate(&ok(expired)).unwrap_err().retry(), Some(Retry::Reauthenticate));
}

// ---------------------------------------------------------------------------------------------
// Custom activities

const EVENTS: &str = r#""trackAnonymousActivity":false,"events":[
    {"event":"Game Giveaway Entered","marketoActivityId":1001,"primaryAttribute":"contest",
     "properties":[{"segmentProperty":"url","marketoAttribute":"uRL"}]},
    {"event":"Plain","marketoActivityId":"100002",
     "properties":[{"segmentProperty":"cart.total","marketoAttribute":"Total"},{"segmentProperty":"gone","marketoAttribute":"Gone"},
                   {"segmentProperty":"free","marketoAttribute":"Free"}]}]"#;

#[test]
fn activities_doc_example_is_reproduced() {
    let rest = api(EVENTS);
    let mut batch = ActivityBatch::new();
    for (lead, contest) in [(1001, "Game Giveaway"), (1200, "Game Giveaway"), (3000, "Contest Form")] {
        let json = format!(
            r#"{{"type":"track","userId":"u{lead}","event":"Game Giveaway Entered","timestamp":"2016-09-26T06:56:35+07:00","properties":{{"contest":"{contest}","url":"http://www.nvidia.com/game-giveaway"}}}}"#
        );
        let mut warnings = Vec::new();
        let activity = rest
            .activity(&track(&json), t("2030-01-01T00:00:00Z"), &mut warnings)
            .unwrap()
            .unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(activity.lead_key.field, "userId");
        assert_eq!(activity.lead_key.value, format!("u{lead}"));
        batch.push(activity.input(lead).unwrap()).unwrap();
    }
    assert_eq!(batch.body(), golden("rest-activities-doc.json"));
    // activities.md, "Add Custom Activities", with "apiName" read as "name".
    let doc = r#"{
  "input": [
    { "leadId": 1001, "activityDate": "2016-09-26T06:56:35+07:00", "activityTypeId": 1001, "primaryAttributeValue": "Game Giveaway",
      "attributes": [ { "apiName": "uRL", "value": "http://www.nvidia.com/game-giveaway" } ] },
    { "leadId": 1200, "activityDate": "2016-09-26T06:56:35+07:00", "activityTypeId": 1001, "primaryAttributeValue": "Game Giveaway",
      "attributes": [ { "apiName": "uRL", "value": "http://www.nvidia.com/game-giveaway" } ] },
    { "leadId": 3000, "activityDate": "2016-09-26T06:56:35+07:00", "activityTypeId": 1001, "primaryAttributeValue": "Contest Form",
      "attributes": [ { "apiName": "uRL", "value": "http://www.nvidia.com/game-giveaway" } ] }
  ]
}"#;
    assert_eq!(batch.body(), compact(doc).replace(r#""apiName":"#, r#""name":"#));
    let req = batch.request("https://561-HYG-937.mktorest.com", &token());
    assert_eq!(req.url, "https://561-HYG-937.mktorest.com/rest/v1/activities/external.json");
    assert_eq!((req.kind, req.method), (RequestKind::CustomActivities, Method::Post));
    assert_eq!(req.header("Content-Type"), Some("application/json"));

    // activities.md's answer: added, added, skipped with `errors`.
    let answer = r#"{
  "requestId": "e42b#14272d07d78",
  "success": true,
  "result": [
    { "id": 50, "marketoGUID": "50", "status": "added" },
    { "id": 51, "marketoGUID": "51", "status": "added" },
    { "status": "skipped", "errors": [ { "code": "1004", "message": "Lead not found" } ] }
  ]
}"#;
    let reply = batch.read_response(&ok(answer)).unwrap();
    assert_eq!(
        reply.value[0],
        RecordOutcome::Added {
            id: Some(50),
            marketo_guid: Some("50".into())
        }
    );
    assert!(reply.value[1].is_success());
    assert_eq!(reply.value[2].reasons()[0].code, Some(1004));
    assert_eq!(reply.value[2].class(), Some(FaultClass::Permanent));
}

#[test]
fn activity_rules() {
    let rest = api(EVENTS);
    let now = t("2024-02-03T04:05:06.789Z");
    let plan = |json: &str, w: &mut Vec<Warning>| rest.activity(&track(json), now, w);
    let mut w = Vec::new();
    // Unmapped event: None (the caller falls back to the beacon).
    assert!(plan(r#"{"type":"track","userId":"u","event":"Other"}"#, &mut w).unwrap().is_none());
    // Anonymous without trackAnonymousActivity: None.
    assert!(
        plan(r#"{"type":"track","anonymousId":"a","event":"Plain"}"#, &mut w)
            .unwrap()
            .is_none()
    );
    // No identity at all.
    assert_eq!(
        plan(r#"{"type":"track","event":"Plain"}"#, &mut w).unwrap_err().kind(),
        ErrorKind::MissingIdentity
    );
    // No timestamp: the caller's now; no primary attribute setting: the event name; a dotted path;
    // absent and null properties left out; unmapped properties named in a warning.
    let a = plan(
        r#"{"type":"track","messageId":"t1","userId":"u","event":"Plain","properties":{"cart":{"total":9.990},"free":null,"x":1,"y":"z"}}"#,
        &mut w,
    )
    .unwrap()
    .unwrap();
    assert_eq!(a.activity_date, now);
    assert_eq!(a.activity_type_id, 100_002);
    assert_eq!(
        a.input(42).unwrap().json(),
        r#"{"leadId":42,"activityDate":"2024-02-03T04:05:06+00:00","activityTypeId":100002,"primaryAttributeValue":"Plain","attributes":[{"name":"Total","value":9.990}]}"#
    );
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].kind, WarningKind::FieldNotSent);
    assert!(w[0].message.starts_with("message \"t1\": properties x, y not sent"), "{}", w[0]);
    // A timestamp that is not RFC 3339; a missing primary attribute.
    let e = plan(r#"{"type":"track","userId":"u","event":"Plain","timestamp":"yesterday"}"#, &mut w).unwrap_err();
    assert!(matches!(e, Error::InvalidField { ref field, .. } if field == "timestamp"), "{e}");
    let e = plan(r#"{"type":"track","userId":"u","event":"Game Giveaway Entered"}"#, &mut w).unwrap_err();
    assert!(
        matches!(e, Error::InvalidField { ref field, .. } if field == "properties.contest"),
        "{e}"
    );
    // A numeric primary attribute is sent as text.
    let a = plan(
        r#"{"type":"track","userId":"u","event":"Game Giveaway Entered","properties":{"contest":7}}"#,
        &mut w,
    )
    .unwrap()
    .unwrap();
    assert_eq!(a.primary_attribute_value, "7");

    // With trackAnonymousActivity: the lead is found by anonymousId.
    let anon = api(&EVENTS.replace(r#""trackAnonymousActivity":false"#, r#""trackAnonymousActivity":true"#));
    let a = anon
        .activity(
            &track(r#"{"type":"track","anonymousId":"a-1","event":"Plain"}"#),
            now,
            &mut Vec::new(),
        )
        .unwrap()
        .unwrap();
    assert_eq!((a.lead_key.field, a.lead_key.value.as_str()), ("anonymousId", "a-1"));
    let lookup = LeadLookup::new(a.lead_key.field, vec![a.lead_key.value.clone()]).unwrap();
    assert!(
        lookup
            .request(anon.rest_base(), &token())
            .unwrap()
            .url
            .contains("filterType=anonymousId&filterValues=a-1&fields=id,anonymousId")
    );
}

// ---------------------------------------------------------------------------------------------
// Garbage never panics

fn all_readers(response: &Response) {
    let rest = api("");
    let batch = one_lead_batch(&rest);
    let _ = batch.read_response(response);
    let _ = ActivityBatch::new().read_response(response);
    let _ = rest.lookup(vec!["a@b.co".into(), "c@d.co".into()]).unwrap().read_response(response);
    let _ = read_associate(response);
    let _ = read_success(response);
    let mut holder = rest.token_holder();
    let now = t("2024-01-01T00:00:00Z");
    let _ = holder.token(now);
    let _ = holder.handle_token_response(response, now);
    assert!(!holder.is_fetching());
}

#[test]
fn truncated_and_odd_answers_never_panic() {
    let valid = [
        DOC_TOKEN_ANSWER,
        r#"{"requestId":"e42b#14272d07d78","success":true,"result":[{"id":50,"status":"created"},{"status":"skipped","reasons":[{"code":"1006","message":"Field 'foo' not found"}]}]}"#,
        r#"{"requestId":"1","success":false,"errors":[{"code":"601","message":"Access token invalid"}]}"#,
        r#"{"requestId":"1","success":true,"result":[{"id":318581,"email":"a@b.co"}]}"#,
        "{\"requestId\":\"1\",\"success\":true,\"result\":[{\"status\":\"skipped\",\"errors\":[{\"code\":\"1012\",\"message\":\"Invalid cookie value \u{2018}x\u{2019}\"}]}]}",
    ];
    for body in valid {
        for cut in 0..=body.len() {
            for status in [200, 401, 413, 500] {
                all_readers(&Response::new(status, &body.as_bytes()[..cut]));
            }
        }
    }
    let odd = [
        "null",
        "[]",
        "1e999999",
        r#"{"success":"yes"}"#,
        r#"{"success":true,"result":{}}"#,
        r#"{"success":true,"result":[null,1,"x",[],{}]}"#,
        r#"{"success":false,"errors":"601"}"#,
        r#"{"success":false,"errors":[{"code":{"a":1},"message":[1]}]}"#,
        r#"{"success":false,"errors":[{"code":"99999999999999999999","message":null}]}"#,
        r#"{"success":true,"result":[{"id":1e400,"status":"created"}]}"#,
        r#"{"success":true,"result":[{"id":-9223372036854775809,"status":"updated"}]}"#,
        r#"{"access_token":"x","token_type":"bearer","expires_in":18446744073709551615}"#,
        r#"{"access_token":"x\u0000y","token_type":"bearer","expires_in":5}"#,
        r#"{"error":5,"error_description":{}}"#,
        "\u{feff}{}",
        "<html><body>502 Bad Gateway</body></html>",
    ];
    for body in odd {
        for status in [200, 204, 400, 401, 429, 503] {
            all_readers(&Response::new(status, body));
        }
    }
    // Deeply nested JSON is refused, not a stack overflow.
    let deep = format!(r#"{{"success":true,"result":[{}{}]}}"#, "[".repeat(100_000), "]".repeat(100_000));
    all_readers(&ok(&deep));
    // A huge expires_in does not overflow the clock.
    let mut holder = api("").token_holder();
    let now = t("2024-01-01T00:00:00Z");
    let _ = holder.token(now);
    holder
        .handle_token_response(
            &ok(r#"{"access_token":"x","token_type":"bearer","expires_in":18446744073709551615}"#),
            now,
        )
        .unwrap();
    assert!(matches!(holder.token(now), TokenState::Ready(_)));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(status in 0u16..=999, body in proptest::collection::vec(any::<u8>(), 0..400)) {
        all_readers(&Response::new(status, body));
    }

    #[test]
    fn arbitrary_json_text_never_panics(status in prop_oneof![Just(200u16), Just(401u16), Just(500u16)], body in "[\\[\\]{}\",:0-9a-z_ .\\-]{0,200}") {
        all_readers(&Response::new(status, body.clone()));
        let with_prefix = format!(r#"{{"success":true,"result":[{body}"#);
        all_readers(&Response::new(status, with_prefix));
    }

    /// Any trait text survives the trip: the record is valid JSON carrying the same string.
    #[test]
    fn trait_strings_round_trip(name in "\\PC*", ctl in "[\\x00-\\x1f\"\\\\]{0,8}") {
        let rest = api("");
        let value = format!("{name}{ctl}");
        let msg_json = serde_json::json!({"type":"identify","traits":{"email":"a@b.co","firstName": value}}).to_string();
        let input = rest.lead_input(&identify(&msg_json), &mut Vec::new()).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(input.json()).unwrap();
        prop_assert_eq!(parsed["firstName"].as_str(), Some(value.as_str()));
    }
}
