//! Signed, expiring acknowledge links: `/ack/{token}` where the token names one notification
//! and carries an HMAC-SHA256 over it and its expiry. Who holds the link may acknowledge that
//! one incident, once; nothing else. The secret lives in the data folder (see the binary).

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use jiff::{SignedDuration, Timestamp};
use sha2::Sha256;

/// How long an acknowledge link works after its notification was sent.
pub const ACK_LINK_VALIDITY: SignedDuration = SignedDuration::from_hours(24);

#[derive(Clone)]
pub struct LinkSigner {
    secret: Vec<u8>,
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSigner([redacted])")
    }
}

/// Why a link was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkError {
    Malformed,
    Expired,
    BadSignature,
}

impl LinkSigner {
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        Self {
            secret: secret.into(),
        }
    }

    fn mac(&self, notification: &str, expires: i64) -> Hmac<Sha256> {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret)
            .expect("HMAC takes keys of any length");
        m.update(b"ack:");
        m.update(notification.as_bytes());
        m.update(b":");
        m.update(expires.to_string().as_bytes());
        m
    }

    /// `{notification}.{expires unix seconds}.{hex signature}`.
    pub fn sign_ack(&self, notification: &str, expires: Timestamp) -> String {
        let exp = expires.as_second();
        let tag = hex::encode(self.mac(notification, exp).finalize().into_bytes());
        format!("{notification}.{exp}.{tag}")
    }

    /// A short token for the same notification and expiry, at most 64 bytes (Telegram's limit
    /// on a button's `callback_data`): `a` and the base64url of the id's 16 bytes, the expiry
    /// (4 bytes) and the first 12 bytes of the signature. `None` when the id is not 32 hex
    /// digits (the store's ids are).
    pub fn sign_ack_short(&self, notification: &str, expires: Timestamp) -> Option<String> {
        let id = hex::decode(notification).ok().filter(|b| b.len() == 16)?;
        let exp = u32::try_from(expires.as_second()).ok()?;
        let tag = self
            .mac(notification, i64::from(exp))
            .finalize()
            .into_bytes();
        let mut raw = id;
        raw.extend_from_slice(&exp.to_be_bytes());
        raw.extend_from_slice(&tag[..SHORT_TAG_BYTES]);
        Some(format!("a{}", base64url(&raw)))
    }

    /// The notification a valid, unexpired short token names.
    pub fn verify_ack_short(&self, token: &str, now: Timestamp) -> Result<String, LinkError> {
        let raw = token
            .strip_prefix('a')
            .and_then(unbase64url)
            .filter(|r| r.len() == 16 + 4 + SHORT_TAG_BYTES)
            .ok_or(LinkError::Malformed)?;
        let id = hex::encode(&raw[..16]);
        let exp = u32::from_be_bytes([raw[16], raw[17], raw[18], raw[19]]);
        let tag = self.mac(&id, i64::from(exp)).finalize().into_bytes();
        // Constant-time comparison of the truncated tags.
        let diff = tag[..SHORT_TAG_BYTES]
            .iter()
            .zip(&raw[20..])
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff != 0 {
            return Err(LinkError::BadSignature);
        }
        if now.as_second() > i64::from(exp) {
            return Err(LinkError::Expired);
        }
        Ok(id)
    }

    /// The notification a valid, unexpired token names.
    pub fn verify_ack(&self, token: &str, now: Timestamp) -> Result<String, LinkError> {
        let mut parts = token.splitn(3, '.');
        let (Some(id), Some(exp), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(LinkError::Malformed);
        };
        let exp: i64 = exp.parse().map_err(|_| LinkError::Malformed)?;
        let tag = hex::decode(tag).map_err(|_| LinkError::Malformed)?;
        if id.is_empty() || id.len() > 64 {
            return Err(LinkError::Malformed);
        }
        // Constant-time comparison.
        self.mac(id, exp)
            .verify_slice(&tag)
            .map_err(|_| LinkError::BadSignature)?;
        if now.as_second() > exp {
            return Err(LinkError::Expired);
        }
        Ok(id.to_owned())
    }
}

/// Bytes of the signature a short token keeps (96 bits).
const SHORT_TAG_BYTES: usize = 12;

fn base64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unbase64url(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_tokens_fit_telegram_and_verify_like_links() {
        let s = LinkSigner::new(b"secret".to_vec());
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let id = "0192f5c8a1b27c3d9e4f5a6b7c8d9e0f";
        let t = s.sign_ack_short(id, now + ACK_LINK_VALIDITY).unwrap();
        assert!(t.len() <= 64, "{t}");
        assert_eq!(s.verify_ack_short(&t, now), Ok(id.into()));
        assert_eq!(
            s.verify_ack_short(&t, now + ACK_LINK_VALIDITY + SignedDuration::from_secs(1)),
            Err(LinkError::Expired)
        );
        assert_eq!(
            LinkSigner::new(b"other".to_vec()).verify_ack_short(&t, now),
            Err(LinkError::BadSignature)
        );
        let mut tampered = t.clone().into_bytes();
        tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            s.verify_ack_short(&String::from_utf8(tampered).unwrap(), now),
            Err(LinkError::BadSignature)
        );
        assert_eq!(s.verify_ack_short("a!!", now), Err(LinkError::Malformed));
        assert_eq!(s.sign_ack_short("n1", now), None, "not a store id");
    }

    #[test]
    fn links_verify_expire_and_resist_tampering() {
        let s = LinkSigner::new(b"secret".to_vec());
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let t = s.sign_ack("n1", now + ACK_LINK_VALIDITY);
        assert_eq!(s.verify_ack(&t, now), Ok("n1".into()));
        assert_eq!(
            s.verify_ack(&t, now + ACK_LINK_VALIDITY + SignedDuration::from_secs(1)),
            Err(LinkError::Expired)
        );
        assert_eq!(
            s.verify_ack(&t.replace("n1.", "n2."), now),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            LinkSigner::new(b"other".to_vec()).verify_ack(&t, now),
            Err(LinkError::BadSignature)
        );
        assert_eq!(s.verify_ack("garbage", now), Err(LinkError::Malformed));
        let (head, _) = t.rsplit_once('.').unwrap();
        assert_eq!(
            s.verify_ack(&format!("{head}.zz"), now),
            Err(LinkError::Malformed)
        );
    }
}
