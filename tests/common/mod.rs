//! Shared test helpers: demo settings, a fixed clock, shared-file paths.
#![allow(dead_code)]

use segment_marketo::destination::SoapDestination;
use segment_marketo::settings::Settings;
use segment_marketo::time::Timestamp;

/// Settings with the public test-vector credentials (soap-signatures.tsv, first row).
pub const VECTOR_SETTINGS: &str = r#"{
    "accountId": "561-HYG-937",
    "userId": "bigcorp1_461839624B16E06BA2D663",
    "encryptionKey": "899756834129871744AAEE88DDCC77CDEEDEC1AAAD66",
    "soapEndpoint": "https://561-HYG-937.mktoapi.com/soap/mktows/2_1",
    "privateKey": "test-private-key"
}"#;

/// The vector's timestamp.
pub fn vector_now() -> Timestamp {
    Timestamp::parse_rfc3339("2010-04-09T14:04:54-07:00").unwrap()
}

/// A destination with the vector settings, optionally changed by `edit`.
pub fn destination(edit: impl FnOnce(&mut Settings)) -> SoapDestination {
    let mut settings = Settings::from_json(VECTOR_SETTINGS).unwrap();
    edit(&mut settings);
    SoapDestination::new(&settings).unwrap()
}

/// The path of a file under ../shared.
pub fn shared_path(path: &str) -> String {
    format!("{}/../shared/{path}", env!("CARGO_MANIFEST_DIR"))
}

/// The text of a file under ../shared.
pub fn shared(path: &str) -> String {
    let full = shared_path(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("cannot read {full}: {e}"))
}
