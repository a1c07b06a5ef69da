//! Table test over `../shared/vectors/marketo-error-codes.tsv`: every row's class must be what
//! [`classify`] says, what [`Fault::new`] records, and what [`Error::retry`] turns into a retry hint.

use segment_marketo::error::{Error, Retry};
use segment_marketo::fault::{Api, Fault, FaultClass, LOCK_FAULT_TEXT, classify};

const TABLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors/marketo-error-codes.tsv");

/// One row: api, code (`None` for `-`), meaning, class (as written), note.
struct Row {
    line: usize,
    api: Api,
    code: Option<u32>,
    meaning: String,
    class: String,
}

fn rows() -> Vec<Row> {
    let text = std::fs::read_to_string(TABLE).unwrap_or_else(|e| panic!("cannot read {TABLE}: {e}"));
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert!((4..=5).contains(&cols.len()), "line {line_no}: {} columns in {line:?}", cols.len());
        let api = match cols[0] {
            "soap" => Api::Soap,
            "rest" => Api::Rest,
            other => panic!("line {line_no}: unknown api {other:?}"),
        };
        let code = match cols[1] {
            "-" => None,
            n => Some(n.parse().unwrap_or_else(|e| panic!("line {line_no}: code {n:?}: {e}"))),
        };
        rows.push(Row {
            line: line_no,
            api,
            code,
            meaning: cols[2].to_owned(),
            class: cols[3].to_owned(),
        });
    }
    rows
}

/// The table's class names, spelled out independently of `FaultClass::as_str`.
fn class_named(name: &str) -> FaultClass {
    match name {
        "retry" => FaultClass::Retry,
        "resign" => FaultClass::Resign,
        "throttle" => FaultClass::Throttle,
        "quota" => FaultClass::Quota,
        "reauth" => FaultClass::Reauth,
        "permanent" => FaultClass::Permanent,
        other => panic!("unknown class {other:?}"),
    }
}

/// The retry hint the brief asks for, per class (lock faults wait for the lock).
fn retry_for(class: &str, lock: bool) -> Option<Retry> {
    match class {
        "retry" if lock => Some(Retry::AfterLeadLock),
        "retry" => Some(Retry::Later),
        "resign" => Some(Retry::Resign),
        "throttle" => Some(Retry::Throttle),
        "quota" => Some(Retry::AfterQuotaReset),
        "reauth" => Some(Retry::Reauthenticate),
        "permanent" => None,
        other => panic!("unknown class {other:?}"),
    }
}

#[test]
fn table_is_read() {
    let rows = rows();
    assert!(rows.len() > 50, "only {} rows read from {TABLE}", rows.len());
    assert!(rows.iter().any(|r| r.api == Api::Soap) && rows.iter().any(|r| r.api == Api::Rest));
    // Every class occurs at least once.
    for class in ["retry", "resign", "throttle", "quota", "reauth", "permanent"] {
        assert!(rows.iter().any(|r| r.class == class), "no {class} row");
    }
    // The lock row is the only one without a code.
    let codeless: Vec<&Row> = rows.iter().filter(|r| r.code.is_none()).collect();
    assert_eq!(codeless.len(), 1);
    assert_eq!(codeless[0].meaning, LOCK_FAULT_TEXT);
}

#[test]
fn classify_matches_every_row() {
    for row in rows() {
        let got = classify(row.api, row.code, &row.meaning);
        assert_eq!(
            got,
            class_named(&row.class),
            "line {}: {:?} {:?} {}",
            row.line,
            row.api,
            row.code,
            row.meaning
        );
        assert_eq!(got.as_str(), row.class, "line {}", row.line);
    }
}

#[test]
fn fault_and_retry_hint_for_every_row() {
    for row in rows() {
        let fault = Fault::new(row.api, row.code, row.meaning.clone(), "");
        assert_eq!(fault.class, class_named(&row.class), "line {}", row.line);
        assert_eq!(fault.code, row.code);
        assert_eq!(fault.text, row.meaning);
        assert_eq!(fault.message, row.meaning, "an empty message falls back to the text");
        let lock = row.meaning.contains(LOCK_FAULT_TEXT);
        assert_eq!(fault.is_lock(), lock, "line {}", row.line);
        let err = Error::Marketo(fault);
        assert_eq!(err.retry(), retry_for(&row.class, lock), "line {}: {err}", row.line);

        // The class does not depend on the wording for coded rows: Marketo's own text may differ.
        if row.code.is_some() {
            let fault = Fault::new(row.api, row.code, "something else", "long message");
            assert_eq!(fault.class, class_named(&row.class), "line {}", row.line);
        }
    }
}

#[test]
fn codes_outside_the_table_are_permanent() {
    let rows = rows();
    for api in [Api::Soap, Api::Rest] {
        for code in 0..=30_000u32 {
            let listed = rows.iter().any(|r| r.api == api && r.code == Some(code));
            if !listed {
                assert_eq!(classify(api, Some(code), "x"), FaultClass::Permanent, "{api:?} {code}");
            }
        }
    }
    // Each API's codes belong to that API only: a REST code sent as SOAP is unknown, and back.
    assert_eq!(classify(Api::Soap, Some(601), "x"), FaultClass::Permanent);
    assert_eq!(classify(Api::Rest, Some(20016), "x"), FaultClass::Permanent);
    // Without a code, only the lock text is transient.
    assert_eq!(classify(Api::Soap, None, "Internal Error"), FaultClass::Permanent);
    assert_eq!(classify(Api::Soap, None, "syncLead: Exceeded lock attempts"), FaultClass::Retry);
}
