//! Where a webhook may point. Only `http(s)` URLs; unless private targets are allowed,
//! every address the host resolves to must be public (`domain::webhook::is_public`), both
//! when the subscription is created (a 422 naming `/url`) and at each delivery, because
//! DNS answers change: deliveries resolve through `GuardedResolver`, which refuses a
//! private answer, so the connection goes only to the addresses that were checked.
//! IPv6 prefixes that tunnel or translate to an IPv4 address, or are not routable on the
//! internet, are refused as well (`is_deliverable`): their packets can end up anywhere.
use std::{
    net::{IpAddr, Ipv6Addr, SocketAddr},
    time::Duration,
};

use reqwest::Url;

use crate::{domain::webhook::is_public, error::ApiError, error::FieldError};

/// The longest URL a subscription may have.
pub const MAX_URL_LEN: usize = 2048;

/// Parses a webhook URL: absolute `http(s)` with a host and no credentials.
pub fn parse(raw: &str) -> Result<Url, String> {
    if raw.len() > MAX_URL_LEN {
        return Err(format!("must be at most {MAX_URL_LEN} characters long"));
    }
    // URL parsing drops tabs and line breaks silently; the URL kept must be the one checked.
    if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("must not contain whitespace or control characters".to_owned());
    }
    let url = Url::parse(raw).map_err(|e| format!("must be an absolute http(s) URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("must be an http or https URL, not `{}`", url.scheme()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must name a host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials; verify deliveries by their signature instead".to_owned());
    }
    Ok(url)
}

/// True when a webhook may be delivered to `ip`: a public address (`is_public`) outside
/// the IPv6 prefixes that embed, tunnel or translate to other addresses, or that are not
/// global: 6to4 `2002::/16`, Teredo and the other IETF protocol assignments `2001::/23`,
/// local-use NAT64 `64:ff9b:1::/48`, discard-only `100::/64`, SRv6 SIDs `5f00::/16` and
/// documentation `3fff::/20` (the well-known NAT64 prefix `64:ff9b::/96`, IPv4-mapped
/// `::ffff:0:0/96` and IPv4-compatible `::/96` are judged by their IPv4 address already).
pub fn is_deliverable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(_) => is_public(ip),
        IpAddr::V6(v6) => is_public(ip) && !is_special_v6(v6),
    }
}

fn is_special_v6(ip: Ipv6Addr) -> bool {
    let seg = ip.segments();
    seg[0] == 0x2002 // 6to4: the IPv4 address in bits 16..48 gets the packets
        || (seg[0] == 0x2001 && seg[1] < 0x0200) // IETF protocol assignments: Teredo, ORCHID, benchmarking, ...
        || (seg[0] == 0x0064 && seg[1] == 0xff9b && seg[2] == 0x0001) // local-use NAT64 (RFC 8215)
        || (seg[0] == 0x0064 && seg[1] == 0xff9b && seg[2..6] != [0, 0, 0, 0]) // 64:ff9b::/32 beyond the /96
        || (seg[0] == 0x0100 && seg[1..4] == [0, 0, 0]) // discard-only
        || seg[0] == 0x5f00 // SRv6 segment identifiers
        || (seg[0] & 0xfff0) == 0x3ff0 // documentation (RFC 9637)
        || (seg[0..5] == [0, 0, 0, 0, 0xffff] && seg[5] == 0) // IPv4-translated (RFC 2765)
}

/// The literal address of a URL's host, if it is one.
fn literal_ip(url: &Url) -> Option<IpAddr> {
    // IPv6 literals are written in brackets (`[::1]`); domains never parse as addresses.
    url.host_str()?.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

fn refusal(host: &str, ip: IpAddr) -> String {
    format!(
        "`{host}` is {ip}, a loopback, link-local, private or otherwise non-public address; \
         webhooks may not target the service's own network (unless DAAP_WEBHOOK_ALLOW_PRIVATE=true)"
    )
}

/// Refuses any non-public address among `addrs` (all of them must be public).
fn only_public(host: &str, addrs: &[SocketAddr]) -> Result<(), String> {
    match addrs.iter().find(|a| !is_deliverable(a.ip())) {
        Some(a) => Err(refusal(host, a.ip())),
        None if addrs.is_empty() => Err(format!("`{host}` resolves to no address")),
        None => Ok(()),
    }
}

/// Checks a new subscription's URL; a refusal is a 422 naming `/url`.
pub async fn check_new(raw: &str, allow_private: bool) -> Result<Url, ApiError> {
    let invalid = |message: String| ApiError::Validation(vec![FieldError::new("/url", message)]);
    let url = parse(raw).map_err(invalid)?;
    if allow_private {
        return Ok(url);
    }
    check_delivery_target(&url).await.map_err(invalid)?;
    Ok(url)
}

/// Refuses a URL whose host is a non-public address literal (names pass).
pub fn check_literal(url: &Url) -> Result<(), String> {
    match literal_ip(url) {
        Some(ip) if !is_deliverable(ip) => Err(refusal(url.host_str().unwrap_or_default(), ip)),
        _ => Ok(()),
    }
}

/// Checks where a delivery to `url` would go; the message says why it may not.
pub async fn check_delivery_target(url: &Url) -> Result<(), String> {
    check_literal(url)?;
    if literal_ip(url).is_some() {
        return Ok(());
    }
    let host = url.host_str().unwrap_or_default().to_owned();
    let addrs = resolve(&host).await?;
    only_public(&host, &addrs)
}

async fn resolve(host: &str) -> Result<Vec<SocketAddr>, String> {
    match tokio::time::timeout(Duration::from_secs(5), tokio::net::lookup_host((host, 0))).await {
        Ok(Ok(addrs)) => Ok(addrs.collect()),
        Ok(Err(_)) => Err(format!("the host `{host}` does not resolve")),
        Err(_) => Err(format!("resolving the host `{host}` timed out")),
    }
}

/// The resolver of the delivery client: it refuses hosts that resolve to non-public
/// addresses (unless allowed), so a delivery cannot be steered into the private network
/// by a DNS change after the subscription was checked.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs = resolve(&host).await?;
            if !allow_private {
                only_public(&host, &addrs)?;
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_with_a_host_and_no_credentials_parse() {
        assert!(parse("https://example.com/hook").is_ok());
        assert!(parse("http://127.0.0.1:9000/x").is_ok());
        for bad in [
            "ftp://example.com/",
            "example.com/hook",
            "https://user:pw@example.com/",
            "file:///etc/passwd",
            "",
            "https://exa\nmple.com/hook",
            "https://example.com/ho\tok",
            "https://example.com/\u{0}",
            "https://example.com/a b",
        ] {
            assert!(parse(bad).is_err(), "{bad} was accepted");
        }
        assert!(parse(&format!("https://example.com/{}", "a".repeat(MAX_URL_LEN))).is_err());
    }

    #[tokio::test]
    async fn private_literals_and_names_are_refused() {
        for url in ["http://127.0.0.1/", "http://[::1]:8080/", "http://10.0.0.8/", "http://169.254.169.254/latest"] {
            let err = check_delivery_target(&parse(url).unwrap()).await.unwrap_err();
            assert!(err.contains("non-public"), "{url}: {err}");
        }
        assert!(check_delivery_target(&parse("http://localhost:1/").unwrap()).await.is_err());
        assert!(check_delivery_target(&parse("http://93.184.215.14/").unwrap()).await.is_ok());
    }

    #[test]
    fn ipv6_transition_and_non_global_prefixes_are_refused() {
        for refused in [
            "64:ff9b:1::a00:1",          // local-use NAT64
            "64:ff9b:1:ffff::5db8:d70e", // local-use NAT64, public IPv4 inside
            "64:ff9b::a9fe:a9fe",        // well-known NAT64 of 169.254.169.254
            "64:ff9b::7f00:1",           // well-known NAT64 of 127.0.0.1
            "2002:7f00:1::",             // 6to4 of 127.0.0.1
            "2002:5db8:d70e::1",         // 6to4, even of a public IPv4
            "2001::1",                   // Teredo
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:10::1",       // ORCHID
            "2001:2::1",        // benchmarking
            "::ffff:127.0.0.1", // IPv4-mapped
            "::ffff:0:a00:1",   // IPv4-translated
            "::127.0.0.1",      // IPv4-compatible
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "::1",
            "::",
            "100::1",
            "2001:db8::1",
            "3fff::1",
            "5f00::1",
        ] {
            let ip: IpAddr = refused.parse().unwrap();
            assert!(!is_deliverable(ip), "{refused} was let through");
            let url = parse(&format!("http://[{refused}]:8080/hook")).unwrap();
            assert!(check_literal(&url).is_err(), "{refused} literal was let through");
        }
        for allowed in
            ["2606:4700::6810:84e5", "2a00:1450:4009:81f::200e", "64:ff9b::5db8:d70e", "::ffff:93.184.215.14"]
        {
            assert!(is_deliverable(allowed.parse().unwrap()), "{allowed} was refused");
        }
    }
}
