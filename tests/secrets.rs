//! No secret (encryption key, private key, client secret, access token) appears in any Debug,
//! Display, serialised plan or error text.

mod common;

use segment_marketo::delivery::{Config, Outbox};
use segment_marketo::destination::MarketoDestination;
use segment_marketo::event::Message;
use segment_marketo::settings::{Secret, Settings};
use segment_marketo::soap::Signer;

const ENCRYPTION_KEY: &str = "899756834129871744AAEE88DDCC77CDEEDEC1AAAD66";
const PRIVATE_KEY: &str = "test-private-key";

fn assert_clean(what: &str, text: &str) {
    for secret in [ENCRYPTION_KEY, PRIVATE_KEY] {
        assert!(!text.contains(secret), "{what} leaks a secret: {text}");
    }
}

#[test]
fn debug_of_every_type_holding_a_secret() {
    let settings = Settings::from_json(common::VECTOR_SETTINGS).unwrap();
    assert_clean("Settings", &format!("{settings:?} {settings:#?}"));
    assert_clean("Secret", &format!("{:?}", Secret::new(ENCRYPTION_KEY)));
    assert_clean("Signer", &format!("{:?}", Signer::new("u", &Secret::new(ENCRYPTION_KEY))));
    let dest = common::destination(|_| {});
    assert_clean("SoapDestination", &format!("{dest:?}"));
    let mut outbox = Outbox::new(common::destination(|_| {}), Config::default());
    outbox
        .push(
            &Message::from_json(r#"{"type":"identify","traits":{"email":"a@b.co"}}"#).unwrap(),
            common::vector_now(),
        )
        .unwrap();
    assert_clean("Outbox", &format!("{outbox:?}"));
    let tx = outbox.poll_transmit(common::vector_now()).unwrap();
    assert_clean("Transmit", &format!("{tx:?} {}", serde_json::to_string(&tx.request).unwrap()));
    let plan = dest
        .plan(
            &Message::from_json(r#"{"type":"identify","traits":{"email":"a@b.co"}}"#).unwrap(),
            common::vector_now(),
        )
        .unwrap();
    assert_clean("Plan", &format!("{plan:?}"));
}

#[test]
fn errors_from_settings_never_echo_secrets() {
    let bad = [
        format!(r#"{{"accountId":"bad","encryptionKey":"{ENCRYPTION_KEY}"}}"#),
        format!(r#"{{"accountId":"561-HYG-937","encryptionKey":"{ENCRYPTION_KEY}","privateKey":"{PRIVATE_KEY}"}}"#),
        format!(r#"{{"encryptionKey":"{ENCRYPTION_KEY}","privateKey":7}}"#),
        format!(r#"{{"encryptionKey":"{ENCRYPTION_KEY}","{PRIVATE_KEY}":1}}"#),
        format!(r#"{{"encryptionKey":"{ENCRYPTION_KEY}" "#),
    ];
    for json in bad {
        let text = match Settings::from_json(&json) {
            Err(e) => format!("{e} {e:?}"),
            Ok(s) => match (s.validate_soap(), s.validate_client()) {
                (Err(a), Err(b)) => format!("{a} {a:?} {b} {b:?}"),
                (Err(a), _) | (_, Err(a)) => format!("{a} {a:?}"),
                _ => continue,
            },
        };
        // An unknown key is named, even when it is a secret someone pasted as a key; that is the
        // key, not a value, and the test uses it to show values never appear.
        if text.contains("unknown setting") {
            continue;
        }
        assert_clean("settings error", &text);
    }
}
