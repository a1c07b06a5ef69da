//! The values a transport executes and returns: [`Request`] out, [`Response`] back.
//!
//! Plain data, no behaviour: any HTTP client can send a `Request` as it stands.

use serde::Serialize;

/// HTTP method of a planned request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum Method {
    /// `GET`
    #[serde(rename = "GET")]
    Get,
    /// `POST`
    #[serde(rename = "POST")]
    Post,
}

impl Method {
    /// `"GET"` or `"POST"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// What Marketo call a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum RequestKind {
    /// SOAP `syncLead`.
    SyncLead,
    /// The Munchkin `visitWebPage` webevents beacon.
    VisitWebPage,
    /// REST identity: `GET {identity}/oauth/token` (its URL holds the client secret).
    Token,
    /// REST Sync Leads: `POST /rest/v1/leads.json`.
    SyncLeads,
    /// REST Get Leads by Filter Type: `GET /rest/v1/leads.json?filterType=…`.
    LookupLead,
    /// REST Associate Lead: `POST /rest/v1/leads/{id}/associate.json?cookie=…`.
    AssociateLead,
    /// REST Add Custom Activities: `POST /rest/v1/activities/external.json`.
    CustomActivities,
}

/// One HTTP request to execute. Header names are lower-case-insensitive per HTTP; values never
/// contain CR or LF.
///
/// `Debug` and `Serialize` are for logs and display, and redact secrets: the value of a
/// `client_secret` or `access_token` query parameter and of the `Authorization` header print as
/// `[redacted]`. A transport reads the fields themselves.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Request {
    /// Which Marketo call this is.
    pub kind: RequestKind,
    /// HTTP method.
    pub method: Method,
    /// Absolute URL.
    #[serde(serialize_with = "url_redacted")]
    pub url: String,
    /// Headers, in order.
    #[serde(serialize_with = "headers_as_map")]
    pub headers: Vec<(&'static str, String)>,
    /// Body, when there is one (UTF-8).
    pub body: Option<String>,
}

impl Request {
    /// The value of the first header with this name (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, std::borrow::Cow<'_, str>)> = self.headers.iter().map(|(k, v)| (*k, header_redacted(k, v))).collect();
        f.debug_struct("Request")
            .field("kind", &self.kind)
            .field("method", &self.method)
            .field("url", &redact_url(&self.url))
            .field("headers", &headers)
            .field("body", &self.body)
            .finish()
    }
}

/// The query parameters whose values are secrets.
const SECRET_PARAMS: [&str; 2] = ["client_secret=", "access_token="];

/// `url` with the values of secret query parameters replaced by `[redacted]`.
pub fn redact_url(url: &str) -> std::borrow::Cow<'_, str> {
    if !SECRET_PARAMS.iter().any(|p| url.contains(p)) {
        return std::borrow::Cow::Borrowed(url);
    }
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let parts: Vec<String> = query
        .split('&')
        .map(|kv| match SECRET_PARAMS.iter().find(|p| kv.starts_with(**p)) {
            Some(p) => format!("{p}[redacted]"),
            None => kv.to_owned(),
        })
        .collect();
    std::borrow::Cow::Owned(format!("{base}?{}", parts.join("&")))
}

fn header_redacted<'v>(name: &str, value: &'v str) -> std::borrow::Cow<'v, str> {
    if name.eq_ignore_ascii_case("authorization") {
        let scheme = value.split_once(' ').map_or("", |(s, _)| s);
        std::borrow::Cow::Owned(format!("{scheme} [redacted]").trim_start().to_owned())
    } else {
        std::borrow::Cow::Borrowed(value)
    }
}

fn url_redacted<S: serde::Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&redact_url(url))
}

fn headers_as_map<S: serde::Serializer>(headers: &[(&'static str, String)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(headers.len()))?;
    for (k, v) in headers {
        map.serialize_entry(k, &header_redacted(k, v))?;
    }
    map.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_debug_and_serialize() {
        let r = Request {
            kind: RequestKind::Token,
            method: Method::Get,
            url: "https://x/identity/oauth/token?grant_type=client_credentials&client_id=abc&client_secret=s3cr3t".into(),
            headers: vec![("Authorization", "Bearer t0k3n".into())],
            body: None,
        };
        let shown = format!("{r:?} {}", serde_json::to_string(&r).unwrap());
        assert!(!shown.contains("s3cr3t") && !shown.contains("t0k3n"), "{shown}");
        assert!(shown.contains("client_id=abc") && shown.contains("Bearer [redacted]"), "{shown}");
        assert_eq!(redact_url("https://x/a?b=c"), "https://x/a?b=c");
    }
}

/// What the transport got back for one request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// The body bytes as received.
    pub body: Vec<u8>,
}

impl Response {
    /// A response with this status and body.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response { status, body: body.into() }
    }
}
