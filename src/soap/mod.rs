//! Marketo's SOAP API (`mktows` 2.1): the authentication header and its signature, the
//! `syncLead` envelope, and the response and fault reader.
//!
//! Marketo switched the SOAP API off on 2026-07-31; this path reproduces Segment's classic
//! destination exactly for replays, gateways and migrations. Wire format:
//! `../shared/marketo-wsdl/README.md`.

pub mod envelope;
pub mod lead;
pub mod response;
pub mod signature;

pub use envelope::{SignedHead, write_sync_lead};
pub use lead::{Attribute, LeadMapping, LeadRecord};
pub use response::{SyncLeadResult, SyncStatus, read_fault, read_sync_lead};
pub use signature::{Signer, request_signature};

/// `SOAPAction` of `syncLead`, quotes included.
pub const SYNC_LEAD_ACTION: &str = "\"http://www.marketo.com/mktows/syncLead\"";
/// `Content-Type` of SOAP 1.1 requests.
pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";
