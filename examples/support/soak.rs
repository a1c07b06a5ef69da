//! The soak: a seeded mix of messages through the outbox and real HTTP against an in-process fake
//! Marketo with short time windows and injected faults, with full accounting. Used by
//! `examples/soak.rs` and `tests/soak.rs`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use segment_marketo::ErrorKind;
use segment_marketo::delivery::{Config, Delivery, Outbox};
use segment_marketo::destination;
use segment_marketo::settings::Settings;
use serde::Serialize;

use crate::driver::{self, Report};

/// What to run.
#[derive(Debug, Clone)]
pub struct Params {
    /// `true`: identify goes to REST (batched), mapped tracks to custom activities.
    pub rest: bool,
    pub messages: usize,
    pub leads: usize,
    pub fault_rate: f64,
    pub permanent_fault_rate: f64,
    pub seed: u64,
}

/// The accounting line.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub pushed: u64,
    pub delivered: u64,
    pub failed: u64,
    pub skipped: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub merged: u64,
    pub retries: u64,
    pub server_violations: u64,
    /// HTTP calls the fake Marketo received (REST batches many messages into one call).
    pub calls: u64,
    pub injected: u64,
    pub bad_input: u64,
    pub unexplained_failures: u64,
    pub elapsed_s: f64,
}

/// One message for a random lead; tracks only for leads identified earlier in the stream (a custom
/// activity needs an existing lead). Returns the message and its lead.
fn message(rng: &mut fastrand::Rng, i: usize, leads: usize, identified: &mut [bool]) -> (String, usize) {
    let mut lead = rng.usize(..leads);
    let cookie = if lead.is_multiple_of(5) {
        format!(r#","context":{{"Marketo":{{"marketoCookie":"id:561-HYG-937&token:_mch-soak.example-1374552656411-{lead:05}"}}}}"#)
    } else {
        String::new()
    };
    let mut kind = rng.u8(..100);
    if (50..=79).contains(&kind) && !identified[lead] {
        kind = 3; // identify this lead first
    }
    if (3..=49).contains(&kind) {
        identified[lead] = true;
    }
    let text = match kind {
        // Bad input: no email, not JSON, a page without a URL.
        0 => format!(r#"{{"type":"identify","messageId":"m{i}","userId":"u{lead}","traits":{{"plan":"x"}}}}"#),
        1 => format!("{{\"type\":\"identify\",\"messageId\":\"m{i}\",\"traits\":"),
        2 => format!(r#"{{"type":"page","messageId":"m{i}","userId":"u{lead}","properties":{{}}}}"#),
        3..=49 => format!(
            r#"{{"type":"identify","messageId":"m{i}","userId":"u{lead}","traits":{{"email":"lead{lead}@soak.example","plan":"p{}","visits":{},"note":"a&b <{i}>"}}{cookie}}}"#,
            rng.u8(..5),
            rng.u32(..1000)
        ),
        50..=79 => format!(
            r#"{{"type":"track","messageId":"m{i}","userId":"u{lead}","event":"Clicked {}","properties":{{"n":{i}}}}}"#,
            rng.u8(..9)
        ),
        _ => format!(
            r#"{{"type":"page","messageId":"m{i}","anonymousId":"a{lead}","properties":{{"url":"https://soak.example/p/{i}?q=1#f"}}{cookie}}}"#
        ),
    };
    lead = lead.min(leads - 1);
    (text, lead)
}

pub fn run(params: &Params) -> Summary {
    let started = Instant::now();
    // Short windows so the soak runs in seconds. The outbox keeps a margin over the fake's limits:
    // the two clocks see each request at slightly different moments.
    let fake_config = fake_marketo::Config {
        lock_window: Duration::from_millis(100),
        rate_window: Duration::from_millis(100),
        rate_limit: 100,
        max_concurrent: 10,
        daily_quota: u64::MAX,
        seed: params.seed,
        fault_rate: params.fault_rate,
        permanent_fault_rate: params.permanent_fault_rate,
        ..Default::default()
    };
    let fake = fake_marketo::start(fake_config).expect("start the fake Marketo");

    let settings_json = if params.rest {
        format!(
            r#"{{"api":"rest","accountId":"561-HYG-937","clientId":"{}","clientSecret":"{}","restEndpoint":"{}","identityEndpoint":"{}","beaconEndpoint":"{}",
                "events":[{{"event":"Clicked 1","marketoActivityId":100001,"primaryAttribute":"n","properties":[{{"segmentProperty":"n","marketoAttribute":"N"}}]}}]}}"#,
            fake_marketo::TEST_CLIENT_ID,
            fake_marketo::TEST_CLIENT_SECRET,
            fake.rest_base_url(),
            fake.identity_url(),
            fake.beacon_base_url()
        )
    } else {
        format!(
            r#"{{"accountId":"561-HYG-937","userId":"{}","encryptionKey":"{}","soapEndpoint":"{}","beaconEndpoint":"{}"}}"#,
            fake_marketo::VECTOR_USER_ID,
            fake_marketo::VECTOR_ENCRYPTION_KEY,
            fake.soap_url(),
            fake.beacon_base_url()
        )
    };
    let settings = Settings::from_json(&settings_json).expect("settings");
    let mut config = Config::default();
    config.lead_lock = Duration::from_millis(150);
    config.rate_window = Duration::from_millis(130);
    config.rate_limit = 100;
    config.max_in_flight = 8;
    config.throttle_pause = Duration::from_millis(50);
    config.backoff_base = Duration::from_millis(10);
    config.backoff_max = Duration::from_millis(400);
    config.max_attempts = 12;
    config.queue_limit = 5_000;
    let workers = config.max_in_flight;
    let mut outbox = Outbox::new(destination::from_settings(&settings).expect("destination"), config);

    let mut rng = fastrand::Rng::with_seed(params.seed);
    let mut identified = vec![false; params.leads.max(1)];
    let (messages, lead_of): (Vec<String>, Vec<usize>) = (0..params.messages)
        .map(|i| message(&mut rng, i, params.leads.max(1), &mut identified))
        .unzip();
    let mut outcomes: HashMap<usize, u32> = HashMap::new();
    let (mut delivered, mut failed, mut skipped, mut bad_input, mut unexplained) = (0, 0, 0, 0, 0);
    let mut no_lead: Vec<usize> = Vec::new();
    // The fake's injected permanent faults: SOAP 20017, REST 1003 (a record or an association).
    let permanent_codes = [20017, 1003];
    driver::run(&mut outbox, messages, workers, Duration::from_secs(10), |report| {
        let line = match &report {
            Report::Unreadable { line, .. } | Report::Outcome { line, .. } => *line,
        };
        *outcomes.entry(line).or_default() += 1;
        match report {
            Report::Unreadable { .. } => {
                failed += 1;
                bad_input += 1;
            }
            Report::Outcome { outcome, .. } => match outcome.delivery {
                Delivery::Delivered { .. } => delivered += 1,
                Delivery::Skipped(_) => skipped += 1,
                Delivery::Failed { kind, code, reason } => {
                    failed += 1;
                    let input = matches!(
                        kind,
                        ErrorKind::MissingEmail | ErrorKind::MissingUrl | ErrorKind::InvalidJson | ErrorKind::MissingField
                    ) && outcome.attempts == 0;
                    if input {
                        bad_input += 1;
                    } else if code == Some(1004) && params.rest {
                        // No lead for the activity: its lead's sync must have had an injected fault.
                        no_lead.push(lead_of[line - 1]);
                    } else if !code.is_some_and(|c| permanent_codes.contains(&c)) {
                        eprintln!("unexplained failure: {kind:?} {code:?} {reason}");
                        unexplained += 1;
                    }
                }
                _ => {}
            },
        }
    });
    let stats = outbox.stats();
    let counters = fake.counters();
    let injected_leads: std::collections::HashSet<String> = fake.rest_permanent_faults().into_iter().filter_map(|f| f.lookup).collect();
    for lead in no_lead {
        if !injected_leads.contains(&format!("lead{lead}@soak.example")) {
            eprintln!("unexplained failure: no lead for lead{lead}, whose sync had no injected fault");
            unexplained += 1;
        }
    }
    let answered = outcomes.len() as u64;
    let summary = Summary {
        pushed: params.messages as u64,
        delivered,
        failed,
        skipped,
        lost: (params.messages as u64).saturating_sub(answered),
        duplicates: outcomes.values().filter(|&&n| n > 1).count() as u64,
        merged: stats.merged,
        retries: stats.retries,
        server_violations: fake.violations_total(),
        calls: counters.requests_total,
        injected: counters.injected_total(),
        bad_input,
        unexplained_failures: unexplained,
        elapsed_s: (started.elapsed().as_secs_f64() * 100.0).round() / 100.0,
    };
    if summary.server_violations > 0 {
        for v in fake.violations().iter().take(10) {
            eprintln!("violation: {v:?}");
        }
    }
    fake.shutdown();
    summary
}
