//! The embedded S3-compatible store of `daap serve` when no store is configured: s3s over
//! the filesystem under `<data dir>/objects` (one directory per bucket), on its own
//! loopback port. It checks SigV4 signatures like S3 does, with credentials generated once
//! and kept in `<data dir>/s3-credentials`, so URLs it signed stay valid across restarts
//! (on the same port). A single PUT whose body does not match its `Content-MD5` is
//! refused without storing anything, as S3 does (s3s-fs alone would keep the body).
//! Copies (`CopyObject`, `UploadPartCopy`) are refused outright, and so is a presigned
//! request carrying an `x-amz-*` header its signature does not cover: the service never
//! signs one, and an unsigned `x-amz-copy-source` would turn a PUT URL into a copy of any
//! object in the store.
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
};

use anyhow::Context as _;
use base64::Engine;
use bytes::Bytes;
use futures::Stream;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto::Builder as ConnBuilder,
};
use md5::{Digest, Md5};
use s3s::{
    S3, S3Request, S3Response, S3Result,
    access::{S3Access, S3AccessContext},
    auth::SimpleAuth,
    dto::*,
    s3_error,
    service::S3ServiceBuilder,
};
use tokio::sync::watch;

/// The region the embedded store signs for.
pub const REGION: &str = "us-east-1";

/// A running embedded store; stops when `stop` is called.
pub struct EmbeddedStore {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    stop: watch::Sender<bool>,
}

/// Binds `listen`. With port 0, the port of the previous start (kept in `<data dir>/s3-port`)
/// is tried first, so upload URLs handed out before a restart keep working; a new free port is
/// taken (and remembered) only when that one is busy.
async fn bind_remembered(data_dir: &Path, listen: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    let bind = |addr: SocketAddr| async move {
        tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding the embedded store to {addr}"))
    };
    if listen.port() != 0 {
        return bind(listen).await;
    }
    let file = data_dir.join("s3-port");
    let previous = std::fs::read_to_string(&file).ok().and_then(|s| s.trim().parse::<u16>().ok()).filter(|p| *p != 0);
    if let Some(port) = previous {
        match bind(SocketAddr::new(listen.ip(), port)).await {
            Ok(listener) => return Ok(listener),
            Err(_) => tracing::warn!(
                port,
                "the embedded store's previous port is busy: upload URLs made before this start will not work"
            ),
        }
    }
    let listener = bind(listen).await?;
    let port = listener.local_addr()?.port();
    std::fs::write(&file, port.to_string()).with_context(|| format!("writing {}", file.display()))?;
    Ok(listener)
}

impl EmbeddedStore {
    /// Creates the bucket directory and serves the store on `listen`.
    pub async fn start(data_dir: &Path, bucket: &str, listen: SocketAddr) -> anyhow::Result<EmbeddedStore> {
        let root = data_dir.join("objects");
        std::fs::create_dir_all(root.join(bucket)).with_context(|| format!("creating {}", root.display()))?;
        let (access_key, secret_key) = credentials(data_dir)?;
        let fs = s3s_fs::FileSystem::new(&root).map_err(|e| anyhow::anyhow!("opening {}: {e:?}", root.display()))?;
        let service = {
            let mut builder = S3ServiceBuilder::new(Checked(fs));
            builder.set_auth(SimpleAuth::from_single(access_key.clone(), secret_key.clone()));
            builder.set_access(SignedOnly);
            builder.build()
        };
        let listener = bind_remembered(data_dir, listen).await?;
        let addr = listener.local_addr()?;
        let (stop, mut stopped) = watch::channel(false);
        tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            let graceful = hyper_util::server::graceful::GracefulShutdown::new();
            loop {
                let socket = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((socket, _)) => socket,
                        Err(err) => {
                            tracing::warn!(error = %err, "embedded store cannot accept a connection");
                            continue;
                        }
                    },
                    _ = stopped.changed() => break,
                };
                let conn = http.serve_connection(TokioIo::new(socket), service.clone());
                let conn = graceful.watch(conn.into_owned());
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), graceful.shutdown()).await;
        });
        Ok(EmbeddedStore { endpoint: format!("http://{addr}"), access_key, secret_key, stop })
    }

    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

/// The store's access rule: signed requests only (as s3s does by default), no copies, and no
/// unsigned `x-amz-*` header on a presigned request.
struct SignedOnly;

/// The refusal of a presigned request, if it carries an `x-amz-*` header not in its
/// `X-Amz-SignedHeaders`; requests signed in the `Authorization` header are not presigned.
fn unsigned_amz_header<'h>(query: Option<&str>, mut headers: impl Iterator<Item = &'h str>) -> Option<String> {
    let query = query?;
    let mut presigned = false;
    let mut signed: Vec<String> = Vec::new();
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name.eq_ignore_ascii_case("X-Amz-Signature") {
            presigned = true;
        } else if name.eq_ignore_ascii_case("X-Amz-SignedHeaders") {
            // `;` arrives percent-encoded; header names hold no other escapes.
            signed = value.replace("%3B", ";").replace("%3b", ";").split(';').map(str::to_ascii_lowercase).collect();
        }
    }
    if !presigned {
        return None;
    }
    headers.find(|name| name.starts_with("x-amz-") && !signed.iter().any(|s| s == name)).map(str::to_owned)
}

#[async_trait::async_trait]
impl S3Access for SignedOnly {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        if cx.credentials().is_none() {
            return Err(s3_error!(AccessDenied, "Signature is required"));
        }
        if matches!(cx.s3_op().name(), "CopyObject" | "UploadPartCopy") {
            return Err(s3_error!(AccessDenied, "This store does not copy objects"));
        }
        if let Some(name) = unsigned_amz_header(cx.uri().query(), cx.headers().keys().map(|k| k.as_str())) {
            return Err(s3_error!(AccessDenied, "The header {} is not signed in this presigned request", name));
        }
        Ok(())
    }
}

/// The store's access and secret key, generated on first use and kept in the data directory.
fn credentials(data_dir: &Path) -> anyhow::Result<(String, String)> {
    let path: PathBuf = data_dir.join("s3-credentials");
    if let Ok(existing) = std::fs::read_to_string(&path)
        && let Some((ak, sk)) = existing.trim().split_once(':')
        && ak.len() >= 16
        && sk.len() >= 32
    {
        return Ok((ak.to_owned(), sk.to_owned()));
    }
    let access_key = format!("DAAP{}", &uuid::Uuid::new_v4().simple().to_string()[..16]).to_uppercase();
    let secret_key = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    std::fs::write(&path, format!("{access_key}:{secret_key}"))
        .with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok((access_key, secret_key))
}

/// s3s-fs with S3's `Content-MD5` rule: a body that does not match is never stored.
struct Checked(s3s_fs::FileSystem);

/// Passes a body through, failing at its end when its MD5 is not the expected one, so the
/// store's write is abandoned before the object appears.
struct Md5Checked {
    inner: StreamingBlob,
    hash: Md5,
    expected: Vec<u8>,
    mismatch: Arc<AtomicBool>,
    finished: bool,
}

impl Stream for Md5Checked {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.finished {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(bytes))) => {
                this.hash.update(&bytes);
                Poll::Ready(Some(Ok(bytes)))
            }
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(std::io::Error::other(err.to_string())))),
            Poll::Ready(None) => {
                this.finished = true;
                if this.hash.finalize_reset()[..] == this.expected[..] {
                    Poll::Ready(None)
                } else {
                    this.mismatch.store(true, Ordering::SeqCst);
                    Poll::Ready(Some(Err(std::io::Error::other("the body does not match Content-MD5"))))
                }
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[async_trait::async_trait]
impl S3 for Checked {
    async fn put_object(&self, mut req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let mismatch = Arc::new(AtomicBool::new(false));
        if let Some(md5) = req.input.content_md5.clone() {
            let expected = base64::engine::general_purpose::STANDARD
                .decode(md5.as_bytes())
                .ok()
                .filter(|d| d.len() == 16)
                .ok_or_else(|| s3_error!(InvalidDigest, "Content-MD5 is not the base64 of an MD5 digest"))?;
            if let Some(body) = req.input.body.take() {
                req.input.body = Some(StreamingBlob::wrap(Md5Checked {
                    inner: body,
                    hash: Md5::new(),
                    expected,
                    mismatch: mismatch.clone(),
                    finished: false,
                }));
            }
        }
        match self.0.put_object(req).await {
            Err(_) if mismatch.load(Ordering::SeqCst) => {
                Err(s3_error!(BadDigest, "The Content-MD5 you specified did not match what we received."))
            }
            other => other,
        }
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.0.abort_multipart_upload(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.0.complete_multipart_upload(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.0.create_multipart_upload(req).await
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        self.0.upload_part(req).await
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        self.0.list_parts(req).await
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        self.0.head_object(req).await
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        self.0.get_object(req).await
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.0.delete_object(req).await
    }

    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.0.delete_objects(req).await
    }

    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        self.0.list_objects(req).await
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.0.list_objects_v2(req).await
    }

    async fn list_buckets(&self, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        self.0.list_buckets(req).await
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        self.0.head_bucket(req).await
    }

    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        self.0.create_bucket(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.0.get_bucket_location(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presigned_requests_may_carry_only_signed_amz_headers() {
        let query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-SignedHeaders=content-length%3Bcontent-md5%3Bhost%3Bx-amz-meta-a&X-Amz-Signature=ab";
        assert_eq!(unsigned_amz_header(Some(query), ["host", "content-md5", "x-amz-meta-a"].into_iter()), None);
        assert_eq!(
            unsigned_amz_header(Some(query), ["host", "x-amz-copy-source"].into_iter()).as_deref(),
            Some("x-amz-copy-source")
        );
        // Header-signed requests list their signed headers in `Authorization`, checked by s3s.
        assert_eq!(unsigned_amz_header(Some("uploads"), ["x-amz-content-sha256"].into_iter()), None);
        assert_eq!(unsigned_amz_header(None, ["x-amz-date"].into_iter()), None);
    }

    #[tokio::test]
    async fn a_restarted_store_serves_on_its_previous_port() {
        let dir = tempfile::tempdir().unwrap();
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let first = EmbeddedStore::start(dir.path(), "landing", any).await.unwrap();
        first.stop();
        // The stopped store lets its listener go as soon as its task sees the stop.
        let port: SocketAddr = first.endpoint.trim_start_matches("http://").parse().unwrap();
        for _ in 0..100 {
            if std::net::TcpListener::bind(port).is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let second = EmbeddedStore::start(dir.path(), "landing", any).await.unwrap();
        assert_eq!(second.endpoint, first.endpoint, "the restarted store did not get its port back");
        // While that port is busy, another start in the same directory takes a new one.
        let third = EmbeddedStore::start(dir.path(), "landing", any).await.unwrap();
        assert_ne!(third.endpoint, first.endpoint);
    }
}
