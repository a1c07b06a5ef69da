//! A blocking transport for the outbox: a pool of worker threads with a blocking HTTP client
//! (ureq), and the loop of the README's "Delivering" section. Shared by `deliver`, `soak` and
//! the integration tests; copy it as a starting point.

use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use segment_marketo::ErrorKind;
use segment_marketo::delivery::{Outbox, Outcome, Tag};
use segment_marketo::destination::MarketoDestination;
use segment_marketo::event::Message;
use segment_marketo::request::{Method, Request, Response};
use segment_marketo::time::Timestamp;

/// The wall clock, as the crate wants it.
pub fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    Timestamp::from_unix_ms(ms)
}

/// One message line's fate, as the driver reports it.
pub enum Report {
    /// The line is not a message the crate can read; it never reached the outbox.
    Unreadable { line: usize, kind: ErrorKind, reason: String },
    /// The outbox's terminal outcome for the message pushed from `line`.
    Outcome { line: usize, outcome: Outcome },
}

/// Runs `messages` (JSON texts) through `outbox` over real HTTP until every one has an outcome.
/// `workers` requests can be in flight (use the outbox's `max_in_flight`).
pub fn run<D: MarketoDestination>(
    outbox: &mut Outbox<D>,
    messages: impl IntoIterator<Item = String>,
    workers: usize,
    timeout: Duration,
    mut report: impl FnMut(Report),
) {
    let (job_tx, job_rx) = mpsc::channel::<(Tag, Request)>();
    let job_rx = std::sync::Arc::new(std::sync::Mutex::new(job_rx));
    let (done_tx, done_rx) = mpsc::channel::<(Tag, Result<Response, String>)>();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into();
    let mut threads = Vec::new();
    for _ in 0..workers.max(1) {
        let (jobs, done, agent) = (job_rx.clone(), done_tx.clone(), agent.clone());
        threads.push(std::thread::spawn(move || {
            loop {
                let job = jobs.lock().map_err(|_| ()).and_then(|rx| rx.recv().map_err(|_| ()));
                let Ok((tag, request)) = job else { break };
                if done.send((tag, send(&agent, &request))).is_err() {
                    break;
                }
            }
        }));
    }
    drop(done_tx);

    let mut input = messages.into_iter().enumerate().peekable();
    let mut lines = std::collections::HashMap::new();
    let mut in_flight = 0usize;
    loop {
        let t = now();
        // Push what the queue takes; QueueFull means: deliver some first, nothing is dropped.
        while let Some((index, text)) = input.peek() {
            let line = index + 1;
            match Message::from_json(text) {
                Err(e) => report(Report::Unreadable {
                    line,
                    kind: e.kind(),
                    reason: e.to_string(),
                }),
                Ok(msg) => match outbox.push(&msg, t) {
                    Ok(ticket) => {
                        lines.insert(ticket, line);
                    }
                    Err(e) if e.kind() == ErrorKind::QueueFull => break,
                    Err(e) => report(Report::Unreadable {
                        line,
                        kind: e.kind(),
                        reason: e.to_string(),
                    }),
                },
            }
            input.next();
        }
        // A fresh clock for sending: pushing may have taken a while, and a stale `now` would let
        // the outbox start more requests than the rate window allows.
        let t = now();
        while let Some(tx) = outbox.poll_transmit(t) {
            in_flight += 1;
            if job_tx.send((tx.tag, tx.request)).is_err() {
                break;
            }
        }
        while let Some(outcome) = outbox.poll_outcome() {
            let line = lines.remove(&outcome.ticket).unwrap_or(0);
            report(Report::Outcome { line, outcome });
        }
        if input.peek().is_none() && outbox.is_idle() {
            break;
        }
        // Sleep until a response arrives or the outbox's timer fires (at most 50 ms, so newly
        // pushable input is picked up).
        let wait = outbox.poll_timeout().map_or(50, |at| at.ms_since(now()).clamp(0, 50));
        let first = if in_flight > 0 {
            done_rx.recv_timeout(Duration::from_millis(wait as u64)).ok()
        } else {
            std::thread::sleep(Duration::from_millis(wait as u64));
            None
        };
        for (tag, result) in first.into_iter().chain(std::iter::from_fn(|| done_rx.try_recv().ok())) {
            in_flight -= 1;
            match result {
                Ok(response) => outbox.handle_response(tag, &response, now()),
                Err(error) => outbox.handle_transport_error(tag, &error, now()),
            };
        }
    }
    drop(job_tx);
    for t in threads {
        let _ = t.join();
    }
}

/// Executes one request with ureq; a status that is not 2xx is still a response.
pub fn send(agent: &ureq::Agent, request: &Request) -> Result<Response, String> {
    let result = match request.method {
        Method::Post => {
            let mut r = agent.post(&request.url);
            for (k, v) in &request.headers {
                r = r.header(*k, v);
            }
            r.send(request.body.as_deref().unwrap_or(""))
        }
        _ => {
            let mut r = agent.get(&request.url);
            for (k, v) in &request.headers {
                r = r.header(*k, v);
            }
            r.call()
        }
    };
    let mut response = result.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(4 << 20)
        .read_to_vec()
        .map_err(|e| e.to_string())?;
    Ok(Response::new(status, body))
}
