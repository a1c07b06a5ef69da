//! Page URL handling. The input (lossy UTF-8) is split at zero bytes into a mode byte, a URL, a
//! referrer, a base URL (`context.page.url`) and a user agent. The mode builds a page (or, with
//! bit 2, a track whose event is the URL) with the URL in `properties.url` (or, with bit 1, only
//! in `context.page.url`), for a `userId` (or, with bit 0, an `anonymousId`), and plans it through
//! the SOAP and REST destinations; `split_url`, `page_call` and the browser client see the URL
//! too.
//!
//! Invariants: no panic; beacon URLs are at most 8 KB and hold no CR/LF; the `User-Agent`
//! header holds no CR/LF; `split_url` returns pieces of its input; Munchkin calls are JSON.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use segment_marketo::destination::{MarketoDestination, RestDestination, SoapDestination};
use segment_marketo::event::Message;
use segment_marketo::munchkin::beacon::split_url;
use segment_marketo::munchkin::client::{Client, page_call};
use segment_marketo::settings::Settings;

struct Fixtures {
    soap: SoapDestination,
    rest: RestDestination,
    client: Client,
}

fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let settings = Settings::from_json(common::SETTINGS_A).expect("settings");
        Fixtures {
            soap: SoapDestination::new(&settings).expect("soap"),
            rest: RestDestination::new(&settings).expect("rest"),
            client: Client::new(&settings).expect("client"),
        }
    })
}

fn is_piece_of(piece: &str, whole: &str) -> bool {
    let (p, w) = (piece.as_ptr() as usize, whole.as_ptr() as usize);
    piece.is_empty() || (p >= w && p + piece.len() <= w + whole.len())
}

fuzz_target!(|data: &[u8]| {
    let [mode, url, referrer, base, agent] = common::split_parts::<5>(data);
    let mode = mode.first().copied().unwrap_or(0);
    let url = String::from_utf8_lossy(url);
    let referrer = String::from_utf8_lossy(referrer);
    let base = String::from_utf8_lossy(base);
    let agent = String::from_utf8_lossy(agent);

    let (scheme, path, query, fragment) = split_url(&url);
    for piece in [scheme, query, fragment] {
        assert!(is_piece_of(piece, &url), "split_url returned text not in its input");
    }
    assert!(path == "/" || is_piece_of(path, &url), "split_url path not in its input");
    for call in [page_call(&url, Some(&base)), page_call(&url, None)] {
        common::check_json(&call.to_json_string());
    }

    let anonymous = mode & 1 != 0;
    let context_only = mode & 2 != 0;
    let track = mode & 4 != 0;
    let mut page = serde_json::Map::new();
    if !base.is_empty() || context_only {
        page.insert("url".into(), (if context_only { &*url } else { &*base }).into());
    }
    page.insert("referrer".into(), (&*referrer).into());
    let mut msg = serde_json::json!({
        "type": if track { "track" } else { "page" },
        "messageId": "fuzz",
        "context": {"page": page, "userAgent": &*agent},
    });
    if anonymous {
        msg["anonymousId"] = "a1".into();
    } else {
        msg["userId"] = "u1".into();
    }
    if track {
        msg["event"] = (&*url).into();
        msg["properties"] = serde_json::json!({ "referrer": &*referrer });
    } else if !context_only {
        msg["properties"] = serde_json::json!({ "url": &*url, "referrer": &*referrer });
    }
    let json = msg.to_string();
    let msg = Message::from_json(&json).expect("a message the target built");

    let f = fixtures();
    let now = common::now();
    common::check_plan(&f.soap.plan(&msg, now));
    common::check_plan(&f.rest.plan(&msg, now));
    match f.client.call(&msg) {
        Ok(Some(call)) => common::check_json(&call.to_json_string()),
        Ok(None) => {}
        Err(e) => {
            common::touch_error(&e);
        }
    }
});
