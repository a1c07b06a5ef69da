//! The REST answer readers on one response: the HTTP status from the input's first two bytes
//! (big-endian), the body the rest. `Envelope::parse`, `read_success`, `read_records`,
//! `TokenHolder::handle_token_response`, `LeadLookup::read_response` (by email, id and userId),
//! `read_associate`, and `LeadBatch` / `ActivityBatch::read_response` with 1 and 3 records.
//!
//! Invariants: no panic; a batch answer has one outcome per record, a skip at least one reason;
//! a lookup answer one slot per value; a token the holder accepts makes a header without CR/LF;
//! no token error shows the client secret.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use segment_marketo::event::Message;
use segment_marketo::request::Response;
use segment_marketo::rest::{
    ActivityBatch, Envelope, LeadBatch, LeadLookup, RecordOutcome, RestApi, TokenHolder, TokenState, read_associate, read_records,
    read_success,
};
use segment_marketo::settings::{Secret, Settings};

const SECRET: &str = "Fz-cl1ent-S3cret-7d0e";

struct Fixtures {
    lead_batches: Vec<LeadBatch>,
    activity_batches: Vec<ActivityBatch>,
    lookups: Vec<LeadLookup>,
}

fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let settings = Settings::from_json(common::SETTINGS_A).expect("settings");
        let api = RestApi::new(&settings).expect("rest api");
        let now = common::now();
        let identifies = [
            r#"{"type":"identify","userId":"u1","traits":{"email":"a@b.co","firstName":"A"}}"#,
            r#"{"type":"identify","userId":"u2","traits":{"email":"c@d.co","plan":"pro"}}"#,
            r#"{"type":"identify","userId":"u3","traits":{"email":"e@f.co"}}"#,
        ];
        let tracks = [
            r#"{"type":"track","userId":"u1","event":"Signed Up","properties":{"plan":"pro"}}"#,
            r#"{"type":"track","userId":"u2","event":"Order Completed","properties":{}}"#,
            r#"{"type":"track","userId":"u3","event":"Signed Up","properties":{"plan":"free","a":{"b":1}}}"#,
        ];
        let mut lead_batches = Vec::new();
        let mut activity_batches = Vec::new();
        for n in [1, 3] {
            let mut batch = api.lead_batch();
            for json in &identifies[..n] {
                let Ok(Message::Identify(m)) = Message::from_json(json) else { panic!("identify fixture") };
                let input = api.lead_input(&m, &mut Vec::new()).expect("lead input");
                batch.push(input).expect("push lead");
            }
            lead_batches.push(batch);
            let mut batch = ActivityBatch::new();
            for (i, json) in tracks[..n].iter().enumerate() {
                let Ok(Message::Track(m)) = Message::from_json(json) else { panic!("track fixture") };
                let activity = api.activity(&m, now, &mut Vec::new()).expect("activity").expect("mapped");
                batch.push(activity.input(100 + i as i64).expect("input")).expect("push activity");
            }
            activity_batches.push(batch);
        }
        let lookups = vec![
            LeadLookup::new("email", vec!["a@b.co".into(), "C@D.co".into(), "x@y.z".into()]).expect("lookup"),
            LeadLookup::new("id", vec!["1".into(), "318581".into()]).expect("lookup"),
            api.lookup(vec!["u1".into()]).expect("lookup"),
            LeadLookup::new("userId", vec!["u1".into(), "u2".into()]).expect("lookup"),
        ];
        Fixtures {
            lead_batches,
            activity_batches,
            lookups,
        }
    })
}

fn check_records(result: Result<segment_marketo::rest::Reply<Vec<RecordOutcome>>, segment_marketo::Error>, expected: usize) {
    match result {
        Ok(reply) => {
            assert_eq!(reply.value.len(), expected, "outcomes for {expected} records");
            for r in &reply.value {
                let _ = (r.is_success(), r.id(), r.class(), r.unknown_fields(), r.primary_reason());
                if let RecordOutcome::Skipped { reasons, .. } = r {
                    assert!(!reasons.is_empty(), "a skip without reasons");
                }
                if let Some(e) = r.error() {
                    common::touch_error(&e);
                }
            }
        }
        Err(e) => {
            common::touch_error(&e);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (status, body) = common::status_and_body(data);
    let response = Response::new(status, body);
    let f = fixtures();
    let now = common::now();

    match Envelope::parse(&response) {
        Ok(envelope) => {
            let _ = envelope.reply(());
            for item in &envelope.result {
                let _ = format!("{:?}", segment_marketo::rest::response::fault_of(item));
            }
        }
        Err(e) => {
            common::touch_error(&e);
        }
    }
    if let Err(e) = read_success(&response) {
        common::touch_error(&e);
    }
    for expected in [0, 1, 3] {
        check_records(read_records(&response, expected), expected);
    }

    // The access token.
    let mut holder = TokenHolder::new("https://561-HYG-937.mktorest.com/identity/", "client-id", Secret::new(SECRET));
    assert!(matches!(holder.token(now), TokenState::Fetch(_)));
    match holder.handle_token_response(&response, now) {
        Ok(()) => {
            let _ = holder.expires_at();
            if let TokenState::Ready(token) = holder.token(now) {
                let auth = token.authorization();
                assert!(!auth.contains(['\r', '\n']), "Authorization holds CR/LF");
                let token = token.clone();
                let request = f.lead_batches[0].request("https://561-HYG-937.mktorest.com", &token);
                common::check_request(&request);
                let _ = holder.invalidate(&token);
            }
            let _ = holder.token(now.plus_ms(i64::MAX));
        }
        Err(e) => {
            let shown = common::touch_error(&e);
            let display = e.to_string();
            assert!(!display.contains(SECRET), "a token error shows the client secret: {display}");
            if !common::skipped("secret-debug") {
                assert!(!shown.contains(SECRET), "a token error's Debug shows the client secret: {shown}");
            }
        }
    }

    for lookup in &f.lookups {
        match lookup.read_response(&response) {
            Ok(reply) => assert_eq!(reply.value.len(), lookup.values().len(), "lookup slots"),
            Err(e) => {
                common::touch_error(&e);
            }
        }
    }
    match read_associate(&response) {
        Ok(reply) => {
            let _ = format!("{:?}", reply.value);
        }
        Err(e) => {
            common::touch_error(&e);
        }
    }
    for batch in &f.lead_batches {
        check_records(batch.read_response(&response), batch.len());
    }
    for batch in &f.activity_batches {
        check_records(batch.read_response(&response), batch.len());
    }
});
