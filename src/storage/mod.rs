//! Object storage behind a small surface: presigned PUT and `UploadPart` URLs, HEAD, ranged
//! GET and multipart create/complete/abort, against AWS S3 or any S3-compatible store.
//! Every URL is signed for exactly one key, method and length (and MD5 for single PUTs), so
//! the store refuses any other body. Presigned URLs are secrets: they are never logged.
//!
//! Environment (see `config`): `DAAP_S3_ENDPOINT`, `DAAP_S3_BUCKET`, `DAAP_S3_REGION`,
//! `DAAP_S3_FORCE_PATH_STYLE`, `DAAP_EMBEDDED_S3`, `DAAP_EMBEDDED_S3_LISTEN`; credentials
//! from the standard AWS chain, `DAAP_S3_ACCESS_KEY_ID` / `DAAP_S3_SECRET_ACCESS_KEY`, or
//! generated ones for the embedded store.
pub mod embedded;

use std::time::Duration;

use anyhow::Context;
use aws_sdk_s3::{
    Client,
    config::{BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation},
    error::{ProvideErrorMetadata, SdkError},
    presigning::PresigningConfig,
    types::{CompletedMultipartUpload, CompletedPart},
};
use aws_smithy_http_client::tls;

use crate::config::Settings;

/// The bucket used when `DAAP_S3_BUCKET` is unset.
pub const DEFAULT_BUCKET: &str = "daap-landing";

/// A request a client must make: URL (with the signature in its query) and headers.
#[derive(Debug, Clone)]
pub struct Presigned {
    pub url: String,
    /// Every header the client must send, names in lower case.
    pub headers: Vec<(String, String)>,
}

/// What a HEAD of an object tells.
#[derive(Debug, Clone)]
pub struct ObjectInfo {
    pub size: i64,
    /// Without the surrounding quotes.
    pub etag: Option<String>,
}

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The store refused the request (a 4xx such as `InvalidPart`); the message says why.
    #[error("the object store refused the request: {code}: {message}")]
    Refused { code: String, message: String },
    /// The store cannot be reached or failed (a 5xx, a timeout).
    #[error("the object store is unavailable: {0}")]
    Unavailable(String),
}

fn classify<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(err: SdkError<E, R>) -> StorageError
where
    SdkError<E, R>: std::error::Error,
{
    let status = match &err {
        SdkError::ServiceError(s) => Some(format!("{:?}", s.raw())),
        _ => None,
    };
    match &err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().unwrap_or("Unknown").to_owned();
            let message = e.message().unwrap_or("").to_owned();
            // A refusal is the store's word on this request (4xx); anything else is its failure.
            let client_error = status.as_deref().is_some_and(|s| s.contains("StatusCode(4"));
            if client_error || !matches!(code.as_str(), "Unknown" | "InternalError" | "ServiceUnavailable" | "SlowDown")
            {
                StorageError::Refused { code, message }
            } else {
                StorageError::Unavailable(format!("{code}: {message}"))
            }
        }
        other => StorageError::Unavailable(format!("{}", aws_sdk_s3::error::DisplayErrorContext(other))),
    }
}

/// The bucket and a client for it; owns the embedded store when there is one.
pub struct Storage {
    client: Client,
    bucket: String,
    embedded: Option<embedded::EmbeddedStore>,
}

impl Storage {
    /// Connects to the configured store, starting the embedded one when asked.
    pub async fn connect(settings: &Settings) -> anyhow::Result<Storage> {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
            .build_https();
        let bucket = settings.s3_bucket.clone().unwrap_or_else(|| DEFAULT_BUCKET.to_owned());
        if settings.use_embedded_s3() {
            let store = embedded::EmbeddedStore::start(&settings.data_dir, &bucket, settings.embedded_s3_listen)
                .await
                .context("starting the embedded S3-compatible store")?;
            let config = aws_sdk_s3::config::Builder::new()
                .behavior_version(BehaviorVersion::latest())
                .http_client(http)
                .region(Region::new(embedded::REGION))
                .credentials_provider(Credentials::new(
                    store.access_key.clone(),
                    store.secret_key.clone(),
                    None,
                    None,
                    "daap-embedded",
                ))
                .endpoint_url(store.endpoint.clone())
                .force_path_style(true)
                .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
                .build();
            tracing::info!(endpoint = %store.endpoint, bucket, "embedded S3-compatible store is serving");
            return Ok(Storage { client: Client::from_conf(config), bucket, embedded: Some(store) });
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .region(Region::new(settings.s3_region.clone()));
        if let (Some(key), Some(secret)) = (&settings.s3_access_key_id, &settings.s3_secret_access_key) {
            loader = loader.credentials_provider(Credentials::new(key, secret, None, None, "daap-settings"));
        }
        let shared = loader.load().await;
        let mut config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(settings.s3_force_path_style)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(endpoint) = &settings.s3_endpoint {
            config = config.endpoint_url(endpoint);
        }
        Ok(Storage { client: Client::from_conf(config.build()), bucket, embedded: None })
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The embedded store's endpoint, when it runs.
    pub fn embedded_endpoint(&self) -> Option<&str> {
        self.embedded.as_ref().map(|e| e.endpoint.as_str())
    }

    /// Stops the embedded store, if any.
    pub fn stop(&self) {
        if let Some(e) = &self.embedded {
            e.stop();
        }
    }

    fn presigning(ttl: Duration) -> Result<PresigningConfig, StorageError> {
        PresigningConfig::expires_in(ttl).map_err(|e| StorageError::Unavailable(format!("presigning: {e}")))
    }

    /// A PUT of exactly `length` bytes whose MD5 is `md5` (base64) to `key`.
    pub async fn presign_put(
        &self,
        key: &str,
        md5: &str,
        length: u64,
        content_type: Option<&str>,
        ttl: Duration,
    ) -> Result<Presigned, StorageError> {
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_md5(md5)
            .content_length(length as i64)
            .set_content_type(content_type.map(str::to_owned))
            .presigned(Self::presigning(ttl)?)
            .await
            .map_err(classify)?;
        Ok(presigned(req, length))
    }

    /// Starts a multipart upload; returns its upload id.
    pub async fn create_multipart(&self, key: &str, content_type: Option<&str>) -> Result<String, StorageError> {
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .set_content_type(content_type.map(str::to_owned))
            .send()
            .await
            .map_err(classify)?;
        out.upload_id()
            .map(str::to_owned)
            .ok_or_else(|| StorageError::Unavailable("the store answered without an upload id".to_owned()))
    }

    /// A PUT of part `number` (exactly `length` bytes) of a multipart upload.
    pub async fn presign_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        length: u64,
        ttl: Duration,
    ) -> Result<Presigned, StorageError> {
        let req = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .content_length(length as i64)
            .presigned(Self::presigning(ttl)?)
            .await
            .map_err(classify)?;
        Ok(presigned(req, length))
    }

    /// Completes a multipart upload from its parts' numbers and ETags.
    pub async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(i32, String)],
    ) -> Result<(), StorageError> {
        let parts = parts
            .iter()
            .map(|(n, etag)| {
                let quoted = if etag.starts_with('"') { etag.clone() } else { format!("\"{etag}\"") };
                CompletedPart::builder().part_number(*n).e_tag(quoted).build()
            })
            .collect();
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// Aborts a multipart upload (its parts are discarded).
    pub async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), StorageError> {
        self.client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// The object's size and ETag, or `None` when there is no such object.
    pub async fn head(&self, bucket: &str, key: &str) -> Result<Option<ObjectInfo>, StorageError> {
        match self.client.head_object().bucket(bucket).key(key).send().await {
            Ok(out) => Ok(Some(ObjectInfo {
                size: out.content_length().unwrap_or(0),
                etag: out.e_tag().map(|t| t.trim_matches('"').to_owned()),
            })),
            Err(SdkError::ServiceError(e)) if e.err().is_not_found() || e.raw().status().as_u16() == 404 => Ok(None),
            Err(e) => Err(classify(e)),
        }
    }

    /// Bytes `start..start + len` of an object (fewer at its end), never more, even from a
    /// store that ignores `Range`.
    pub async fn read_range(&self, bucket: &str, key: &str, start: u64, len: u64) -> Result<Vec<u8>, StorageError> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let mut out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .range(format!("bytes={start}-{}", start + len - 1))
            .send()
            .await
            .map_err(classify)?;
        let mut bytes = Vec::with_capacity(len.min(1 << 20) as usize);
        while let Some(chunk) =
            out.body.try_next().await.map_err(|e| StorageError::Unavailable(format!("reading the object: {e}")))?
        {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 >= len {
                break;
            }
        }
        bytes.truncate(len as usize);
        Ok(bytes)
    }
}

fn presigned(req: aws_sdk_s3::presigning::PresignedRequest, length: u64) -> Presigned {
    let mut headers: Vec<(String, String)> =
        req.headers().map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned())).collect();
    // The length is signed into the URL; clients send it anyway, so say so.
    if !headers.iter().any(|(k, _)| k == "content-length") {
        headers.push(("content-length".to_owned(), length.to_string()));
    }
    headers.sort();
    Presigned { url: req.uri().to_owned(), headers }
}
