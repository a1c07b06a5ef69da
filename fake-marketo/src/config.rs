//! [`Config`]: credentials, limits, fault injection and the clock, with defaults that are
//! Marketo's documented limits and the public test-vector credentials (fixed test values for
//! REST, which has no public vector), plus a command-line parser ([`Config::from_args`]) for the
//! runnable example.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The fake's clock: milliseconds since the Unix epoch. Replaces the wall clock when set in
/// [`Config::clock`], so tests can pin or step time.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The user id of the public SOAP signature test vector (`../shared/vectors/soap-signatures.tsv`).
pub const VECTOR_USER_ID: &str = "bigcorp1_461839624B16E06BA2D663";
/// The encryption key of the public SOAP signature test vector.
pub const VECTOR_ENCRYPTION_KEY: &str = "899756834129871744AAEE88DDCC77CDEEDEC1AAAD66";
/// The Munchkin account id of the cookie in `syncLead-request-testvector.xml`.
pub const VECTOR_MUNCHKIN_ID: &str = "561-HYG-937";
/// The REST client id the fake accepts by default (a fixed test value shaped like Marketo's:
/// a UUID). There is no public REST test vector.
pub const TEST_CLIENT_ID: &str = "5f0c2a8e-1b3d-4c6e-9a7f-2d4b6c8e0a13";
/// The REST client secret the fake accepts by default (a fixed test value shaped like Marketo's:
/// 32 letters and digits).
pub const TEST_CLIENT_SECRET: &str = "Qm7xT2pLw9Zr4Kd8Vn3Hs6Jb1Fc5Gy0A";

/// Everything the fake checks against, and how it misbehaves on purpose.
///
/// Build it with struct update syntax over [`Config::default`], or from command-line words
/// with [`Config::from_args`]. Every time-based rule (timestamp skew, lock window, rate window,
/// quota day, access-token life) reads the same clock: [`Config::clock`] when set, else the wall
/// clock, shifted by [`Config::clock_offset_ms`] in both cases.
#[derive(Clone)]
pub struct Config {
    /// TCP port on 127.0.0.1; 0 picks a free one (read it back with `FakeMarketo::addr`).
    pub port: u16,
    /// The SOAP user id (`mktowsUserId`) the fake accepts.
    pub user_id: String,
    /// The SOAP encryption key: the HMAC-SHA1 key of `requestSignature`.
    pub encryption_key: String,
    /// The Munchkin account id (`_mchId`) the beacon accepts.
    pub munchkin_id: String,
    /// Largest accepted distance between `requestTimestamp` and the fake's clock (default 5 min).
    pub max_skew: Duration,
    /// Replaces the wall clock (ms since the Unix epoch) when set.
    pub clock: Option<Clock>,
    /// Added to every clock reading, in ms (may be negative). Default 0.
    pub clock_offset_ms: i64,
    /// SOAP field names (`attrName`) the instance knows; `None` accepts every name (default).
    pub known_fields: Option<HashSet<String>>,
    /// The REST client id (`client_id` of the token request) the fake accepts
    /// (default [`TEST_CLIENT_ID`]).
    pub client_id: String,
    /// The REST client secret (`client_secret` of the token request) the fake accepts
    /// (default [`TEST_CLIENT_SECRET`]).
    pub client_secret: String,
    /// Life of an access token from its issue (default 3600 s, Marketo's). Tests set it short, or
    /// step [`Config::clock`].
    pub token_ttl: Duration,
    /// REST lead field names (camelCase REST API names, e.g. `firstName`) the instance knows;
    /// `None` accepts every name (default). `id` and `email` are always known.
    pub known_rest_fields: Option<HashSet<String>>,
    /// Custom activity type ids (`activityTypeId`) the instance knows; `None` accepts every id
    /// (default).
    pub activity_types: Option<HashSet<u64>>,
    /// Minimum time between the starts of two syncs of the same lead (default 30 s, Segment's
    /// "leads can only be synced every 30 seconds").
    pub lock_window: Duration,
    /// Calls allowed in any sliding [`Config::rate_window`] (default 100).
    pub rate_limit: usize,
    /// The sliding window of the rate limit (default 20 s).
    pub rate_window: Duration,
    /// Calls allowed in flight at once (default 10).
    pub max_concurrent: usize,
    /// Delay added before every answer (default 0), so that concurrency can be observed.
    pub latency: Duration,
    /// Accepted calls allowed per US Central calendar day and per API (default 10 000): SOAP
    /// syncs and REST calls each have a pool of this size, as Marketo's SOAP and REST quotas are
    /// separate.
    pub daily_quota: u64,
    /// Seed of the fault-injection generator (default 0).
    pub seed: u64,
    /// Probability in [0, 1] that a call gets a transient injected fault (default 0).
    pub fault_rate: f64,
    /// Probability in [0, 1] that a write gets an injected permanent fault (default 0): 20017
    /// for a syncLead; for a REST Sync Leads or Add Custom Activities call one record skipped
    /// with 1003; for Associate Lead a 1003 answer.
    pub permanent_fault_rate: f64,
    /// Connections served at once, one thread each (default 64; at least 1). Further
    /// connections wait, unanswered and not yet "in flight", until one closes.
    pub workers: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 0,
            user_id: VECTOR_USER_ID.to_owned(),
            encryption_key: VECTOR_ENCRYPTION_KEY.to_owned(),
            munchkin_id: VECTOR_MUNCHKIN_ID.to_owned(),
            max_skew: Duration::from_secs(5 * 60),
            clock: None,
            clock_offset_ms: 0,
            known_fields: None,
            client_id: TEST_CLIENT_ID.to_owned(),
            client_secret: TEST_CLIENT_SECRET.to_owned(),
            token_ttl: Duration::from_secs(3600),
            known_rest_fields: None,
            activity_types: None,
            lock_window: Duration::from_secs(30),
            rate_limit: 100,
            rate_window: Duration::from_secs(20),
            max_concurrent: 10,
            latency: Duration::ZERO,
            daily_quota: 10_000,
            seed: 0,
            fault_rate: 0.0,
            permanent_fault_rate: 0.0,
            workers: 64,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("port", &self.port)
            .field("user_id", &self.user_id)
            .field("encryption_key", &"[redacted]")
            .field("munchkin_id", &self.munchkin_id)
            .field("max_skew", &self.max_skew)
            .field("clock", &self.clock.as_ref().map(|_| "custom"))
            .field("clock_offset_ms", &self.clock_offset_ms)
            .field("known_fields", &self.known_fields)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("token_ttl", &self.token_ttl)
            .field("known_rest_fields", &self.known_rest_fields)
            .field("activity_types", &self.activity_types)
            .field("lock_window", &self.lock_window)
            .field("rate_limit", &self.rate_limit)
            .field("rate_window", &self.rate_window)
            .field("max_concurrent", &self.max_concurrent)
            .field("latency", &self.latency)
            .field("daily_quota", &self.daily_quota)
            .field("seed", &self.seed)
            .field("fault_rate", &self.fault_rate)
            .field("permanent_fault_rate", &self.permanent_fault_rate)
            .field("workers", &self.workers)
            .finish()
    }
}

/// Why [`Config::from_args`] did not produce a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgsError {
    /// `--help` or `-h` was given: print [`Config::USAGE`] and exit successfully.
    Help,
    /// A word could not be understood; the text says which and why.
    Invalid(String),
}

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgsError::Help => f.write_str("help requested"),
            ArgsError::Invalid(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for ArgsError {}

impl Config {
    /// Command-line help for [`Config::from_args`].
    pub const USAGE: &'static str = "\
fake-marketo: a local fake Marketo (SOAP syncLead, Munchkin webevents beacon, REST API) on 127.0.0.1

Options (durations take a unit: 300ms, 30s, 5m, 1h; a leading '-' for --clock-offset):
  --port N                  TCP port, 0 = any free port (default 0)
  --user-id ID              accepted mktowsUserId (default: public test vector)
  --encryption-key KEY      HMAC-SHA1 key of requestSignature (default: public test vector)
  --munchkin-id ID          accepted _mchId (default 561-HYG-937)
  --max-skew D              largest requestTimestamp distance from the clock (default 5m)
  --clock-offset D          shift the fake's clock (default 0ms)
  --known-fields A,B,...    the only SOAP attrNames accepted (default: any)
  --client-id ID            accepted REST client_id (default: fixed test value)
  --client-secret SECRET    accepted REST client_secret (default: fixed test value)
  --token-ttl D             life of a REST access token (default 3600s)
  --known-rest-fields A,..  the only REST lead fields accepted besides id, email (default: any)
  --activity-types N,...    the only custom activityTypeIds accepted (default: any)
  --lock-window D           minimum time between syncs of one lead (default 30s)
  --rate-limit N            calls per rate window (default 100)
  --rate-window D           sliding rate window (default 20s)
  --max-concurrent N        calls in flight at once (default 10)
  --latency D               delay before every answer (default 0ms)
  --daily-quota N           accepted calls per US Central day, per API (default 10000)
  --seed N                  fault-injection seed (default 0)
  --fault-rate P            probability of a transient injected fault (default 0)
  --permanent-fault-rate P  probability of an injected permanent fault on a write (default 0)
  --workers N               connections served at once (default 64)
  -h, --help                this text
";

    /// Builds a config from command-line words (without the program name), starting from
    /// [`Config::default`]. Accepts `--name value` and `--name=value`; see [`Config::USAGE`].
    ///
    /// ```
    /// use fake_marketo::Config;
    /// let config = Config::from_args(["--port", "0", "--lock-window=300ms", "--seed", "7"]).unwrap();
    /// assert_eq!(config.lock_window, std::time::Duration::from_millis(300));
    /// assert_eq!(config.seed, 7);
    /// ```
    pub fn from_args<I, S>(args: I) -> Result<Config, ArgsError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut config = Config::default();
        let mut words = args.into_iter().map(|w| w.as_ref().to_owned());
        while let Some(word) = words.next() {
            if word == "-h" || word == "--help" {
                return Err(ArgsError::Help);
            }
            let Some(flag) = word.strip_prefix("--") else {
                return Err(ArgsError::Invalid(format!("unexpected argument {word:?}")));
            };
            let (name, value) = match flag.split_once('=') {
                Some((name, value)) => (name.to_owned(), value.to_owned()),
                None => {
                    let value = words.next().ok_or_else(|| ArgsError::Invalid(format!("--{flag} needs a value")))?;
                    (flag.to_owned(), value)
                }
            };
            config.set(&name, &value)?;
        }
        Ok(config)
    }

    fn set(&mut self, name: &str, value: &str) -> Result<(), ArgsError> {
        let bad = |what: &str| ArgsError::Invalid(format!("--{name}: {what}, got {value:?}"));
        let int = || value.parse::<u64>().map_err(|_| bad("expected a whole number"));
        let prob = || {
            value
                .parse::<f64>()
                .ok()
                .filter(|p| (0.0..=1.0).contains(p))
                .ok_or_else(|| bad("expected a probability between 0 and 1"))
        };
        let dur = || {
            parse_duration_ms(value)
                .filter(|ms| *ms >= 0)
                .map(|ms| Duration::from_millis(ms.unsigned_abs()))
                .ok_or_else(|| bad("expected a duration such as 300ms, 30s, 5m or 1h"))
        };
        match name {
            "port" => self.port = value.parse().map_err(|_| bad("expected a port number"))?,
            "user-id" => self.user_id = value.to_owned(),
            "encryption-key" => self.encryption_key = value.to_owned(),
            "munchkin-id" => self.munchkin_id = value.to_owned(),
            "max-skew" => self.max_skew = dur()?,
            "clock-offset" => {
                self.clock_offset_ms = parse_duration_ms(value).ok_or_else(|| bad("expected a duration such as -90s or 2h"))?;
            }
            "known-fields" => self.known_fields = Some(list(value).map(str::to_owned).collect()),
            "client-id" => self.client_id = value.to_owned(),
            "client-secret" => self.client_secret = value.to_owned(),
            "token-ttl" => self.token_ttl = dur()?,
            "known-rest-fields" => {
                self.known_rest_fields = Some(list(value).map(str::to_owned).collect());
            }
            "activity-types" => {
                self.activity_types = Some(
                    list(value)
                        .map(|id| id.parse::<u64>())
                        .collect::<Result<_, _>>()
                        .map_err(|_| bad("expected whole numbers separated by commas"))?,
                );
            }
            "lock-window" => self.lock_window = dur()?,
            "rate-limit" => self.rate_limit = int()? as usize,
            "rate-window" => self.rate_window = dur()?,
            "max-concurrent" => self.max_concurrent = int()? as usize,
            "latency" => self.latency = dur()?,
            "daily-quota" => self.daily_quota = int()?,
            "seed" => self.seed = int()?,
            "fault-rate" => self.fault_rate = prob()?,
            "permanent-fault-rate" => self.permanent_fault_rate = prob()?,
            "workers" => self.workers = int()?.max(1) as usize,
            _ => return Err(ArgsError::Invalid(format!("unknown option --{name}"))),
        }
        Ok(())
    }

    /// The fake's clock reading: ms since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        let base = match &self.clock {
            Some(clock) => clock(),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        };
        base.saturating_add(self.clock_offset_ms)
    }
}

/// The non-empty, trimmed items of a comma-separated list.
fn list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|item| !item.is_empty())
}

/// `300ms`, `30s`, `5m`, `1h`, optionally with a leading `-`, as signed milliseconds.
fn parse_duration_ms(text: &str) -> Option<i64> {
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let number: i64 = number.parse().ok()?;
    let scale = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    let ms = number.checked_mul(scale)?;
    Some(if negative { -ms } else { ms })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_option() {
        let config = Config::from_args([
            "--port=8080",
            "--user-id",
            "u",
            "--encryption-key",
            "k",
            "--munchkin-id",
            "123-ABC-456",
            "--max-skew",
            "2m",
            "--clock-offset",
            "-90s",
            "--known-fields",
            "Email, FirstName",
            "--client-id",
            "cid",
            "--client-secret",
            "csecret",
            "--token-ttl",
            "2s",
            "--known-rest-fields",
            "firstName,lastName",
            "--activity-types=100001, 100002",
            "--lock-window",
            "300ms",
            "--rate-limit",
            "5",
            "--rate-window",
            "1s",
            "--max-concurrent",
            "3",
            "--latency",
            "50ms",
            "--daily-quota",
            "7",
            "--seed",
            "42",
            "--fault-rate",
            "0.25",
            "--permanent-fault-rate",
            "0.01",
            "--workers",
            "16",
        ])
        .unwrap();
        assert_eq!(config.port, 8080);
        assert_eq!(config.user_id, "u");
        assert_eq!(config.encryption_key, "k");
        assert_eq!(config.munchkin_id, "123-ABC-456");
        assert_eq!(config.max_skew, Duration::from_secs(120));
        assert_eq!(config.clock_offset_ms, -90_000);
        let fields = config.known_fields.as_ref().unwrap();
        assert!(fields.contains("Email") && fields.contains("FirstName") && fields.len() == 2);
        assert_eq!((config.client_id.as_str(), config.client_secret.as_str()), ("cid", "csecret"));
        assert_eq!(config.token_ttl, Duration::from_secs(2));
        let rest = config.known_rest_fields.as_ref().unwrap();
        assert!(rest.contains("firstName") && rest.contains("lastName") && rest.len() == 2);
        assert_eq!(config.activity_types, Some(HashSet::from([100_001, 100_002])));
        assert_eq!(config.lock_window, Duration::from_millis(300));
        assert_eq!((config.rate_limit, config.rate_window), (5, Duration::from_secs(1)));
        assert_eq!(config.max_concurrent, 3);
        assert_eq!(config.latency, Duration::from_millis(50));
        assert_eq!((config.daily_quota, config.seed), (7, 42));
        assert_eq!((config.fault_rate, config.permanent_fault_rate), (0.25, 0.01));
        assert_eq!(config.workers, 16);
        let debug = format!("{config:?}");
        assert!(!debug.contains("\"k\"") && !debug.contains("csecret"), "{debug}");
    }

    #[test]
    fn rejects_bad_words() {
        assert_eq!(Config::from_args(["--help"]).unwrap_err(), ArgsError::Help);
        for bad in [
            &["--port"][..],
            &["--port", "x"],
            &["--latency", "5"],
            &["--latency", "-5ms"],
            &["--fault-rate", "1.5"],
            &["--activity-types", "1,x"],
            &["--token-ttl", "1"],
            &["--nope", "1"],
            &["port"],
        ] {
            assert!(matches!(Config::from_args(bad), Err(ArgsError::Invalid(_))), "{bad:?}");
        }
    }

    #[test]
    fn clock_and_offset() {
        let config = Config {
            clock: Some(Arc::new(|| 1_000)),
            clock_offset_ms: -250,
            ..Config::default()
        };
        assert_eq!(config.now_ms(), 750);
    }
}
