//! Reading Marketo's answers to `syncLead`: the `successSyncLead` result, and SOAP faults.
//!
//! The transport hands back the HTTP status and the body bytes; [`read_sync_lead`] turns them into
//! a [`SyncLeadResult`] (lead id and `CREATED` / `UPDATED` / `FAILED`), an [`Error::Marketo`] for a
//! SOAP fault (classified by [`Fault::new`], so the delivery layer knows whether to retry, re-sign,
//! throttle or give up), or an [`Error::UnexpectedResponse`] for anything Marketo does not send
//! (HTML error pages, empty or truncated bodies, other XML). [`read_fault`] reads a fault alone.
//!
//! Wire format: `../shared/marketo-wsdl/README.md`. The answer is a SOAP 1.1 envelope whose Body
//! holds one `successSyncLead` (types `SuccessSyncLead` → `ResultSyncLead{leadId, syncStatus,
//! leadRecord}` → `SyncStatus{leadId, status, error}` in `../shared/marketo-wsdl/mktows_2_1.xsd`,
//! the schema of `marketo_2_1.wsdl`), or a `Fault` whose `faultstring` is `"<code> - <text>"` and
//! whose `detail/serviceException` carries `name`, `message` and `code`.
//!
//! The reader streams the body with quick-xml (no DOM). Elements are matched by local name, so any
//! namespace prefix (`SOAP-ENV:`, `soapenv:`, `soap:`, `ns1:`, a default `xmlns`, none) works.
//! Comments, processing instructions, the XML declaration, a UTF-8 BOM, CDATA sections, entity and
//! character references and `xsi:nil="true"` are understood; values are trimmed of surrounding
//! whitespace. Reading stops as soon as the first child of the SOAP Body is complete, and
//! elements nested deeper than 32 levels are refused, so the work is bounded by what matters.
//! No input makes these functions panic.

use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;
use serde::Serialize;

use crate::error::Error;
use crate::fault::{Api, Fault};

/// Status of a `syncLead` (`LeadSyncStatus` in the schema).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SyncStatus {
    /// `CREATED`: Marketo made a new lead.
    Created,
    /// `UPDATED`: Marketo updated an existing lead.
    Updated,
    /// `FAILED`: Marketo did not sync the lead.
    Failed {
        /// The text of `syncStatus/error` (empty when Marketo gave none or sent `xsi:nil`).
        error: String,
    },
}

impl SyncStatus {
    /// Marketo's word for the status: `CREATED`, `UPDATED` or `FAILED`.
    pub fn as_str(&self) -> &'static str {
        match self {
            SyncStatus::Created => "CREATED",
            SyncStatus::Updated => "UPDATED",
            SyncStatus::Failed { .. } => "FAILED",
        }
    }
}

/// The answer to one `syncLead` (`ResultSyncLead` in the schema, without the lead record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SyncLeadResult {
    /// Marketo's lead id (`result/leadId`, else `syncStatus/leadId`). Always present for
    /// `CREATED` and `UPDATED`; may be `None` for `FAILED`.
    pub lead_id: Option<i64>,
    /// What Marketo did with the lead.
    pub status: SyncStatus,
}

impl SyncLeadResult {
    /// A result with this lead id and status.
    pub fn new(lead_id: Option<i64>, status: SyncStatus) -> SyncLeadResult {
        SyncLeadResult { lead_id, status }
    }
}

/// Reads the answer to one `syncLead`.
///
/// - a 2xx whose Body holds `successSyncLead` gives `Ok`;
/// - a SOAP `Fault`, whatever the HTTP status (Marketo uses 500), gives [`Error::Marketo`];
/// - anything else (no envelope, another Body child, a success with a non-2xx status, a missing or
///   unknown status, a missing lead id for `CREATED`/`UPDATED`, malformed, truncated or non-UTF-8
///   bytes) gives [`Error::UnexpectedResponse`] with the HTTP status and an excerpt of the body.
pub fn read_sync_lead(status: u16, body: &[u8]) -> Result<SyncLeadResult, Error> {
    let answer = parse(body).map_err(|reason| Error::unexpected(status, reason, body))?;
    match answer.child {
        BodyChild::Fault => match answer.fault() {
            Some(fault) => Err(Error::Marketo(fault)),
            None => Err(Error::unexpected(
                status,
                "SOAP Fault without faultstring, detail code or detail message",
                body,
            )),
        },
        BodyChild::Success if !(200..300).contains(&status) => Err(Error::unexpected(
            status,
            format!("successSyncLead with HTTP status {status}"),
            body,
        )),
        BodyChild::Success => answer.sync_result().map_err(|reason| Error::unexpected(status, reason, body)),
    }
}

/// Reads a SOAP fault body into a [`Fault`], or `None` when the body is not a (complete) SOAP
/// fault. The HTTP status does not matter here.
pub fn read_fault(body: &[u8]) -> Option<Fault> {
    match parse(body) {
        Ok(answer) if answer.child == BodyChild::Fault => answer.fault(),
        _ => None,
    }
}

/// Splits a `faultstring` of the form `"<code> - <text>"` into the code and the text.
///
/// The code is the leading run of ASCII digits, followed by whitespace or the end; then an
/// optional `-` (or `:`) and the text. Without such a number (or when it does not fit a `u32`)
/// the code is `None` and the text is the whole (trimmed) string.
fn split_faultstring(faultstring: &str) -> (Option<u32>, &str) {
    let s = faultstring.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let Some((number, rest)) = s.split_at_checked(digits) else {
        return (None, s);
    };
    if number.is_empty() || !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
        return (None, s);
    }
    let Ok(code) = number.parse::<u32>() else {
        return (None, s);
    };
    let rest = rest.trim_start();
    let text = rest.strip_prefix(['-', ':']).unwrap_or(rest).trim_start();
    (Some(code), text)
}

/// Deepest element nesting accepted; a `successSyncLead` with a lead record needs 8.
const MAX_DEPTH: usize = 32;

/// The local names the reader cares about; everything else is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    Envelope,
    Header,
    Body,
    SuccessSyncLead,
    Result,
    LeadId,
    SyncStatus,
    Status,
    Error,
    Fault,
    FaultCode,
    FaultString,
    Detail,
    ServiceException,
    Code,
    Message,
    Other,
}

impl Name {
    fn of(local: &str) -> Name {
        match local {
            "Envelope" => Name::Envelope,
            "Header" => Name::Header,
            "Body" => Name::Body,
            "successSyncLead" => Name::SuccessSyncLead,
            "result" => Name::Result,
            "leadId" => Name::LeadId,
            "syncStatus" => Name::SyncStatus,
            "status" => Name::Status,
            "error" => Name::Error,
            "Fault" => Name::Fault,
            "faultcode" => Name::FaultCode,
            "faultstring" => Name::FaultString,
            "detail" => Name::Detail,
            "serviceException" => Name::ServiceException,
            "code" => Name::Code,
            "message" => Name::Message,
            _ => Name::Other,
        }
    }
}

/// The text values the reader keeps, by index into [`Answer::fields`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    ResultLeadId,
    StatusLeadId,
    Status,
    StatusError,
    FaultCode,
    FaultString,
    DetailCode,
    DetailMessage,
}

const FIELDS: usize = 8;

impl Field {
    /// The field an element at this path holds, if any.
    fn at(path: &[Name]) -> Option<Field> {
        use Name::*;
        match path {
            [Envelope, Body, SuccessSyncLead, Result, LeadId] => Some(Field::ResultLeadId),
            [Envelope, Body, SuccessSyncLead, Result, SyncStatus, LeadId] => Some(Field::StatusLeadId),
            [Envelope, Body, SuccessSyncLead, Result, SyncStatus, Status] => Some(Field::Status),
            [Envelope, Body, SuccessSyncLead, Result, SyncStatus, Error] => Some(Field::StatusError),
            [Envelope, Body, Fault, FaultCode] => Some(Field::FaultCode),
            [Envelope, Body, Fault, FaultString] => Some(Field::FaultString),
            [Envelope, Body, Fault, Detail, ServiceException, Code] => Some(Field::DetailCode),
            [Envelope, Body, Fault, Detail, ServiceException, Message] => Some(Field::DetailMessage),
            _ => None,
        }
    }
}

/// Which answer the SOAP Body holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyChild {
    Success,
    Fault,
}

/// A value being read: the element's field, its depth, its text so far, whether it is nil.
struct Capture {
    field: Field,
    depth: usize,
    text: String,
    nil: bool,
}

/// The complete first child of a SOAP Body, reduced to the fields above.
#[derive(Debug)]
struct Answer {
    child: BodyChild,
    /// Per field: `None` when absent, `Some(None)` when nil, `Some(Some(text))` otherwise (trimmed).
    /// The first occurrence wins.
    fields: [Option<Option<String>>; FIELDS],
}

impl Answer {
    /// The field's trimmed text; `None` when absent or nil.
    fn text(&self, field: Field) -> Option<&str> {
        self.fields.get(field as usize)?.as_ref()?.as_deref()
    }

    fn sync_result(&self) -> Result<SyncLeadResult, String> {
        let status = match self.text(Field::Status) {
            Some("CREATED") => SyncStatus::Created,
            Some("UPDATED") => SyncStatus::Updated,
            Some("FAILED") => SyncStatus::Failed {
                error: self.text(Field::StatusError).unwrap_or_default().to_owned(),
            },
            Some(other) => return Err(format!("unknown syncStatus/status {:?}", short(other))),
            None => return Err("successSyncLead without result/syncStatus/status".to_owned()),
        };
        let lead_id = [Field::ResultLeadId, Field::StatusLeadId]
            .into_iter()
            .find_map(|f| self.text(f)?.parse::<i64>().ok());
        if lead_id.is_none() && !matches!(status, SyncStatus::Failed { .. }) {
            return Err(format!("successSyncLead with status {} but no valid leadId", status.as_str()));
        }
        Ok(SyncLeadResult { lead_id, status })
    }

    fn fault(&self) -> Option<Fault> {
        let (code, short_text) = split_faultstring(self.text(Field::FaultString).unwrap_or_default());
        let code = code.or_else(|| self.text(Field::DetailCode)?.parse::<u32>().ok());
        let message = self.text(Field::DetailMessage).unwrap_or_default();
        let text = [Some(short_text), Some(message), self.text(Field::FaultCode)]
            .into_iter()
            .flatten()
            .find(|t| !t.is_empty())
            .unwrap_or_default();
        if code.is_none() && text.is_empty() {
            return None;
        }
        Some(Fault::new(Api::Soap, code, text, message))
    }
}

/// At most 40 characters of an input-derived string, for error reasons.
fn short(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// Whether the element carries `xsi:nil="true"` (any prefix).
fn is_nil(e: &BytesStart<'_>) -> Result<bool, String> {
    for attr in e.attributes() {
        let attr = attr.map_err(|err| format!("malformed attribute: {err}"))?;
        if attr.key.local_name().as_ref() == "nil" && matches!(attr.value.trim(), "true" | "1") {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Streams `body` up to the end of the first SOAP Body child. `Err` carries the reason the body
/// is not a Marketo answer.
fn parse(body: &[u8]) -> Result<Answer, String> {
    let xml = std::str::from_utf8(body).map_err(|e| format!("body is not UTF-8: {e}"))?;
    let mut reader = Reader::from_str(xml);
    let mut path: Vec<Name> = Vec::with_capacity(MAX_DEPTH);
    let mut child: Option<BodyChild> = None;
    let mut fields: [Option<Option<String>>; FIELDS] = Default::default();
    let mut capture: Option<Capture> = None;

    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("malformed XML at byte {}: {e}", reader.error_position()))?;
        let (start, end) = match &event {
            Event::Start(e) => (Some(e), false),
            Event::Empty(e) => (Some(e), true),
            Event::End(_) => (None, true),
            Event::Text(t) => {
                if let Some(c) = capture.as_mut().filter(|c| c.depth == path.len()) {
                    c.text.push_str(&t.xml10_content());
                }
                (None, false)
            }
            Event::CData(t) => {
                if let Some(c) = capture.as_mut().filter(|c| c.depth == path.len()) {
                    c.text.push_str(&t.xml10_content());
                }
                (None, false)
            }
            Event::GeneralRef(r) => {
                let mut utf8 = [0; 4];
                let resolved: &str = match r.resolve_char_ref() {
                    Ok(Some(ch)) => ch.encode_utf8(&mut utf8),
                    Ok(None) => resolve_xml_entity(r).ok_or_else(|| format!("unknown entity &{};", short(r)))?,
                    Err(e) => return Err(format!("bad character reference &{};: {e}", short(r))),
                };
                if let Some(c) = capture.as_mut().filter(|c| c.depth == path.len()) {
                    c.text.push_str(resolved);
                }
                (None, false)
            }
            Event::Eof => {
                return Err(if path.is_empty() {
                    "no SOAP Envelope (empty body or no XML element)".to_owned()
                } else {
                    "the body ends before the SOAP Body's answer is complete (truncated)".to_owned()
                });
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => (None, false),
        };

        if let Some(e) = start {
            if path.len() >= MAX_DEPTH {
                return Err(format!("elements nested deeper than {MAX_DEPTH} levels"));
            }
            let qname = e.name();
            let name = Name::of(e.local_name().as_ref());
            match path.as_slice() {
                [] if name != Name::Envelope => {
                    return Err(format!("root element is <{}>, not a SOAP Envelope", short(qname.as_ref())));
                }
                [Name::Envelope, Name::Body] => {
                    child = Some(match name {
                        Name::SuccessSyncLead => BodyChild::Success,
                        Name::Fault => BodyChild::Fault,
                        _ => {
                            return Err(format!("SOAP Body holds <{}>, not successSyncLead or Fault", short(qname.as_ref())));
                        }
                    });
                }
                _ => {}
            }
            path.push(name);
            if capture.is_none()
                && let Some(field) = Field::at(&path)
                && fields.get(field as usize).is_some_and(Option::is_none)
            {
                capture = Some(Capture {
                    field,
                    depth: path.len(),
                    text: String::new(),
                    nil: is_nil(e)?,
                });
            }
        }

        if end {
            if let Some(c) = capture.take_if(|c| c.depth == path.len()) {
                let value = (!c.nil).then(|| c.text.trim().to_owned());
                if let Some(slot) = fields.get_mut(c.field as usize) {
                    *slot = Some(value);
                }
            }
            let closed = path.pop();
            match (path.as_slice(), child) {
                ([Name::Envelope, Name::Body], Some(child)) => return Ok(Answer { child, fields }),
                ([Name::Envelope], _) if closed == Some(Name::Body) => {
                    return Err("the SOAP Body is empty".to_owned());
                }
                ([], _) => return Err("the SOAP Envelope has no Body".to_owned()),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faultstring_with_code_and_text() {
        assert_eq!(
            split_faultstring("20014 - Authentication failed"),
            (Some(20014), "Authentication failed")
        );
        assert_eq!(
            split_faultstring("  20105 -   Unknown lead field \n"),
            (Some(20105), "Unknown lead field")
        );
        assert_eq!(split_faultstring("20016\t-\tRequest Expired"), (Some(20016), "Request Expired"));
        assert_eq!(
            split_faultstring("20023 : Rate Limit Exceeded"),
            (Some(20023), "Rate Limit Exceeded")
        );
        assert_eq!(split_faultstring("20011 Internal Error"), (Some(20011), "Internal Error"));
        assert_eq!(split_faultstring("20015"), (Some(20015), ""));
        assert_eq!(split_faultstring("20015 -"), (Some(20015), ""));
    }

    #[test]
    fn faultstring_without_code() {
        assert_eq!(split_faultstring("Exceeded lock attempts"), (None, "Exceeded lock attempts"));
        assert_eq!(split_faultstring(""), (None, ""));
        assert_eq!(split_faultstring("   "), (None, ""));
        assert_eq!(split_faultstring("- 20014"), (None, "- 20014"));
        // A number glued to other characters is not a code.
        assert_eq!(split_faultstring("2026-07-31 shutdown"), (None, "2026-07-31 shutdown"));
        assert_eq!(split_faultstring("404NotFound"), (None, "404NotFound"));
        // Too large for u32.
        assert_eq!(split_faultstring("99999999999 - Huge"), (None, "99999999999 - Huge"));
        // Non-ASCII digits are not digits.
        assert_eq!(split_faultstring("٢٠٠١٤ - x"), (None, "٢٠٠١٤ - x"));
    }

    #[test]
    fn short_cuts_on_characters() {
        assert_eq!(short("abc"), "abc");
        let long = "é".repeat(50);
        assert_eq!(short(&long).chars().count(), 41);
    }

    #[test]
    fn names_are_local() {
        assert_eq!(Name::of("Envelope"), Name::Envelope);
        assert_eq!(Name::of("envelope"), Name::Other);
        assert_eq!(
            Field::at(&[Name::Envelope, Name::Body, Name::Fault, Name::FaultString]),
            Some(Field::FaultString)
        );
        assert_eq!(Field::at(&[Name::Envelope, Name::Header, Name::Fault, Name::FaultString]), None);
    }

    #[test]
    fn minimal_success_and_fault() {
        let ok = br#"<Envelope><Body><successSyncLead><result><leadId>7</leadId><syncStatus><leadId>7</leadId><status>CREATED</status></syncStatus></result></successSyncLead></Body></Envelope>"#;
        assert_eq!(read_sync_lead(200, ok).unwrap(), SyncLeadResult::new(Some(7), SyncStatus::Created));
        let fault = b"<e:Envelope xmlns:e='x'><e:Body><e:Fault><faultstring>20014 - Authentication failed</faultstring></e:Fault></e:Body></e:Envelope>";
        let f = read_fault(fault).unwrap();
        assert_eq!(
            (f.code, f.text.as_str(), f.message.as_str()),
            (Some(20014), "Authentication failed", "Authentication failed")
        );
        assert!(read_fault(ok).is_none());
    }
}
