//! The soak: `cargo run --release --example soak -- --messages 20000 --leads 500 --fault-rate 0.2 --seed 7 [--api soap|rest]`
//!
//! Starts a fake Marketo in-process on loopback, drives a seeded mix of identify (many per lead,
//! to force merging), track and page messages, some with bad input, through the outbox and a real
//! HTTP client with short time windows, and prints one JSON line of accounting. `lost`,
//! `duplicates` and `server_violations` must be 0.

#[path = "support/driver.rs"]
#[allow(dead_code)]
mod driver;
#[path = "support/soak.rs"]
mod soak;

fn main() {
    let mut params = soak::Params {
        rest: false,
        messages: 20_000,
        leads: 500,
        fault_rate: 0.2,
        permanent_fault_rate: 0.002,
        seed: 7,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().unwrap_or_default();
        match arg.as_str() {
            "--messages" => params.messages = value.parse().expect("--messages N"),
            "--leads" => params.leads = value.parse().expect("--leads N"),
            "--fault-rate" => params.fault_rate = value.parse().expect("--fault-rate P"),
            "--permanent-fault-rate" => params.permanent_fault_rate = value.parse().expect("--permanent-fault-rate P"),
            "--seed" => params.seed = value.parse().expect("--seed S"),
            "--api" => {
                params.rest = match value.as_str() {
                    "rest" => true,
                    "soap" => false,
                    other => panic!("--api must be soap or rest, not {other}"),
                }
            }
            other => panic!("unknown argument {other}"),
        }
    }
    let summary = soak::run(&params);
    println!("{}", serde_json::to_string(&summary).unwrap_or_default());
    if summary.lost + summary.duplicates + summary.server_violations + summary.unexplained_failures > 0 {
        std::process::exit(1);
    }
}
