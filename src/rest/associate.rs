//! Associate Lead: tie a Munchkin visitor (its `_mkto_trk` cookie) to a known lead, the live
//! replacement of Munchkin's retired `associateLead`.
//!
//! `POST {rest}/rest/v1/leads/{id}/associate.json?cookie=id:287-GTJ-838%26token:_mch-marketo.com-1396310362214-46169`
//! (AdobeDocs/marketo-developer.en `help/rest-api/leads.md`, "Associate Web Activity"), no body.
//! The cookie is written in its canonical `id:…&token:…` form ([`Cookie`]) and percent-encoded
//! as Marketo's example is: the `&` must be `%26` (else it would end the parameter), `:` stays;
//! every byte but ASCII letters, digits and `-._~:` is encoded.
//!
//! The answer is `{"requestId":"…","success":true}`. An invalid cookie is code 1012 ("Invalid
//! cookie value '%s'", `help/rest-api/error-codes.md`): a failure of this association only, not of
//! the request or the credentials, reported as [`AssociateOutcome::InvalidCookie`]; it arrives
//! as a request-level error or as a skipped result, and both are read.

use crate::cookie::Cookie;
use crate::error::Error;
use crate::fault::Fault;
use crate::request::{Method, Request, RequestKind, Response};

use super::body::join;
use super::response::{Envelope, RecordOutcome, Reply, read_records};
use super::token::AccessToken;

/// The code of "Invalid cookie value".
pub const INVALID_COOKIE: u32 = 1012;

/// What Associate Lead did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AssociateOutcome {
    /// The cookie is now associated with the lead.
    Associated,
    /// Marketo refused the cookie (1012): this association fails for good; the lead itself is
    /// fine.
    InvalidCookie(Fault),
}

/// The request: `POST {rest_base}/rest/v1/leads/{lead_id}/associate.json?cookie=…` with
/// `Authorization: Bearer …` and no body.
pub fn associate_request(rest_base: &str, lead_id: i64, cookie: &Cookie<'_>, token: &AccessToken) -> Request {
    let mut canonical = String::with_capacity(64);
    cookie.write(&mut canonical);
    let mut url = join(rest_base, "/rest/v1/leads/");
    url.push_str(&lead_id.to_string());
    url.push_str("/associate.json?cookie=");
    for b in canonical.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':') {
            url.push(char::from(b));
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            url.push('%');
            url.push(char::from(HEX[usize::from(b >> 4)]));
            url.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    Request {
        kind: RequestKind::AssociateLead,
        method: Method::Post,
        url,
        headers: vec![("Authorization", token.authorization())],
        body: None,
    }
}

/// Reads the answer: [`AssociateOutcome::Associated`] on success, [`AssociateOutcome::InvalidCookie`]
/// for 1012 (request-level or as a skipped result); any other error is an `Err` (601/602:
/// re-authenticate; 1004/1013 lead not found: permanent; …).
pub fn read_associate(response: &Response) -> Result<Reply<AssociateOutcome>, Error> {
    let envelope = Envelope::parse(response)?;
    if !envelope.success {
        let reply = |outcome| Reply {
            value: outcome,
            request_id: envelope.request_id.clone(),
            warnings: envelope.warnings.clone(),
        };
        return match envelope.errors.first() {
            Some(f) if f.code == Some(INVALID_COOKIE) => Ok(reply(AssociateOutcome::InvalidCookie(f.clone()))),
            Some(f) => Err(Error::Marketo(f.clone())),
            None => Err(Error::unexpected(
                response.status,
                "`success: false` without `errors`",
                &response.body,
            )),
        };
    }
    if envelope.result.is_empty() {
        return Ok(envelope.reply(AssociateOutcome::Associated));
    }
    // A result entry: the one record of this call.
    let records = read_records(response, 1)?;
    let outcome = match records.value.first() {
        Some(skipped @ RecordOutcome::Skipped { reasons, .. }) => match reasons.iter().find(|f| f.code == Some(INVALID_COOKIE)) {
            Some(f) => AssociateOutcome::InvalidCookie(f.clone()),
            None => {
                return Err(skipped
                    .error()
                    .unwrap_or_else(|| Error::unexpected(response.status, "skipped without a reason", &response.body)));
            }
        },
        _ => AssociateOutcome::Associated,
    };
    Ok(Reply {
        value: outcome,
        request_id: records.request_id,
        warnings: records.warnings,
    })
}
