//! `Message::from_slice` on any bytes; a message that parses is planned through two SOAP and two
//! REST destinations (different settings) and two browser clients (v1 and V2), and an identify
//! is also streamed through `SoapDestination::write_sync_lead`. Every input, parsed or not, also
//! goes through `SoapDestination::write_json` on both SOAP destinations.
//!
//! Invariants: no panic; planned header values and URLs hold no CR/LF; beacon URLs are at most
//! 8 KB; SOAP envelopes are well-formed XML 1.0; REST bodies and Munchkin calls are valid JSON;
//! rendering an operation again for the same instant gives the planned request; `plan_operations`
//! gives `plan`'s operations, warnings, skip or error; the streamed
//! envelope and warnings equal the planned ones; `write_json` gives what `plan` gives on the
//! parsed message (envelope, warnings, error text; `Written::Skipped` exactly when `plan` skips
//! an identify, and for any message `plan` skips before the per-type work: `integrations`, or a
//! `group` / `alias` / `screen`; `Written::Other` with the parsed message for a track or page for
//! Marketo) and leaves its output buffer as it was unless it wrote an envelope;
//! `write_json_with_head` (a fresh head, then the same head reused) answers and writes exactly
//! what `write_json` does.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use segment_marketo::Error;
use segment_marketo::destination::{MarketoDestination, RestDestination, SoapDestination, Written};
use segment_marketo::event::Message;
use segment_marketo::munchkin::client::Client;
use segment_marketo::plan::{Operation, OperationPlan, Plan};
use segment_marketo::rest::ActivityBatch;
use segment_marketo::settings::Settings;
use segment_marketo::soap::SignedHead;

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

/// What `write_json` finds in its output buffer before it appends: an envelope must come after it,
/// and an error or anything but an envelope must leave it as it is.
const PREFIX: &str = "prefix</attribute>";

/// `SoapDestination::write_json(data)` against `plan(&Message::from_slice(data)?)`.
fn check_write_json(soap: &SoapDestination, data: &[u8], parsed: &Result<Message<'_>, Error>) {
    let now = common::now();
    let mut out = String::from(PREFIX);
    let mut warnings = Vec::new();
    let written = soap.write_json(data, now, &mut out, &mut warnings);
    match &written {
        Ok(Written::SyncLead) => common::check_xml(out.strip_prefix(PREFIX).unwrap_or(&out)),
        Ok(_) => {}
        Err(e) => {
            common::touch_error(e);
        }
    }
    if common::skipped("json-eq") {
        return;
    }
    // The same with a signed head carried across calls: signed by the first, reused by the second.
    let mut head = SignedHead::new();
    for _ in 0..2 {
        let (mut again, mut again_warnings) = (String::from(PREFIX), Vec::new());
        let with_head = soap.write_json_with_head(data, now, &mut head, &mut again, &mut again_warnings);
        assert_eq!(format!("{with_head:?}"), format!("{written:?}"), "write_json_with_head answers differently");
        assert_eq!((&again, &again_warnings), (&out, &warnings), "write_json_with_head writes differently");
    }
    let msg = match (parsed, &written) {
        (Ok(msg), _) => msg,
        (Err(pe), Err(we)) => {
            assert_eq!(we.to_string(), pe.to_string(), "write_json and from_slice fail differently");
            assert_eq!(out, PREFIX, "write_json left output behind on error");
            assert!(warnings.is_empty(), "write_json gave warnings with an error: {warnings:?}");
            return;
        }
        (Err(pe), Ok(w)) => panic!("from_slice failed ({pe}) but write_json gave {w:?}"),
    };
    // What `plan` decides before the per-type work (integrations, then the type) is a skip from
    // `write_json` too; a track or page for Marketo comes back parsed.
    let decided_early = !msg.common().integrations.marketo_enabled() || matches!(msg, Message::Other(..));
    match (msg, soap.plan(msg, now), written) {
        (_, Ok(Plan::Skip(planned)), Ok(Written::Skipped(reason))) => {
            assert_eq!(reason, planned, "write_json skips for another reason");
            assert_eq!(out, PREFIX, "write_json wrote something for a skipped message");
            assert!(warnings.is_empty(), "write_json gave warnings with a skip: {warnings:?}");
        }
        (_, p, Ok(Written::Skipped(reason))) => panic!("write_json skips ({reason:?}) but plan gave {p:?}"),
        (_, p, w) if decided_early => panic!("plan skips before the per-type work ({p:?}) but write_json gave {w:?}"),
        (Message::Identify(_), Ok(Plan::Send { steps, warnings: planned }), Ok(Written::SyncLead)) => {
            let body = steps.first().and_then(|s| s.request.body.as_deref());
            assert_eq!(out.strip_prefix(PREFIX), body, "write_json envelope differs from the planned one");
            assert_eq!(warnings, planned, "write_json warnings differ from the planned ones");
        }
        (Message::Identify(_), Err(pe), Err(we)) => {
            assert_eq!(we.to_string(), pe.to_string(), "write_json and plan fail differently");
            assert_eq!(out, PREFIX, "write_json left output behind on error");
            assert!(warnings.is_empty(), "write_json gave warnings with an error: {warnings:?}");
        }
        (Message::Identify(_), p, w) => panic!("plan gave {p:?} but write_json gave {w:?}"),
        (_, _, Ok(Written::Other(other))) => {
            assert_eq!(&*other, msg, "write_json parsed another message");
            assert_eq!(out, PREFIX, "write_json wrote something for a track or page");
            assert!(warnings.is_empty(), "write_json gave warnings for a track or page: {warnings:?}");
        }
        (_, _, w) => panic!("a {:?} for Marketo gave {w:?} from write_json", msg.message_type()),
    }
}

/// `plan_operations` is `plan` without its requests: the same operations, warnings, skip or error.
fn check_plan_operations<D: MarketoDestination>(dest: &D, msg: &Message<'_>, plan: &Result<Plan, segment_marketo::Error>) {
    match (dest.plan_operations(msg, common::now()), plan) {
        (Ok(operations), Ok(plan)) => assert_eq!(operations, OperationPlan::from(plan.clone()), "plan_operations differs from plan"),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "plan_operations and plan fail differently"),
        (a, b) => panic!("plan_operations gave {a:?} but plan gave {b:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let parsed = Message::from_slice(data);
    let f = fixtures();
    for soap in &f.soap {
        check_write_json(soap, data, &parsed);
    }
    let Ok(msg) = parsed else {
        return;
    };
    let now = common::now();
    let _ = format!("{msg:?}");

    for soap in &f.soap {
        let plan = soap.plan(&msg, now);
        common::check_plan(&plan);
        if let Ok(p) = &plan {
            check_render(soap, p);
        }
        check_plan_operations(soap, &msg, &plan);
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
        check_plan_operations(rest, &msg, &plan);
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
