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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Request {
    /// Which Marketo call this is.
    pub kind: RequestKind,
    /// HTTP method.
    pub method: Method,
    /// Absolute URL.
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

fn headers_as_map<S: serde::Serializer>(headers: &[(&'static str, String)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(headers.len()))?;
    for (k, v) in headers {
        map.serialize_entry(k, v)?;
    }
    map.end()
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
