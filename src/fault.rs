//! Marketo faults and error codes, and what the delivery layer does with each.
//!
//! The table is `../shared/vectors/marketo-error-codes.tsv` (sources: AdobeDocs/marketo-developer.en
//! `help/soap-api/error-codes.md` and `help/rest-api/error-codes.md`); `tests/error_codes.rs` checks
//! every row of that file against [`classify`].

use serde::Serialize;

/// Which Marketo API a code belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Api {
    /// The SOAP API (`mktows`), switched off by Marketo on 2026-07-31.
    Soap,
    /// The REST API.
    Rest,
}

/// The delivery decision for a fault (the `class` column of the shared table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FaultClass {
    /// Transient: back off and try again.
    Retry,
    /// Sign again with a fresh timestamp and retry at once.
    Resign,
    /// Rate or concurrency limit: back off.
    Throttle,
    /// Daily quota: stop this API until 12:00 AM US Central.
    Quota,
    /// Fetch a new access token, then retry.
    Reauth,
    /// Will never succeed as sent.
    Permanent,
}

impl FaultClass {
    /// The table's name for the class (`retry`, `resign`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            FaultClass::Retry => "retry",
            FaultClass::Resign => "resign",
            FaultClass::Throttle => "throttle",
            FaultClass::Quota => "quota",
            FaultClass::Reauth => "reauth",
            FaultClass::Permanent => "permanent",
        }
    }
}

/// The text of the lock fault, which Marketo sends without a code.
pub const LOCK_FAULT_TEXT: &str = "Exceeded lock attempts";

/// A fault or error code from Marketo, classified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Fault {
    /// The API that answered.
    pub api: Api,
    /// The numeric code (`20105`, `601`), when Marketo gave one.
    pub code: Option<u32>,
    /// The short text (`Unknown lead field`), from `faultstring` after the code.
    pub text: String,
    /// The long message (`detail/serviceException/message`), or the short text when there is none.
    pub message: String,
    /// The delivery decision.
    pub class: FaultClass,
    /// For 20105 (and REST 1006): the field names Marketo says it does not know.
    pub unknown_fields: Vec<String>,
}

impl Fault {
    /// Builds a fault and classifies it by [`classify`]; for SOAP 20105 it extracts the unknown
    /// fields by [`unknown_fields`], for REST 1006 by [`rest_unknown_fields`].
    pub fn new(api: Api, code: Option<u32>, text: impl Into<String>, message: impl Into<String>) -> Fault {
        let text = text.into();
        let mut message = message.into();
        if message.is_empty() {
            message.clone_from(&text);
        }
        let class = classify(api, code, &format!("{text} {message}"));
        let unknown_fields = match (api, code) {
            (Api::Rest, Some(1006)) => rest_unknown_fields(&message),
            (_, Some(20105)) => unknown_fields(&message),
            _ => Vec::new(),
        };
        Fault {
            api,
            code,
            text,
            message,
            class,
            unknown_fields,
        }
    }

    /// Whether this is the lead-lock fault ("Exceeded lock attempts").
    pub fn is_lock(&self) -> bool {
        self.text.contains(LOCK_FAULT_TEXT) || self.message.contains(LOCK_FAULT_TEXT)
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code {
            Some(code) => write!(f, "{code} {}", self.text)?,
            None => f.write_str(&self.text)?,
        }
        if self.message != self.text {
            write!(f, " ({})", self.message)?;
        }
        write!(f, " [{}]", self.class.as_str())
    }
}

/// The delivery decision for a code, per the shared table. `text` is consulted for the lock fault,
/// which has no code. Codes the table does not list are [`FaultClass::Permanent`]: nothing says
/// that resending would help, and the outcome names the code.
pub fn classify(api: Api, code: Option<u32>, text: &str) -> FaultClass {
    use FaultClass::*;
    let Some(code) = code else {
        return if text.contains(LOCK_FAULT_TEXT) { Retry } else { Permanent };
    };
    match (api, code) {
        (Api::Soap, 10001 | 20011 | 20106) => Retry,
        (Api::Soap, 20015) => Quota,
        (Api::Soap, 20016) => Resign,
        (Api::Soap, 20023 | 20024) => Throttle,
        (Api::Rest, 601 | 602) => Reauth,
        (Api::Rest, 604 | 608 | 611 | 614 | 713 | 719 | 1016 | 1019) => Retry,
        (Api::Rest, 606 | 615) => Throttle,
        (Api::Rest, 607 | 1029) => Quota,
        // A lock message can arrive with a generic code too.
        _ if text.contains(LOCK_FAULT_TEXT) => Retry,
        _ => Permanent,
    }
}

/// The field names in a 20105 message: `syncLead operation failed: unknown fields for import: a, b (20105)`.
///
/// The list follows the last `:` and ends before a trailing `(code)`; names are comma-separated.
pub fn unknown_fields(message: &str) -> Vec<String> {
    let Some(colon) = message.rfind(':') else {
        return Vec::new();
    };
    let mut list = message[colon + 1..].trim();
    if let Some(open) = list.rfind('(')
        && list.ends_with(')')
    {
        list = list[..open].trim_end();
    }
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The field names in a REST 1006 message: `Field 'foo' not found` (Marketo's documented text is
/// `Field '%s' not found`).
///
/// Every name between a pair of quotes is taken: ASCII `'…'` or `"…"`, or typographic `‘…’`
/// (the documentation's rendering). Without quotes, the word between `Field ` and ` not found`
/// is taken. Anything else gives no names.
pub fn rest_unknown_fields(message: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = message;
    while let Some(open) = rest.find(['\'', '"', '\u{2018}', '\u{2019}']) {
        let quote = rest[open..].chars().next().unwrap_or('\'');
        let after = &rest[open + quote.len_utf8()..];
        let closers: &[char] = match quote {
            '"' => &['"'],
            _ => &['\'', '\u{2019}'],
        };
        let Some(close) = after.find(closers) else { break };
        let name = after[..close].trim();
        if !name.is_empty() {
            names.push(name.to_owned());
        }
        let closer_len = after[close..].chars().next().map_or(1, char::len_utf8);
        rest = &after[close + closer_len..];
    }
    if names.is_empty()
        && let Some(start) = message.find("Field ")
        && let Some(len) = message[start + 6..].find(" not found")
    {
        let name = message[start + 6..start + 6 + len].trim();
        if !name.is_empty() && !name.contains(char::is_whitespace) {
            names.push(name.to_owned());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_from_markety_message() {
        assert_eq!(
            unknown_fields("syncLead operation failed: unknown fields for import: pants (20105)"),
            vec!["pants"]
        );
        assert_eq!(unknown_fields("unknown fields for import: a, B_c,d"), vec!["a", "B_c", "d"]);
        assert!(unknown_fields("no list here").is_empty());
    }

    #[test]
    fn lock_fault_has_no_code() {
        assert_eq!(classify(Api::Soap, None, "Exceeded lock attempts"), FaultClass::Retry);
        assert_eq!(classify(Api::Soap, None, "something else"), FaultClass::Permanent);
        assert_eq!(classify(Api::Soap, Some(99999), "x"), FaultClass::Permanent);
    }
}
