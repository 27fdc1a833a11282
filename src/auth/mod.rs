//! Who is calling, and what they may do. Every `/v1` request carries a bearer JWT; it is
//! verified against the keys of its algorithm family only (HS256 against the shared
//! secret, RS256/ES256 against the public key), never across families, so a token signed
//! with the public key as an HMAC secret is refused. Scopes: admin implies write implies
//! read. A `domains` claim limits writes to products of those domains.
//!
//! Environment: `DAAP_JWT_SECRET`, `DAAP_JWT_PUBLIC_KEY` (PEM text or a path to it),
//! `DAAP_JWT_ISSUER`, `DAAP_JWT_AUDIENCE` (see `config`).
pub mod rate_limit;

use std::{
    collections::{HashMap, HashSet},
    path::Path,
    sync::Mutex,
};

use anyhow::Context;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode};
use poem::{FromRequest, Request, RequestBody};
use poem_openapi::{SecurityScheme, auth::Bearer};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

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

/// Documents the bearer scheme, so "try it" in `/docs` sends a pasted token.
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aud: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scp: Option<StringOrList>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    roles: Option<StringOrList>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    domains: Option<Vec<String>>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum StringOrList {
    One(String),
    Many(Vec<String>),
}

impl StringOrList {
    fn items(&self) -> Vec<&str> {
        match self {
            StringOrList::One(s) => s.split_whitespace().collect(),
            StringOrList::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// The keys and rules tokens are checked against.
pub struct Verifier {
    secret: Option<DecodingKey>,
    public: Option<(DecodingKey, Vec<Algorithm>)>,
    /// One set of rules per accepted algorithm, built once.
    rules: Vec<(Algorithm, Validation)>,
    /// Tokens already verified, until they expire: a client sends the same token many times.
    verified: Mutex<HashMap<String, (Principal, u64)>>,
}

/// Verified tokens remembered before the cache starts over.
const VERIFIED_CAPACITY: usize = 10_000;

/// How tokens are configured.
#[derive(Debug, Clone, Default)]
pub struct AuthSettings {
    pub secret: Option<String>,
    pub public_key: Option<String>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
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
                    (k, vec![Algorithm::RS256])
                } else {
                    let k = DecodingKey::from_ec_pem(pem.as_bytes())
                        .context("DAAP_JWT_PUBLIC_KEY is neither an RSA nor an EC public key in PEM")?;
                    (k, vec![Algorithm::ES256])
                };
                Some(key)
            }
        };
        let rules = [Algorithm::HS256, Algorithm::RS256, Algorithm::ES256]
            .into_iter()
            .map(|alg| (alg, rules_for(alg, settings.issuer.as_deref(), settings.audience.as_deref())))
            .collect();
        Ok(Verifier {
            secret: settings.secret.as_ref().map(|s| DecodingKey::from_secret(s.as_bytes())),
            public,
            rules,
            verified: Mutex::new(HashMap::new()),
        })
    }

    /// The principal of a bearer token, or why it is refused (always a 401).
    pub fn verify(&self, token: &str) -> Result<Principal, ApiError> {
        let now = jsonwebtoken::get_current_timestamp();
        if let Ok(verified) = self.verified.lock()
            && let Some((who, exp)) = verified.get(token)
            && now <= exp + LEEWAY
        {
            return Ok(who.clone());
        }
        let (who, exp) = self.verify_signature(token)?;
        if let Ok(mut verified) = self.verified.lock() {
            if verified.len() >= VERIFIED_CAPACITY {
                verified.clear();
            }
            verified.insert(token.to_owned(), (who.clone(), exp));
        }
        Ok(who)
    }

    fn verify_signature(&self, token: &str) -> Result<(Principal, u64), ApiError> {
        let refuse = |why: &str| ApiError::Unauthorized(format!("the bearer token is refused: {why}"));
        let header = decode_header(token).map_err(|_| refuse("it is not a well-formed signed JWT"))?;
        let key = match header.alg {
            Algorithm::HS256 => self.secret.as_ref(),
            alg => match &self.public {
                Some((key, algs)) if algs.contains(&alg) => Some(key),
                _ => None,
            },
        };
        let rules = self.rules.iter().find(|(alg, _)| *alg == header.alg).map(|(_, v)| v);
        let (Some(key), Some(validation)) = (key, rules) else {
            return Err(refuse("its algorithm is not one this service accepts"));
        };
        let data = decode::<Claims>(token, key, validation).map_err(|e| {
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
        let mut granted: HashSet<&str> = HashSet::new();
        granted.extend(claims.scope.as_deref().unwrap_or("").split_whitespace());
        for list in [&claims.scp, &claims.roles].into_iter().flatten() {
            granted.extend(list.items());
        }
        let scope = granted.into_iter().filter_map(Scope::parse).max();
        Ok((Principal { sub: claims.sub, scope, domains: claims.domains }, claims.exp))
    }
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
        aud: audience.map(str::to_owned),
        scope: Some(scopes.to_owned()),
        scp: None,
        roles: None,
        domains,
    };
    encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes()))
        .context("signing a token")
}

/// The zero-setup secret under the data directory, created on first use (mode 0600).
pub fn local_secret(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("jwt-secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim().to_owned();
        if existing.len() >= 32 {
            return Ok(existing);
        }
    }
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    std::fs::write(&path, &secret).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(secret)
}
