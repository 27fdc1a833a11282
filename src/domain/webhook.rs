//! Webhook rules with no I/O: Standard Webhooks secrets and signatures, the retry
//! schedule, subscription filters, and which IP addresses count as public targets.
//! A signature is `v1,` + base64 of HMAC-SHA256 over `"{id}.{timestamp}.{body}"`, keyed
//! with the base64-decoded part of the `whsec_` secret.
use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::Duration,
};

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of every signing secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// A signing secret from 32 random bytes: `whsec_` + base64.
pub fn secret_from(bytes: &[u8; 32]) -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The `webhook-signature` value for one delivery; `None` if `secret` is not a `whsec_` secret.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = STANDARD.decode(secret.strip_prefix(SECRET_PREFIX)?).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

/// How long to wait before retry number `attempt` (1 = the first retry): `base` doubled
/// per attempt, at most `cap`, then "equal jitter": half of it fixed, half scaled by
/// `jitter` in `[0, 1)`. So the first retry comes within `base`, and no two are more than
/// `cap` apart.
pub fn retry_delay(attempt: u32, base: Duration, cap: Duration, jitter: f64) -> Duration {
    let doubled = base.saturating_mul(1u32.checked_shl(attempt.saturating_sub(1).min(31)).unwrap_or(u32::MAX));
    let full = doubled.min(cap);
    let jitter = jitter.clamp(0.0, 1.0);
    full / 2 + full.div_f64(2.0).mul_f64(jitter)
}

/// Which events a subscription receives: both lists empty means every event; a non-empty
/// list must contain the event's value (the two combine with AND).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub event_types: Vec<String>,
    pub data_products: Vec<String>,
}

impl Filter {
    pub fn matches(&self, event_type: &str, data_product: &str) -> bool {
        (self.event_types.is_empty() || self.event_types.iter().any(|t| t == event_type))
            && (self.data_products.is_empty() || self.data_products.iter().any(|p| p == data_product))
    }
}

/// True when `ip` is a routable, public unicast address: not loopback, unspecified,
/// private, shared (CGNAT), link-local, unique-local, multicast, documentation,
/// benchmarking or reserved. IPv4 addresses embedded in IPv6 (mapped, NAT64) are
/// judged as IPv4.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let refused = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240; // reserved
    !refused
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let seg = ip.segments();
    if seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6] == [0, 0, 0, 0] {
        // NAT64: the IPv4 address in the last 32 bits is where the packets go.
        let [.., hi, lo] = seg;
        return is_public_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    }
    let refused = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (seg[0] & 0xfe00) == 0xfc00 // unique local
        || (seg[0] & 0xffc0) == 0xfe80 // link-local
        || (seg[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
        || seg[0..6] == [0, 0, 0, 0, 0, 0]; // IPv4-compatible (deprecated)
    !refused
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
        assert_eq!(sign("not-a-secret", "id", 1, b"{}"), None);
    }

    #[test]
    fn secrets_carry_32_bytes_after_the_prefix() {
        let secret = secret_from(&[7; 32]);
        let raw = STANDARD.decode(secret.strip_prefix(SECRET_PREFIX).unwrap()).unwrap();
        assert_eq!(raw, vec![7; 32]);
        assert!(sign(&secret, "id", 1, b"{}").is_some());
    }

    #[test]
    fn retries_double_with_jitter_up_to_the_cap() {
        let (base, cap) = (Duration::from_secs(5), Duration::from_secs(600));
        assert_eq!(retry_delay(1, base, cap, 0.0), Duration::from_millis(2500));
        assert_eq!(retry_delay(1, base, cap, 1.0), base);
        assert_eq!(retry_delay(2, base, cap, 1.0), Duration::from_secs(10));
        assert_eq!(retry_delay(4, base, cap, 1.0), Duration::from_secs(40));
        for attempt in [8, 9, 30, 31, 32, 1000, u32::MAX] {
            for jitter in [0.0, 0.5, 0.999] {
                let d = retry_delay(attempt, base, cap, jitter);
                assert!(d <= cap && d >= cap / 2, "attempt {attempt}: {d:?}");
            }
        }
    }

    #[test]
    fn filters_combine_with_and() {
        let any = Filter::default();
        assert!(any.matches("schema.updated", "p"));
        let f = Filter { event_types: vec!["schema.updated".into()], data_products: vec!["p".into(), "q".into()] };
        assert!(f.matches("schema.updated", "q"));
        assert!(!f.matches("schema.created", "q"));
        assert!(!f.matches("schema.updated", "r"));
    }

    #[test]
    fn only_public_unicast_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2001:db8::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private} counted as public");
        }
        for public in ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(public.parse().unwrap()), "{public} counted as private");
        }
    }
}
