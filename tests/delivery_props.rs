//! Property: for any seeded sequence of messages, responses, faults and time steps, every pushed
//! message gets exactly one outcome and the outbox never breaks a Marketo rule (lead lock, rate
//! window, in-flight cap).

mod common;

use std::collections::{HashMap, HashSet, VecDeque};

use proptest::prelude::*;
use segment_marketo::delivery::{Config, Outbox, Tag};
use segment_marketo::event::Message;
use segment_marketo::request::{RequestKind, Response};
use segment_marketo::time::Timestamp;

#[derive(Debug, Clone)]
enum Step {
    Push { lead: u8, kind: u8 },
    Advance(u32),
    Respond { pick: u8, answer: u8 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u8..12, 0u8..10).prop_map(|(lead, kind)| Step::Push { lead, kind }),
        2 => (0u32..40_000).prop_map(Step::Advance),
        5 => (any::<u8>(), 0u8..12).prop_map(|(pick, answer)| Step::Respond { pick, answer }),
    ]
}

fn fault(code: Option<u32>, text: &str, message: &str) -> Response {
    let fs = code.map_or(text.to_owned(), |c| format!("{c} - {text}"));
    let code_el = code.map(|c| format!("<code>{c}</code>")).unwrap_or_default();
    Response::new(
        500,
        format!(
            r#"<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><e:Fault><faultcode>e:Client</faultcode><faultstring>{fs}</faultstring><detail><serviceException><message>{message}</message>{code_el}</serviceException></detail></e:Fault></e:Body></e:Envelope>"#
        ),
    )
}

fn answer(kind: u8) -> Option<Response> {
    const OK: &str = r#"<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><m:successSyncLead xmlns:m="http://www.marketo.com/mktows/"><result><leadId>1</leadId><syncStatus><leadId>1</leadId><status>UPDATED</status></syncStatus></result></m:successSyncLead></e:Body></e:Envelope>"#;
    Some(match kind {
        0..=4 => Response::new(200, OK),
        5 => fault(Some(20016), "Request Expired", ""),
        6 => fault(Some(20023), "Rate Limit Exceeded", ""),
        7 => fault(None, "Exceeded lock attempts", "Exceeded lock attempts"),
        8 => fault(
            Some(20105),
            "Unknown lead field",
            "syncLead operation failed: unknown fields for import: Color (20105)",
        ),
        9 => Response::new(503, "<html>unavailable</html>"),
        10 => fault(Some(20014), "Authentication failed", ""),
        _ => return None, // transport error
    })
}

/// (lead key) of a syncLead body: the cookie token when present, else the email.
fn lead_of(body: &str) -> String {
    let between = |open: &str, close: &str| {
        body.split_once(open)
            .and_then(|(_, r)| r.split_once(close))
            .map(|(v, _)| v.to_owned())
    };
    between("&amp;token:", "</marketoCookie>")
        .or_else(|| between("<Email>", "</Email>"))
        .unwrap_or_default()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]
    #[test]
    fn every_message_one_outcome_and_no_rule_broken(steps in proptest::collection::vec(step(), 1..300)) {
        let config = Config::default();
        let mut ob = Outbox::new(common::destination(|_| {}), config.clone());
        let mut now = Timestamp::from_unix_ms(1_709_640_000_000);
        let mut pushed = 0u64;
        let mut seen: HashSet<u64> = HashSet::new();
        let mut in_flight: VecDeque<(Tag, Option<String>)> = VecDeque::new();
        let mut starts: VecDeque<i64> = VecDeque::new();
        // lead -> (last start Marketo may have processed, the one before it, in flight)
        let mut leads: HashMap<String, (Option<i64>, Option<i64>, bool)> = HashMap::new();
        let check_outcomes = |ob: &mut Outbox<_>, seen: &mut HashSet<u64>| {
            while let Some(o) = ob.poll_outcome() {
                prop_assert!(seen.insert(o.ticket.0), "two outcomes for {:?}", o.ticket);
            }
            Ok(())
        };
        let run = steps.iter().cloned().chain((0..400).map(|i| if i % 2 == 0 { Step::Advance(30_000) } else { Step::Respond { pick: 0, answer: 0 } }));
        for step in run {
            match step {
                Step::Push { lead, kind } => {
                    let json = match kind {
                        0..=5 => format!(r#"{{"type":"identify","traits":{{"email":"l{lead}@x.com","color":"c{kind}","n":{kind}}}}}"#),
                        6 => format!(r#"{{"type":"identify","traits":{{"email":"l{lead}@x.com"}},"context":{{"Marketo":{{"marketoCookie":"id:561-HYG-937&token:_mch-x.com-1374552656411-{lead:05}"}}}}}}"#),
                        7 => format!(r#"{{"type":"track","userId":"u{lead}","event":"E {kind}"}}"#),
                        8 => r#"{"type":"identify","traits":{}}"#.to_owned(),
                        _ => format!(r#"{{"type":"page","userId":"u{lead}","properties":{{"url":"https://x.com/p"}}}}"#),
                    };
                    ob.push(&Message::from_json(&json).unwrap(), now).unwrap();
                    pushed += 1;
                }
                Step::Advance(ms) => now = now.plus_ms(i64::from(ms)),
                Step::Respond { pick, answer: a } => {
                    if in_flight.is_empty() { continue; }
                    let (tag, lead) = in_flight.remove(usize::from(pick) % in_flight.len()).unwrap();
                    let refused_unprocessed = matches!(a, 5 | 6 | 8);
                    if let Some(lead) = &lead {
                        let e = leads.get_mut(lead).unwrap();
                        e.2 = false;
                        // Refused before processing: that start did not take the lock.
                        if refused_unprocessed { e.0 = e.1; }
                    }
                    match answer(a) {
                        Some(r) => prop_assert!(ob.handle_response(tag, &r, now)),
                        None => prop_assert!(ob.handle_transport_error(tag, "reset", now)),
                    }
                }
            }
            while let Some(tx) = ob.poll_transmit(now) {
                let t = now.unix_ms();
                while starts.front().is_some_and(|s| s + 20_000 <= t) { starts.pop_front(); }
                starts.push_back(t);
                prop_assert!(starts.len() <= config.rate_limit, "rate limit broken");
                prop_assert!(in_flight.len() < config.max_in_flight, "in-flight cap broken");
                let lead = (tx.request.kind == RequestKind::SyncLead).then(|| lead_of(tx.request.body.as_deref().unwrap()));
                if let Some(lead) = &lead {
                    let e = leads.entry(lead.clone()).or_insert((None, None, false));
                    prop_assert!(!e.2, "two syncs in flight for {lead}");
                    if let Some(last) = e.0 { prop_assert!(t - last >= 30_000, "lock broken for {lead}: {} ms", t - last); }
                    *e = (Some(t), e.0, true);
                }
                in_flight.push_back((tx.tag, lead));
            }
            check_outcomes(&mut ob, &mut seen)?;
        }
        prop_assert!(in_flight.is_empty() || !seen.is_empty());
        prop_assert_eq!(seen.len() as u64, pushed, "lost messages: {:?}", ob.stats());
    }
}

mod rest_props {
    use std::collections::{HashSet, VecDeque};

    use proptest::prelude::*;
    use segment_marketo::delivery::{Config, Outbox, Tag};
    use segment_marketo::destination::RestDestination;
    use segment_marketo::event::Message;
    use segment_marketo::request::{Request, RequestKind, Response};
    use segment_marketo::settings::Settings;
    use segment_marketo::time::Timestamp;

    const SETTINGS: &str = r#"{"api":"rest","accountId":"561-HYG-937","clientId":"c","clientSecret":"s",
        "events":[{"event":"E","marketoActivityId":7,"primaryAttribute":"p","properties":[{"segmentProperty":"p","marketoAttribute":"P"}]}]}"#;

    fn records(req: &Request) -> usize {
        req.body
            .as_deref()
            .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
            .and_then(|v| v["input"].as_array().map(Vec::len))
            .unwrap_or(0)
    }

    fn emails(req: &Request) -> Vec<String> {
        let v: serde_json::Value = req.body.as_deref().and_then(|b| serde_json::from_str(b).ok()).unwrap_or_default();
        v["input"]
            .as_array()
            .map(|a| a.iter().filter_map(|r| r["email"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }

    /// A random but well-formed answer for `req`, or `None` for a transport error.
    fn answer(req: &Request, pick: u8) -> Option<Response> {
        let fail = |code: u16| Response::new(200, format!(r#"{{"success":false,"errors":[{{"code":"{code}","message":"m"}}]}}"#));
        if pick % 13 == 12 {
            return None;
        }
        Some(match (req.kind, pick % 13) {
            (RequestKind::Token, 11) => Response::new(503, "busy"),
            (RequestKind::Token, _) => Response::new(
                200,
                format!(r#"{{"access_token":"t{pick}","token_type":"bearer","expires_in":3599}}"#),
            ),
            (_, 8) => fail(601),
            (_, 9) => fail(606),
            (_, 10) => fail(611),
            (_, 11) => Response::new(502, "<html>bad gateway</html>"),
            (RequestKind::SyncLeads, p) => {
                let n = records(req);
                let result: Vec<String> = (0..n)
                    .map(|i| match (usize::from(p) + i) % 5 {
                        0 => r#"{"status":"skipped","reasons":[{"code":"1006","message":"Field 'firstName' not found"}]}"#.to_owned(),
                        1 => r#"{"status":"skipped","reasons":[{"code":"1003","message":"bad"}]}"#.to_owned(),
                        _ => format!(r#"{{"id":{},"status":"updated"}}"#, 100 + i),
                    })
                    .collect();
                Response::new(200, format!(r#"{{"success":true,"result":[{}]}}"#, result.join(",")))
            }
            (RequestKind::CustomActivities, _) => {
                let result: Vec<String> = (0..records(req)).map(|i| format!(r#"{{"id":{i},"status":"added"}}"#)).collect();
                Response::new(200, format!(r#"{{"success":true,"result":[{}]}}"#, result.join(",")))
            }
            (RequestKind::LookupLead, p) if p % 2 == 0 => Response::new(200, r#"{"success":true,"result":[]}"#),
            (RequestKind::LookupLead, _) => {
                let url = url::Url::parse(&req.url).unwrap();
                let values: String = url
                    .query_pairs()
                    .find(|(k, _)| k == "filterValues")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                let found: Vec<String> = values
                    .split(',')
                    .enumerate()
                    .map(|(i, v)| format!(r#"{{"id":{},"userId":"{v}"}}"#, 500 + i))
                    .collect();
                Response::new(200, format!(r#"{{"success":true,"result":[{}]}}"#, found.join(",")))
            }
            (RequestKind::AssociateLead, p) if p % 2 == 0 => fail(1012),
            _ => Response::new(200, r#"{"success":true}"#),
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 150, .. ProptestConfig::default() })]
        #[test]
        fn rest_every_message_one_outcome_and_no_rule_broken(
            steps in proptest::collection::vec((0u8..6, 0u8..8, any::<u8>(), 0u32..5_000), 1..250)
        ) {
            let config = Config::default();
            let mut ob = Outbox::new(RestDestination::new(&Settings::from_json(SETTINGS).unwrap()).unwrap(), config.clone());
            let mut now = Timestamp::from_unix_ms(1_709_640_000_000);
            let (mut pushed, mut seen) = (0u64, HashSet::new());
            let mut in_flight: VecDeque<(Tag, Request)> = VecDeque::new();
            let mut syncing: HashSet<String> = HashSet::new();
            let mut starts: VecDeque<i64> = VecDeque::new();
            let tail = (0..600).map(|i| (if i % 2 == 0 { 5 } else { 4 }, 0, 0u8, 60_000));
            for (op, lead, pick, ms) in steps.into_iter().chain(tail) {
                match op {
                    0 | 1 => {
                        let cookie = if lead % 3 == 0 { r#","context":{"Marketo":{"marketoCookie":"id:561-HYG-937&token:_mch-x.com-1374552656411-00001"}}"# } else { "" };
                        let json = format!(r#"{{"type":"identify","userId":"u{lead}","traits":{{"email":"l{lead}@x.com","firstName":"n{pick}"}}{cookie}}}"#);
                        ob.push(&Message::from_json(&json).unwrap(), now).unwrap();
                        pushed += 1;
                    }
                    2 => {
                        let json = format!(r#"{{"type":"track","userId":"u{lead}","event":"E","properties":{{"p":"v{pick}"}}}}"#);
                        ob.push(&Message::from_json(&json).unwrap(), now).unwrap();
                        pushed += 1;
                    }
                    3 => {
                        ob.push(&Message::from_json(r#"{"type":"page","userId":"u","properties":{"url":"https://x.com/"}}"#).unwrap(), now).unwrap();
                        pushed += 1;
                    }
                    4 => {
                        if let Some((tag, req)) = (!in_flight.is_empty()).then(|| in_flight.remove(usize::from(pick) % in_flight.len())).flatten() {
                            if req.kind == RequestKind::SyncLeads {
                                for e in emails(&req) { syncing.remove(&e); }
                            }
                            match answer(&req, pick) {
                                Some(r) => prop_assert!(ob.handle_response(tag, &r, now)),
                                None => prop_assert!(ob.handle_transport_error(tag, "reset", now)),
                            }
                        }
                    }
                    _ => now = now.plus_ms(i64::from(ms)),
                }
                while let Some(tx) = ob.poll_transmit(now) {
                    let t = now.unix_ms();
                    while starts.front().is_some_and(|s| s + 20_000 <= t) { starts.pop_front(); }
                    starts.push_back(t);
                    prop_assert!(starts.len() <= config.rate_limit, "rate limit broken");
                    prop_assert!(in_flight.len() < config.max_in_flight, "in-flight cap broken");
                    prop_assert!(!tx.request.url.contains("access_token"), "a token in a URL");
                    if tx.request.kind == RequestKind::SyncLeads {
                        prop_assert!(records(&tx.request) <= 300);
                        for e in emails(&tx.request) {
                            prop_assert!(syncing.insert(e.clone()), "two syncs of {} in flight", e);
                        }
                    }
                    in_flight.push_back((tx.tag, tx.request));
                }
                while let Some(o) = ob.poll_outcome() {
                    prop_assert!(seen.insert(o.ticket.0), "two outcomes for {:?}", o.ticket);
                }
            }
            prop_assert_eq!(seen.len() as u64, pushed, "lost messages: {:?}", ob.stats());
        }
    }
}
