//! Signed, expiring acknowledge links: `/ack/{token}` where the token names one notification
//! and carries an HMAC-SHA256 over it and its expiry. Who holds the link may acknowledge that
//! one incident, once; nothing else. The secret lives in the data folder (see the binary).

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

#[cfg(test)]
mod tests {
    use super::*;

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
