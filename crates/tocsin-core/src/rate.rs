//! A token bucket: a sustained rate with bursts, deciding with `now` passed in.
//! Used for the per-integration ingestion limit (and later per-destination delivery limits).

use jiff::{SignedDuration, Timestamp};

/// The configured shape of a limit. A rate of 0 means unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: u32,
    pub burst: u32,
}

impl RateLimit {
    /// The contract's default: a busy but healthy source must never be throttled.
    pub const INGEST_DEFAULT: RateLimit = RateLimit {
        per_second: 2_000,
        burst: 20_000,
    };

    pub fn is_unlimited(self) -> bool {
        self.per_second == 0
    }
}

#[derive(Clone, Debug)]
pub struct TokenBucket {
    limit: RateLimit,
    tokens: f64,
    updated: Timestamp,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(limit: RateLimit, now: Timestamp) -> Self {
        Self {
            limit,
            tokens: f64::from(limit.burst.max(1)),
            updated: now,
        }
    }

    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Whether the bucket is full at `now` (unused since long enough to forget).
    pub fn is_full(&self, now: Timestamp) -> bool {
        let rate = f64::from(self.limit.per_second);
        let elapsed = now.duration_since(self.updated).as_secs_f64().max(0.0);
        self.limit.is_unlimited()
            || self.tokens + elapsed * rate >= f64::from(self.limit.burst.max(1))
    }

    /// Take `n` tokens, or say how long until they would be there. A request larger than the
    /// burst costs the whole burst, so that it can pass once the bucket is full instead of
    /// being refused forever.
    pub fn take(&mut self, n: u32, now: Timestamp) -> Result<(), SignedDuration> {
        if self.limit.is_unlimited() {
            return Ok(());
        }
        let rate = f64::from(self.limit.per_second);
        let cap = f64::from(self.limit.burst.max(1));
        let elapsed = now.duration_since(self.updated).as_secs_f64();
        if elapsed > 0.0 {
            self.tokens = (self.tokens + elapsed * rate).min(cap);
            self.updated = now;
        }
        let need = f64::from(n).min(cap);
        if self.tokens >= need {
            self.tokens -= need;
            Ok(())
        } else {
            let wait = (need - self.tokens) / rate;
            Err(SignedDuration::from_secs_f64(wait.max(0.001)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millisecond(ms).unwrap()
    }

    #[test]
    fn bursts_then_sustains_the_rate() {
        let mut b = TokenBucket::new(
            RateLimit {
                per_second: 10,
                burst: 20,
            },
            at(0),
        );
        for _ in 0..20 {
            assert!(b.take(1, at(0)).is_ok());
        }
        let wait = b.take(1, at(0)).unwrap_err();
        assert_eq!(wait.as_millis(), 100);
        assert!(b.take(1, at(100)).is_ok());
        assert!(b.take(1, at(100)).is_err());
        // A long pause refills to the burst, not beyond.
        assert!(b.take(20, at(60_000)).is_ok());
        assert!(b.take(1, at(60_000)).is_err());
    }

    #[test]
    fn a_request_larger_than_the_burst_passes_when_the_bucket_is_full() {
        let mut b = TokenBucket::new(
            RateLimit {
                per_second: 1,
                burst: 2,
            },
            at(0),
        );
        assert!(b.take(64, at(0)).is_ok());
        assert_eq!(b.take(64, at(0)).unwrap_err().as_millis(), 2000);
        assert!(b.take(64, at(2000)).is_ok());
    }

    #[test]
    fn zero_rate_is_unlimited() {
        let mut b = TokenBucket::new(
            RateLimit {
                per_second: 0,
                burst: 0,
            },
            at(0),
        );
        for _ in 0..100_000 {
            assert!(b.take(1, at(0)).is_ok());
        }
    }
}
