//! Who is calling, and what they may do. Every `/v1` request carries a bearer JWT; it is
//! verified against the keys of its algorithm family only (HS256 against the shared
//! secret, RS256/ES256 against the public key), never across families, so a token signed
//! with the public key as an HMAC secret is refused. Scopes: admin implies write implies
//! read. A `domains` claim limits writes to products of those domains.
//!
//! Environment: `DAAP_JWT_SECRET`, `DAAP_JWT_PUBLIC_KEY` (PEM text or a path to it),
//! `DAAP_JWKS_URL`, `DAAP_JWT_ISSUER`, `DAAP_JWT_AUDIENCE` (see `config`).
pub mod jwks;
pub mod rate_limit;

use std::{
    collections::{HashMap, HashSet},
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode};
use poem::{FromRequest, Request, RequestBody};
use poem_openapi::{SecurityScheme, auth::Bearer};
use serde::{Deserialize, Serialize};

use crate::{
    auth::jwks::{Jwks, Lookup},
    error::ApiError,
};

/// What a token allows, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Read,
    Write,
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "daap:read",
            Scope::Write => "daap:write",
            Scope::Admin => "daap:admin",
        }
    }

    fn parse(s: &str) -> Option<Scope> {
        [Scope::Read, Scope::Write, Scope::Admin].into_iter().find(|scope| scope.as_str() == s)
    }
}

/// The caller of a request: its `sub`, its strongest scope and its domains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub sub: String,
    pub scope: Option<Scope>,
    /// `None`: no `domains` claim, so no limit.
    pub domains: Option<Vec<String>>,
}

impl Principal {
    /// Refuses with 403 unless the token grants `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scope.is_some_and(|s| s >= scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!("this needs the `{}` scope", scope.as_str())))
        }
    }

    /// Refuses with 403 a write to a product of `domain` that the token's domains exclude.
    pub fn require_domain(&self, domain: &str) -> Result<(), ApiError> {
        match &self.domains {
            _ if self.scope == Some(Scope::Admin) => Ok(()),
            Some(domains) if !domains.iter().any(|d| d == domain) => {
                Err(ApiError::Forbidden(format!("your token may not write to products of domain `{domain}`")))
            }
            _ => Ok(()),
        }
    }
}

/// Handlers take the principal that the authentication layer verified.
impl<'a> FromRequest<'a> for Principal {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        req.extensions()
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| ApiError::Unauthorized("a bearer token is required".to_owned()).into())
    }
}

/// A JWT, sent as `Authorization: Bearer <token>`; paste the token itself here.
///
/// Where a token comes from: `cargo run` (zero-setup mode) prints an admin token, valid for
/// 24 hours, in its start-up lines; `daap token --sub alice --scope "daap:read daap:write"
/// --ttl 1h` mints one with the server's configured secret; in production your identity
/// provider issues it. Scopes (`daap:read`, `daap:write`, `daap:admin`) come from the `scope`,
/// `scp` or `roles` claim; a `domains` claim limits the products it may write.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT")]
pub struct BearerAuth(#[allow(dead_code)] pub Bearer);

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    /// One audience or several (RFC 7519 4.1.3); `jsonwebtoken` checks it against the setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aud: Option<StringOrList>,
    /// Space-separated (RFC 8693), or an array as some providers send it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<StringOrList>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scp: Option<StringOrList>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    roles: Option<StringOrList>,
    /// An array of domains, or one domain as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    domains: Option<StringOrList>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum StringOrList {
    One(String),
    Many(Vec<String>),
}

impl StringOrList {
    /// Space-separated words of a string, or the members of a list.
    fn items(&self) -> Vec<&str> {
        match self {
            StringOrList::One(s) => s.split_whitespace().collect(),
            StringOrList::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }

    /// A string as one value, or the members of a list.
    fn into_values(self) -> Vec<String> {
        match self {
            StringOrList::One(s) => vec![s],
            StringOrList::Many(v) => v,
        }
    }
}

/// The latest `exp` accepted: the end of year 9999. Later values are not real expiry times,
/// and arithmetic on them could overflow.
const MAX_EXP: u64 = 253_402_300_799;

/// The keys and rules tokens are checked against.
pub struct Verifier {
    secret: Option<Arc<DecodingKey>>,
    public: Option<(Arc<DecodingKey>, Vec<Algorithm>)>,
    jwks: Option<Arc<Jwks>>,
    /// One set of rules per accepted algorithm, built once.
    rules: Vec<(Algorithm, Validation)>,
    /// Tokens already verified, until they expire: a client sends the same token many times.
    /// Each entry holds the key set generation it was verified with; a new set (a JWKS
    /// refresh) means checking again, so a key taken out of the set stops working at once.
    verified: Mutex<HashMap<String, (Principal, u64, u64)>>,
}

/// The longest `sub` accepted.
const MAX_SUB_BYTES: usize = 1024;

/// Verified tokens remembered before the cache starts over.
const VERIFIED_CAPACITY: usize = 10_000;

/// How tokens are configured.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub secret: Option<String>,
    pub public_key: Option<String>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub jwks_url: Option<String>,
    /// How often the key set is fetched again.
    pub jwks_refresh: Duration,
    /// The least time between fetches caused by tokens with an unknown `kid`.
    pub jwks_min_refresh: Duration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            secret: None,
            public_key: None,
            issuer: None,
            audience: None,
            jwks_url: None,
            jwks_refresh: Duration::from_secs(600),
            jwks_min_refresh: Duration::from_secs(30),
        }
    }
}

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
const LEEWAY: u64 = 60;

impl Verifier {
    pub fn new(settings: &AuthSettings) -> anyhow::Result<Verifier> {
        let public = match &settings.public_key {
            None => None,
            Some(raw) => {
                let pem = if raw.trim_start().starts_with("-----BEGIN") {
                    raw.clone()
                } else {
                    std::fs::read_to_string(raw).with_context(|| format!("reading DAAP_JWT_PUBLIC_KEY from {raw}"))?
                };
                let key = if let Ok(k) = DecodingKey::from_rsa_pem(pem.as_bytes()) {
                    (Arc::new(k), vec![Algorithm::RS256])
                } else {
                    let k = DecodingKey::from_ec_pem(pem.as_bytes())
                        .context("DAAP_JWT_PUBLIC_KEY is neither an RSA nor an EC public key in PEM")?;
                    (Arc::new(k), vec![Algorithm::ES256])
                };
                Some(key)
            }
        };
        let rules = [Algorithm::HS256, Algorithm::RS256, Algorithm::ES256]
            .into_iter()
            .map(|alg| (alg, rules_for(alg, settings.issuer.as_deref(), settings.audience.as_deref())))
            .collect();
        let jwks = match &settings.jwks_url {
            Some(url) => Some(Arc::new(Jwks::new(url, settings.jwks_min_refresh)?)),
            None => None,
        };
        Ok(Verifier {
            secret: settings.secret.as_ref().map(|s| Arc::new(DecodingKey::from_secret(s.as_bytes()))),
            public,
            jwks,
            rules,
            verified: Mutex::new(HashMap::new()),
        })
    }

    /// Fetches the JWKS once and keeps it fresh every `every`. A failed first fetch is
    /// logged, not fatal: tokens are refused until a later fetch succeeds.
    pub async fn start_key_refresh(&self, every: Duration) {
        if let Some(jwks) = &self.jwks {
            let _ = jwks.refresh().await;
            jwks.clone().spawn_refresher(every);
        }
    }

    /// True when `token` was verified before and still counts as verified: checking it again
    /// costs no signature check.
    pub fn knows(&self, token: &str) -> bool {
        let now = jsonwebtoken::get_current_timestamp();
        let generation = self.jwks.as_ref().map_or(0, |j| j.generation());
        self.verified.lock().is_ok_and(|verified| {
            verified.get(token).is_some_and(|(_, exp, seen)| now <= exp.saturating_add(LEEWAY) && *seen == generation)
        })
    }

    /// The principal of a bearer token, or why it is refused (always a 401).
    pub async fn verify(&self, token: &str) -> Result<Principal, ApiError> {
        let now = jsonwebtoken::get_current_timestamp();
        let generation = self.jwks.as_ref().map_or(0, |j| j.generation());
        if let Ok(verified) = self.verified.lock()
            && let Some((who, exp, seen)) = verified.get(token)
            && now <= exp.saturating_add(LEEWAY)
            && *seen == generation
        {
            return Ok(who.clone());
        }
        let (who, exp) = self.verify_signature(token).await?;
        if let Ok(mut verified) = self.verified.lock() {
            if verified.len() >= VERIFIED_CAPACITY {
                verified.clear();
            }
            verified.insert(token.to_owned(), (who.clone(), exp, generation));
        }
        Ok(who)
    }

    async fn verify_signature(&self, token: &str) -> Result<(Principal, u64), ApiError> {
        let header = decode_header(token).map_err(|_| refuse("it is not a well-formed signed JWT"))?;
        let Some(validation) = self.rules.iter().find(|(alg, _)| *alg == header.alg).map(|(_, v)| v) else {
            return Err(refuse("its algorithm is not one this service accepts"));
        };
        let keys = self.keys_for(header.alg, header.kid.as_deref()).await?;
        let mut outcome = None;
        for key in keys {
            let attempt = decode::<Claims>(token, &key, validation);
            // With several candidate keys, only a bad signature means "try the next one".
            let next = matches!(&attempt, Err(e) if *e.kind() == jsonwebtoken::errors::ErrorKind::InvalidSignature);
            outcome = Some(attempt);
            if !next {
                break;
            }
        }
        let Some(outcome) = outcome else {
            return Err(refuse("its algorithm is not one this service accepts"));
        };
        let data = outcome.map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => refuse("it has expired"),
                ErrorKind::ImmatureSignature => refuse("it is not valid yet"),
                ErrorKind::InvalidIssuer => refuse("wrong issuer"),
                ErrorKind::InvalidAudience => refuse("wrong audience"),
                ErrorKind::InvalidSignature => refuse("bad signature"),
                ErrorKind::MissingRequiredClaim(c) => refuse(&format!("the `{c}` claim is missing")),
                _ => refuse("it cannot be verified"),
            }
        })?;
        let claims = data.claims;
        if claims.exp > MAX_EXP {
            return Err(refuse("its `exp` is not a plausible expiry time"));
        }
        // Rate limits, idempotency keys and audit fields are all scoped by `sub`.
        if claims.sub.trim().is_empty() {
            return Err(refuse("the `sub` claim is empty"));
        }
        if claims.sub.chars().any(char::is_control) || claims.sub.len() > MAX_SUB_BYTES {
            return Err(refuse("the `sub` claim has control characters or is over 1024 bytes"));
        }
        let mut granted: HashSet<&str> = HashSet::new();
        for list in [&claims.scope, &claims.scp, &claims.roles].into_iter().flatten() {
            granted.extend(list.items());
        }
        let scope = granted.into_iter().filter_map(Scope::parse).max();
        let domains = claims.domains.map(StringOrList::into_values);
        Ok((Principal { sub: claims.sub, scope, domains }, claims.exp))
    }

    /// The keys of the token's algorithm family: the secret for HS256; for RS256/ES256 the
    /// JWKS key its `kid` names (fetching the set again for a new `kid`), else the PEM key.
    async fn keys_for(&self, alg: Algorithm, kid: Option<&str>) -> Result<Vec<Arc<DecodingKey>>, ApiError> {
        if alg == Algorithm::HS256 {
            return Ok(self.secret.iter().cloned().collect());
        }
        let mut keys = Vec::new();
        let mut unknown_kid = false;
        if let Some(jwks) = &self.jwks {
            let mut found = jwks.lookup(kid, alg);
            if matches!(found, Lookup::UnknownKid) && jwks.refresh_for_unknown_kid().await {
                found = jwks.lookup(kid, alg);
            }
            match found {
                Lookup::Found(found) => keys.extend(found.into_iter().map(|k| k.key)),
                Lookup::UnknownKid => unknown_kid = true,
                Lookup::None => {}
            }
        }
        if keys.is_empty()
            && let Some((key, algs)) = &self.public
            && algs.contains(&alg)
        {
            keys.push(key.clone());
        }
        match kid {
            _ if !keys.is_empty() => Ok(keys),
            Some(kid) if unknown_kid => Err(refuse(&format!("its key id `{kid}` is not one of this service's keys"))),
            _ => Err(refuse("its algorithm is not one this service accepts")),
        }
    }
}

/// A 401 that says why the token is refused.
fn refuse(why: &str) -> ApiError {
    ApiError::Unauthorized(format!("the bearer token is refused: {why}"))
}

/// The checks for tokens of `alg`: `exp` and `sub` always, `iss`/`aud` when configured.
fn rules_for(alg: Algorithm, issuer: Option<&str>, audience: Option<&str>) -> Validation {
    let mut validation = Validation::new(alg);
    validation.leeway = LEEWAY;
    validation.validate_nbf = true;
    let mut required = vec!["exp", "sub"];
    if let Some(iss) = issuer {
        validation.set_issuer(&[iss]);
        required.push("iss");
    }
    match audience {
        Some(aud) => {
            validation.set_audience(&[aud]);
            required.push("aud");
        }
        None => validation.validate_aud = false,
    }
    validation.set_required_spec_claims(&required);
    validation
}

/// Mints an HS256 token (`daap token`, and the start-up admin token).
pub fn mint(
    secret: &str,
    sub: &str,
    scopes: &str,
    domains: Option<Vec<String>>,
    ttl: std::time::Duration,
    issuer: Option<&str>,
    audience: Option<&str>,
) -> anyhow::Result<String> {
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    let claims = Claims {
        sub: sub.to_owned(),
        exp: now + ttl.as_secs(),
        nbf: Some(now),
        iat: Some(now),
        iss: issuer.map(str::to_owned),
        aud: audience.map(|a| StringOrList::One(a.to_owned())),
        scope: Some(StringOrList::One(scopes.to_owned())),
        scp: None,
        roles: None,
        domains: domains.map(StringOrList::Many),
    };
    encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes()))
        .context("signing a token")
}

/// The zero-setup secret under the data directory, created on first use: readable by this
/// user only from its first byte (the file is created with mode 0600, not narrowed after).
pub fn local_secret(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("jwt-secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim().to_owned();
        if existing.len() >= 32 {
            return Ok(existing);
        }
    }
    crate::config::create_private_dir(data_dir)?;
    let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path).with_context(|| format!("creating {}", path.display()))?;
    #[cfg(unix)]
    {
        // A file left by an older version may be wider: narrow it before writing the secret.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    std::io::Write::write_all(&mut file, secret.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    Ok(secret)
}
