//! Rate, concurrency and injected faults over real HTTP.

mod common;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use fake_marketo::{Config, InjectedFault, Rule, start};

#[test]
fn rate_limit_counts_soap_and_beacons_together() {
    let fake = start(Config {
        rate_limit: 5,
        rate_window: Duration::from_secs(30),
        ..Config::default()
    })
    .unwrap();
    let agent = agent();
    let mut labels = Vec::new();
    for i in 0..4 {
        let p = params(Some(&format!("r{i}@example.com")), &[], false, None);
        labels.push(post_soap(&agent, &fake, &signed(&fake, &p)).label());
    }
    for _ in 0..2 {
        labels.push(get(&agent, &beacon_url(&fake, "_mch-a.com-1-2", "%2F")).label());
    }
    let p = params(Some("r9@example.com"), &[], false, None);
    labels.push(post_soap(&agent, &fake, &signed(&fake, &p)).label());
    assert_eq!(
        labels,
        ["200", "200", "200", "200", "200", "429", "500 20023 - Rate Limit Exceeded"]
    );
    let c = fake.counters();
    assert_eq!((c.rate, c.accepted_sync, c.accepted_beacons), (2, 4, 1));
    assert_eq!(c.violations_total(), 2);
}

#[test]
fn rate_window_slides() {
    let fake = start(Config {
        rate_limit: 2,
        rate_window: Duration::from_millis(300),
        ..Config::default()
    })
    .unwrap();
    let agent = agent();
    let url = beacon_url(&fake, "_mch-a.com-1-2", "%2F");
    let first: Vec<_> = (0..3).map(|_| get(&agent, &url).label()).collect();
    assert_eq!(first, ["200", "200", "429"]);
    thread::sleep(Duration::from_millis(350));
    assert_eq!(get(&agent, &url).label(), "200");
    assert_eq!(fake.counters().rate, 1);
}

#[test]
fn concurrency_limit_with_latency() {
    const CLIENTS: usize = 8;
    let fake = start(Config {
        max_concurrent: 3,
        latency: Duration::from_millis(400),
        ..Config::default()
    })
    .unwrap();
    let url = beacon_url(&fake, "_mch-a.com-1-2", "%2F");
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (url, barrier) = (url.clone(), Arc::clone(&barrier));
            thread::spawn(move || {
                let agent = agent();
                barrier.wait();
                get(&agent, &url).status()
            })
        })
        .collect();
    let statuses: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let ok = statuses.iter().filter(|s| **s == Some(200)).count();
    let throttled = statuses.iter().filter(|s| **s == Some(429)).count();
    assert_eq!((ok, throttled), (3, CLIENTS - 3), "{statuses:?}");
    let c = fake.counters();
    assert_eq!(c.concurrency, (CLIENTS - 3) as u64);
    assert_eq!(c.peak_in_flight, CLIENTS as u64);
    assert!(fake.violations().iter().all(|v| v.rule == Rule::Concurrency));
}

#[test]
fn serves_sixteen_connections_at_once() {
    const CLIENTS: usize = 16;
    let fake = start(Config {
        max_concurrent: CLIENTS,
        latency: Duration::from_millis(300),
        ..Config::default()
    })
    .unwrap();
    let url = beacon_url(&fake, "_mch-a.com-1-2", "%2F");
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let started = Instant::now();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (url, barrier) = (url.clone(), Arc::clone(&barrier));
            thread::spawn(move || {
                let agent = agent();
                barrier.wait();
                get(&agent, &url).status()
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), Some(200));
    }
    // All in parallel: about one latency, far less than 16 of them.
    assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());
    let c = fake.counters();
    assert_eq!((c.accepted_beacons, c.concurrency), (CLIENTS as u64, 0));
    assert_eq!(c.peak_in_flight, CLIENTS as u64);
}

/// Runs a fixed sequence of syncs and beacons against a fresh fake and returns what the client
/// saw for each, plus the fake's record of injections.
fn injected_run(seed: u64) -> (Vec<String>, fake_marketo::FakeMarketo) {
    let fake = start(Config {
        seed,
        fault_rate: 0.4,
        permanent_fault_rate: 0.2,
        ..Config::default()
    })
    .unwrap();
    let agent = agent();
    let mut labels = Vec::new();
    for i in 0..40 {
        let reply = if i % 4 == 3 {
            get(&agent, &beacon_url(&fake, "_mch-a.com-1-2", "%2F"))
        } else {
            let p = params(Some(&format!("inj{i}@example.com")), &[], false, None);
            post_soap(&agent, &fake, &signed(&fake, &p))
        };
        labels.push(reply.label());
    }
    (labels, fake)
}

#[test]
fn seeded_injection_is_reproducible() {
    let started = Instant::now();
    let (first, fake_a) = injected_run(42);
    let (second, fake_b) = injected_run(42);
    assert_eq!(first, second);
    assert_eq!(fake_a.injections(), fake_b.injections());
    assert_eq!(fake_a.permanent_faults(), fake_b.permanent_faults());
    let (other, _) = injected_run(7);
    assert_ne!(first, other, "another seed, another sequence");

    let c = fake_a.counters();
    assert_eq!(c.violations_total(), 0, "{:?}", fake_a.violations());
    assert!(c.injected_transient() > 0 && c.injected_permanent > 0, "{c}");
    assert_eq!(c.injected_total() + c.accepted_sync + c.accepted_beacons, 40, "{c}");

    // What the client saw matches what the fake says it injected.
    let injections = fake_a.injections();
    for injection in &injections {
        let seen = &first[(injection.request - 1) as usize];
        let expected = match injection.kind {
            InjectedFault::Internal => "500 20011 - Internal Error",
            InjectedFault::RateLimit => "500 20023 - Rate Limit Exceeded",
            InjectedFault::ConcurrencyLimit => "500 20024 - Concurrency Limit Exceeded",
            InjectedFault::Http503 => "503",
            InjectedFault::Drop => "transport",
            InjectedFault::Permanent => "500 20017 - Invalid Request",
            rest => panic!("no REST call in this run, yet {rest:?}"),
        };
        assert_eq!(seen, expected, "request {}", injection.request);
    }
    let failed = first.iter().filter(|l| *l != "200").count();
    assert_eq!(failed, injections.len());
    // Every permanent failure is recorded with its email.
    for fault in fake_a.permanent_faults() {
        let i = fault.request - 1;
        assert_eq!(fault.email, Some(format!("inj{i}@example.com")));
        assert!(fake_a.lead(&format!("inj{i}@example.com")).is_none());
    }
    // Dropped connections fail fast, not by timeout.
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
}

#[test]
fn dropped_connection_is_a_transport_error() {
    let fake = start(Config {
        fault_rate: 1.0,
        seed: 1,
        ..Config::default()
    })
    .unwrap();
    let agent = agent();
    let url = beacon_url(&fake, "_mch-a.com-1-2", "%2F");
    let mut kinds = Vec::new();
    for _ in 0..12 {
        let started = Instant::now();
        let reply = get(&agent, &url);
        assert!(started.elapsed() < Duration::from_secs(1));
        kinds.push(reply.label());
    }
    assert!(kinds.iter().any(|k| k == "transport"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "503"), "{kinds:?}");
    let c = fake.counters();
    assert_eq!(c.injected_drop + c.injected_http_503, 12);
    assert_eq!(c.accepted_beacons, 0);
}
