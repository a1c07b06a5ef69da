//! Limits and retry policy of the outbox. Defaults are Marketo's published limits
//! (DESIGN.md, "Facts that shape everything"; AdobeDocs/marketo-developer.en
//! `help/rest-api/rest-api.md`, "Limits").

use std::time::Duration;

/// Outbox configuration. Start from [`Config::default`] and change what you need.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// At least this long between the starts of two syncs of one lead (Marketo: 30 s, else
    /// "Exceeded lock attempts").
    pub lead_lock: Duration,
    /// At most `rate_limit` requests started per sliding `rate_window` (Marketo: 100 per 20 s).
    pub rate_limit: usize,
    /// The sliding window of `rate_limit`.
    pub rate_window: Duration,
    /// At most this many requests in flight (Marketo: 10 concurrent calls).
    pub max_in_flight: usize,
    /// How many times a request is signed again after 20016 before the message fails.
    pub max_resigns: u32,
    /// Attempts (transport errors, 5xx, transient faults) before a message fails.
    pub max_attempts: u32,
    /// A message still undelivered this long after it was pushed fails at its next retry.
    pub max_age: Duration,
    /// First retry delay; doubled per attempt, with deterministic jitter, up to `backoff_max`.
    pub backoff_base: Duration,
    /// Cap of the retry delay.
    pub backoff_max: Duration,
    /// Pause after a rate or concurrency fault (20023, 20024, 606, 615), doubled while they
    /// repeat, up to `rate_window`.
    pub throttle_pause: Duration,
    /// At most this many pushed messages without an outcome; `push` refuses beyond it.
    pub queue_limit: usize,
    /// Seed of the deterministic retry jitter.
    pub jitter_seed: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            lead_lock: Duration::from_secs(30),
            rate_limit: 100,
            rate_window: Duration::from_secs(20),
            max_in_flight: 10,
            max_resigns: 3,
            max_attempts: 8,
            max_age: Duration::from_secs(6 * 3600),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            throttle_pause: Duration::from_secs(2),
            queue_limit: 100_000,
            jitter_seed: 0x5e67_3e47_0a4b_e7c1,
        }
    }
}

pub(crate) fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
