//! A minimal HTTP/1.1 client over one keep-alive connection.
//!
//! The load tool shares the machine's cores with the server it measures, so
//! it sends requests rendered to bytes in advance and reads answers with no
//! more parsing than a status line, a `Content-Length` and the body. A general
//! client would spend several times more CPU per request, taken from the server.

use anyhow::{anyhow, bail, Context};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest answer accepted; Backflow's are a few hundred bytes.
const MAX_REPLY_BYTES: usize = 1024 * 1024;

/// One keep-alive connection to the server.
pub struct Connection {
    stream: TcpStream,
    /// Bytes read but not yet handed out as a reply.
    buf: Vec<u8>,
}

impl Connection {
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot connect to {addr}"))?;
        // Requests are single writes; Nagle would only add delay.
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::with_capacity(4096),
        })
    }

    /// Sends one complete request and reads its answer.
    pub async fn exchange(&mut self, request: &[u8]) -> anyhow::Result<Reply> {
        self.stream.write_all(request).await?;
        let (head_len, body_len) = loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head_len = end + 4;
                let body_len = content_length(&self.buf[..head_len])?;
                break (head_len, body_len);
            }
            self.fill().await?;
        };
        let total = head_len + body_len;
        if total > MAX_REPLY_BYTES {
            bail!("an answer of {total} bytes is larger than {MAX_REPLY_BYTES}");
        }
        while self.buf.len() < total {
            self.fill().await?;
        }
        let rest = self.buf.split_off(total);
        let raw = std::mem::replace(&mut self.buf, rest);
        Reply::parse(raw, head_len)
    }

    async fn fill(&mut self) -> anyhow::Result<()> {
        self.buf.reserve(4096);
        if self.stream.read_buf(&mut self.buf).await? == 0 {
            bail!("the server closed the connection");
        }
        if self.buf.len() > MAX_REPLY_BYTES {
            bail!("the answer is larger than {MAX_REPLY_BYTES} bytes");
        }
        Ok(())
    }
}

/// An answer: its status, headers and body, in one buffer.
pub struct Reply {
    pub status: u16,
    raw: Vec<u8>,
    head_len: usize,
}

impl Reply {
    fn parse(raw: Vec<u8>, head_len: usize) -> anyhow::Result<Self> {
        let status = raw
            .get(9..12)
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("not an HTTP/1.1 status line"))?;
        Ok(Self {
            status,
            raw,
            head_len,
        })
    }

    pub fn body(&self) -> &[u8] {
        &self.raw[self.head_len..]
    }

    /// A header's value; names are compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        std::str::from_utf8(&self.raw[..self.head_len])
            .ok()?
            .split("\r\n")
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }

    /// `result.resultCode` of an AMS answer, found without parsing the JSON.
    /// Backflow renders compact JSON, so the key and its value are adjacent.
    pub fn result_code(&self) -> Option<&str> {
        const KEY: &[u8] = b"\"resultCode\":\"";
        let body = self.body();
        let start = find(body, KEY)? + KEY.len();
        let len = body[start..].iter().position(|&b| b == b'"')?;
        std::str::from_utf8(&body[start..start + len]).ok()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn content_length(head: &[u8]) -> anyhow::Result<usize> {
    let head = std::str::from_utf8(head).context("the answer's head is not UTF-8")?;
    for line in head.split("\r\n").skip(1) {
        if let Some((k, v)) = line.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                return v.trim().parse().context("a malformed Content-Length");
            }
            if k.trim().eq_ignore_ascii_case("transfer-encoding") {
                bail!("chunked answers are not expected from Backflow");
            }
        }
    }
    Ok(0)
}

/// Renders a POST with a JSON body and the given extra headers.
pub fn post(host: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 512);
    out.extend_from_slice(format!("POST {path} HTTP/1.1\r\nhost: {host}\r\n").as_bytes());
    out.extend_from_slice(b"content-type: application/json; charset=UTF-8\r\n");
    for (k, v) in headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

/// Renders a GET with no body.
pub fn get(host: &str, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nhost: {host}\r\n\r\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_read_for_its_status_headers_and_result_code() {
        let raw = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nResponse-Time: T\r\ncontent-length: 58\r\n\r\n{\"result\":{\"resultCode\":\"SUCCESS\",\"resultStatus\":\"S\"}}   ";
        let head_len = find(raw, b"\r\n\r\n").expect("head") + 4;
        assert_eq!(content_length(&raw[..head_len]).expect("length"), 58);
        let reply = Reply::parse(raw.to_vec(), head_len).expect("reply");
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("response-time"), Some("T"));
        assert_eq!(reply.header("signature"), None);
        assert_eq!(reply.result_code(), Some("SUCCESS"));
    }

    #[test]
    fn a_request_carries_its_headers_and_length() {
        let bytes = post("127.0.0.1:1", "/p", &[("client-id", "C")], b"{}");
        let text = String::from_utf8(bytes).expect("utf-8");
        assert!(text.starts_with("POST /p HTTP/1.1\r\nhost: 127.0.0.1:1\r\n"));
        assert!(text.contains("client-id: C\r\n"));
        assert!(text.ends_with("content-length: 2\r\n\r\n{}"));
    }
}
