//! Table tests over `../shared/vectors/`: SOAP signatures and the REST -> SOAP field names.

use segment_marketo::casing::soap_name_for_rest;
use segment_marketo::settings::Secret;
use segment_marketo::soap::{Signer, request_signature};
use segment_marketo::time::Timestamp;

fn shared(path: &str) -> String {
    let full = format!("{}/../shared/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("cannot read {full}: {e}"))
}

fn rows(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').collect())
}

#[test]
fn every_soap_signature_vector() {
    let text = shared("vectors/soap-signatures.tsv");
    let mut n = 0;
    for row in rows(&text) {
        let (key, user, stamp, expected) = (row[0], row[1], row[2], row[3]);
        let key = Secret::new(key);
        assert_eq!(request_signature(&key, stamp, user), expected, "{stamp}");
        // The pre-keyed signer agrees, and the timestamp round-trips through Timestamp exactly.
        assert_eq!(Signer::new(user, &key).sign_string(stamp), expected);
        let t = Timestamp::parse_rfc3339(stamp).unwrap();
        assert_eq!(t.to_soap_string(), stamp);
        n += 1;
    }
    assert_eq!(n, 9, "soap-signatures.tsv rows");
}

#[test]
fn every_rest_to_soap_name() {
    let text = shared("vectors/rest-to-soap-fields.tsv");
    let mut n = 0;
    for row in rows(&text) {
        assert_eq!(soap_name_for_rest(row[0]), row[1]);
        n += 1;
    }
    assert!(n >= 50, "rest-to-soap-fields.tsv rows: {n}");
    // Not in the table: first-upper.
    assert_eq!(soap_name_for_rest("customField"), "CustomField");
}
