//! The `AuthenticationHeader` signature: lowercase hex HMAC-SHA1(key = encryption key,
//! message = `requestTimestamp` + `mktowsUserId`).
//!
//! Source: AdobeDocs/marketo-developer.en `help/soap-api/authentication-signature.md`; vectors in
//! `../shared/vectors/soap-signatures.tsv` (checked in `tests/vectors.rs`).

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

use crate::settings::Secret;

/// Signs requests for one SOAP user. The HMAC is keyed once, when built, and cloned per request.
#[derive(Clone)]
pub struct Signer {
    user_id: String,
    keyed: Hmac<Sha1>,
    /// Tells signers apart without showing the key: the first bytes of the HMAC of a fixed label
    /// and the user id (a [`super::envelope::SignedHead`] is reused only with its own signer).
    fingerprint: [u8; 8],
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("user_id", &self.user_id)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl Signer {
    /// A signer for `user_id` with the encryption key.
    pub fn new(user_id: &str, encryption_key: &Secret) -> Signer {
        // HMAC accepts keys of any length, so this cannot fail.
        let keyed = <Hmac<Sha1> as KeyInit>::new_from_slice(encryption_key.expose().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        let mut mac = keyed.clone();
        mac.update(b"segment-marketo signer fingerprint\0");
        mac.update(user_id.as_bytes());
        let mut fingerprint = [0u8; 8];
        fingerprint.copy_from_slice(&mac.finalize().into_bytes()[..8]);
        Signer {
            user_id: user_id.to_owned(),
            keyed,
            fingerprint,
        }
    }

    /// Equal for signers with the same key and user id, different otherwise (in all likelihood).
    pub(crate) fn fingerprint(&self) -> [u8; 8] {
        self.fingerprint
    }

    /// The SOAP user id (`mktowsUserId`).
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The 40 lowercase hex digits of the signature for `timestamp` (as written in the header).
    pub fn sign(&self, timestamp: &str) -> [u8; 40] {
        let mut mac = self.keyed.clone();
        mac.update(timestamp.as_bytes());
        mac.update(self.user_id.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut hex_out = [0u8; 40];
        // 20 bytes always encode into 40 hex digits.
        let _ = hex::encode_to_slice(digest.as_slice(), &mut hex_out);
        hex_out
    }

    /// [`Signer::sign`] as a `String`.
    pub fn sign_string(&self, timestamp: &str) -> String {
        self.sign(timestamp).iter().map(|&b| b as char).collect()
    }
}

/// One-shot signature: lowercase hex HMAC-SHA1(`encryption_key`, `timestamp` + `user_id`).
pub fn request_signature(encryption_key: &Secret, timestamp: &str, user_id: &str) -> String {
    Signer::new(user_id, encryption_key).sign_string(timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_vector() {
        let key = Secret::new("899756834129871744AAEE88DDCC77CDEEDEC1AAAD66");
        assert_eq!(
            request_signature(&key, "2010-04-09T14:04:54-07:00", "bigcorp1_461839624B16E06BA2D663"),
            "ffbff4d4bef354807481e66dc7540f7890523a87"
        );
    }
}
