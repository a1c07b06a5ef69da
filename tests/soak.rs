//! The soak with smaller numbers, over real HTTP against the in-process fake Marketo: every
//! message gets exactly one outcome, the fake sees no broken rule, and every failure is bad input
//! or a permanent fault the fake injected.

#[path = "../examples/support/driver.rs"]
#[allow(dead_code)]
mod driver;
#[path = "../examples/support/soak.rs"]
mod soak;

/// Runs a 2,000-message soak and checks the accounting every soak must pass.
fn soak_clean(rest: bool, seed: u64) -> soak::Summary {
    let params = soak::Params {
        rest,
        messages: 2_000,
        leads: 60,
        fault_rate: 0.2,
        permanent_fault_rate: 0.01,
        seed,
    };
    let summary = soak::run(&params);
    eprintln!("{}", serde_json::to_string(&summary).unwrap());
    assert_eq!(summary.lost, 0);
    assert_eq!(summary.duplicates, 0);
    assert_eq!(summary.server_violations, 0);
    assert_eq!(summary.unexplained_failures, 0);
    assert_eq!(summary.delivered + summary.failed + summary.skipped, summary.pushed);
    assert!(summary.bad_input > 0);
    summary
}

#[test]
fn soak_loses_nothing_and_breaks_no_rule() {
    let summary = soak_clean(false, 11);
    assert!(summary.merged > 0, "identifies for the same lead were merged");
    assert!(summary.injected > 0 && summary.retries > 0, "faults were injected and retried");
}

#[test]
fn rest_soak_loses_nothing_breaks_no_rule_and_batches() {
    let summary = soak_clean(true, 12);
    assert!(
        summary.calls < summary.pushed,
        "batching: {} calls for {} messages",
        summary.calls,
        summary.pushed
    );
}
