//! Limits users can rely on: huge identifies are planned (in time linear in their size: see
//! `examples/throughput.rs`, ns per trait), beacon URLs stay within 8 KB with a warning naming
//! what was cut, REST bodies stay within 1 MB.

mod common;

use segment_marketo::ErrorKind;
use segment_marketo::destination::{MarketoDestination, RestDestination};
use segment_marketo::event::Message;
use segment_marketo::plan::{Plan, WarningKind};
use segment_marketo::settings::Settings;

fn plan(dest: &dyn MarketoDestination, json: &str) -> Result<Plan, segment_marketo::Error> {
    dest.plan(&Message::from_json(json).unwrap(), common::vector_now())
}

#[test]
fn ten_thousand_traits_and_a_megabyte_value_are_planned_whole() {
    let dest = common::destination(|_| {});
    let traits: Vec<String> = (0..10_000).map(|i| format!(r#""t{i}":"v{i}""#)).collect();
    let json = format!(r#"{{"type":"identify","traits":{{"email":"a@b.co",{}}}}}"#, traits.join(","));
    let Plan::Send { steps, .. } = plan(&dest, &json).unwrap() else {
        panic!()
    };
    assert_eq!(steps[0].request.body.as_deref().unwrap().matches("<attribute>").count(), 10_000);
    let big = "x".repeat(1 << 20);
    let json = format!(r#"{{"type":"identify","traits":{{"email":"a@b.co","big":"{big}"}}}}"#);
    let Plan::Send { steps, .. } = plan(&dest, &json).unwrap() else {
        panic!()
    };
    assert!(steps[0].request.body.as_deref().unwrap().contains(&big));
}

#[test]
fn beacon_urls_are_cut_to_8_kb_with_a_warning() {
    let dest = common::destination(|_| {});
    let long = "q".repeat(20_000);
    let json =
        format!(r#"{{"type":"page","userId":"u","properties":{{"url":"https://x.com/p?{long}","referrer":"https://r.com/{long}"}}}}"#);
    let Plan::Send { steps, warnings } = plan(&dest, &json).unwrap() else {
        panic!()
    };
    assert!(steps[0].request.url.len() <= 8 * 1024, "{}", steps[0].request.url.len());
    let cut: Vec<_> = warnings.iter().filter(|w| w.kind == WarningKind::Truncated).collect();
    assert_eq!(cut.len(), 1);
    assert!(
        cut[0].message.contains("_mchQp") && cut[0].message.contains("_mchRe"),
        "{}",
        cut[0].message
    );
    // A short page is not cut and not warned about.
    let Plan::Send { warnings, .. } = plan(&dest, r#"{"type":"page","userId":"u","properties":{"url":"https://x.com/"}}"#).unwrap() else {
        panic!()
    };
    assert!(warnings.is_empty());
}

#[test]
fn a_rest_record_over_1_mb_is_a_typed_error() {
    let settings = Settings::from_json(
        r#"{"api":"rest","accountId":"561-HYG-937","clientId":"c","clientSecret":"s","traits":[{"segmentTrait":"big","marketoFieldName":"big"}]}"#,
    )
    .unwrap();
    let dest = RestDestination::new(&settings).unwrap();
    let big = "x".repeat(1 << 20);
    let err = plan(
        &dest,
        &format!(r#"{{"type":"identify","traits":{{"email":"a@b.co","big":"{big}"}}}}"#),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge, "{err}");
    // Under the limit it plans, and the body stays under 1 MB.
    let fits = "x".repeat(500_000);
    let Plan::Send { steps, .. } = plan(
        &dest,
        &format!(r#"{{"type":"identify","traits":{{"email":"a@b.co","big":"{fits}"}}}}"#),
    )
    .unwrap() else {
        panic!()
    };
    let body = steps.last().unwrap().request.body.as_deref().unwrap();
    assert!(body.len() <= 1_048_576 && body.contains(&fits));
}
