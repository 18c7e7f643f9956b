//! HTTP/1.1 for the relay's JSON-RPC, on hyper (server and client): the relay serves connections
//! concurrently with per-connection timeouts and header/body limits, and our client speaks the
//! same maintained stack. The engine is synchronous, so the client drives a small current-thread
//! tokio runtime of its own; that is the one sync/async boundary on this side. Clients reach
//! `https://` endpoints over rustls with certificates verified (`tls_config`).

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;

/// Largest request or response body: a bundle of 300 kB of raw transactions is 600 kB as hex,
/// plus JSON framing, so 1 MiB keeps the 300 kB bundle limit reachable and measured on the txs.
pub const MAX_BODY: usize = 1 << 20;
/// Most header lines a request may carry (more: HTTP 431).
pub const MAX_HEADERS: usize = 64;
/// Largest buffered request head (request line + headers); hyper answers 431 beyond it.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// A client must finish sending a request's headers within this (slow senders are cut off).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// ... and its body within this.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("HTTP: {0}")]
    Protocol(String),
    #[error("a body above the size limit")]
    TooLarge,
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("TLS: {0}")]
    Tls(String),
}

/// Where a request goes: the address to connect to, the host it names (the server name its
/// certificate must carry) and its authority (the `Host` header: the host, and the port unless it
/// is the scheme's), and whether the connection is TLS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub addr: SocketAddr,
    pub host: String,
    pub authority: String,
    pub tls: bool,
}

impl Target {
    pub fn plain(addr: SocketAddr) -> Self {
        Target { addr, host: addr.ip().to_string(), authority: addr.to_string(), tls: false }
    }
}

/// Our TLS client configuration, built once: rustls on ring, TLS 1.2 and 1.3, certificates verified
/// against Mozilla's roots (compiled in, `webpki-roots`) and any PEM certificates in the file
/// `SSL_CERT_FILE` names (a private CA, a test's). A file that cannot be read or parsed is an
/// error, not a silent fallback.
pub fn tls_config() -> Result<Arc<rustls::ClientConfig>, HttpError> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            if let Some(file) = std::env::var_os("SSL_CERT_FILE") {
                use rustls::pki_types::pem::PemObject;
                let shown = std::path::Path::new(&file).display().to_string();
                let certs = rustls::pki_types::CertificateDer::pem_file_iter(&file)
                    .map_err(|e| format!("SSL_CERT_FILE {shown}: {e}"))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("SSL_CERT_FILE {shown}: {e}"))?;
                if certs.is_empty() {
                    return Err(format!("SSL_CERT_FILE {shown}: no PEM certificate in it"));
                }
                for c in certs {
                    roots.add(c).map_err(|e| format!("SSL_CERT_FILE {shown}: {e}"))?;
                }
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
        .map_err(HttpError::Tls)
}

/// A TCP connection to `target`, wrapped in TLS when it says so (certificate checked for its host
/// against `tls_config`).
pub async fn connect(target: &Target) -> Result<Stream, HttpError> {
    connect_with(target, None).await
}

/// As `connect`, trusting the roots of `tls` instead of `tls_config`'s when given.
pub async fn connect_with(target: &Target, tls: Option<Arc<rustls::ClientConfig>>) -> Result<Stream, HttpError> {
    let tcp = tokio::net::TcpStream::connect(target.addr).await?;
    tcp.set_nodelay(true)?;
    if !target.tls {
        return Ok(Stream::Plain(tcp));
    }
    let name = rustls::pki_types::ServerName::try_from(target.host.clone())
        .map_err(|e| HttpError::Tls(format!("{}: {e}", target.host)))?;
    let config = match tls {
        Some(c) => c,
        None => tls_config()?,
    };
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| HttpError::Tls(format!("{}: {e}", target.host)))?;
    Ok(Stream::Tls(Box::new(tls)))
}

/// A client connection, plain or TLS.
pub enum Stream {
    Plain(tokio::net::TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>),
}

impl tokio::io::AsyncRead for Stream {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for Stream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => std::pin::Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A blocking HTTP/1.1 client for JSON-RPC POSTs. The connection is kept open between requests
/// to the same target (no TCP or TLS handshake per bundle); one the server closed meanwhile is
/// replaced and the request sent again once on a fresh connection.
pub struct HttpClient {
    rt: Option<tokio::runtime::Runtime>,
    max_body: usize,
    /// Trust these roots instead of `tls_config`'s (a private relay's CA).
    tls: Option<Arc<rustls::ClientConfig>>,
    kept: Option<Kept>,
    /// Connections opened (a new one per target, and after one was lost).
    pub connections: u64,
}

/// An open connection to `target`: its request handle and the task driving it.
struct Kept {
    target: Target,
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Kept {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// Opens a connection to `target` (TLS when it says so) and starts driving it on the runtime.
async fn open_kept(target: &Target, tls: Option<Arc<rustls::ClientConfig>>) -> Result<Kept, HttpError> {
    let stream = connect_with(target, tls).await?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| HttpError::Protocol(e.to_string()))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(Kept { target: target.clone(), sender, driver })
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClient {
    pub fn new() -> Self {
        HttpClient { rt: None, max_body: MAX_BODY, tls: None, kept: None, connections: 0 }
    }

    /// The same client trusting `tls`'s roots for https:// targets.
    pub fn with_tls(mut self, tls: Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(tls);
        self.kept = None;
        self
    }

    /// A client accepting answers of up to `max_body` bytes (a node's block of receipts is larger
    /// than any bundle).
    pub fn with_limit(max_body: usize) -> Self {
        HttpClient { max_body, ..Self::new() }
    }

    pub fn runtime(&mut self) -> Result<&tokio::runtime::Runtime, HttpError> {
        if self.rt.is_none() {
            self.rt = Some(tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build()?);
        }
        self.rt.as_ref().ok_or_else(|| HttpError::Protocol("no runtime".into()))
    }

    /// POSTs `body` to `addr` + `path` with extra `headers` over plain HTTP; the status and the
    /// response body. Connect, send and receive together must finish within `timeout`.
    pub fn post(
        &mut self,
        addr: SocketAddr,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout: Duration,
    ) -> Result<(u16, Vec<u8>), HttpError> {
        self.post_to(&Target::plain(addr), path, headers, body, timeout)
    }

    /// As `post`, to `target` (TLS when it says so).
    pub fn post_to(
        &mut self,
        target: &Target,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout: Duration,
    ) -> Result<(u16, Vec<u8>), HttpError> {
        let authority = target.authority.clone();
        let headers: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let (path, body) = (path.to_string(), Bytes::copy_from_slice(body));
        let make = move || {
            let mut req = Request::builder()
                .method(Method::POST)
                .uri(path.as_str())
                .header(HOST, authority.as_str())
                .header(CONTENT_TYPE, "application/json")
                .header(CONTENT_LENGTH, body.len());
            for (k, v) in &headers {
                req = req.header(k.as_str(), v.as_str());
            }
            req.body(Full::new(body.clone())).map_err(|e| HttpError::Protocol(e.to_string()))
        };
        let max_body = self.max_body;
        let tls = self.tls.clone();
        let kept = self.kept.take().filter(|k| k.target == *target && !k.sender.is_closed());
        let mut opened = 0u64;
        let rt = self.runtime()?;
        let (result, kept) = rt.block_on(async {
            let exchange = async {
                let (mut conn, mut reused) = match kept {
                    Some(k) => (k, true),
                    None => {
                        opened += 1;
                        (open_kept(target, tls.clone()).await?, false)
                    }
                };
                loop {
                    let sent = match conn.sender.ready().await {
                        Ok(()) => conn.sender.send_request(make()?).await,
                        Err(e) => Err(e),
                    };
                    let resp = match sent {
                        Ok(r) => r,
                        // The server closed the kept connection since the last request: once more
                        // on a new one (JSON-RPC requests here are safe to repeat).
                        Err(_) if reused => {
                            reused = false;
                            opened += 1;
                            conn = open_kept(target, tls.clone()).await?;
                            continue;
                        }
                        Err(e) => return Err(HttpError::Protocol(e.to_string())),
                    };
                    let status = resp.status().as_u16();
                    let bytes = Limited::new(resp.into_body(), max_body)
                        .collect()
                        .await
                        .map_err(|e| {
                            if e.is::<http_body_util::LengthLimitError>() {
                                HttpError::TooLarge
                            } else {
                                HttpError::Protocol(e.to_string())
                            }
                        })?
                        .to_bytes();
                    return Ok::<_, HttpError>(((status, bytes.to_vec()), conn));
                }
            };
            match tokio::time::timeout(timeout, exchange).await {
                Ok(Ok((answer, conn))) => (Ok(answer), Some(conn)),
                Ok(Err(e)) => (Err(e), None),
                // A connection in an unknown state is not kept.
                Err(_) => (Err(HttpError::Timeout(timeout)), None),
            }
        });
        self.connections += opened;
        self.kept = kept;
        result
    }
}

/// One POST with a client of its own (tests and one-off calls).
pub fn post(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<(u16, Vec<u8>), HttpError> {
    HttpClient::new().post(addr, path, headers, body, timeout)
}
