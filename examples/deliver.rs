//! Delivers Segment messages to Marketo for real: JSON lines in, one outcome a line out.
//!
//! ```text
//! cargo run --example deliver -- --settings FILE.json [--soap-endpoint URL] [--beacon-endpoint URL] [FILE|-]
//! ```
//!
//! The copy-paste starting point for a transport: the outbox (`segment_marketo::delivery`)
//! decides what to send and when; `support/driver.rs` sends it with ureq on a few threads.

#[path = "support/driver.rs"]
mod driver;

use std::io::BufRead;
use std::time::Duration;

use segment_marketo::delivery::{Association, Config, Delivery, Outbox};
use segment_marketo::destination;
use segment_marketo::settings::Settings;
use serde_json::json;

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let (mut settings_path, mut soap, mut beacon, mut input) = (None, None, None, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--settings" => settings_path = args.next(),
            "--soap-endpoint" => soap = args.next(),
            "--beacon-endpoint" => beacon = args.next(),
            _ => input = Some(arg),
        }
    }
    let path = settings_path.ok_or("usage: deliver --settings FILE.json [--soap-endpoint URL] [--beacon-endpoint URL] [FILE|-]")?;
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let mut settings = Settings::from_json(&text).map_err(|e| format!("bad settings: {e}"))?;
    settings.soap_endpoint = soap.or(settings.soap_endpoint);
    settings.beacon_endpoint = beacon.or(settings.beacon_endpoint);
    // `api` in the settings chooses SOAP (Segment's classic destination) or REST (live Marketo).
    let destination = destination::from_settings(&settings).map_err(|e| format!("bad settings: {e}"))?;
    let config = Config::default();
    let workers = config.max_in_flight;
    let mut outbox = Outbox::new(destination, config);

    let reader: Box<dyn BufRead> = match input.as_deref() {
        None | Some("-") => Box::new(std::io::stdin().lock()),
        Some(file) => Box::new(std::io::BufReader::new(
            std::fs::File::open(file).map_err(|e| format!("cannot read {file}: {e}"))?,
        )),
    };
    let lines = reader.lines().map_while(Result::ok).filter(|l| !l.trim().is_empty());
    driver::run(&mut outbox, lines, workers, Duration::from_secs(30), |report| {
        let line = match report {
            driver::Report::Unreadable { line, kind, reason } => json!({"line": line, "failed": {"kind": kind.as_str(), "reason": reason}}),
            driver::Report::Outcome { line, outcome } => {
                let mut v = json!({"line": line, "messageId": outcome.message_id, "attempts": outcome.attempts});
                match outcome.delivery {
                    Delivery::Delivered {
                        lead_id,
                        status,
                        dropped_fields,
                        merged_with,
                        association,
                    } => {
                        let association = association.map(|a| match a {
                            Association::Associated => json!("associated"),
                            Association::Failed { reason, code } => json!({"failed": reason, "code": code}),
                            _ => json!(null),
                        });
                        v["delivered"] = json!({"leadId": lead_id, "status": status.map(|s| s.as_str()), "droppedFields": dropped_fields,
                            "mergedWith": merged_with, "association": association})
                    }
                    Delivery::Skipped(reason) => v["skipped"] = json!(reason.to_string()),
                    Delivery::Failed { kind, reason, code } => v["failed"] = json!({"kind": kind.as_str(), "reason": reason, "code": code}),
                    _ => {}
                }
                v
            }
        };
        println!("{line}");
    });
    Ok(())
}
