//! Just enough HTTP/1.1 for JSON-RPC over loopback: one `POST` per connection, `Content-Length`
//! bodies, `Connection: close`. The relay's bytes-on-the-wire are real HTTP, so the client code is
//! the same that will talk to a remote relay once a TLS transport sits under it (live mode).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Largest request body the relay accepts (Flashbots: 300 kB per bundle, plus JSON framing).
pub const MAX_BODY: usize = 512 * 1024;
const MAX_HEADER_LINES: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed HTTP: {0}")]
    Malformed(String),
    #[error("body of {0} bytes exceeds the {MAX_BODY}-byte limit")]
    TooLarge(usize),
    #[error("HTTP status {status}: {body}")]
    Status { status: u16, body: String },
}

/// A request as received: method, path, headers (names lower-cased, in order), raw body bytes.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Reads the request line, headers and a `Content-Length` body.
pub fn read_request(stream: &mut TcpStream) -> Result<Request, HttpError> {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Err(HttpError::Malformed(format!("request line {line:?}")));
    };
    let (method, path) = (method.to_string(), path.to_string());
    let (headers, body) = read_headers_and_body(&mut r)?;
    Ok(Request { method, path, headers, body })
}

/// Header (lower-cased name, value) pairs in order.
type Headers = Vec<(String, String)>;

fn read_headers_and_body(r: &mut impl BufRead) -> Result<(Headers, Vec<u8>), HttpError> {
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(HttpError::Malformed("connection closed inside the headers".into()));
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADER_LINES {
            return Err(HttpError::Malformed("too many header lines".into()));
        }
        let Some((k, v)) = line.split_once(':') else {
            return Err(HttpError::Malformed(format!("header line {line:?}")));
        };
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let len = match headers.iter().find(|(k, _)| k == "content-length") {
        Some((_, v)) => v.parse::<usize>().map_err(|_| HttpError::Malformed(format!("content-length {v:?}")))?,
        None => 0,
    };
    if len > MAX_BODY {
        return Err(HttpError::TooLarge(len));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    Ok((headers, body))
}

/// Writes a response with a JSON body and closes.
pub fn write_response(stream: &mut TcpStream, status: u16, body: &[u8]) -> Result<(), HttpError> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    Ok(())
}

/// POSTs `body` to `addr` + `path` with extra `headers`; returns the status and the response body.
pub fn post(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<(u16, Vec<u8>), HttpError> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    s.flush()?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| HttpError::Malformed(format!("status line {line:?}")))?;
    let (_, body) = read_headers_and_body(&mut r)?;
    Ok((status, body))
}
