//! CSRF tokens: an HMAC-SHA256, under the platform's signing key, of what the token is
//! for and the value it is bound to (the session cookie once signed in, a random
//! sign-in cookie before), so that a page of another site, or of an app on a sibling
//! subdomain (same site, so `SameSite` does not stop it), cannot make one. Checked in
//! constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a token guards; a token for one purpose is refused for the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The sign-in form, bound to the sign-in cookie.
    SignIn,
    /// Every form of a signed-in user, bound to the session cookie.
    Session,
}

impl Purpose {
    fn label(self) -> &'static str {
        match self {
            Self::SignIn => "paas dashboard csrf: sign-in\n",
            Self::Session => "paas dashboard csrf: session\n",
        }
    }
}

/// The token for `purpose` bound to `value`, in hex.
pub fn token(key: &[u8], purpose: Purpose, value: &str) -> String {
    let mut message = purpose.label().as_bytes().to_vec();
    message.extend_from_slice(value.as_bytes());
    hex::encode(hmac_sha256(key, &message))
}

/// Whether `given` is the token for `purpose` bound to `value`.
pub fn verify(key: &[u8], purpose: Purpose, value: &str, given: &str) -> bool {
    let expected = token(key, purpose, value);
    // Both are hex of 32 bytes when valid; a length difference is no secret.
    expected.len() == given.len() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(hex::encode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        // Test case 6: a key longer than the block.
        let mac = hmac_sha256(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First");
        assert_eq!(hex::encode(mac), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    }

    #[test]
    fn tokens_are_bound_to_key_purpose_and_value() {
        let t = token(b"key", Purpose::Session, "cookie");
        assert!(verify(b"key", Purpose::Session, "cookie", &t));
        assert!(!verify(b"other", Purpose::Session, "cookie", &t));
        assert!(!verify(b"key", Purpose::SignIn, "cookie", &t));
        assert!(!verify(b"key", Purpose::Session, "cookie2", &t));
        assert!(!verify(b"key", Purpose::Session, "cookie", ""));
        assert!(!verify(b"key", Purpose::Session, "cookie", &t[1..]));
    }
}
