//! The Munchkin beacon over real HTTP: accepted and rejected beacons, and unknown paths.

mod common;

use common::*;
use fake_marketo::{Config, start};

#[test]
fn beacon_is_accepted_and_recorded() {
    let fake = start(Config::default()).unwrap();
    let reply = get(
        &agent(),
        &beacon_url(&fake, "_mch-example.com-1700000000000-12345", "%2Fdocs%2Fstart"),
    );
    assert_eq!(reply, Reply::Http(200, String::new()));
    let beacons = fake.beacons();
    assert_eq!(beacons.len(), 1);
    let beacon = &beacons[0];
    assert_eq!(beacon.munchkin_id, "561-HYG-937");
    assert_eq!(beacon.token, "_mch-example.com-1700000000000-12345");
    assert_eq!(beacon.path, "/docs/start");
    assert_eq!(beacon.query, "a=1&b=x y");
    assert_eq!(beacon.param("_mchVr"), Some("159"));
    assert_eq!(beacon.param("_mchHo"), Some("example.com"));
    assert!(beacon.raw_query.contains("_mchRu=%2Fdocs%2Fstart&"));
    let c = fake.counters();
    assert_eq!((c.accepted_beacons, c.beacon_requests, c.violations_total()), (1, 1, 0));
}

#[test]
fn bad_beacons_are_400() {
    let fake = start(Config::default()).unwrap();
    let agent = agent();
    let good = beacon_url(&fake, "_mch-example.com-1-2", "%2F");
    let bad = [
        good.replace("_mchId=561-HYG-937", "_mchId=000-AAA-000"),
        good.replace("_mchId=561-HYG-937&", ""),
        good.replace("_mchTk=_mch-example.com-1-2", "_mchTk="),
        good.replace("_mchRu=%2F&", ""),
        good.replace("_mchRu=%2F", "_mchRu=%2"),
    ];
    for url in &bad {
        let reply = get(&agent, url);
        assert_eq!(reply.status(), Some(400), "{url}");
        assert!(reply.body().starts_with("bad beacon: "));
    }
    let c = fake.counters();
    assert_eq!(c.bad_beacon, bad.len() as u64);
    assert_eq!(c.violations_total(), bad.len() as u64);
    assert_eq!(c.accepted_beacons, 0);
    assert!(fake.beacons().is_empty());
}

#[test]
fn unknown_paths_and_methods() {
    let fake = start(Config::default()).unwrap();
    let agent = agent();
    assert_eq!(get(&agent, &format!("{}/rest/v1/nope.json", fake.base_url())).status(), Some(404));
    assert_eq!(get(&agent, &fake.soap_url()).status(), Some(405));
    let c = fake.counters();
    assert_eq!((c.not_found, c.requests_total, c.violations_total()), (2, 2, 0));
}
