//! Reading one HTTP/1.1 request from a socket, within limits: the head at most `MAX_HEAD` bytes, the body at
//! most `MAX_BODY` and announced by Content-Length (no chunked bodies), the whole request within a deadline.
//! Never panics on any bytes.

use std::io::{self, Read};
use std::time::{Duration, Instant};

pub const MAX_HEAD: usize = 8 * 1024;
pub const MAX_BODY: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// Percent-decoded path segments, without the empty one before the leading '/'.
    pub segments: Vec<String>,
    /// Percent-decoded query pairs in order.
    pub query: Vec<(String, String)>,
    /// Header names lower-cased, values trimmed.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The peer closed before sending a request: nothing to answer.
    Closed,
    Timeout,
    HeadTooLarge,
    BodyTooLarge,
    LengthRequired,
    Bad(String),
}

/// Reads one request; `deadline` bounds the whole read (each read also has the socket's read timeout).
pub fn read_request(stream: &mut impl Read, deadline: Duration) -> Result<Request, ReadError> {
    let started = Instant::now();
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = find_head_end(&buf) {
            break end;
        }
        if buf.len() >= MAX_HEAD {
            return Err(ReadError::HeadTooLarge);
        }
        if started.elapsed() > deadline {
            return Err(ReadError::Timeout);
        }
        let room = (MAX_HEAD + 4 - buf.len()).min(chunk.len());
        let n = read_some(stream, &mut chunk[..room])?;
        if n == 0 {
            return Err(if buf.is_empty() {
                ReadError::Closed
            } else {
                ReadError::Bad("connection closed inside the request head".into())
            });
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    if head_end > MAX_HEAD {
        return Err(ReadError::HeadTooLarge);
    }
    let head = std::str::from_utf8(&buf[..head_end])
        .map_err(|_| ReadError::Bad("request head is not UTF-8".into()))?;
    let mut request = parse_head(head)?;
    let length = content_length(&request)?;
    if length > MAX_BODY {
        return Err(ReadError::BodyTooLarge);
    }
    let mut body: Vec<u8> = buf.get(head_end + 4..).unwrap_or(&[]).to_vec();
    body.truncate(length);
    while body.len() < length {
        if started.elapsed() > deadline {
            return Err(ReadError::Timeout);
        }
        let room = (length - body.len()).min(chunk.len());
        let n = read_some(stream, &mut chunk[..room])?;
        if n == 0 {
            return Err(ReadError::Bad("body shorter than Content-Length".into()));
        }
        body.extend_from_slice(&chunk[..n]);
    }
    request.body = body;
    Ok(request)
}

fn read_some(stream: &mut impl Read, into: &mut [u8]) -> Result<usize, ReadError> {
    loop {
        match stream.read(into) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(ReadError::Timeout)
            }
            Err(_) => return Err(ReadError::Closed),
        }
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n")
}

fn content_length(request: &Request) -> Result<usize, ReadError> {
    if request.header("transfer-encoding").is_some() {
        return Err(ReadError::LengthRequired);
    }
    let mut length: Option<usize> = None;
    for (name, value) in &request.headers {
        if name != "content-length" {
            continue;
        }
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ReadError::Bad(format!("bad Content-Length {value:?}")));
        }
        // Too many digits for usize is certainly too large.
        let parsed = value.parse::<usize>().unwrap_or(usize::MAX);
        if length.is_some_and(|l| l != parsed) {
            return Err(ReadError::Bad("conflicting Content-Length headers".into()));
        }
        length = Some(parsed);
    }
    Ok(length.unwrap_or(0))
}

fn parse_head(head: &str) -> Result<Request, ReadError> {
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Bad(format!("bad request line {request_line:?}")));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(ReadError::Bad(format!("unsupported version {version:?}")));
    }
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ReadError::Bad(format!("bad method {method:?}")));
    }
    if !target.starts_with('/') {
        return Err(ReadError::Bad(format!("bad target {target:?}")));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let segments = path[1..]
        .split('/')
        .map(|s| percent_decode(s, false))
        .collect::<Result<Vec<_>, _>>()?;
    let query = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(k, true)?, percent_decode(v, true)?))
        })
        .collect::<Result<Vec<_>, ReadError>>()?;
    let mut headers = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(ReadError::Bad(format!("bad header line {line:?}")));
        };
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err(ReadError::Bad(format!("bad header name {name:?}")));
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    Ok(Request {
        method: method.to_string(),
        segments,
        query,
        headers,
        body: Vec::new(),
    })
}

fn percent_decode(text: &str, plus_is_space: bool) -> Result<String, ReadError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| ReadError::Bad(format!("bad percent-encoding in {text:?}")))?;
                out.push(hex);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| ReadError::Bad(format!("{text:?} does not decode to UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> Result<Request, ReadError> {
        read_request(&mut &bytes[..], Duration::from_secs(5))
    }

    #[test]
    fn parses_a_request() {
        let r = read(b"POST /admin/halt/BTC%2DUSD?levels=5&x=a+b HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nAuthorization:  Bearer t \r\n\r\nbodyEXTRA")
            .expect("parses");
        assert_eq!(r.method, "POST");
        assert_eq!(r.segments, vec!["admin", "halt", "BTC-USD"]);
        assert_eq!(r.query("levels"), Some("5"));
        assert_eq!(r.query("x"), Some("a b"));
        assert_eq!(r.header("authorization"), Some("Bearer t"));
        assert_eq!(r.body, b"body");
    }

    #[test]
    fn refuses_what_it_must() {
        assert_eq!(read(b""), Err(ReadError::Closed));
        assert!(matches!(
            read(b"GET / HTTP/1.1\r\n"),
            Err(ReadError::Bad(_))
        ));
        assert!(matches!(read(b"GET /\r\n\r\n"), Err(ReadError::Bad(_))));
        assert!(matches!(
            read(b"GET / HTTP/2\r\n\r\n"),
            Err(ReadError::Bad(_))
        ));
        assert!(matches!(
            read(b"get / HTTP/1.1\r\n\r\n"),
            Err(ReadError::Bad(_))
        ));
        assert!(matches!(
            read(b"GET x HTTP/1.1\r\n\r\n"),
            Err(ReadError::Bad(_))
        ));
        assert!(matches!(
            read(b"GET /%zz HTTP/1.1\r\n\r\n"),
            Err(ReadError::Bad(_))
        ));
        assert!(matches!(
            read(b"GET /%ff HTTP/1.1\r\n\r\n"),
            Err(ReadError::Bad(_))
        ));
        assert!(matches!(
            read(b"GET / HTTP/1.1\r\nnocolon\r\n\r\n"),
            Err(ReadError::Bad(_))
        ));
        assert!(matches!(
            read(b"GET / HTTP/1.1\r\n\xff: x\r\n\r\n"),
            Err(ReadError::Bad(_))
        ));
        assert!(matches!(
            read(b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
            Err(ReadError::Bad(_))
        ));
        assert!(matches!(
            read(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
            Err(ReadError::Bad(_))
        ));
        assert!(matches!(
            read(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab"),
            Err(ReadError::Bad(_))
        ));
        assert_eq!(
            read(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(ReadError::LengthRequired)
        );
        assert_eq!(
            read(b"POST / HTTP/1.1\r\nContent-Length: 65537\r\n\r\n"),
            Err(ReadError::BodyTooLarge)
        );
        assert_eq!(
            read(b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n"),
            Err(ReadError::BodyTooLarge)
        );
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.extend_from_slice(&vec![b'a'; MAX_HEAD]);
        big.extend_from_slice(b"\r\n\r\n");
        assert_eq!(read(&big), Err(ReadError::HeadTooLarge));
    }

    #[test]
    fn exactly_the_limits_pass() {
        let mut head = b"POST / HTTP/1.1\r\nContent-Length: 65536\r\nX: ".to_vec();
        let fill = MAX_HEAD - head.len() - 4;
        head.extend_from_slice(&vec![b'a'; fill]);
        head.extend_from_slice(b"\r\n\r\n");
        assert_eq!(head.len(), MAX_HEAD);
        head.extend_from_slice(&vec![b'b'; MAX_BODY]);
        let r = read(&head).expect("at the limits");
        assert_eq!(r.body.len(), MAX_BODY);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..2_000usize {
            let mut bytes = b"GET /".to_vec();
            for _ in 0..(len % 200) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                bytes.push(match seed % 8 {
                    0 => b'\r',
                    1 => b'\n',
                    2 => b'%',
                    3 => b' ',
                    4 => b':',
                    _ => (seed >> 8) as u8,
                });
            }
            let _ = read(&bytes);
        }
    }
}
