//! `Message::from_slice` on any bytes; a message that parses is planned through two SOAP and two
//! REST destinations (different settings) and two browser clients (v1 and V2), and an identify
//! is also streamed through `SoapDestination::write_sync_lead`.
//!
//! Invariants: no panic; planned header values and URLs hold no CR/LF; beacon URLs are at most
//! 8 KB; SOAP envelopes are well-formed XML 1.0; REST bodies and Munchkin calls are valid JSON;
//! rendering an operation again for the same instant gives the planned request; the streamed
//! envelope and warnings equal the planned ones.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use segment_marketo::destination::{MarketoDestination, RestDestination, SoapDestination};
use segment_marketo::event::Message;
use segment_marketo::munchkin::client::Client;
use segment_marketo::plan::{Operation, Plan};
use segment_marketo::rest::ActivityBatch;
use segment_marketo::settings::Settings;

struct Fixtures {
    soap: Vec<SoapDestination>,
    rest: Vec<RestDestination>,
    clients: Vec<Client>,
}

fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let settings: Vec<Settings> = [common::SETTINGS_A, common::SETTINGS_B]
            .iter()
            .map(|s| Settings::from_json(s).expect("fixture settings"))
            .collect();
        Fixtures {
            soap: settings.iter().map(|s| SoapDestination::new(s).expect("soap")).collect(),
            rest: settings.iter().map(|s| RestDestination::new(s).expect("rest")).collect(),
            clients: settings.iter().map(|s| Client::new(s).expect("client")).collect(),
        }
    })
}

fn check_render<D: MarketoDestination>(dest: &D, plan: &Plan) {
    let now = common::now();
    let Plan::Send { steps, .. } = plan else { return };
    for step in steps {
        match &step.operation {
            Operation::Token => {}
            op => {
                let again = dest.render(op, now);
                assert_eq!(again.as_ref().ok(), Some(&step.request), "render({}) differs from the plan", op.name());
            }
        }
        if let Operation::RestActivity(activity) = &step.operation {
            match activity.input(318_581) {
                Ok(input) => {
                    common::check_json(input.json());
                    let mut batch = ActivityBatch::new();
                    if batch.push(input).is_ok() {
                        let token = segment_marketo::rest::AccessToken::new("t");
                        common::check_request(&batch.request("https://561-HYG-937.mktorest.com", &token));
                    }
                }
                Err(e) => {
                    common::touch_error(&e);
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = Message::from_slice(data) else {
        return;
    };
    let f = fixtures();
    let now = common::now();
    let _ = format!("{msg:?}");

    for soap in &f.soap {
        let plan = soap.plan(&msg, now);
        common::check_plan(&plan);
        if let Ok(p) = &plan {
            check_render(soap, p);
        }
        if let Message::Identify(m) = &msg {
            let planned = soap.identify(m, now);
            let mut out = String::from("prefix");
            let mut warnings = Vec::new();
            let streamed = soap.write_sync_lead(m, now, &mut out, &mut warnings);
            match (&planned, &streamed) {
                (Ok(Plan::Send { steps, warnings: planned_warnings }), Ok(())) if !common::skipped("stream-eq") => {
                    assert_eq!(Some(&out["prefix".len()..]), steps[0].request.body.as_deref(), "streamed envelope differs");
                    assert_eq!(&warnings, planned_warnings, "streamed warnings differ");
                }
                (Err(_), Err(_)) => assert_eq!(out, "prefix", "write_sync_lead left output behind on error"),
                _ if common::skipped("stream-eq") => {}
                (p, s) => panic!("identify gave {:?} but write_sync_lead gave {:?}", p.as_ref().err(), s.as_ref().err()),
            }
            if let Err(e) = &streamed {
                common::touch_error(e);
            }
        }
    }
    for rest in &f.rest {
        let plan = rest.plan(&msg, now);
        common::check_plan(&plan);
        if let Ok(p) = &plan {
            check_render(rest, p);
        }
    }
    for client in &f.clients {
        match client.call(&msg) {
            Ok(Some(call)) => {
                common::check_json(&call.to_json_string());
                let _ = call.function();
            }
            Ok(None) => {}
            Err(e) => {
                common::touch_error(&e);
            }
        }
    }
});
