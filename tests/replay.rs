//! The main job end to end: the `replay` example's output for the shared vectors.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;
use sha1::{Digest, Sha1};

/// The example binary cargo built beside this test (`cargo test` builds examples).
fn replay_bin() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    dir.join("examples").join(format!("replay{}", std::env::consts::EXE_SUFFIX))
}

fn run(args: &[&str], stdin: &str) -> (i32, Vec<Value>, String) {
    let mut child = Command::new(replay_bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the replay example (built by cargo test)");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let lines = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (
        out.status.code().unwrap_or(-1),
        lines,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn settings_file(json: &str, name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, json).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn server_side_reproduces_the_signature_vector() {
    let settings = settings_file(common::VECTOR_SETTINGS, "replay-vector-settings.json");
    let input = r#"{"type":"identify","messageId":"v1","traits":{"email":"t@t.com","firstName":"George","lastName":"of the Jungle"},"context":{"Marketo":{"marketoCookie":"id:561-HYG-937&token:_mch-marketo.com-1374552656411-90718"}}}"#;
    let (code, lines, stderr) = run(&["--settings", &settings, "--now", "2010-04-09T14:04:54-07:00", "-"], input);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(lines.len(), 1);
    let body = lines[0]["request"]["body"].as_str().unwrap();
    assert!(body.contains("<requestSignature>ffbff4d4bef354807481e66dc7540f7890523a87</requestSignature><requestTimestamp>2010-04-09T14:04:54-07:00</requestTimestamp>"));
    assert_eq!(
        lines[0]["request"]["headers"]["SOAPAction"],
        "\"http://www.marketo.com/mktows/syncLead\""
    );
    assert!(stderr.contains("1 request(s), 0 skipped, 0 error(s)"), "{stderr}");
}

#[test]
fn client_side_matches_every_v1_vector() {
    let vectors: Value = serde_json::from_str(&common::shared("vectors/analytics-js-marketo.json")).unwrap();
    let mut settings = vectors["v1"]["settings"].clone();
    settings["privateKey"] = "test-private-key".into();
    let settings = settings_file(&settings.to_string(), "replay-v1-settings.json");
    let cases = vectors["v1"]["cases"].as_array().unwrap();
    let input: String = cases.iter().map(|c| format!("{}\n", c["message"])).collect();
    let (code, lines, stderr) = run(&["--settings", &settings, "--side", "client", "-"], &input);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(lines.len(), cases.len());
    for (case, line) in cases.iter().zip(&lines) {
        let mut expect = case["expect"].clone();
        if expect.is_null() {
            assert!(line.get("skipped").is_some(), "{}: {line}", case["id"]);
            continue;
        }
        if expect[0] == "associateLead" {
            let email = expect[1]["Email"].as_str().unwrap();
            expect[2] = hex::encode(Sha1::digest(format!("test-private-key{email}"))).into();
        }
        assert_eq!(line["munchkin"], expect, "{}", case["id"]);
    }
}

#[test]
fn bad_settings_and_unreadable_input_exit_non_zero() {
    let bad = settings_file(r#"{"accountId":"nope"}"#, "replay-bad-settings.json");
    let (code, _, stderr) = run(&["--settings", &bad], "");
    assert_ne!(code, 0);
    assert!(stderr.contains("accountId"), "{stderr}");
    let (code, _, stderr) = run(&["/definitely/not/here.jsonl"], "");
    assert_ne!(code, 0);
    assert!(stderr.contains("cannot read"), "{stderr}");
}

#[test]
fn every_line_gets_exactly_one_record_even_when_broken() {
    let input = "not json\n{\"type\":\"identify\"}\n{\"type\":\"track\",\"userId\":\"u\",\"event\":\"E\"}\n\n{\"type\":\"alias\"}\n";
    let (code, lines, _) = run(&["--now", "2024-01-01T00:00:00Z", "-"], input);
    assert_eq!(code, 0);
    let lines_seen: Vec<u64> = lines.iter().map(|l| l["line"].as_u64().unwrap()).collect();
    assert_eq!(lines_seen, [1, 2, 3, 5]);
    assert_eq!(lines[0]["error"]["kind"], "invalid_json");
    assert_eq!(lines[1]["error"]["kind"], "missing_email");
    assert_eq!(lines[2]["request"]["kind"], "visitWebPage");
    assert!(lines[3]["skipped"].is_string());
}
