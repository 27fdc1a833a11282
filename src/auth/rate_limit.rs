//! Per-principal token buckets: `DAAP_RATE_LIMIT_PER_SECOND` requests a second on average,
//! bursts up to `DAAP_RATE_LIMIT_BURST`. Each replica keeps its own buckets, so the limit
//! a principal sees across N replicas is up to N times the setting. The same buckets, keyed by
//! client address, limit failed authentications (`DAAP_UNAUTH_RATE_LIMIT_*`).
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Buckets kept before idle ones are dropped.
const MAX_BUCKETS: usize = 100_000;

pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

/// The state of a principal's bucket after a request, for `RateLimit-*` headers.
#[derive(Debug, Clone, Copy)]
pub struct Quota {
    pub limit: u64,
    pub remaining: u64,
    /// Seconds until the bucket is full again.
    pub reset: u64,
}

impl RateLimiter {
    /// `None` when `per_second` is 0 (no limit).
    pub fn new(per_second: u32, burst: u32) -> Option<RateLimiter> {
        (per_second > 0).then(|| RateLimiter {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// Takes one token for `key`: `Ok` with what is left, or `Err` with how long to wait.
    pub fn take(&self, key: &str) -> Result<Quota, Duration> {
        self.spend(key, true)
    }

    /// Whether `key` has a token left, without taking it: `Err` with how long to wait.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        self.spend(key, false).map(|_| ())
    }

    fn spend(&self, key: &str, take: bool) -> Result<Quota, Duration> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() >= MAX_BUCKETS {
            let full_after = Duration::from_secs_f64(self.burst / self.per_second);
            buckets.retain(|_, (_, at)| now.duration_since(*at) < full_after);
        }
        if !take && !buckets.contains_key(key) {
            // A full bucket: nothing to remember yet.
            return Ok(Quota { limit: self.burst as u64, remaining: self.burst as u64, reset: 0 });
        }
        let (tokens, at) = buckets.entry(key.to_owned()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        if *tokens >= 1.0 && !take {
            Ok(Quota { limit: self.burst as u64, remaining: *tokens as u64, reset: 0 })
        } else if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(Quota {
                limit: self.burst as u64,
                remaining: *tokens as u64,
                reset: ((self.burst - *tokens) / self.per_second).ceil() as u64,
            })
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / self.per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_requests_wait_for_tokens() {
        let limiter = RateLimiter::new(1, 3).unwrap();
        for _ in 0..3 {
            assert!(limiter.take("alice").is_ok());
        }
        let wait = limiter.take("alice").unwrap_err();
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1), "{wait:?}");
        assert!(limiter.take("bob").is_ok(), "buckets are per principal");
    }

    #[test]
    fn checking_takes_nothing() {
        let limiter = RateLimiter::new(1, 2).unwrap();
        for _ in 0..5 {
            assert!(limiter.check("10.0.0.1").is_ok());
        }
        assert!(limiter.take("10.0.0.1").is_ok());
        assert!(limiter.take("10.0.0.1").is_ok());
        assert!(limiter.check("10.0.0.1").is_err());
    }

    #[test]
    fn zero_turns_the_limit_off() {
        assert!(RateLimiter::new(0, 400).is_none());
    }
}
