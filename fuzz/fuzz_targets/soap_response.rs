//! The SOAP `syncLead` answer readers: `read_sync_lead(status, body)` and `read_fault(body)`, the
//! HTTP status from the input's first two bytes (big-endian), the body the rest.
//!
//! Invariants: no panic; a body `read_fault` reads as a fault makes `read_sync_lead` answer
//! `Error::Marketo` with that same fault, whatever the status; a success needs a 2xx status and
//! has a lead id when CREATED or UPDATED.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use segment_marketo::Error;
use segment_marketo::soap::{SyncStatus, read_fault, read_sync_lead};

fuzz_target!(|data: &[u8]| {
    let (status, body) = common::status_and_body(data);
    let answer = read_sync_lead(status, body);
    let fault = read_fault(body);
    match (&answer, &fault) {
        (Err(Error::Marketo(read)), Some(f)) => assert_eq!(read, f, "read_sync_lead and read_fault disagree"),
        (_, Some(f)) => panic!("read_fault gave {f:?} but read_sync_lead gave {answer:?}"),
        (Err(Error::Marketo(f)), None) => panic!("read_sync_lead gave a fault {f:?} that read_fault did not see"),
        _ => {}
    }
    match &answer {
        Ok(result) => {
            assert!((200..300).contains(&status), "success with HTTP status {status}");
            if matches!(result.status, SyncStatus::Created | SyncStatus::Updated) {
                assert!(result.lead_id.is_some(), "{} without a lead id", result.status.as_str());
            }
        }
        Err(e) => {
            common::touch_error(e);
        }
    }
    if let Some(f) = &fault {
        let _ = format!("{f:?} {:?}", f.class);
    }
});
