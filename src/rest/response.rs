//! Reading REST answers: the envelope every endpoint shares, request-level errors, and the
//! per-record results of batch calls.
//!
//! Marketo's REST answers (AdobeDocs/marketo-developer.en `help/rest-api/error-codes.md`) are
//! JSON objects `{"requestId":"…","success":true|false,"errors":[…],"warnings":[…],"result":[…]}`,
//! nearly always with HTTP 200:
//!
//! - **request level**: `success: false` and `errors: [{"code":"601","message":"…"}]` (codes are
//!   quoted integers; a bare number is accepted too). The first error becomes an
//!   [`Error::Marketo`] whose [`Fault`] is classified by the shared table
//!   (`../shared/vectors/marketo-error-codes.tsv`), so the caller knows whether to re-authenticate,
//!   throttle, wait for the quota reset, retry or give up.
//! - **record level**: `success: true` and one `result` entry per input record, in input order;
//!   a failed record has `status: "skipped"` and `reasons` (Sync Leads) or `errors` (Add Custom
//!   Activities) — both keys are read — each reason classified by the same table.
//! - **HTTP level**: anything but 2xx without such an envelope (Marketo documents 413 for a body
//!   over 1 MB and 414 for a URL over 8 KB; proxies send 5xx pages) is an
//!   [`Error::UnexpectedResponse`] with the status and an excerpt of the body; its
//!   [`Error::retry`] says back off for 429 and 5xx.
//!
//! Nothing here panics: bodies that are not JSON, truncated, of the wrong shape or absurdly nested
//! are [`Error::UnexpectedResponse`]s.

use serde_json::Value;

use crate::error::Error;
use crate::fault::{Api, Fault, FaultClass};
use crate::request::Response;

/// A successful answer's value, with what else Marketo said.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reply<T> {
    /// What the call gave back.
    pub value: T,
    /// Marketo's `requestId` (quote it to Marketo support).
    pub request_id: Option<String>,
    /// Marketo's `warnings`, as text (`"<code> <message>"` for object warnings).
    pub warnings: Vec<String>,
}

/// The REST envelope, read but not yet judged.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Envelope {
    /// `requestId`.
    pub request_id: Option<String>,
    /// `success`; taken as `false` when absent and `errors` is not empty.
    pub success: bool,
    /// `errors`, each classified ([`Api::Rest`]).
    pub errors: Vec<Fault>,
    /// `warnings`, as text.
    pub warnings: Vec<String>,
    /// `result` (empty when absent).
    pub result: Vec<Value>,
}

impl Envelope {
    /// Reads the envelope of any REST answer. Errors only when it is not one: a body that is not
    /// a JSON object, a non-2xx status without `errors`, or a 2xx without `success` or `errors`.
    pub fn parse(response: &Response) -> Result<Envelope, Error> {
        let status = response.status;
        let ok = (200..300).contains(&status);
        let parsed: Option<serde_json::Map<String, Value>> = match serde_json::from_slice::<Value>(&response.body) {
            Ok(Value::Object(map)) => Some(map),
            _ => None,
        };
        let Some(mut map) = parsed else {
            let reason = if ok {
                "the body is not a JSON object".to_owned()
            } else {
                http_reason(status)
            };
            return Err(Error::unexpected(status, reason, &response.body));
        };
        let errors: Vec<Fault> = match map.remove("errors") {
            Some(Value::Array(items)) => items.iter().map(fault_of).collect(),
            _ => Vec::new(),
        };
        let success = match map.get("success") {
            Some(Value::Bool(b)) => *b,
            _ if !errors.is_empty() => false,
            _ if ok => return Err(Error::unexpected(status, "no `success` in the REST answer", &response.body)),
            _ => return Err(Error::unexpected(status, http_reason(status), &response.body)),
        };
        if !ok && errors.is_empty() {
            return Err(Error::unexpected(status, http_reason(status), &response.body));
        }
        let request_id = match map.get("requestId") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let warnings = match map.get("warnings") {
            Some(Value::Array(items)) => items.iter().map(warning_text).collect(),
            _ => Vec::new(),
        };
        let result = match map.remove("result") {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        Ok(Envelope {
            request_id,
            success,
            errors,
            warnings,
            result,
        })
    }

    /// A [`Reply`] of `value` with this envelope's request id and warnings.
    pub fn reply<T>(&self, value: T) -> Reply<T> {
        Reply {
            value,
            request_id: self.request_id.clone(),
            warnings: self.warnings.clone(),
        }
    }
}

/// Reads an answer that must be a success: `success: false` becomes [`Error::Marketo`] with the
/// first of `errors` (later ones are usually consequences of the first), or
/// [`Error::UnexpectedResponse`] when there is none.
pub fn read_success(response: &Response) -> Result<Envelope, Error> {
    let envelope = Envelope::parse(response)?;
    if envelope.success {
        return Ok(envelope);
    }
    match envelope.errors.into_iter().next() {
        Some(fault) => Err(Error::Marketo(fault)),
        None => Err(Error::unexpected(
            response.status,
            "`success: false` without `errors`",
            &response.body,
        )),
    }
}

/// What Marketo did with one record of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordOutcome {
    /// `created` (Sync Leads): a new lead with this id.
    Created {
        /// The lead id.
        id: i64,
    },
    /// `updated` (Sync Leads): the existing lead with this id.
    Updated {
        /// The lead id.
        id: i64,
    },
    /// `added` (Add Custom Activities): the activity was recorded.
    Added {
        /// The activity id, when given (Marketo is replacing it by `marketoGUID`).
        id: Option<i64>,
        /// `marketoGUID`, when given.
        marketo_guid: Option<String>,
    },
    /// `skipped`: the record was not processed, for these reasons (never empty; a skip without
    /// any reason gets one, uncoded and permanent).
    Skipped {
        /// The record's id, when Marketo gave one.
        id: Option<i64>,
        /// Why, each classified by the shared table.
        reasons: Vec<Fault>,
    },
}

impl RecordOutcome {
    /// Whether Marketo took the record (created, updated, added).
    pub fn is_success(&self) -> bool {
        !matches!(self, RecordOutcome::Skipped { .. })
    }

    /// The lead (or activity) id, when there is one.
    pub fn id(&self) -> Option<i64> {
        match self {
            RecordOutcome::Created { id } | RecordOutcome::Updated { id } => Some(*id),
            RecordOutcome::Added { id, .. } | RecordOutcome::Skipped { id, .. } => *id,
        }
    }

    /// The reasons of a skip (empty on success).
    pub fn reasons(&self) -> &[Fault] {
        match self {
            RecordOutcome::Skipped { reasons, .. } => reasons,
            _ => &[],
        }
    }

    /// The reason that decides what to do with a skipped record: the first permanent one (sending
    /// the record again as it is cannot help), else the first.
    pub fn primary_reason(&self) -> Option<&Fault> {
        let reasons = self.reasons();
        reasons
            .iter()
            .find(|f| f.class == FaultClass::Permanent)
            .or_else(|| reasons.first())
    }

    /// The class of [`RecordOutcome::primary_reason`]; `None` on success.
    pub fn class(&self) -> Option<FaultClass> {
        self.primary_reason().map(|f| f.class)
    }

    /// The skip as an [`Error::Marketo`] of [`RecordOutcome::primary_reason`] (whose
    /// [`Error::retry`] gives the retry hint); `None` on success.
    pub fn error(&self) -> Option<Error> {
        self.primary_reason().map(|f| Error::Marketo(f.clone()))
    }

    /// The field names Marketo does not know (every 1006 reason, `Field 'x' not found`): drop
    /// them from the record and send it again.
    pub fn unknown_fields(&self) -> Vec<&str> {
        self.reasons()
            .iter()
            .flat_map(|f| f.unknown_fields.iter().map(String::as_str))
            .collect()
    }
}

/// Reads a batch answer (Sync Leads, Add Custom Activities): a request-level error is an `Err`;
/// otherwise one [`RecordOutcome`] per input record, result `i` for input `i`. A `result` whose
/// length is not `expected`, or an entry that is not a record result, is an
/// [`Error::UnexpectedResponse`].
pub fn read_records(response: &Response, expected: usize) -> Result<Reply<Vec<RecordOutcome>>, Error> {
    let envelope = read_success(response)?;
    if envelope.result.len() != expected {
        return Err(Error::unexpected(
            response.status,
            format!("{} results for {expected} input records", envelope.result.len()),
            &response.body,
        ));
    }
    let mut records = Vec::with_capacity(expected);
    for (i, item) in envelope.result.iter().enumerate() {
        let record =
            record_outcome(item).map_err(|reason| Error::unexpected(response.status, format!("result[{i}]: {reason}"), &response.body))?;
        records.push(record);
    }
    Ok(envelope.reply(records))
}

/// One `result` entry of a batch call.
fn record_outcome(item: &Value) -> Result<RecordOutcome, String> {
    let Value::Object(map) = item else {
        return Err("not an object".into());
    };
    let id = map.get("id").and_then(integer);
    let reasons = || -> Vec<Fault> {
        let list = ["reasons", "errors"].iter().filter_map(|k| map.get(*k)).find_map(Value::as_array);
        let mut faults: Vec<Fault> = list.map(|items| items.iter().map(fault_of).collect()).unwrap_or_default();
        if faults.is_empty() {
            faults.push(Fault::new(
                Api::Rest,
                None,
                "skipped",
                "Marketo skipped the record without giving a reason",
            ));
        }
        faults
    };
    match map.get("status") {
        Some(Value::String(s)) => match s.as_str() {
            "created" => id
                .map(|id| RecordOutcome::Created { id })
                .ok_or_else(|| "`created` without an `id`".into()),
            "updated" => id
                .map(|id| RecordOutcome::Updated { id })
                .ok_or_else(|| "`updated` without an `id`".into()),
            "added" => Ok(RecordOutcome::Added {
                id,
                marketo_guid: match map.get("marketoGUID") {
                    Some(Value::String(g)) => Some(g.clone()),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                },
            }),
            "skipped" => Ok(RecordOutcome::Skipped { id, reasons: reasons() }),
            other => Err(format!("unknown status {:?}", crate::error::excerpt(other.as_bytes()))),
        },
        None if map.contains_key("reasons") || map.contains_key("errors") => Ok(RecordOutcome::Skipped { id, reasons: reasons() }),
        _ => Err("no `status`".into()),
    }
}

/// An integer id: a JSON integer, or a string of digits.
pub(crate) fn integer(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// `{"code":"601","message":"Access token invalid"}` as a classified fault. The code is a quoted
/// or bare integer (otherwise `None`); an entry that is not an object is kept as its JSON text.
pub fn fault_of(item: &Value) -> Fault {
    let Value::Object(map) = item else {
        return Fault::new(Api::Rest, None, crate::error::excerpt(item.to_string().as_bytes()), "");
    };
    let code = match map.get("code") {
        Some(Value::String(s)) => s.trim().parse::<u32>().ok(),
        Some(Value::Number(n)) => n.as_u64().and_then(|c| u32::try_from(c).ok()),
        _ => None,
    };
    let message = match map.get("message") {
        Some(Value::String(s)) => s.clone(),
        Some(other) if !other.is_null() => other.to_string(),
        _ => String::new(),
    };
    Fault::new(Api::Rest, code, message.clone(), message)
}

fn warning_text(item: &Value) -> String {
    match item {
        Value::String(s) => s.clone(),
        Value::Object(map) => {
            let part = |k: &str| match map.get(k) {
                Some(Value::String(s)) => s.clone(),
                Some(v) if !v.is_null() => v.to_string(),
                _ => String::new(),
            };
            let (code, message) = (part("code"), part("message"));
            match (code.is_empty(), message.is_empty()) {
                (false, false) => format!("{code} {message}"),
                (true, false) => message,
                (false, true) => code,
                (true, true) => item.to_string(),
            }
        }
        other => other.to_string(),
    }
}

/// Why a non-2xx answer without a REST envelope is unexpected.
fn http_reason(status: u16) -> String {
    match status {
        413 => "HTTP 413: the request body is over Marketo's 1 MB limit".into(),
        414 => "HTTP 414: the request URL is over Marketo's 8 KB limit".into(),
        _ => format!("HTTP {status} without a REST answer"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_as_strings_or_numbers() {
        let f = fault_of(&serde_json::json!({"code":"601","message":"Access token invalid"}));
        assert_eq!(f.code, Some(601));
        assert_eq!(f.class, FaultClass::Reauth);
        let f = fault_of(&serde_json::json!({"code":606,"message":"Max rate limit"}));
        assert_eq!(f.class, FaultClass::Throttle);
        let f = fault_of(&serde_json::json!({"code":"x"}));
        assert_eq!((f.code, f.class), (None, FaultClass::Permanent));
        let f = fault_of(&serde_json::json!([1]));
        assert_eq!(f.text, "[1]");
    }

    #[test]
    fn record_without_status_but_reasons_is_skipped() {
        let r = record_outcome(&serde_json::json!({"id":3525,"reasons":[{"code":"1004","message":"Lead not found"}]})).unwrap();
        assert_eq!(r.id(), Some(3525));
        assert!(!r.is_success());
        assert_eq!(r.reasons()[0].code, Some(1004));
        assert!(record_outcome(&serde_json::json!({"status":"weird"})).is_err());
        assert!(record_outcome(&serde_json::json!({"status":"created"})).is_err());
    }
}
