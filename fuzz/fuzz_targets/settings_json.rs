//! `Settings::from_json` on any UTF-8 text, then every validation and every constructor that
//! takes settings; the destinations that build plan a fixed set of messages.
//!
//! Invariants: no panic; planned header values and URLs hold no CR/LF (endpoints come from the
//! settings); beacon URLs are at most 8 KB; bodies are well-formed.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use segment_marketo::destination::{MarketoDestination, RestDestination, SoapDestination, from_settings};
use segment_marketo::event::Message;
use segment_marketo::munchkin::beacon::Beacons;
use segment_marketo::munchkin::client::Client;
use segment_marketo::rest::{RestApi, TokenHolder, TokenState};
use segment_marketo::settings::Settings;

const MESSAGES: &[&str] = &[
    r#"{"type":"identify","userId":"u1","anonymousId":"a1","traits":{"email":"t@t.com","firstName":"George","plan":"pro","o":{"a":1},"fax":"1"},"context":{"Marketo":{"marketoCookie":"id:561-HYG-937&token:_mch-marketo.com-1374552656411-90718"}}}"#,
    r#"{"type":"track","userId":"u1","event":"Signed Up","properties":{"plan":"pro","a":{"b":2}},"context":{"page":{"url":"https://example.com/x?y=1#z","referrer":"https://r.example/"},"userAgent":"UA"}}"#,
    r#"{"type":"track","anonymousId":"a1","event":"Order Completed","properties":{"total":1}}"#,
    r#"{"type":"track","userId":"u1","event":"Unmapped","properties":{"x":1}}"#,
    r#"{"type":"page","userId":"u1","name":"Home","properties":{"url":"https://example.com:8443/p?q=1#h","referrer":"https://r/"}}"#,
];

fn messages() -> &'static [Message<'static>] {
    static M: OnceLock<Vec<Message<'static>>> = OnceLock::new();
    M.get_or_init(|| MESSAGES.iter().map(|m| Message::from_json(m).expect("fixture message")).collect())
}

fn plan_all<D: MarketoDestination>(dest: &D) {
    for msg in messages() {
        common::check_plan(&dest.plan(msg, common::now()));
    }
}

fn result<T>(r: Result<T, segment_marketo::Error>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            common::touch_error(&e);
            None
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(settings) = result(Settings::from_json(text)) else {
        return;
    };
    let _ = format!("{settings:?}");
    let _ = result(settings.validate_account_id());
    let _ = result(settings.validate_soap());
    let _ = result(settings.validate_client());
    let _ = result(settings.validate_rest());
    let _ = (settings.rest_base(), settings.identity_base());

    if let Some(soap) = result(SoapDestination::new(&settings)) {
        plan_all(&soap);
    }
    if let Some(rest) = result(RestDestination::new(&settings)) {
        plan_all(&rest);
    }
    if let Some(dest) = result(from_settings(&settings)) {
        plan_all(&dest);
    }
    if let Some(client) = result(Client::new(&settings)) {
        for msg in messages() {
            if let Some(Some(call)) = result(client.call(msg)) {
                common::check_json(&call.to_json_string());
            }
        }
    }
    let _ = result(Beacons::new(&settings));
    if let Some(api) = result(RestApi::new(&settings)) {
        let mut holder = api.token_holder();
        if let TokenState::Fetch(request) = holder.token(common::now()) {
            common::check_request(&request);
        }
        if let Some(lookup) = result(api.lookup(vec!["a@b.co".into(), "u1".into()])) {
            let token = segment_marketo::rest::AccessToken::new("t");
            if let Some(request) = result(lookup.request(api.rest_base(), &token)) {
                common::check_request(&request);
            }
        }
    }
    if let Some(mut holder) = result(TokenHolder::from_settings(&settings)) {
        if let TokenState::Fetch(request) = holder.token(common::now()) {
            common::check_request(&request);
        }
    }
});
