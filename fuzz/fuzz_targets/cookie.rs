//! `Cookie::parse` and `Cookie::from_cookie_header` on any UTF-8 text.
//!
//! Invariants: no panic; a parsed cookie prints (`Display`, `write`) to its canonical
//! `id:…&token:…` form, which parses back to the same cookie; a cookie derived for any user key
//! parses; the Associate Lead URL of a cookie holds no CR/LF.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use segment_marketo::cookie::Cookie;
use segment_marketo::rest::{AccessToken, associate_request};

fn round_trip(c: &Cookie<'_>) {
    let shown = c.to_string();
    let mut written = String::new();
    c.write(&mut written);
    assert_eq!(shown, written, "Display and write differ");
    match Cookie::parse(&shown) {
        Ok(again) => assert_eq!(&again, c, "round trip changed the cookie: {shown:?}"),
        Err(e) => panic!("canonical form {shown:?} does not parse: {e}"),
    }
    let request = associate_request("https://561-HYG-937.mktorest.com", 318_581, c, &AccessToken::new("t"));
    common::check_request(&request);
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Cookie::parse(text) {
        Ok(c) => round_trip(&c),
        Err(e) => {
            let _ = e.to_string();
        }
    }
    match Cookie::from_cookie_header(text) {
        Some(Ok(c)) => round_trip(&c),
        Some(Err(e)) => {
            let _ = e.to_string();
        }
        None => {}
    }
    let derived = Cookie::derive("561-HYG-937", text);
    match Cookie::parse(&derived.to_string()) {
        Ok(again) => assert_eq!(again, derived),
        Err(e) => panic!("derived cookie {derived} does not parse: {e}"),
    }
});
