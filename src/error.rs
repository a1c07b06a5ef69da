//! The crate's one error type.
//!
//! Every fallible function returns [`Error`]. Callers match on [`Error::kind`] (stable, `snake_case`
//! via [`ErrorKind::as_str`]) rather than on the message text, and ask [`Error::retry`] whether the
//! same request may succeed later. Messages name the Segment message (`messageId`) and the field
//! at fault; they never contain a secret.

use crate::fault::{Fault, FaultClass};

/// Which message an error is about: its `messageId` when it had one.
///
/// Displayed as `message "<id>"`, or `message (no messageId)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageRef(pub Option<String>);

impl MessageRef {
    /// A reference to the message with this `messageId` (if any).
    pub fn new(id: Option<&str>) -> Self {
        MessageRef(id.map(str::to_owned))
    }
}

impl std::fmt::Display for MessageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        MessageLabel(self.0.as_deref()).fmt(f)
    }
}

/// [`MessageRef`]'s text for a `messageId` that is borrowed, not copied (for warnings written
/// straight into their text).
pub(crate) struct MessageLabel<'a>(pub(crate) Option<&'a str>);

impl std::fmt::Display for MessageLabel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(id) => write!(f, "message {id:?}"),
            None => f.write_str("message (no messageId)"),
        }
    }
}

/// Everything that can go wrong, one variant per cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The message is not valid JSON, or a field has the wrong JSON type.
    #[error("{message}: invalid JSON{}: {reason}", field.as_deref().map(|f| format!(" in field `{f}`")).unwrap_or_default())]
    InvalidMessage {
        /// The message at fault.
        message: MessageRef,
        /// The field at fault, when known.
        field: Option<String>,
        /// What is wrong with it.
        reason: String,
        /// The parser's error, when there was one.
        #[source]
        source: Option<crate::json::JsonError>,
    },
    /// A field the message type requires is absent.
    #[error("{message}: required field `{field}` is missing")]
    MissingField {
        /// The message at fault.
        message: MessageRef,
        /// The missing field.
        field: &'static str,
    },
    /// An identify without an email (neither `traits.email` nor an email-like `userId`).
    #[error("{message}: no email: neither `traits.email` nor an email-like `userId`")]
    MissingEmail {
        /// The message at fault.
        message: MessageRef,
    },
    /// A page without a URL in `properties.url` or `context.page.url`.
    #[error("{message}: no page URL in `properties.url` or `context.page.url`")]
    MissingUrl {
        /// The message at fault.
        message: MessageRef,
    },
    /// A field is present but its value cannot be used (for example a URL that does not parse).
    #[error("{message}: field `{field}`: {reason}")]
    InvalidField {
        /// The message at fault.
        message: MessageRef,
        /// The field at fault.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A track or page with no Munchkin cookie, no `userId` and no `anonymousId`.
    #[error("{message}: no visitor: no `context.Marketo.marketoCookie`, `userId` or `anonymousId`")]
    MissingIdentity {
        /// The message at fault.
        message: MessageRef,
    },
    /// The settings are invalid; `field` names the setting.
    #[error("invalid setting `{field}`: {reason}")]
    InvalidSettings {
        /// The setting at fault (Segment's name).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A settings JSON holds a key this crate does not know.
    #[error("unknown setting `{key}`")]
    UnknownSetting {
        /// The unknown key.
        key: String,
    },
    /// Marketo answered with a fault (SOAP) or an error code (REST).
    #[error("Marketo rejected the request: {0}")]
    Marketo(Fault),
    /// The response is not something Marketo sends.
    #[error("unexpected response (HTTP {status}): {reason}; body starts {excerpt:?}")]
    UnexpectedResponse {
        /// HTTP status of the response.
        status: u16,
        /// What was expected and not found.
        reason: String,
        /// The first bytes of the body (lossy UTF-8, at most 200 characters).
        excerpt: String,
    },
    /// The delivery queue is full; the message was not accepted.
    #[error("{message}: delivery queue is full ({limit} messages pending); retry later")]
    QueueFull {
        /// The message refused.
        message: MessageRef,
        /// The configured limit.
        limit: usize,
    },
    /// The request could not be built: a limit (URL length) would be exceeded.
    #[error("{message}: {reason}")]
    TooLarge {
        /// The message at fault.
        message: MessageRef,
        /// What is too large.
        reason: String,
    },
}

/// What kind of error, for matching. [`ErrorKind::as_str`] gives the stable `snake_case` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// See [`Error::InvalidMessage`].
    InvalidJson,
    /// See [`Error::MissingField`].
    MissingField,
    /// See [`Error::MissingEmail`].
    MissingEmail,
    /// See [`Error::MissingUrl`].
    MissingUrl,
    /// See [`Error::InvalidField`].
    InvalidField,
    /// See [`Error::MissingIdentity`].
    MissingIdentity,
    /// See [`Error::InvalidSettings`].
    InvalidSettings,
    /// See [`Error::UnknownSetting`].
    UnknownSetting,
    /// See [`Error::Marketo`].
    MarketoFault,
    /// See [`Error::UnexpectedResponse`].
    UnexpectedResponse,
    /// See [`Error::QueueFull`].
    QueueFull,
    /// See [`Error::TooLarge`].
    TooLarge,
}

impl ErrorKind {
    /// The stable `snake_case` name (`missing_email`, `marketo_fault`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidJson => "invalid_json",
            ErrorKind::MissingField => "missing_field",
            ErrorKind::MissingEmail => "missing_email",
            ErrorKind::MissingUrl => "missing_url",
            ErrorKind::InvalidField => "invalid_field",
            ErrorKind::MissingIdentity => "missing_identity",
            ErrorKind::InvalidSettings => "invalid_settings",
            ErrorKind::UnknownSetting => "unknown_setting",
            ErrorKind::MarketoFault => "marketo_fault",
            ErrorKind::UnexpectedResponse => "unexpected_response",
            ErrorKind::QueueFull => "queue_full",
            ErrorKind::TooLarge => "too_large",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether, and how, the same request may succeed later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Retry {
    /// Transient: back off and try again.
    Later,
    /// Sign again with a fresh timestamp and resend at once (SOAP 20016).
    Resign,
    /// Rate or concurrency limit: back off before the next call.
    Throttle,
    /// Daily quota: wait for the next reset (12:00 AM US Central).
    AfterQuotaReset,
    /// Fetch a new access token, then retry (REST 601/602).
    Reauthenticate,
    /// The lead is locked (synced less than 30 s ago): retry after the lock.
    AfterLeadLock,
    /// The transport or Marketo failed without saying why (5xx without a fault): back off.
    Backoff,
}

impl Error {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidMessage { .. } => ErrorKind::InvalidJson,
            Error::MissingField { .. } => ErrorKind::MissingField,
            Error::MissingEmail { .. } => ErrorKind::MissingEmail,
            Error::MissingUrl { .. } => ErrorKind::MissingUrl,
            Error::InvalidField { .. } => ErrorKind::InvalidField,
            Error::MissingIdentity { .. } => ErrorKind::MissingIdentity,
            Error::InvalidSettings { .. } => ErrorKind::InvalidSettings,
            Error::UnknownSetting { .. } => ErrorKind::UnknownSetting,
            Error::Marketo(_) => ErrorKind::MarketoFault,
            Error::UnexpectedResponse { .. } => ErrorKind::UnexpectedResponse,
            Error::QueueFull { .. } => ErrorKind::QueueFull,
            Error::TooLarge { .. } => ErrorKind::TooLarge,
        }
    }

    /// Whether the same request may succeed later, and how; `None` means never as sent.
    pub fn retry(&self) -> Option<Retry> {
        match self {
            Error::Marketo(fault) => match fault.class {
                FaultClass::Retry if fault.is_lock() => Some(Retry::AfterLeadLock),
                FaultClass::Retry => Some(Retry::Later),
                FaultClass::Resign => Some(Retry::Resign),
                FaultClass::Throttle => Some(Retry::Throttle),
                FaultClass::Quota => Some(Retry::AfterQuotaReset),
                FaultClass::Reauth => Some(Retry::Reauthenticate),
                FaultClass::Permanent => None,
            },
            Error::UnexpectedResponse { status, .. } if *status >= 500 || *status == 429 => Some(Retry::Backoff),
            Error::QueueFull { .. } => Some(Retry::Later),
            _ => None,
        }
    }

    /// The Marketo fault, when this error is one.
    pub fn fault(&self) -> Option<&Fault> {
        match self {
            Error::Marketo(f) => Some(f),
            _ => None,
        }
    }

    pub(crate) fn unexpected(status: u16, reason: impl Into<String>, body: &[u8]) -> Error {
        Error::UnexpectedResponse {
            status,
            reason: reason.into(),
            excerpt: excerpt(body),
        }
    }
}

/// At most 200 characters of a body, lossy UTF-8, for error messages.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let head = &body[..body.len().min(800)];
    String::from_utf8_lossy(head).chars().take(200).collect()
}
