//! Verification keys published as a JSON Web Key Set (`DAAP_JWKS_URL`), as identity
//! providers do. The set is fetched at start-up, refreshed on a timer and whenever a token
//! names a `kid` the service does not know (at most once per `min_interval`, so a flood of
//! made-up key ids costs one fetch). A failed fetch never takes the service down: the keys
//! from the last good fetch stay in use, and the failure is logged.
use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use jsonwebtoken::{
    Algorithm, DecodingKey,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse},
};

/// A key set larger than this is refused as not a key set.
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// How long one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// One usable verification key.
#[derive(Clone)]
pub struct Key {
    pub key: Arc<DecodingKey>,
    pub alg: Algorithm,
}

#[derive(Default)]
struct KeySet {
    by_kid: HashMap<String, Key>,
    /// Keys published without a `kid`: tried for tokens without one.
    anonymous: Vec<Key>,
}

/// What the set holds for a token's `kid` and `alg`.
pub enum Lookup {
    Found(Vec<Key>),
    /// The token names a key id the set does not have.
    UnknownKid,
    /// The set has no key for this algorithm.
    None,
}

pub struct Jwks {
    url: String,
    client: reqwest::Client,
    keys: RwLock<Arc<KeySet>>,
    /// Counts successful fetches, so tokens verified with an older set are checked again.
    generation: AtomicU64,
    /// When a token's unknown `kid` last caused a fetch; held during that fetch, so
    /// concurrent requests with the same new key wait for one fetch instead of each making one.
    last_on_demand: tokio::sync::Mutex<Option<Instant>>,
    min_interval: Duration,
}

impl Jwks {
    pub fn new(url: &str, min_interval: Duration) -> anyhow::Result<Jwks> {
        let parsed = reqwest::Url::parse(url).with_context(|| format!("DAAP_JWKS_URL `{url}` is not a URL"))?;
        anyhow::ensure!(
            matches!(parsed.scheme(), "https" | "http"),
            "DAAP_JWKS_URL must be an http(s) URL, not `{}`",
            parsed.scheme()
        );
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .user_agent(concat!("daap/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the JWKS client")?;
        Ok(Jwks {
            url: url.to_owned(),
            client,
            keys: RwLock::new(Arc::default()),
            generation: AtomicU64::new(0),
            last_on_demand: tokio::sync::Mutex::new(None),
            min_interval,
        })
    }

    /// Fetches the set and, when it holds at least one usable key, replaces the keys in use.
    /// On any failure the previous keys stay; the error says why.
    pub async fn refresh(&self) -> anyhow::Result<usize> {
        let set = self.fetch().await;
        let set = match set {
            Ok(set) => set,
            Err(err) => {
                tracing::warn!(url = %self.url, error = %format!("{err:#}"), "JWKS refresh failed; keeping the previous keys");
                return Err(err);
            }
        };
        let count = set.by_kid.len() + set.anonymous.len();
        if count == 0 {
            tracing::warn!(url = %self.url, "the JWKS has no RS256 or ES256 signing key; keeping the previous keys");
            anyhow::bail!("the key set has no usable key");
        }
        if let Ok(mut keys) = self.keys.write() {
            *keys = Arc::new(set);
        }
        self.generation.fetch_add(1, Ordering::Release);
        tracing::info!(url = %self.url, keys = count, "JWKS refreshed");
        Ok(count)
    }

    async fn fetch(&self) -> anyhow::Result<KeySet> {
        let resp = self.client.get(&self.url).send().await.context("fetching the key set")?;
        let status = resp.status();
        anyhow::ensure!(status.is_success(), "the key set URL answered {status}");
        if resp.content_length().is_some_and(|n| n > MAX_BODY_BYTES as u64) {
            anyhow::bail!("the key set is larger than {MAX_BODY_BYTES} bytes");
        }
        let body = resp.bytes().await.context("reading the key set")?;
        anyhow::ensure!(body.len() <= MAX_BODY_BYTES, "the key set is larger than {MAX_BODY_BYTES} bytes");
        let set: JwkSet = serde_json::from_slice(&body).context("the key set is not a JWKS document")?;
        let mut keys = KeySet::default();
        for jwk in &set.keys {
            let Some(key) = usable(jwk) else { continue };
            match &jwk.common.key_id {
                Some(kid) => {
                    keys.by_kid.insert(kid.clone(), key);
                }
                None => keys.anonymous.push(key),
            }
        }
        Ok(keys)
    }

    /// Changes whenever a fetch replaces the keys.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The keys a token with this `kid` and `alg` may be checked against.
    pub fn lookup(&self, kid: Option<&str>, alg: Algorithm) -> Lookup {
        let Ok(keys) = self.keys.read().map(|k| k.clone()) else { return Lookup::None };
        match kid {
            Some(kid) => match keys.by_kid.get(kid) {
                Some(key) if key.alg == alg => Lookup::Found(vec![key.clone()]),
                Some(_) => Lookup::None,
                None => Lookup::UnknownKid,
            },
            None => {
                let found: Vec<Key> =
                    keys.anonymous.iter().chain(keys.by_kid.values()).filter(|k| k.alg == alg).cloned().collect();
                if found.is_empty() { Lookup::None } else { Lookup::Found(found) }
            }
        }
    }

    /// Fetches the set again because a token named an unknown key, unless that happened less
    /// than `min_interval` ago. True when the keys were refreshed.
    pub async fn refresh_for_unknown_kid(&self) -> bool {
        let mut last = self.last_on_demand.lock().await;
        if last.is_some_and(|at| at.elapsed() < self.min_interval) {
            return false;
        }
        *last = Some(Instant::now());
        self.refresh().await.is_ok()
    }

    /// Refreshes the set every `every`, for the life of the process.
    pub fn spawn_refresher(self: Arc<Self>, every: Duration) {
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let _ = self.refresh().await;
            }
        });
    }
}

/// The verification key of a JWK, when it is an RS256 or ES256 (P-256) signing key.
fn usable(jwk: &Jwk) -> Option<Key> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let implied = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => Algorithm::ES256,
        _ => return None,
    };
    let alg = match jwk.common.key_algorithm {
        None => implied,
        Some(KeyAlgorithm::RS256) if implied == Algorithm::RS256 => Algorithm::RS256,
        Some(KeyAlgorithm::ES256) if implied == Algorithm::ES256 => Algorithm::ES256,
        Some(_) => return None,
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(Key { key: Arc::new(key), alg })
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::EncodingKey;

    use super::*;

    fn jwk(alg: Algorithm) -> Jwk {
        let key = match alg {
            Algorithm::RS256 => {
                EncodingKey::from_rsa_pem(include_bytes!("../../tests/fixtures/rsa-private.pem")).unwrap()
            }
            _ => EncodingKey::from_ec_pem(include_bytes!("../../tests/fixtures/ec-private.pem")).unwrap(),
        };
        Jwk::from_encoding_key(&key, alg).unwrap()
    }

    #[test]
    fn rsa_and_p256_signing_keys_are_usable() {
        assert_eq!(usable(&jwk(Algorithm::RS256)).map(|k| k.alg), Some(Algorithm::RS256));
        assert_eq!(usable(&jwk(Algorithm::ES256)).map(|k| k.alg), Some(Algorithm::ES256));
    }

    #[test]
    fn encryption_keys_and_mismatched_algorithms_are_skipped() {
        let mut enc = jwk(Algorithm::RS256);
        enc.common.public_key_use = Some(PublicKeyUse::Encryption);
        assert!(usable(&enc).is_none());
        let mut wrong = jwk(Algorithm::RS256);
        wrong.common.key_algorithm = Some(KeyAlgorithm::ES256);
        assert!(usable(&wrong).is_none());
        let mut hmac = jwk(Algorithm::RS256);
        hmac.common.key_algorithm = Some(KeyAlgorithm::HS256);
        assert!(usable(&hmac).is_none());
    }
}
