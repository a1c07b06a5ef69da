//! Criterion benches of every transform, each beside its floor (the work no implementation can
//! skip on that input: parsing the JSON once, one HMAC for signed requests, one copy of the
//! output). Run: `cargo bench --bench transforms`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use segment_marketo::casing::TraitCasing;
use segment_marketo::cookie::Cookie;
use segment_marketo::destination::{MarketoDestination, RestDestination, SoapDestination};
use segment_marketo::event::Message;
use segment_marketo::settings::{Secret, Settings};
use segment_marketo::soap::Signer;
use segment_marketo::time::Timestamp;
use sha1::Sha1;

const SETTINGS: &str = r#"{"accountId":"561-HYG-937","userId":"bigcorp1_461839624B16E06BA2D663","encryptionKey":"899756834129871744AAEE88DDCC77CDEEDEC1AAAD66","soapEndpoint":"https://561-HYG-937.mktoapi.com/soap/mktows/2_1"}"#;

const REST_SETTINGS: &str = r#"{"api":"rest","accountId":"561-HYG-937","clientId":"c","clientSecret":"s"}"#;

const IDENTIFY: &str = r#"{"type":"identify","messageId":"m-1","userId":"u-1001","traits":{"email":"jane.doe@example.com","firstName":"Jane","lastName":"Doe","second_favorite_color":"teal","plan":"pro","seats":12,"price":1.50,"trial":false,"address":{"street":"1 Main St","city":"San Francisco","state":"CA","zip":"94103","country":"USA"},"company":{"name":"Initech"},"title":"Engineer","note":"likes <xml> & \"quotes\"","score":98.6,"vip":true,"lastSeen":"2024-03-05T12:00:00Z"},"context":{"Marketo":{"marketoCookie":"id:561-HYG-937&token:_mch-marketo.com-1374552656411-90718"},"ip":"1.2.3.4","userAgent":"Mozilla/5.0"},"timestamp":"2024-03-05T12:00:00Z"}"#;
const TRACK: &str = r#"{"type":"track","messageId":"m-2","userId":"u-1001","event":"Signed Up","properties":{"plan":"pro","seats":12,"note":"a&b c","coupon":"SPRING","revenue":9.99},"context":{"userAgent":"Mozilla/5.0","page":{"url":"https://example.com/signup","referrer":"https://google.com/"}}}"#;
const PAGE: &str = r#"{"type":"page","messageId":"m-3","anonymousId":"anon-42","name":"Pricing","properties":{"url":"https://example.com/pricing?plan=pro&ref=ad#top","referrer":"https://example.com/","title":"Pricing"}}"#;

fn now() -> Timestamp {
    Timestamp::parse_rfc3339("2024-03-05T12:00:00-06:00").unwrap()
}

fn identify(c: &mut Criterion) {
    let dest = SoapDestination::new(&Settings::from_json(SETTINGS).unwrap()).unwrap();
    let mut g = c.benchmark_group("identify_soap");
    g.throughput(Throughput::Bytes(IDENTIFY.len() as u64));
    let mut out = String::new();
    let mut warnings = Vec::new();
    g.bench_function("write_json", |b| {
        b.iter(|| {
            out.clear();
            warnings.clear();
            black_box(
                dest.write_json(black_box(IDENTIFY.as_bytes()), now(), &mut out, &mut warnings)
                    .unwrap(),
            );
            black_box(out.len())
        })
    });
    let mut head = segment_marketo::soap::SignedHead::new();
    g.bench_function("write_json_with_head", |b| {
        b.iter(|| {
            out.clear();
            warnings.clear();
            black_box(
                dest.write_json_with_head(black_box(IDENTIFY.as_bytes()), now(), &mut head, &mut out, &mut warnings)
                    .unwrap(),
            );
            black_box(out.len())
        })
    });
    g.bench_function("from_json_bytes", |b| {
        b.iter(|| {
            out.clear();
            warnings.clear();
            let Message::Identify(m) = Message::from_slice(black_box(IDENTIFY.as_bytes())).unwrap() else {
                unreachable!()
            };
            dest.write_sync_lead(&m, now(), &mut out, &mut warnings).unwrap();
            black_box(out.len())
        })
    });
    let Message::Identify(parsed) = Message::from_json(IDENTIFY).unwrap() else {
        unreachable!()
    };
    g.bench_function("from_parsed", |b| {
        b.iter(|| {
            out.clear();
            warnings.clear();
            dest.write_sync_lead(black_box(&parsed), now(), &mut out, &mut warnings).unwrap();
            black_box(out.len())
        })
    });
    let msg = Message::from_json(IDENTIFY).unwrap();
    g.bench_function("plan", |b| b.iter(|| black_box(dest.plan(black_box(&msg), now()).unwrap())));
    let keyed = <Hmac<Sha1> as KeyInit>::new_from_slice(b"899756834129871744AAEE88DDCC77CDEEDEC1AAAD66").unwrap();
    let out_len = out.len();
    let template = "x".repeat(out_len);
    let mut copy = String::with_capacity(out_len);
    g.bench_function("floor", |b| {
        b.iter(|| {
            serde_json::from_slice::<serde::de::IgnoredAny>(black_box(IDENTIFY.as_bytes())).unwrap();
            let mut mac = keyed.clone();
            mac.update(b"2024-03-05T12:00:00-06:00bigcorp1_461839624B16E06BA2D663");
            black_box(mac.finalize());
            copy.clear();
            copy.push_str(black_box(&template));
            black_box(copy.len())
        })
    });
    g.finish();
}

/// identify -> REST Sync Leads: the record from a parsed message, the whole transform from bytes
/// to a one-record body, and the floor (no signature: a REST body is not signed).
fn identify_rest(c: &mut Criterion) {
    let rest = RestDestination::new(&Settings::from_json(REST_SETTINGS).unwrap()).unwrap();
    let api = rest.api();
    let mut g = c.benchmark_group("identify_rest");
    g.throughput(Throughput::Bytes(IDENTIFY.len() as u64));
    let Message::Identify(parsed) = Message::from_json(IDENTIFY).unwrap() else {
        unreachable!()
    };
    let mut warnings = Vec::new();
    g.bench_function("lead_input", |b| {
        b.iter(|| {
            warnings.clear();
            black_box(api.lead_input(black_box(&parsed), &mut warnings).unwrap())
        })
    });
    let mut body = String::new();
    g.bench_function("from_json_bytes", |b| {
        b.iter(|| {
            body.clear();
            warnings.clear();
            let Message::Identify(m) = Message::from_slice(black_box(IDENTIFY.as_bytes())).unwrap() else {
                unreachable!()
            };
            let mut batch = api.lead_batch();
            batch.push(api.lead_input(&m, &mut warnings).unwrap()).unwrap();
            batch.write_body(&mut body);
            black_box(body.len())
        })
    });
    let template = "x".repeat(body.len());
    let mut copy = String::with_capacity(body.len());
    g.bench_function("floor", |b| {
        b.iter(|| {
            serde_json::from_slice::<serde::de::IgnoredAny>(black_box(IDENTIFY.as_bytes())).unwrap();
            copy.clear();
            copy.push_str(black_box(&template));
            black_box(copy.len())
        })
    });
    g.finish();
}

fn beacons(c: &mut Criterion) {
    let dest = SoapDestination::new(&Settings::from_json(SETTINGS).unwrap()).unwrap();
    for (name, json) in [("track_beacon", TRACK), ("page_beacon", PAGE)] {
        let mut g = c.benchmark_group(name);
        let mut url = String::new();
        let mut warnings = Vec::new();
        g.bench_function("write", |b| {
            b.iter(|| {
                url.clear();
                warnings.clear();
                match Message::from_slice(black_box(json.as_bytes())).unwrap() {
                    Message::Track(t) => black_box(dest.beacons().write_track(&t, now(), &mut url, &mut warnings).is_ok()),
                    Message::Page(p) => black_box(dest.beacons().write_page(&p, now(), &mut url, &mut warnings).is_ok()),
                    _ => unreachable!(),
                };
                black_box(url.len())
            })
        });
        g.bench_function("plan", |b| {
            b.iter(|| {
                let msg = Message::from_slice(black_box(json.as_bytes())).unwrap();
                black_box(dest.plan(&msg, now()).unwrap())
            })
        });
        g.bench_function("floor", |b| {
            b.iter(|| serde_json::from_slice::<serde::de::IgnoredAny>(black_box(json.as_bytes())).unwrap())
        });
        g.finish();
    }
}

fn pieces(c: &mut Criterion) {
    let cookie = "id:561-HYG-937&token:_mch-marketo.com-1374552656411-90718";
    c.bench_function("cookie_parse", |b| b.iter(|| black_box(Cookie::parse(black_box(cookie)).unwrap())));
    // The visitor of a beacon without a cookie: one SHA-1 the beacon floor does not count.
    c.bench_function("cookie_derive", |b| {
        b.iter(|| black_box(Cookie::derive("561-HYG-937", black_box("anon-42"))))
    });
    // A beacon percent-encodes most of its URL; the `url` crate's form encoder over the same text
    // is the yardstick for what the crate's `encodeURIComponent` costs.
    let referrer = "https://www.google.com/search?q=marketo+segment&utm_source=news&utm_campaign=22898#section-5";
    let mut encoded = String::new();
    c.bench_function("encode_uri_component", |b| {
        b.iter(|| {
            encoded.clear();
            segment_marketo::munchkin::encode_uri_component(black_box(referrer), &mut encoded);
            black_box(encoded.len())
        })
    });
    c.bench_function("url_form_urlencoded", |b| {
        b.iter(|| {
            encoded.clear();
            encoded.extend(url::form_urlencoded::byte_serialize(black_box(referrer).as_bytes()));
            black_box(encoded.len())
        })
    });
    c.bench_function("cookie_parse_urlencoded", |b| {
        b.iter(|| black_box(Cookie::parse(black_box("id%3A561-HYG-937%26token%3A_mch-marketo.com-1374552656411-90718")).unwrap()))
    });
    let signer = Signer::new(
        "bigcorp1_461839624B16E06BA2D663",
        &Secret::new("899756834129871744AAEE88DDCC77CDEEDEC1AAAD66"),
    );
    c.bench_function("signature", |b| {
        b.iter(|| black_box(signer.sign(black_box("2010-04-09T14:04:54-07:00"))))
    });
    let mut out = String::new();
    for (name, casing) in [
        ("casing_first_upper", TraitCasing::FirstUpper),
        ("casing_pascal", TraitCasing::Pascal),
    ] {
        c.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                casing.write(black_box("second_favorite_color"), &mut out);
                black_box(out.len())
            })
        });
    }
}

criterion_group!(benches, identify, identify_rest, beacons, pieces);
criterion_main!(benches);
