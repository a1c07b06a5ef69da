//! The main job: Segment messages in, the Marketo requests they become out, one JSON line each.
//!
//! ```text
//! cargo run --example replay -- [--settings FILE.json] [--now RFC3339] [--side server|client] [--api soap|rest] [FILE|-]
//! ```
//!
//! With no FILE it reads stdin when stdin is not a terminal, else replays an embedded demo with
//! demo settings. The demo credentials are the PUBLIC test vector from
//! `../shared/vectors/soap-signatures.tsv` (Marketo's documentation example), not a real account.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use segment_marketo::Error;
use segment_marketo::destination::{self, MarketoDestination};
use segment_marketo::event::{Message, split_batch};
use segment_marketo::munchkin::client::Client;
use segment_marketo::plan::Plan;
use segment_marketo::request::Request;
use segment_marketo::settings::Settings;
use segment_marketo::time::Timestamp;
use serde::Serialize;
use serde_json::Value;

const DEMO_MESSAGES: &str = include_str!("demo.jsonl");
/// Public test-vector credentials (soap-signatures.tsv, first row), labelled as such.
const DEMO_SETTINGS: &str = include_str!("demo-settings.json");

struct Args {
    settings: Option<String>,
    now: Option<String>,
    client_side: bool,
    api: Option<String>,
    input: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        settings: None,
        now: None,
        client_side: false,
        api: None,
        input: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--settings" => args.settings = Some(value("--settings")?),
            "--now" => args.now = Some(value("--now")?),
            "--api" => args.api = Some(value("--api")?),
            "--side" => match value("--side")?.as_str() {
                "server" => args.client_side = false,
                "client" => args.client_side = true,
                other => return Err(format!("--side must be server or client, not {other:?}")),
            },
            "-h" | "--help" => {
                return Err(
                    "usage: replay [--settings FILE.json] [--now RFC3339] [--side server|client] [--api soap|rest] [FILE|-]".into(),
                );
            }
            _ if args.input.is_none() && (arg == "-" || !arg.starts_with('-')) => args.input = Some(arg),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

fn now_from(arg: Option<&str>) -> Result<Timestamp, String> {
    match arg {
        Some(text) => {
            Timestamp::parse_rfc3339(text).ok_or_else(|| format!("--now {text:?} is not RFC 3339 (like 2010-04-09T14:04:54-07:00)"))
        }
        None => {
            let ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_err(|e| e.to_string())?
                .as_millis();
            Ok(Timestamp::from_unix_ms(ms as i64))
        }
    }
}

/// The input, streamed line by line.
fn open_input(input: Option<&str>) -> Result<Box<dyn BufRead>, String> {
    let stdin = || Box::new(std::io::stdin().lock()) as Box<dyn BufRead>;
    Ok(match input {
        Some("-") => stdin(),
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path).map_err(|e| format!("cannot read {path}: {e}"))?,
        )),
        None if !std::io::stdin().is_terminal() => {
            let mut input = stdin();
            // An empty stdin (`< /dev/null`, CI) replays the demo rather than printing nothing.
            if input.fill_buf().map_err(|e| format!("cannot read stdin: {e}"))?.is_empty() {
                eprintln!("replay: stdin is empty; replaying the embedded demo");
                Box::new(DEMO_MESSAGES.as_bytes())
            } else {
                input
            }
        }
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
            eprintln!(
                "replay: {} request(s), {} skipped, {} error(s)",
                counts.requests, counts.skipped, counts.errors
            );
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
    let mut settings = Settings::from_json(&settings_text).map_err(|e| format!("bad settings: {e}"))?;
    match args.api.as_deref() {
        None => {}
        Some("soap") => settings.api = segment_marketo::fault::Api::Soap,
        Some("rest") => settings.api = segment_marketo::fault::Api::Rest,
        Some(other) => return Err(format!("--api must be soap or rest, not {other:?}")),
    }
    let now = now_from(args.now.as_deref())?;
    let side = if args.client_side {
        Side::Client(Client::new(&settings).map_err(|e| format!("bad settings: {e}"))?)
    } else {
        Side::Server(destination::from_settings(&settings).map_err(|e| format!("bad settings: {e}"))?)
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
    Server(Box<dyn MarketoDestination + Send + Sync>),
    Client(Client),
}

/// One output line; fields print in this order, absent ones are left out.
#[derive(Serialize)]
struct Record<'a> {
    line: usize,
    #[serde(rename = "messageId")]
    message_id: Option<&'a str>,
    #[serde(rename = "type")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request: Option<&'a Request>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warnings: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    munchkin: Option<Value>,
}

#[derive(Serialize)]
struct ErrorRecord {
    kind: &'static str,
    message: String,
}

fn replay_one(side: &Side, line: usize, text: &str, now: Timestamp, counts: &mut Counts) -> Vec<String> {
    fn base<'a>(line: usize, msg: Option<&'a Message<'a>>) -> Record<'a> {
        Record {
            line,
            message_id: msg.and_then(|m| m.common().message_id.as_deref()),
            kind: msg.map(|m| m.message_type().as_str()),
            request: None,
            warnings: None,
            skipped: None,
            error: None,
            munchkin: None,
        }
    }
    let print = |r: &Record<'_>| serde_json::to_string(r).unwrap_or_default();
    let error = |msg: Option<&Message<'_>>, e: &Error, counts: &mut Counts| {
        counts.errors += 1;
        let recovered = match e {
            Error::InvalidMessage { message, .. } => message.0.as_deref(),
            _ => None,
        };
        let mut r = base(line, msg);
        r.message_id = r.message_id.or(recovered);
        r.error = Some(ErrorRecord {
            kind: e.kind().as_str(),
            message: e.to_string(),
        });
        print(&r)
    };
    let msg = match Message::from_json(text) {
        Ok(m) => m,
        Err(e) => return vec![error(None, &e, counts)],
    };
    let skipped = |reason: String, counts: &mut Counts| {
        counts.skipped += 1;
        let mut r = base(line, Some(&msg));
        r.skipped = Some(reason);
        vec![print(&r)]
    };
    match side {
        Side::Server(dest) => match dest.plan(&msg, now) {
            Ok(Plan::Send { steps, warnings }) => steps
                .iter()
                .map(|step| {
                    counts.requests += 1;
                    let mut r = base(line, Some(&msg));
                    r.request = Some(&step.request);
                    r.warnings = Some(warnings.iter().map(ToString::to_string).collect());
                    print(&r)
                })
                .collect(),
            Ok(Plan::Skip(reason)) => skipped(reason.to_string(), counts),
            Ok(_) => Vec::new(),
            Err(e) => vec![error(Some(&msg), &e, counts)],
        },
        Side::Client(client) => match client.call(&msg) {
            Ok(Some(call)) => {
                counts.requests += 1;
                let mut r = base(line, Some(&msg));
                r.munchkin = Some(call.to_json());
                vec![print(&r)]
            }
            Ok(None) if !msg.common().integrations.marketo_enabled() => {
                skipped("integrations disables Marketo for this message".into(), counts)
            }
            Ok(None) => skipped(
                "no Munchkin call for this message (identify needs an email; group, alias and screen have none)".into(),
                counts,
            ),
            Err(e) => vec![error(Some(&msg), &e, counts)],
        },
    }
}
