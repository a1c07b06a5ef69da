//! HTTP framing over a raw socket: chunked bodies, `Expect: 100-continue`, pipelining, garbage.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use fake_marketo::{Config, start};

fn read_until_closed(mut stream: TcpStream) -> String {
    stream.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn chunked_body_with_expect_continue() {
    let fake = start(Config::default()).unwrap();
    let body = signed(&fake, &params(Some("chunk@example.com"), &[("A", "1")], false, None));
    let (first, rest) = body.split_at(body.len() / 2);
    let mut stream = TcpStream::connect(fake.addr()).unwrap();
    write!(
        stream,
        "POST /soap/mktows/2_1 HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml; charset=utf-8\r\nSOAPAction: {SOAP_ACTION}\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    for part in [first, rest] {
        write!(stream, "{:x};ext=1\r\n{part}\r\n", part.len()).unwrap();
    }
    stream.write_all(b"0\r\nX-Trailer: t\r\n\r\n").unwrap();
    let answer = read_until_closed(stream);
    assert!(answer.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("<status>CREATED</status>"));
    assert!(fake.lead("chunk@example.com").is_some());
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let fake = start(Config::default()).unwrap();
    let mut stream = TcpStream::connect(fake.addr()).unwrap();
    let target = beacon_url(&fake, "_mch-a.com-1-2", "%2F")
        .trim_start_matches(&fake.base_url())
        .to_owned();
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let answer = read_until_closed(stream);
    let statuses: Vec<&str> = answer.match_indices("HTTP/1.1 ").map(|(i, _)| &answer[i + 9..i + 12]).collect();
    assert_eq!(statuses, ["200", "404", "200"], "{answer}");
    assert_eq!(fake.counters().accepted_beacons, 2);
}

#[test]
fn garbage_gets_400_and_a_closed_connection() {
    let fake = start(Config::default()).unwrap();
    let mut stream = TcpStream::connect(fake.addr()).unwrap();
    stream.write_all(b"\x00\x01 not http\r\n\r\n").unwrap();
    let answer = read_until_closed(stream);
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert_eq!(fake.counters().requests_total, 0);
}

#[test]
fn shutdown_closes_the_port() {
    let fake = start(Config::default()).unwrap();
    let addr = fake.addr();
    // A kept-alive idle connection does not hold shutdown up.
    let idle = TcpStream::connect(addr).unwrap();
    let started = std::time::Instant::now();
    fake.shutdown();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(TcpStream::connect(addr).is_err());
    drop(idle);
}
