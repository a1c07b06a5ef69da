//! A small blocking HTTP/1.1 server on `std::net` with `httparse` (hyper's request parser).
//!
//! Why not tiny_http: its connection task pool hands a burst of new connections to threads it
//! believes idle, then queues them behind keep-alive connections that never free their thread,
//! so 16 simultaneous connections are not reliably served at once; and it cannot close a socket
//! without answering. Here every connection has its own thread (at most `Config::workers` at
//! once), and a dropped connection is a real close.
//!
//! Framing: `Content-Length` and `chunked` request bodies, `Expect: 100-continue`, keep-alive
//! (HTTP/1.1 unless `Connection: close`; HTTP/1.0 closes), pipelining. Answers always carry
//! `Content-Length`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Largest request head (request line and headers).
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body read; a longer one closes the connection after the answer.
const MAX_BODY: usize = 16 * 1024 * 1024;
/// How often a blocked read looks at the stop flag.
const POLL: Duration = Duration::from_millis(100);
/// How long a started request may take to arrive in full.
const REQUEST_DEADLINE: Duration = Duration::from_secs(30);

/// One request, read in full.
#[derive(Debug)]
pub(crate) struct HttpRequest {
    pub method: String,
    /// The request target as sent (path and query).
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the connection may serve another request after this one.
    pub keep_alive: bool,
}

impl HttpRequest {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// An answer to write, or none at all.
#[derive(Debug)]
pub(crate) enum HttpAnswer {
    /// Status, `Content-Type` (none for an empty body) and body.
    Full(u16, Option<&'static str>, Vec<u8>),
    /// Close the connection without a byte of answer.
    Drop,
}

/// What reading the next request gave.
enum Next {
    Request(HttpRequest),
    /// The client closed the connection, or the server is stopping.
    Closed,
    /// Not HTTP this server can read: answer this status and close.
    Bad(u16),
}

struct Connection<'a> {
    stream: TcpStream,
    buf: Vec<u8>,
    stop: &'a AtomicBool,
}

impl Connection<'_> {
    /// Reads more bytes into `buf`; `Ok(0)` at end of stream. Gives up when the server stops
    /// or, mid-request, after `deadline`.
    fn fill(&mut self, deadline: Option<Instant>) -> io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Err(io::Error::other("stopping"));
            }
            if deadline.is_some_and(|d| Instant::now() > d) {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "request too slow"));
            }
            match self.stream.read(&mut chunk) {
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                    ) => {}
                Err(err) => return Err(err),
            }
        }
    }

    /// Reads until `buf` holds `n` bytes.
    fn fill_to(&mut self, n: usize, deadline: Instant) -> io::Result<()> {
        while self.buf.len() < n {
            if self.fill(Some(deadline))? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(())
    }

    /// Reads one CRLF-terminated line (without the CRLF).
    fn line(&mut self, deadline: Instant) -> io::Result<String> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..end + 2).take(end).collect();
                return String::from_utf8(line).map_err(|_| io::ErrorKind::InvalidData.into());
            }
            if self.buf.len() > MAX_HEAD || self.fill(Some(deadline))? == 0 {
                return Err(io::ErrorKind::InvalidData.into());
            }
        }
    }

    fn next_request(&mut self) -> Next {
        let mut deadline = None;
        let (method, target, minor, headers) = loop {
            if !self.buf.is_empty() {
                deadline.get_or_insert_with(|| Instant::now() + REQUEST_DEADLINE);
                let mut slots = [httparse::EMPTY_HEADER; 64];
                let mut request = httparse::Request::new(&mut slots);
                match request.parse(&self.buf) {
                    Ok(httparse::Status::Complete(len)) => {
                        let parsed = (
                            request.method.unwrap_or_default().to_owned(),
                            request.path.unwrap_or_default().to_owned(),
                            request.version.unwrap_or(1),
                            request
                                .headers
                                .iter()
                                .map(|h| (h.name.to_owned(), String::from_utf8_lossy(h.value).into_owned()))
                                .collect::<Vec<_>>(),
                        );
                        self.buf.drain(..len);
                        break parsed;
                    }
                    Ok(httparse::Status::Partial) if self.buf.len() > MAX_HEAD => {
                        return Next::Bad(431);
                    }
                    Ok(httparse::Status::Partial) => {}
                    Err(httparse::Error::TooManyHeaders) => return Next::Bad(431),
                    Err(_) => return Next::Bad(400),
                }
            }
            match self.fill(deadline) {
                Ok(0) | Err(_) => return Next::Closed,
                Ok(_) => {}
            }
        };
        let deadline = deadline.unwrap_or_else(|| Instant::now() + REQUEST_DEADLINE);
        let mut request = HttpRequest {
            method,
            target,
            headers,
            body: Vec::new(),
            keep_alive: minor >= 1,
        };
        if request
            .header("Connection")
            .is_some_and(|c| c.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
        {
            request.keep_alive = false;
        }
        if request.header("Expect").is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
            && self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err()
        {
            return Next::Closed;
        }
        let chunked = request
            .header("Transfer-Encoding")
            .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
        let body = if chunked {
            self.chunked_body(deadline)
        } else {
            match request.header("Content-Length").map(|v| v.trim().parse::<usize>()) {
                None => Ok(Vec::new()),
                Some(Err(_)) => return Next::Bad(400),
                Some(Ok(len)) if len > MAX_BODY => return Next::Bad(413),
                Some(Ok(len)) => self.fill_to(len, deadline).map(|()| self.buf.drain(..len).collect()),
            }
        };
        match body {
            Ok(body) => {
                request.body = body;
                Next::Request(request)
            }
            Err(err) if err.kind() == io::ErrorKind::InvalidData => Next::Bad(400),
            Err(_) => Next::Closed,
        }
    }

    fn chunked_body(&mut self, deadline: Instant) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line = self.line(deadline)?;
            let size = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| io::ErrorKind::InvalidData)?;
            if size == 0 {
                // Trailers, up to the empty line.
                while !self.line(deadline)?.is_empty() {}
                return Ok(body);
            }
            if body.len() + size > MAX_BODY {
                return Err(io::ErrorKind::InvalidData.into());
            }
            self.fill_to(size + 2, deadline)?;
            body.extend(self.buf.drain(..size));
            if self.buf.drain(..2).as_slice() != b"\r\n" {
                return Err(io::ErrorKind::InvalidData.into());
            }
        }
    }

    fn write(&mut self, status: u16, content_type: Option<&str>, body: &[u8], close: bool) -> io::Result<()> {
        let mut head = format!("HTTP/1.1 {status} {}\r\nServer: fake-marketo\r\n", reason(status));
        if let Some(content_type) = content_type {
            head.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        if close {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(body);
        self.stream.write_all(&out)?;
        self.stream.flush()
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Serves one connection until it closes, the handler drops it, or the server stops.
fn serve<H>(stream: TcpStream, stop: &AtomicBool, handler: &H)
where
    H: Fn(HttpRequest) -> HttpAnswer,
{
    if stream.set_read_timeout(Some(POLL)).is_err() || stream.set_nodelay(true).is_err() {
        return;
    }
    let mut connection = Connection {
        stream,
        buf: Vec::new(),
        stop,
    };
    loop {
        match connection.next_request() {
            Next::Closed => break,
            Next::Bad(status) => {
                let _ = connection.write(status, Some("text/plain"), b"bad request\n", true);
                break;
            }
            Next::Request(request) => {
                let keep_alive = request.keep_alive;
                match handler(request) {
                    HttpAnswer::Drop => break,
                    HttpAnswer::Full(status, content_type, body) => {
                        if connection.write(status, content_type, &body, !keep_alive).is_err() || !keep_alive {
                            break;
                        }
                    }
                }
            }
        }
    }
    let _ = connection.stream.shutdown(Shutdown::Both);
}

/// Counts live connection threads, so the acceptor can cap them and shutdown can wait for them.
#[derive(Default)]
struct Live {
    count: Mutex<usize>,
    changed: Condvar,
}

impl Live {
    fn lock(&self) -> std::sync::MutexGuard<'_, usize> {
        self.count.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running listener: an accept thread plus one thread per connection.
pub(crate) struct Listener {
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
    live: Arc<Live>,
    acceptor: Option<thread::JoinHandle<()>>,
}

impl Listener {
    /// Binds `127.0.0.1:port` and serves each request with `handler`, at most `max_connections`
    /// connections at once (more wait in the kernel's backlog).
    pub(crate) fn start<H>(port: u16, max_connections: usize, handler: H) -> io::Result<Listener>
    where
        H: Fn(HttpRequest) -> HttpAnswer + Send + Sync + 'static,
    {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let live = Arc::new(Live::default());
        let handler = Arc::new(handler);
        let max = max_connections.max(1);
        let acceptor = {
            let (stop, live) = (Arc::clone(&stop), Arc::clone(&live));
            thread::Builder::new().name("fake-marketo-accept".into()).spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(stream) = stream else {
                        thread::sleep(Duration::from_millis(10));
                        continue;
                    };
                    {
                        let mut count = live.lock();
                        while *count >= max && !stop.load(Ordering::Relaxed) {
                            count = live
                                .changed
                                .wait_timeout(count, POLL)
                                .map(|(guard, _)| guard)
                                .unwrap_or_else(|p| p.into_inner().0);
                        }
                        *count += 1;
                    }
                    let (conn_stop, conn_live, conn_handler) = (Arc::clone(&stop), Arc::clone(&live), Arc::clone(&handler));
                    let spawned = thread::Builder::new().name("fake-marketo-conn".into()).spawn(move || {
                        serve(stream, &conn_stop, &*conn_handler);
                        *conn_live.lock() -= 1;
                        conn_live.changed.notify_all();
                    });
                    if spawned.is_err() {
                        // The stream was moved into the failed closure and is closed.
                        let mut count = live.lock();
                        *count -= 1;
                    }
                }
            })?
        };
        Ok(Listener {
            addr,
            stop,
            live,
            acceptor: Some(acceptor),
        })
    }

    pub(crate) fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Stops accepting, closes every connection (after its current request), and waits for the
    /// connection threads (at most a few seconds).
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the acceptor blocked in accept().
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut count = self.live.lock();
        while *count > 0 && Instant::now() < deadline {
            count = self
                .live
                .changed
                .wait_timeout(count, POLL)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop();
    }
}
