//! Where a webhook may point. Only `http(s)` URLs; unless private targets are allowed,
//! every address the host resolves to must be public (`domain::webhook::is_public`), both
//! when the subscription is created (a 422 naming `/url`) and at each delivery, because
//! DNS answers change: deliveries resolve through `GuardedResolver`, which refuses a
//! private answer, so the connection goes only to the addresses that were checked.
use std::{
    net::{IpAddr, SocketAddr},
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
    match addrs.iter().find(|a| !is_public(a.ip())) {
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
        Some(ip) if !is_public(ip) => Err(refusal(url.host_str().unwrap_or_default(), ip)),
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
        for bad in ["ftp://example.com/", "example.com/hook", "https://user:pw@example.com/", "file:///etc/passwd", ""]
        {
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
}
