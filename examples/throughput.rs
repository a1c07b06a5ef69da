//! Throughput of every transform beside its floor, measured in one process on the same inputs.
//!
//! ```text
//! cargo run --release --example throughput -- [--messages N] [--corpus FILE.jsonl] [--write-corpus FILE.jsonl] [--seed S]
//! ```
//!
//! For each transform: messages per second, ns per message, floor ns per message (the work no
//! implementation can skip on that input: `serde_json::from_slice::<IgnoredAny>` over the same
//! bytes, one HMAC-SHA1 with a pre-keyed state for signed requests, one SHA-1 for the
//! associateLead hash, one copy of as many bytes as the output has), their ratio, heap
//! allocations per message (counted by the global allocator below, with the output buffer reused),
//! and what `Message::from_slice` alone costs on the same inputs (`parse_ns_per_msg`, and its ratio
//! to the floor): the share of the budget the parse every transform starts with takes. For the
//! beacons, also `required_ns_per_msg` and `required_ratio`: the same URL written with every field
//! already read out of the message (see `beacon_required`), which shows how much of a 2.0 budget
//! the percent-encoding and the visitor take before any JSON is read.
//! Also ns per trait of identify_soap at 10, 100 and 10,000 traits. Prints one JSON line.

use std::alloc::System;
use std::hint::black_box;
use std::time::Instant;

use hmac::{Hmac, KeyInit, Mac};
use segment_marketo::delivery::{Config, Outbox, Transmit};
use segment_marketo::destination::{MarketoDestination, RestDestination, SoapDestination};
use segment_marketo::event::Message;
use segment_marketo::munchkin::client::Client;
use segment_marketo::request::{RequestKind, Response};
use segment_marketo::settings::Settings;
use segment_marketo::soap::SignedHead;
use segment_marketo::time::Timestamp;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const REST_SETTINGS: &str = r#"{"api":"rest","accountId":"561-HYG-937","clientId":"c","clientSecret":"s"}"#;
const SETTINGS: &str = r#"{"accountId":"561-HYG-937","userId":"bigcorp1_461839624B16E06BA2D663","encryptionKey":"899756834129871744AAEE88DDCC77CDEEDEC1AAAD66","soapEndpoint":"https://561-HYG-937.mktoapi.com/soap/mktows/2_1","privateKey":"demo-private-key"}"#;

struct Args {
    outbox_messages: usize,
    outbox_leads: usize,
    messages: usize,
    corpus: Option<String>,
    write_corpus: Option<String>,
    seed: u64,
}

fn args() -> Args {
    let mut a = Args {
        outbox_messages: 1_000_000,
        outbox_leads: 100_000,
        messages: 20_000,
        corpus: None,
        write_corpus: None,
        seed: 7,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let v = it.next();
        match (arg.as_str(), v) {
            ("--messages", Some(v)) => a.messages = v.parse().expect("--messages N"),
            ("--corpus", Some(v)) => a.corpus = Some(v),
            ("--write-corpus", Some(v)) => a.write_corpus = Some(v),
            ("--seed", Some(v)) => a.seed = v.parse().expect("--seed S"),
            ("--outbox-messages", Some(v)) => a.outbox_messages = v.parse().expect("--outbox-messages N"),
            ("--outbox-leads", Some(v)) => a.outbox_leads = v.parse().expect("--outbox-leads N"),
            (other, _) => panic!(
                "unknown argument {other}; usage: throughput [--messages N] [--corpus FILE.jsonl] [--write-corpus FILE.jsonl] [--seed S] [--outbox-messages N] [--outbox-leads N]"
            ),
        }
    }
    a
}

// ---- a seeded, realistic corpus ------------------------------------------------------------

const WORDS: &[&str] = &[
    "alpha",
    "beta",
    "plan",
    "pro",
    "teal",
    "Zürich",
    "naïve café",
    "東京",
    "emoji 😀",
    "a&b <c>",
    "quote \"q\"",
    "x",
];

fn word(rng: &mut fastrand::Rng) -> String {
    WORDS[rng.usize(..WORDS.len())].to_owned()
}

fn value(rng: &mut fastrand::Rng) -> Value {
    match rng.u8(..10) {
        0..=4 => Value::String(format!("{} {}", word(rng), rng.u32(..100_000))),
        5 => json!(rng.i64(-1_000_000..1_000_000)),
        6 => json!(rng.f64() * 1000.0),
        7 => json!(rng.bool()),
        8 => Value::Null,
        _ => json!([word(rng), rng.u8(..10)]),
    }
}

fn identify(rng: &mut fastrand::Rng, i: usize, traits: usize) -> String {
    let mut t = serde_json::Map::new();
    t.insert("email".into(), json!(format!("user{i}@example.com")));
    t.insert("firstName".into(), json!(word(rng)));
    if rng.bool() {
        t.insert(
            "address".into(),
            json!({"street": "1 Main St", "city": word(rng), "state": "CA", "postalCode": "94103", "country": "USA"}),
        );
    }
    for k in 0..traits.saturating_sub(t.len()) {
        t.insert(format!("trait_{k}_{}", ["color", "plan", "score", "visits"][k % 4]), value(rng));
    }
    let mut m = json!({"type": "identify", "messageId": format!("m-{i}"), "userId": format!("u-{i}"), "traits": t, "timestamp": "2024-03-05T12:00:00Z"});
    if rng.bool() {
        m["context"] = json!({"Marketo": {"marketoCookie": format!("id:561-HYG-937&token:_mch-example.com-1374552656411-{:05}", i % 100_000)}, "ip": "1.2.3.4"});
    }
    m.to_string()
}

fn track(rng: &mut fastrand::Rng, i: usize) -> String {
    let mut p = serde_json::Map::new();
    for k in 0..rng.usize(0..=15) {
        p.insert(format!("prop{k}"), value(rng));
    }
    let mut m = json!({"type": "track", "messageId": format!("t-{i}"), "userId": format!("u-{i}"), "event": format!("{} {}", word(rng), "Clicked_Button"), "properties": p,
        "context": {"userAgent": "Mozilla/5.0 (X11; Linux x86_64)", "page": {"url": "https://www.example.com/products/item?id=42", "referrer": "https://search.example.org/?q=thing"}}});
    if rng.bool() {
        m["context"]["Marketo"] = json!({"marketoCookie": "id:561-HYG-937&token:_mch-example.com-1374552656411-90718"});
    }
    m.to_string()
}

fn page(rng: &mut fastrand::Rng, i: usize) -> String {
    let path = ["/", "/pricing", "/docs/getting-started", "/blog/2024/03/launch"][rng.usize(..4)];
    let mut m = json!({"type": "page", "messageId": format!("p-{i}"), "anonymousId": format!("anon-{i}"), "name": word(rng),
        "properties": {"url": format!("https://www.example.com{path}?utm_source=news&utm_campaign={}#section-{}", rng.u16(..), rng.u8(..9)), "referrer": "https://www.google.com/search?q=marketo+segment", "title": word(rng)}});
    if rng.bool() {
        m["context"] = json!({"Marketo": {"marketoCookie": "id:561-HYG-937&token:_mch-example.com-1374552656411-90718"}});
    }
    m.to_string()
}

// ---- measurement ---------------------------------------------------------------------------

/// Best of `rounds` alternating passes of a transform and its floor, so that both see the same
/// machine conditions (the development machines are shared): (transform ns, floor ns).
fn interleaved(rounds: usize, mut transform: impl FnMut() -> f64, mut floor: impl FnMut() -> f64) -> (f64, f64) {
    let (mut t, mut f) = (f64::MAX, f64::MAX);
    for _ in 0..rounds {
        t = t.min(transform());
        f = f.min(floor());
    }
    (t, f)
}

/// Best of `rounds` passes over `inputs`, in ns per message.
fn time_per_message(inputs: &[Vec<u8>], rounds: usize, mut f: impl FnMut(&[u8])) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let start = Instant::now();
        for input in inputs {
            f(input);
        }
        best = best.min(start.elapsed().as_nanos() as f64 / inputs.len() as f64);
    }
    best
}

fn allocs_per_message(inputs: &[Vec<u8>], mut f: impl FnMut(&[u8])) -> f64 {
    // Warm the reused buffers first so steady-state allocations are what is counted.
    for input in inputs.iter().take(64) {
        f(input);
    }
    let region = Region::new(GLOBAL);
    for input in inputs {
        f(input);
    }
    region.change().allocations as f64 / inputs.len() as f64
}

struct Measured {
    name: &'static str,
    count: usize,
    ns: f64,
    floor_ns: f64,
    /// `Message::from_slice` alone over the same inputs: the parse every transform starts with.
    parse_ns: f64,
    /// Beacons: the work a beacon cannot skip beyond the floor (see [`beacon_required`]).
    required_ns: Option<f64>,
    allocs: f64,
}

impl Measured {
    fn json(&self) -> Value {
        let mut fields = json!({
            "messages": self.count,
            "msgs_per_s": (1e9 / self.ns).round(),
            "ns_per_msg": (self.ns * 10.0).round() / 10.0,
            "floor_ns_per_msg": (self.floor_ns * 10.0).round() / 10.0,
            "ratio": (self.ns / self.floor_ns * 100.0).round() / 100.0,
            "parse_ns_per_msg": (self.parse_ns * 10.0).round() / 10.0,
            "parse_ratio": (self.parse_ns / self.floor_ns * 100.0).round() / 100.0,
            "allocs_per_msg": (self.allocs * 100.0).round() / 100.0,
        });
        if let Some(required) = self.required_ns {
            fields["required_ns_per_msg"] = json!((required * 10.0).round() / 10.0);
            fields["required_ratio"] = json!((required / self.floor_ns * 100.0).round() / 100.0);
        }
        fields
    }
}

/// One transform over `inputs` beside its floor: its output sizes and allocations per message,
/// then alternating rounds of the transform and the floor (`crypto` is the floor's signing or
/// hashing, per message). `transform` writes its output into the buffer it is given.
fn measure(
    name: &'static str,
    inputs: &[Vec<u8>],
    rounds: usize,
    parse_ns: f64,
    transform: &mut impl FnMut(&[u8], &mut String),
    mut crypto: impl FnMut(&[u8]),
) -> Measured {
    let mut out = String::new();
    let sizes: Vec<usize> = inputs
        .iter()
        .map(|i| {
            transform(i, &mut out);
            out.len()
        })
        .collect();
    let allocs = allocs_per_message(inputs, |i| transform(i, &mut out));
    let (ns, floor_ns) = interleaved(
        rounds,
        || time_per_message(inputs, 1, |i| transform(i, &mut out)),
        || floor(inputs, &sizes, 1, &mut crypto),
    );
    Measured {
        name,
        count: inputs.len(),
        ns,
        floor_ns,
        parse_ns,
        required_ns: None,
        allocs,
    }
}

/// What a beacon costs with every field it needs already read out of the message: the floor's
/// `IgnoredAny` pass over the bytes, the visitor (the message's cookie parsed, or a token derived
/// with SHA-1 from the user id), and the URL percent-encoded by `write_visit_web_page`. The fields
/// are taken outside the timing, from the message and from the URL the transform wrote, and laid
/// out in one string per message; each URL written here is checked to be the transform's URL byte
/// for byte. This is the same output with the JSON reading left out: what is left of a 2.0 budget
/// after it is all that reading the message may cost.
fn beacon_required(inputs: &[Vec<u8>], transform: &mut impl FnMut(&[u8], &mut String), account_id: &str, rounds: usize) -> f64 {
    use segment_marketo::cookie::Cookie;
    use segment_marketo::munchkin::beacon::{PageView, write_visit_web_page};
    /// base, host, port, path, protocol, hash, referrer, query, cookie, user key: one after the
    /// other in `text`, each ending at `ends[i]`.
    struct Extracted {
        text: String,
        ends: [usize; 10],
    }
    impl Extracted {
        fn part(&self, i: usize) -> &str {
            &self.text[if i == 0 { 0 } else { self.ends[i - 1] }..self.ends[i]]
        }
    }
    const KEYS: [&str; 7] = ["_mchHo", "_mchPo", "_mchRu", "_mchPc", "_mchHa", "_mchRe", "_mchQp"];
    let mut url = String::new();
    let extract = |input: &[u8], url: &str| -> Option<Extracted> {
        let common = match Message::from_slice(input).ok()? {
            Message::Track(t) => t.common,
            Message::Page(p) => p.common,
            _ => return None,
        };
        let (base, query) = url.split_once("/webevents/visitWebPage?")?;
        let mut parts: [String; 7] = Default::default();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if let Some(at) = KEYS.iter().position(|k| *k == key) {
                parts[at] = value.into_owned();
            }
        }
        let cookie = common.context.marketo_cookie.as_deref();
        let user = common.user_id.as_deref().or(common.anonymous_id.as_deref()).unwrap_or("");
        let mut e = Extracted {
            text: String::new(),
            ends: [0; 10],
        };
        let all = std::iter::once(base)
            .chain(parts.iter().map(String::as_str))
            .chain([cookie.unwrap_or(""), user]);
        for (i, part) in all.enumerate() {
            e.text.push_str(part);
            e.ends[i] = e.text.len();
        }
        Some(e)
    };
    let required = |input: &[u8], extracted: &Option<Extracted>, out: &mut String| {
        out.clear();
        black_box(serde_json::from_slice::<serde::de::IgnoredAny>(input).ok());
        if let Some(e) = extracted {
            // No cookie is an empty one, which does not parse: then the visitor is derived.
            let visitor = Cookie::parse(e.part(8)).unwrap_or_else(|_| Cookie::derive(account_id, e.part(9)));
            let view = PageView {
                host: e.part(1),
                port: e.part(2),
                path: e.part(3),
                protocol: e.part(4),
                hash: e.part(5),
                referrer: e.part(6),
                query: e.part(7),
            };
            black_box(write_visit_web_page(e.part(0), now(), &visitor, &view, out));
        }
    };
    // A message whose URL is not written again byte for byte (none in the generated corpus)
    // counts only the `IgnoredAny` pass, which can only make this figure lower.
    let mut check = String::new();
    let mut unmatched = 0;
    let extracted: Vec<Option<Extracted>> = inputs
        .iter()
        .map(|input| {
            url.clear();
            transform(input, &mut url);
            let extracted = extract(input, &url);
            required(input, &extracted, &mut check);
            if check == url {
                extracted
            } else {
                unmatched += 1;
                None
            }
        })
        .collect();
    if unmatched > 0 {
        eprintln!("beacon_required: {unmatched} URLs not written again byte for byte; counted as IgnoredAny only");
    }
    let mut index = 0;
    time_per_message(inputs, rounds, |input| {
        required(input, &extracted[index % extracted.len()], &mut check);
        index += 1;
    })
}

fn now() -> Timestamp {
    Timestamp::parse_rfc3339("2024-03-05T12:00:00-06:00").unwrap()
}

fn main() {
    let args = args();
    let settings = Settings::from_json(SETTINGS).unwrap();
    let soap = SoapDestination::new(&settings).unwrap();
    let client = Client::new(&settings).unwrap();
    let keyed = <Hmac<Sha1> as KeyInit>::new_from_slice(b"899756834129871744AAEE88DDCC77CDEEDEC1AAAD66").unwrap();
    let mut rng = fastrand::Rng::with_seed(args.seed);

    type Corpus = Vec<Vec<u8>>;
    let (identifies, tracks, pages): (Corpus, Corpus, Corpus) = match &args.corpus {
        Some(path) => {
            let text = std::fs::read_to_string(path).expect("read --corpus");
            let (mut i, mut t, mut p) = (Vec::new(), Vec::new(), Vec::new());
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                match Message::from_json(line).map(|m| m.message_type().as_str()) {
                    Ok("identify") => i.push(line.as_bytes().to_vec()),
                    Ok("track") => t.push(line.as_bytes().to_vec()),
                    Ok("page") => p.push(line.as_bytes().to_vec()),
                    _ => {}
                }
            }
            (i, t, p)
        }
        None => {
            let n = args.messages;
            (
                (0..n)
                    .map(|i| {
                        let k = rng.usize(5..=30);
                        identify(&mut rng, i, k).into_bytes()
                    })
                    .collect(),
                (0..n).map(|i| track(&mut rng, i).into_bytes()).collect(),
                (0..n).map(|i| page(&mut rng, i).into_bytes()).collect(),
            )
        }
    };
    if let Some(path) = &args.write_corpus {
        // The generated corpus, one message per line, so other implementations can be timed on
        // identical input (and this one again with `--corpus`).
        let mut text = Vec::new();
        for line in identifies.iter().chain(&tracks).chain(&pages) {
            text.extend_from_slice(line);
            text.push(b'\n');
        }
        std::fs::write(path, text).expect("write --write-corpus");
        return;
    }
    let rounds = 9;
    let mut results = Vec::new();
    let parse = |inputs: &[Vec<u8>]| time_per_message(inputs, rounds, |i| drop(black_box(Message::from_slice(i))));
    let identify_parse_ns = parse(&identifies);

    // identify -> SOAP envelope, written into a reused buffer.
    let mut out = String::new();
    let mut warnings = Vec::new();
    // The one-pass writer, from the message bytes straight to the envelope; with a head, the
    // signed start of the envelope is reused within a second (all messages here share one).
    let identify_soap = |input: &[u8], head: Option<&mut SignedHead>, out: &mut String, warnings: &mut Vec<_>| {
        out.clear();
        warnings.clear();
        let written = match head {
            Some(head) => soap.write_json_with_head(input, now(), head, out, warnings),
            None => soap.write_json(input, now(), out, warnings),
        };
        black_box(written.is_ok());
    };
    for (name, reuse) in [("identify_soap", false), ("identify_soap_head_reused", true)] {
        let mut head = SignedHead::new();
        let mut run = |input: &[u8], out: &mut String| identify_soap(input, reuse.then_some(&mut head), out, &mut warnings);
        // The issue's floor: one HMAC per message, reused head or not.
        let hmac = |_: &[u8]| {
            let mut mac = keyed.clone();
            mac.update(b"2024-03-05T12:00:00-06:00bigcorp1_461839624B16E06BA2D663");
            black_box(mac.finalize());
        };
        results.push(measure(name, &identifies, rounds, identify_parse_ns, &mut run, hmac));
    }

    // track and page -> beacon URL.
    for (name, inputs) in [("track_beacon", &tracks), ("page_beacon", &pages)] {
        let mut warnings = Vec::new();
        let beacons = soap.beacons();
        let mut beacon = |input: &[u8], url: &mut String| {
            url.clear();
            warnings.clear();
            match Message::from_slice(input) {
                Ok(Message::Track(m)) => black_box(beacons.write_track(&m, now(), url, &mut warnings).is_ok()),
                Ok(Message::Page(m)) => black_box(beacons.write_page(&m, now(), url, &mut warnings).is_ok()),
                _ => false,
            };
        };
        let mut measured = measure(name, inputs, rounds, parse(inputs), &mut beacon, |_| {});
        measured.required_ns = Some(beacon_required(inputs, &mut beacon, &settings.account_id, rounds));
        results.push(measured);
    }

    // identify -> browser associateLead call, serialised.
    let mut identify_client = |input: &[u8], buf: &mut String| {
        buf.clear();
        if let Ok(Message::Identify(m)) = Message::from_slice(input) {
            black_box(client.write_identify(&m, buf).is_ok());
        }
    };
    // The issue's floor: one SHA-1 for the associateLead hash.
    let sha1 = |input: &[u8]| {
        black_box(
            Sha1::new()
                .chain_update(b"demo-private-key")
                .chain_update(&input[..input.len().min(24)])
                .finalize(),
        );
    };
    results.push(measure(
        "identify_client",
        &identifies,
        rounds,
        identify_parse_ns,
        &mut identify_client,
        sha1,
    ));

    // identify -> REST Sync Leads record and body.
    let rest_settings = Settings::from_json(REST_SETTINGS).unwrap();
    let rest = RestDestination::new(&rest_settings).unwrap();
    let mut rest_warnings = Vec::new();
    let mut identify_rest = |input: &[u8], body: &mut String| {
        body.clear();
        rest_warnings.clear();
        if let Ok(Message::Identify(m)) = Message::from_slice(input)
            && let Ok(record) = rest.api().lead_input(&m, &mut rest_warnings)
        {
            let mut batch = rest.api().lead_batch();
            if batch.push(record).is_ok() {
                batch.write_body(body);
            }
        }
    };
    results.push(measure(
        "identify_rest",
        &identifies,
        rounds,
        identify_parse_ns,
        &mut identify_rest,
        |_| {},
    ));

    // ns per trait at 10, 100 and 10,000 traits (no quadratic step).
    let mut per_trait = serde_json::Map::new();
    for traits in [10usize, 100, 10_000] {
        let inputs: Vec<Vec<u8>> = (0..(200_000 / traits).max(20))
            .map(|i| identify(&mut rng, i, traits).into_bytes())
            .collect();
        let ns = time_per_message(&inputs, rounds, |i| identify_soap(i, None, &mut out, &mut warnings));
        per_trait.insert(traits.to_string(), json!((ns / traits as f64 * 10.0).round() / 10.0));
    }

    let mut line = serde_json::Map::new();
    for r in &results {
        line.insert(r.name.into(), r.json());
    }
    line.insert("identify_soap_ns_per_trait".into(), Value::Object(per_trait));
    line.insert("corpus".into(), json!(args.corpus.as_deref().unwrap_or("generated")));
    let (messages, leads) = (args.outbox_messages, args.outbox_leads);
    line.insert("outbox".into(), outbox_run(soap, messages, leads, soap_answer));
    line.insert("outbox_rest".into(), outbox_run(rest, messages, leads, rest_answers()));
    println!("{}", Value::Object(line));
}

/// The scheduler: `messages` identifies over `leads` leads pushed through the outbox with
/// simulated time and an instant, always-successful Marketo (no HTTP; `answer` builds Marketo's
/// answer to each request). Reports the cost per message and the most leads the outbox tracked at
/// once.
fn outbox_run<D: MarketoDestination>(
    destination: D,
    messages: usize,
    leads: usize,
    mut answer: impl FnMut(&Transmit) -> Response,
) -> Value {
    let mut outbox = Outbox::new(destination, Config::default());
    let mut now = Timestamp::from_unix_ms(1_709_640_000_000);
    let (mut next, mut outcomes, mut peak) = (0usize, 0usize, 0usize);
    let mut json = String::new();
    let start = Instant::now();
    while outcomes < messages {
        while next < messages {
            json.clear();
            // Leads drawn at random (seeded): bursts for one lead get merged, as in real streams.
            let lead = (fastrand::Rng::with_seed(next as u64).u64(..) % leads.max(1) as u64) as usize;
            json.push_str(&format!(
                r#"{{"type":"identify","traits":{{"email":"lead{lead}@example.com","n":{next},"plan":"p{}"}}}}"#,
                next % 7
            ));
            let Ok(msg) = Message::from_json(&json) else { break };
            if outbox.push(&msg, now).is_err() {
                break; // queue full: deliver first
            }
            next += 1;
        }
        while let Some(tx) = outbox.poll_transmit(now) {
            let response = answer(&tx);
            outbox.handle_response(tx.tag, &response, now);
        }
        while outbox.poll_outcome().is_some() {
            outcomes += 1;
        }
        peak = peak.max(outbox.tracked_leads());
        match outbox.poll_timeout() {
            Some(t) if t > now => now = t,
            _ => now = now.plus_ms(1),
        }
    }
    let elapsed = start.elapsed();
    let stats = outbox.stats();
    json!({
        "messages": messages,
        "leads": leads,
        "ns_per_msg": (elapsed.as_nanos() as f64 / messages as f64).round(),
        "requests": stats.requests,
        "merged": stats.merged,
        "peak_tracked_leads": peak,
        "simulated_s": now.ms_since(Timestamp::from_unix_ms(1_709_640_000_000)) / 1000,
    })
}

/// Marketo's answers for the SOAP outbox run: every `syncLead` succeeds.
fn soap_answer(_: &Transmit) -> Response {
    const OK: &[u8] = br#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body><ns1:successSyncLead xmlns:ns1="http://www.marketo.com/mktows/"><result><leadId>1</leadId><syncStatus><leadId>1</leadId><status>UPDATED</status></syncStatus></result></ns1:successSyncLead></SOAP-ENV:Body></SOAP-ENV:Envelope>"#;
    Response::new(200, OK.to_vec())
}

/// Marketo's answers for the REST outbox run: a token, and one `updated` result per record of a
/// Sync Leads batch (records counted by their lookup field, which each starts with).
fn rest_answers() -> impl FnMut(&Transmit) -> Response {
    let mut by_count: Vec<Option<Response>> = vec![None; 301];
    move |tx| match tx.request.kind {
        RequestKind::Token => Response::new(
            200,
            r#"{"access_token":"t-1","token_type":"bearer","expires_in":3599,"scope":"api@x"}"#
                .as_bytes()
                .to_vec(),
        ),
        _ => {
            let body = tx.request.body.as_deref().unwrap_or_default();
            let records = body.matches(r#"{"email":"#).count().min(300);
            by_count[records]
                .get_or_insert_with(|| {
                    let results: Vec<String> = (0..records).map(|i| format!(r#"{{"id":{},"status":"updated"}}"#, i + 1)).collect();
                    Response::new(
                        200,
                        format!(r#"{{"requestId":"r#1","success":true,"result":[{}]}}"#, results.join(",")).into_bytes(),
                    )
                })
                .clone()
        }
    }
}

/// The floor: parse the same bytes with `IgnoredAny`, the unavoidable crypto, one copy of an
/// output-sized buffer.
fn floor(inputs: &[Vec<u8>], sizes: &[usize], rounds: usize, mut crypto: impl FnMut(&[u8])) -> f64 {
    let max = sizes.iter().copied().max().unwrap_or(0);
    let source = "x".repeat(max);
    let mut copy = String::with_capacity(max);
    let mut index = 0;
    time_per_message(inputs, rounds, |input| {
        black_box(serde_json::from_slice::<serde::de::IgnoredAny>(input).ok());
        crypto(input);
        copy.clear();
        copy.push_str(&source[..sizes[index % sizes.len()]]);
        black_box(copy.len());
        index += 1;
    })
}
