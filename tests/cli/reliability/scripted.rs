//! A scripted HTTP server on 127.0.0.1 for the hostile-server cases: each request is answered
//! by a closure, which can return a normal answer, raw bytes (a body cut short, a wrong
//! length), a hang, or a closed connection. Every request is recorded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    /// The value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How to answer.
pub enum Reply {
    /// A complete answer with a JSON body.
    Json(u16, String),
    /// A complete answer with extra headers and a body.
    With(u16, Vec<(String, String)>, String),
    /// These exact bytes, then the connection is closed.
    Raw(Vec<u8>),
    /// The status line and headers at once, then the body after a pause.
    Slow(u16, String, Duration),
    /// Close without answering.
    Close,
}

/// The running server; it stops accepting when dropped.
pub struct Scripted {
    pub base: String,
    pub requests: Arc<Mutex<Vec<Req>>>,
    stop: Arc<AtomicBool>,
}

type Handler = dyn Fn(&Req, usize) -> Reply + Send + Sync;

impl Scripted {
    /// Starts a server; `handler` gets each request and its 0-based number.
    pub fn start(handler: impl Fn(&Req, usize) -> Reply + Send + Sync + 'static) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        let requests: Arc<Mutex<Vec<Req>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        {
            let requests = Arc::clone(&requests);
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let requests = Arc::clone(&requests);
                            let handler = Arc::clone(&handler);
                            let stop = Arc::clone(&stop);
                            thread::spawn(move || serve(stream, &requests, &*handler, &stop));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(5)),
                    }
                }
            });
        }
        Scripted {
            base,
            requests,
            stop,
        }
    }

    /// Requests seen so far.
    pub fn seen(&self) -> Vec<Req> {
        self.requests.lock().unwrap().clone()
    }

    /// Stops accepting connections (a dead server: connections are refused from now on).
    pub fn kill(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.kill();
    }
}

fn serve(stream: TcpStream, requests: &Mutex<Vec<Req>>, handler: &Handler, stop: &AtomicBool) {
    stream.set_nonblocking(false).ok();
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let req = Req {
            method,
            path,
            headers,
            body,
        };
        let n = {
            let mut all = requests.lock().unwrap();
            all.push(req.clone());
            all.len() - 1
        };
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let reply = handler(&req, n);
        let ok = match reply {
            Reply::Json(status, body) => write_answer(&mut out, status, &[], &body),
            Reply::With(status, extra, body) => write_answer(&mut out, status, &extra, &body),
            Reply::Raw(bytes) => {
                let _ = out.write_all(&bytes);
                let _ = out.flush();
                false
            }
            Reply::Slow(status, body, pause) => {
                let head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                let _ = out.write_all(head.as_bytes());
                let _ = out.flush();
                thread::sleep(pause);
                let _ = out.write_all(body.as_bytes());
                false
            }
            Reply::Close => false,
        };
        if !ok {
            let _ = out.shutdown(std::net::Shutdown::Both);
            return;
        }
    }
}

fn write_answer(out: &mut TcpStream, status: u16, extra: &[(String, String)], body: &str) -> bool {
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in extra {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes()).is_ok() && out.write_all(body.as_bytes()).is_ok()
}

/// An empty list page.
pub fn empty_list() -> Reply {
    Reply::Json(200, r#"{"data":[],"next":null}"#.into())
}

/// A list page holding `items` (JSON objects), with an `offset` when given.
pub fn list_of(items: &[String], offset: Option<&str>) -> Reply {
    let offset = offset.map_or("null".to_string(), |o| format!("\"{o}\""));
    Reply::Json(
        200,
        format!(r#"{{"data":[{}],"offset":{offset}}}"#, items.join(",")),
    )
}

/// A custom plugin as the server returns it.
pub fn custom_plugin(id: &str, name: &str) -> String {
    let schema = format!(
        "return {{ name = \"{name}\", fields = {{ {{ config = {{ type = \"record\", fields = {{ {{ value = {{ type = \"string\" }} }} }} }} }} }} }}"
    );
    serde_json::json!({
        "id": id, "name": name,
        "handler": "return { PRIORITY = 1, VERSION = \"1.0.0\" }",
        "schema": schema, "tags": [],
        "created_at": 1, "updated_at": 1
    })
    .to_string()
}
