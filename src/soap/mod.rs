//! Marketo's SOAP API (`mktows` 2.1): the authentication header and its signature, the
//! `syncLead` envelope, and the response and fault reader.
//!
//! Marketo switched the SOAP API off on 2026-07-31; this path reproduces Segment's classic
//! destination exactly for replays, gateways and migrations. Wire format:
//! `../shared/marketo-wsdl/README.md`.

pub mod response;
