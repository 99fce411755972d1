//! The HTTP server under load, on loopback, as real `ccpulse` processes.
//!
//! 1. CPU for stream clients: `ccpulse demo` (the live service: pipeline,
//!    export tick and HTTP, on its embedded broker with the simulator) and
//!    the process's CPU time (`/proc/<pid>/stat`) with 1 and with 100
//!    `/api/v1/stream` clients, in alternating windows (the demo's state
//!    and traffic grow, alternating cancels the drift): 100 clients stay
//!    within 1.5× of one. The stream builds one snapshot per tick and sends
//!    the same bytes to everyone; it used to build one per client (~7× the
//!    CPU). What 100 clients still cost is the kernel sending them the
//!    bytes (about 350 KB each a second here).
//! 2. Hostile connections: `replay --serve` of a simulated day (figures of
//!    a realistic size) with `http.header_read_timeout = "2s"`; a few
//!    hundred idle connections and slow ones (a request head dribbled a
//!    byte at a time) beside 100 streams: probes, `/metrics` and the
//!    snapshot keep answering promptly, the streams keep streaming, and the
//!    idle and slow connections are closed at the header deadline.
//!
//! Bounded to about a minute and a half. The figures are printed
//! (`--nocapture`).

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use ccpulse::sim::SimConfig;
use ccpulse_core::event::codec::encode_json;
use support::kafka::{free_port, temp_dir, wait_until};

const STREAMS: usize = 100;
const IDLE: usize = 250;
const SLOW: usize = 100;
/// The server's header-read deadline in this test (the default is 10 s).
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
/// CPU is compared in windows this long, alternating 1 and 100 streams.
const WINDOW: Duration = Duration::from_secs(4);
const ROUNDS: usize = 3;

/// The tests run one at a time: CPU is measured, and the other one loads
/// the machine.
static SERIAL: Mutex<()> = Mutex::new(());

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU seconds (user + system) the process used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/<pid>/stat");
    // After the command name in parentheses: state is field 3; utime and
    // stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe {
        sysconf(2 /* _SC_CLK_TCK */)
    } as f64;
    ticks / hz
}

extern "C" {
    fn sysconf(name: i32) -> i64;
}

/// A simulated center's day in a file, replayed and served with `limits`.
fn start(dir: &Path) -> Server {
    let events = dir.join("day.jsonl");
    let sim = SimConfig {
        seed: 11,
        ..SimConfig::default()
    };
    let mut text = String::new();
    for e in ccpulse::sim::run(sim, 10 * 3_600_000) {
        text.push_str(&encode_json(&e));
        text.push('\n');
    }
    std::fs::write(&events, text).unwrap();
    let config = dir.join("ccpulse.toml");
    std::fs::write(
        &config,
        format!(
            "[http]\nheader_read_timeout = \"{}s\"\nidle_timeout = \"5s\"\nmax_connections = 1000\n",
            HEADER_TIMEOUT.as_secs()
        ),
    )
    .unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_ccpulse"))
        .args(["replay", "--config"])
        .arg(&config)
        .args(["--serve", &addr])
        .arg(&events)
        .env("CCPULSE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start ccpulse replay --serve");
    let server = Server { child, addr };
    let up = wait_until(Duration::from_secs(60), || {
        get(&server.addr, "/healthz", Duration::from_secs(2)).is_some_and(|(s, _)| s == 200)
    });
    assert!(up, "the server did not come up");
    server
}

/// GET `path`: (status, body length), or `None` past `deadline`.
fn get(addr: &str, path: &str, deadline: Duration) -> Option<(u16, usize)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(deadline)).ok()?;
    s.set_write_timeout(Some(deadline)).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, buf.len()))
}

/// A stream client on its own thread, counting the events it reads.
struct Stream {
    events: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
    socket: TcpStream,
}

impl Stream {
    /// Hang up (the reader thread ends).
    fn close(self) {
        let _ = self.socket.shutdown(std::net::Shutdown::Both);
    }
}

fn open_stream(addr: &str, stop: &Arc<AtomicBool>) -> Stream {
    let events = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let mut s = TcpStream::connect(addr).expect("connect a stream");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET /api/v1/stream HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let socket = s.try_clone().unwrap();
    let (e, b, stop) = (events.clone(), bytes.clone(), stop.clone());
    thread::spawn(move || {
        let mut r = BufReader::with_capacity(1 << 16, s);
        let mut line = String::new();
        while !stop.load(Ordering::Relaxed) {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    b.fetch_add(n as u64, Ordering::Relaxed);
                    if line.starts_with("event: snapshot") {
                        e.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    });
    Stream {
        events,
        bytes,
        socket,
    }
}

/// CPU used by the process over `WINDOW`, as a share of one core.
fn cpu_over_window(pid: u32) -> f64 {
    let c0 = cpu_seconds(pid);
    let t0 = Instant::now();
    thread::sleep(WINDOW);
    (cpu_seconds(pid) - c0) / t0.elapsed().as_secs_f64()
}

/// `ccpulse demo` on a free port.
fn start_demo() -> Server {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_ccpulse"))
        .args(["demo", "--http", &addr])
        .env("CCPULSE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start ccpulse demo");
    let server = Server { child, addr };
    let up = wait_until(Duration::from_secs(60), || {
        get(&server.addr, "/healthz", Duration::from_secs(2)).is_some_and(|(s, _)| s == 200)
    });
    assert!(up, "the demo did not come up");
    server
}

#[test]
fn a_hundred_stream_clients_cost_the_live_service_at_most_half_again_one() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = start_demo();
    let pid = server.child.id();
    let addr = server.addr.clone();
    let stop = Arc::new(AtomicBool::new(false));
    // Let the simulated center fill up (queues, agents, windows).
    thread::sleep(Duration::from_secs(12));
    let snapshot_bytes = get(&addr, "/api/v1/snapshot", Duration::from_secs(10))
        .expect("snapshot")
        .1;
    let first = open_stream(&addr, &stop);
    let mut others: Vec<Stream> = Vec::new();
    let (mut one, mut hundred) = (Vec::new(), Vec::new());
    let mut received = 0;
    for _ in 0..ROUNDS {
        for n in [1, STREAMS] {
            while others.len() + 1 > n {
                others.pop().unwrap().close();
            }
            while others.len() + 1 < n {
                others.push(open_stream(&addr, &stop));
            }
            thread::sleep(Duration::from_secs(2));
            let before: u64 = others
                .iter()
                .map(|s| s.events.load(Ordering::Relaxed))
                .sum();
            let cpu = cpu_over_window(pid);
            received += others
                .iter()
                .map(|s| s.events.load(Ordering::Relaxed))
                .sum::<u64>()
                - before;
            if n == 1 {
                one.push(cpu)
            } else {
                hundred.push(cpu)
            }
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let ratio = mean(&hundred) / mean(&one);
    let pct = |v: &[f64]| {
        v.iter()
            .map(|c| format!("{:.1} %", c * 100.0))
            .collect::<Vec<_>>()
            .join(", ")
    };
    eprintln!(
        "CPU of ccpulse demo (share of a core), {ROUNDS} alternating {WINDOW:?} windows: 1 stream {} (mean {:.2} %), {STREAMS} streams {} (mean {:.2} %): {ratio:.2}x; snapshot {} KiB",
        pct(&one),
        mean(&one) * 100.0,
        pct(&hundred),
        mean(&hundred) * 100.0,
        snapshot_bytes / 1024
    );
    let windows = ROUNDS as f64 * WINDOW.as_secs_f64();
    assert!(
        received as f64 >= (STREAMS - 1) as f64 * (windows - 2.0 * ROUNDS as f64),
        "every stream gets about one event a second: {received} in {windows} s"
    );
    assert!(
        first.events.load(Ordering::Relaxed) as f64 >= windows * 2.0 - 2.0,
        "the first stream kept streaming"
    );
    assert!(
        ratio <= 1.5,
        "{STREAMS} stream clients cost {ratio:.2}x the CPU of one"
    );
    stop.store(true, Ordering::Relaxed);
}

#[test]
fn the_server_keeps_answering_beside_idle_slow_and_streaming_clients() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir("http-load");
    let server = start(&dir);
    let addr = server.addr.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let streams: Vec<Stream> = (0..STREAMS).map(|_| open_stream(&addr, &stop)).collect();
    thread::sleep(Duration::from_secs(2));

    // ---- 2. Idle and slow connections beside the streams.
    let idle: Vec<TcpStream> = (0..IDLE)
        .map(|_| TcpStream::connect(&addr).expect("idle connection"))
        .collect();
    let slow: Vec<TcpStream> = (0..SLOW)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).expect("slow connection");
            s.write_all(b"GET /api/v1/snapshot HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    let opened = Instant::now();
    // The slow ones keep sending a header byte every 300 ms.
    let dribbling = {
        let slow: Vec<TcpStream> = slow.iter().map(|s| s.try_clone().unwrap()).collect();
        let stop = stop.clone();
        thread::spawn(move || {
            let mut slow = slow;
            while !stop.load(Ordering::Relaxed) {
                for s in slow.iter_mut() {
                    let _ = s.write_all(b"X");
                }
                thread::sleep(Duration::from_millis(300));
            }
        })
    };
    // Meanwhile everything else answers promptly.
    let mut worst = Duration::ZERO;
    let mut answered = 0;
    while opened.elapsed() < HEADER_TIMEOUT + Duration::from_secs(2) {
        for path in ["/healthz", "/readyz", "/metrics", "/api/v1/snapshot"] {
            let t = Instant::now();
            let r = get(&addr, path, Duration::from_secs(3));
            assert!(
                matches!(r, Some((200, _))),
                "{path} did not answer within 3 s under load: {r:?}"
            );
            worst = worst.max(t.elapsed());
            answered += 1;
        }
    }
    // The idle and slow connections are closed at the header deadline.
    let closed = |s: &TcpStream| -> bool {
        let mut s = s.try_clone().unwrap();
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let mut b = [0u8; 256];
        match s.read(&mut b) {
            // The end of the stream (or an answer before it).
            Ok(_read) => true,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        }
    };
    let all_closed = wait_until(HEADER_TIMEOUT + Duration::from_secs(5), || {
        idle.iter().chain(&slow).all(closed)
    });
    let open_left = idle.iter().chain(&slow).filter(|s| !closed(s)).count();
    let took = opened.elapsed();
    let events_now: u64 = streams
        .iter()
        .map(|s| s.events.load(Ordering::Relaxed))
        .sum();
    thread::sleep(Duration::from_secs(2));
    let events_later: u64 = streams
        .iter()
        .map(|s| s.events.load(Ordering::Relaxed))
        .sum();
    eprintln!(
        "{IDLE} idle + {SLOW} slow connections beside {STREAMS} streams: {answered} requests answered, slowest {worst:?}; idle and slow ones closed after {took:?} (header_read_timeout {HEADER_TIMEOUT:?}), {open_left} left open; streams still streaming: {} events in 2 s",
        events_later - events_now
    );
    assert!(
        all_closed,
        "{open_left} idle or slow connections still open after {took:?}"
    );
    assert!(
        events_later - events_now >= STREAMS as u64,
        "the streams stalled under load"
    );
    stop.store(true, Ordering::Relaxed);
    let _ = dribbling.join();
    let bytes: u64 = streams
        .iter()
        .map(|s| s.bytes.load(Ordering::Relaxed))
        .sum();
    eprintln!("the {STREAMS} streams read {} MiB in all", bytes >> 20);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
