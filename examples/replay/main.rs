//! The main job: Segment messages in, the Marketo requests they become out, one JSON line each.
//!
//! ```text
//! cargo run --example replay -- [--settings FILE.json] [--now RFC3339] [--side server|client] [FILE|-]
//! ```
//!
//! With no FILE it reads stdin when stdin is not a terminal, else replays an embedded demo with
//! demo settings. The demo credentials are the PUBLIC test vector from
//! `../shared/vectors/soap-signatures.tsv` (Marketo's documentation example), not a real account.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use segment_marketo::destination::{MarketoDestination, SoapDestination};
use segment_marketo::event::{split_batch, Message};
use segment_marketo::munchkin::client::Client;
use segment_marketo::plan::Plan;
use segment_marketo::settings::Settings;
use segment_marketo::time::Timestamp;
use segment_marketo::Error;
use serde_json::{json, Value};

const DEMO_MESSAGES: &str = include_str!("demo.jsonl");
/// Public test-vector credentials (soap-signatures.tsv, first row), labelled as such.
const DEMO_SETTINGS: &str = include_str!("demo-settings.json");

struct Args {
    settings: Option<String>,
    now: Option<String>,
    client_side: bool,
    input: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { settings: None, now: None, client_side: false, input: None };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--settings" => args.settings = Some(value("--settings")?),
            "--now" => args.now = Some(value("--now")?),
            "--side" => match value("--side")?.as_str() {
                "server" => args.client_side = false,
                "client" => args.client_side = true,
                other => return Err(format!("--side must be server or client, not {other:?}")),
            },
            "-h" | "--help" => {
                return Err("usage: replay [--settings FILE.json] [--now RFC3339] [--side server|client] [FILE|-]".into());
            }
            _ if args.input.is_none() && (arg == "-" || !arg.starts_with('-')) => args.input = Some(arg),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

fn now_from(arg: Option<&str>) -> Result<Timestamp, String> {
    match arg {
        Some(text) => Timestamp::parse_rfc3339(text).ok_or_else(|| format!("--now {text:?} is not RFC 3339 (like 2010-04-09T14:04:54-07:00)")),
        None => {
            let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_err(|e| e.to_string())?.as_millis();
            Ok(Timestamp::from_unix_ms(ms as i64))
        }
    }
}

/// The input, streamed line by line.
fn open_input(input: Option<&str>) -> Result<Box<dyn BufRead>, String> {
    let stdin = || Box::new(std::io::stdin().lock()) as Box<dyn BufRead>;
    Ok(match input {
        Some("-") => stdin(),
        Some(path) => Box::new(std::io::BufReader::new(std::fs::File::open(path).map_err(|e| format!("cannot read {path}: {e}"))?)),
        None if !std::io::stdin().is_terminal() => stdin(),
        None => Box::new(DEMO_MESSAGES.as_bytes()),
    })
}

#[derive(Default)]
struct Counts {
    requests: usize,
    skipped: usize,
    errors: usize,
}

fn main() -> ExitCode {
    match run() {
        Ok(counts) => {
            eprintln!("replay: {} request(s), {} skipped, {} error(s)", counts.requests, counts.skipped, counts.errors);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("replay: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<Counts, String> {
    let args = parse_args()?;
    let settings_text = match &args.settings {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?,
        None => DEMO_SETTINGS.to_owned(),
    };
    let settings = Settings::from_json(&settings_text).map_err(|e| format!("bad settings: {e}"))?;
    let now = now_from(args.now.as_deref())?;
    let side = if args.client_side {
        Side::Client(Client::new(&settings).map_err(|e| format!("bad settings: {e}"))?)
    } else {
        Side::Server(SoapDestination::new(&settings).map_err(|e| format!("bad settings: {e}"))?)
    };
    let input = open_input(args.input.as_deref())?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut counts = Counts::default();
    for (index, line) in input.lines().enumerate() {
        let line = line.map_err(|e| format!("cannot read line {}: {e}", index + 1))?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let messages = split_batch(line).unwrap_or_else(|| vec![line]);
        for text in messages {
            for record in replay_one(&side, index + 1, text, now, &mut counts) {
                writeln!(out, "{record}").map_err(|e| format!("cannot write stdout: {e}"))?;
            }
        }
    }
    out.flush().map_err(|e| format!("cannot write stdout: {e}"))?;
    Ok(counts)
}

enum Side {
    Server(SoapDestination),
    Client(Client),
}

fn replay_one(side: &Side, line: usize, text: &str, now: Timestamp, counts: &mut Counts) -> Vec<Value> {
    let head = |msg: Option<&Message<'_>>| {
        json!({
            "line": line,
            "messageId": msg.and_then(|m| m.common().message_id.as_deref()),
            "type": msg.map(|m| m.message_type().as_str()),
        })
    };
    let with = |mut v: Value, key: &str, value: Value| {
        v[key] = value;
        v
    };
    let error = |msg: Option<&Message<'_>>, e: &Error, counts: &mut Counts| {
        counts.errors += 1;
        let mut v = head(msg);
        if msg.is_none() {
            if let Error::InvalidMessage { message, .. } = e {
                v["messageId"] = json!(message.0);
            }
        }
        with(v, "error", json!({"kind": e.kind().as_str(), "message": e.to_string()}))
    };
    let msg = match Message::from_json(text) {
        Ok(m) => m,
        Err(e) => return vec![error(None, &e, counts)],
    };
    match side {
        Side::Server(dest) => match dest.plan(&msg, now) {
            Ok(Plan::Send { steps, warnings }) => steps
                .into_iter()
                .map(|step| {
                    counts.requests += 1;
                    let mut v = with(head(Some(&msg)), "request", json!(step.request));
                    v["warnings"] = json!(warnings.iter().map(ToString::to_string).collect::<Vec<_>>());
                    v
                })
                .collect(),
            Ok(Plan::Skip(reason)) => {
                counts.skipped += 1;
                vec![with(head(Some(&msg)), "skipped", json!(reason.to_string()))]
            }
            Ok(_) => Vec::new(),
            Err(e) => vec![error(Some(&msg), &e, counts)],
        },
        Side::Client(client) => match client.call(&msg) {
            Ok(Some(call)) => {
                counts.requests += 1;
                vec![with(head(Some(&msg)), "munchkin", call.to_json())]
            }
            Ok(None) => {
                counts.skipped += 1;
                let reason = if msg.common().integrations.marketo_enabled() {
                    "no Munchkin call for this message (identify needs an email; group, alias and screen have none)"
                } else {
                    "integrations disables Marketo for this message"
                };
                vec![with(head(Some(&msg)), "skipped", json!(reason))]
            }
            Err(e) => vec![error(Some(&msg), &e, counts)],
        },
    }
}
