//! The wallboard end to end: the page at `/` rendered by headless Chromium
//! against a real socket, its `data-kpi` numbers checked against
//! `/api/v1/snapshot`, a second published view showing up through the SSE
//! stream, the stale banner shown when (and only when) the figures are
//! stale, and screenshots in `target/test-artifacts/wallboard.png` and
//! `wallboard-stale.png`. Chromium runs with `TZ=UTC` (the banner shows
//! browser-local time) against a server on a manual wall clock, so ages are
//! exact. Chromium missing is a failure naming `scripts/install-test-deps`.

#[path = "support/scratch.rs"]
mod scratch;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ccpulse::export::http::{self, AppState};
use ccpulse::export::settings::ExportConfig;
use ccpulse::export::wallboard::wallboard_routes;
use ccpulse::export::{
    ExportState, ManualClock, MetricsExporter, PartitionKey, PartitionPublisher, PartitionStatus,
};
use ccpulse_core::engine::settings::EngineConfig;
use ccpulse_core::engine::Engine;
use ccpulse_core::event::{Channel, Event, EventKind, InteractionEvent, Millis};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const CHROMIUM: &str = "/usr/bin/chromium";

/// The server's wall clock at start: 2026-11-02T09:30:00Z.
const WALL0: Millis = 1_793_611_800_000;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// An engine with `examples/all-kinds.jsonl` folded in.
fn example_engine() -> Engine {
    let mut engine = Engine::new(EngineConfig::default());
    ccpulse::replay::replay_into(
        &mut engine,
        &Default::default(),
        &[root().join("examples/all-kinds.jsonl")],
        None,
        true,
        &mut |_| {},
    )
    .expect("replay examples/all-kinds.jsonl");
    engine
}

/// Events added to the example name its tenant (every event of
/// `examples/all-kinds.jsonl` is acme's): a tenant's queues are its own.
const EXAMPLE_TENANT: &str = "acme";

/// The example plus `n` more interactions queued on `queue`/`channel` just
/// after its last event: a different view with more waiting.
fn busier_engine(queue: &str, channel: Channel, n: usize) -> Engine {
    let mut engine = example_engine();
    let last = engine.max_event_time();
    let mut out = Vec::new();
    for i in 0..n {
        let _ = engine.apply(
            Event {
                event_id: format!("wallboard-extra-{i}"),
                occurred_at: last + 1000 * (i as i64 + 1),
                // The example's tenant: the same center's queues.
                tenant: Some(EXAMPLE_TENANT.into()),
                kind: EventKind::Interaction {
                    interaction_id: format!("wallboard-extra-{i}"),
                    event: InteractionEvent::Queued {
                        queue: queue.into(),
                        channel,
                        priority: 0,
                        customer_ref: None,
                    },
                },
            },
            &mut out,
        );
    }
    engine.flush(&mut out);
    engine
}

/// The example plus `n` calls on `queue` queued and answered within the
/// hour after its last event (waits of 10 s, 20 s, …): the 1 h window's
/// wait histogram the wallboard draws as bars has data.
fn answered_engine(queue: &str, n: usize) -> Engine {
    let mut engine = example_engine();
    let last = engine.max_event_time();
    let mut out = Vec::new();
    for i in 0..n {
        let id = format!("wallboard-answered-{i}");
        let queued_at = last + 60_000 * (i as i64 + 1);
        for (k, at, event) in [
            (
                "q",
                queued_at,
                InteractionEvent::Queued {
                    queue: queue.into(),
                    channel: Channel::Voice,
                    priority: 0,
                    customer_ref: None,
                },
            ),
            (
                "a",
                queued_at + 10_000 * (i as i64 + 1),
                InteractionEvent::Answered {
                    agent_id: "agent-7".into(),
                },
            ),
        ] {
            let _ = engine.apply(
                Event {
                    event_id: format!("{id}-{k}"),
                    occurred_at: at,
                    tenant: Some(EXAMPLE_TENANT.into()),
                    kind: EventKind::Interaction {
                        interaction_id: id.clone(),
                        event,
                    },
                },
                &mut out,
            );
        }
    }
    engine.flush(&mut out);
    engine
}

fn publish(state: &ExportState, key: &PartitionKey, mut engine: Engine) {
    PartitionPublisher::from_zero().publish_to(engine.publication(), state, key);
}

struct Server {
    addr: SocketAddr,
    token: Option<String>,
    clock: ManualClock,
    state: Arc<ExportState>,
    shutdown: CancellationToken,
    runtime: tokio::runtime::Runtime,
    handle: tokio::task::JoinHandle<Result<(), ccpulse::export::ExportError>>,
}

impl Server {
    fn start() -> Server {
        Server::start_with_token(None)
    }

    fn start_with_token(token: Option<&str>) -> Server {
        let exp = MetricsExporter::new(&ExportConfig::default());
        let clock = ManualClock::new(WALL0);
        let state = Arc::new(ExportState::with_clock(clock.clock()));
        let key = PartitionKey::new("interactions", 0);
        state.set_status(&key, PartitionStatus::Live);
        publish(&state, &key, example_engine());
        state.set_started(true);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let shutdown = CancellationToken::new();
        let app = AppState::new(state.clone(), exp.handle(), token.map(String::from));
        let (public, api) = wallboard_routes(shutdown.clone());
        let router = http::router_with(app, public, api);
        let listener = runtime
            .block_on(http::bind("127.0.0.1:0".parse().expect("addr")))
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let handle = runtime.spawn(http::serve(listener, router, shutdown.clone()));
        Server {
            addr,
            token: token.map(String::from),
            clock,
            state,
            shutdown,
            runtime,
            handle,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn get(&self, path: &str) -> String {
        let mut s = std::net::TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
        )
        .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        assert!(out.starts_with("HTTP/1.1 200"), "GET {path}: {out}");
        out.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default()
    }

    fn snapshot(&self) -> Value {
        let body = match &self.token {
            Some(t) => self.get(&format!("/api/v1/snapshot?access_token={t}")),
            None => self.get("/api/v1/snapshot"),
        };
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("snapshot not JSON ({e}): {body}"))
    }

    fn stop(self) {
        self.shutdown.cancel();
        let stopped = self
            .runtime
            .block_on(async { tokio::time::timeout(Duration::from_secs(10), self.handle).await })
            .expect("server stops on shutdown although streams are open")
            .expect("join");
        assert!(stopped.is_ok(), "{stopped:?}");
    }
}

fn chromium() -> PathBuf {
    let p = PathBuf::from(CHROMIUM);
    assert!(
        p.is_file(),
        "{CHROMIUM} not found: install chromium: run scripts/install-test-deps"
    );
    p
}

/// Run headless Chromium with `args` then `url`; stdout. Killed after 90 s.
fn run_chromium(args: &[&str], url: &str) -> String {
    // A fresh Chromium profile per run.
    let profile = scratch::Scratch::new("wallboard");
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .env("TZ", "UTC")
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait chromium") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium {args:?} did not finish in 90 s; stderr: {}",
                err.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    assert!(
        status.success(),
        "chromium {args:?}: {status}; stderr: {err}"
    );
    out
}

/// The DOM once the page rendered a snapshot and its stream is open.
/// `--dump-dom` dumps at the load event, which does not wait for the
/// EventSource (and `--virtual-time-budget` never ends while it is open),
/// so a dump before the stream opened is retried.
fn dump_dom(url: &str) -> String {
    let mut last = String::new();
    for _ in 0..10 {
        last = run_chromium(&["--timeout=5000", "--dump-dom"], url);
        if last.contains("data-updates=") && last.contains("class=\"conn live\"") {
            return last;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("the page never rendered a snapshot with /api/v1/stream open:\n{last}");
}

/// `data-kpi` → the text up to the next tag, from a dumped DOM.
fn kpis(dom: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = dom;
    while let Some(i) = rest.find("data-kpi=\"") {
        rest = &rest[i + 10..];
        let Some(end) = rest.find('"') else { break };
        let name = rest[..end].to_string();
        let Some(gt) = rest.find('>') else { break };
        let text_end = rest[gt + 1..].find('<').map_or(rest.len(), |e| gt + 1 + e);
        out.insert(name, rest[gt + 1..text_end].trim().to_string());
        rest = &rest[end..];
    }
    out
}

fn shown(k: &BTreeMap<String, String>, name: &str) -> Option<f64> {
    let text = k
        .get(name)
        .unwrap_or_else(|| panic!("no data-kpi={name:?} on the page; have {k:?}"));
    if text == "—" {
        None
    } else {
        Some(
            text.parse()
                .unwrap_or_else(|e| panic!("{name}: {text:?} is not a number ({e})")),
        )
    }
}

/// Whether the stale banner is on show in a dumped DOM (its element carries
/// `hidden` otherwise) and `body[data-stale]` agrees.
fn banner_shown(dom: &str) -> bool {
    let at = dom.find("id=\"stale-banner\"").expect("the banner element");
    let start = dom[..at].rfind('<').expect("tag start");
    let end = at + dom[at..].find('>').expect("tag end");
    let shown = !dom[start..end].contains(" hidden");
    let flag = if shown {
        "data-stale=\"true\""
    } else {
        "data-stale=\"false\""
    };
    assert!(
        dom.contains(flag),
        "banner shown: {shown}, but no {flag}:\n{dom}"
    );
    shown
}

fn screenshot(page: &str, name: &str) -> PathBuf {
    let shot_dir = root().join("target/test-artifacts");
    std::fs::create_dir_all(&shot_dir).expect("artifact dir");
    let shot = shot_dir.join(name);
    let _ = std::fs::remove_file(&shot);
    run_chromium(
        &[
            "--timeout=5000",
            &format!("--screenshot={}", shot.display()),
            "--window-size=1600,1000",
        ],
        page,
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    shot
}

/// Every queue tile against the snapshot: waiting, oldest wait, SL and
/// abandon rate (5m), agents by state; the provisional figures when the
/// snapshot has them (they include the events still waiting for the
/// watermark). Returns how many tiles.
fn assert_tiles_match(k: &BTreeMap<String, String>, snap: &Value) -> usize {
    let figures = if snap["provisional"].is_object() {
        &snap["provisional"]
    } else {
        snap
    };
    let queues = figures["queues"].as_array().expect("queues");
    for q in queues {
        let id = format!(
            "{}:{}",
            q["queue"].as_str().expect("queue"),
            q["channel"].as_str().expect("channel")
        );
        let check = |kpi: &str, want: Option<f64>, scale: f64, tol: f64| {
            let got = shown(k, &format!("{kpi}:{id}"));
            match (got, want) {
                (None, None) => {}
                (Some(g), Some(w)) => assert!(
                    (g - w * scale).abs() <= tol,
                    "{kpi}:{id}: page shows {g}, snapshot has {w} (×{scale})"
                ),
                _ => panic!("{kpi}:{id}: page shows {got:?}, snapshot has {want:?}"),
            }
        };
        let w5 = &q["windows"]["5m"];
        check("waiting", q["now"]["waiting"].as_f64(), 1.0, 0.0);
        check(
            "oldest",
            q["now"]["oldest_waiting_age_seconds"].as_f64(),
            1.0,
            0.5,
        );
        check("sl", w5["service_level"]["answered"].as_f64(), 100.0, 0.051);
        check("abandon", w5["abandon_rate"].as_f64(), 100.0, 0.051);
        for s in ["available", "busy", "wrap_up"] {
            check(s, q["now"]["agents"][s].as_f64(), 1.0, 0.0);
        }
    }
    queues.len()
}

/// The snapshot's first queue × channel: its name, its channel's name, and
/// the channel.
fn first_queue(snap: &Value) -> (String, String, Channel) {
    let queue = snap["queues"][0]["queue"].as_str().expect("queue");
    let ch_name = snap["queues"][0]["channel"].as_str().expect("channel");
    let channel = Channel::ALL
        .into_iter()
        .find(|c| c.as_str() == ch_name)
        .expect("known channel");
    (queue.to_string(), ch_name.to_string(), channel)
}

/// Whether the element carrying `data-kpi="name"` is marked provisional.
fn marked_provisional(dom: &str, name: &str) -> bool {
    let at = dom
        .find(&format!("data-kpi=\"{name}\""))
        .unwrap_or_else(|| panic!("no data-kpi={name:?} on the page"));
    let tag_start = dom[..at].rfind('<').expect("inside a tag");
    let tag_end = at + dom[at..].find('>').expect("tag ends");
    dom[tag_start..tag_end].contains("data-provisional=\"true\"")
}

/// Three calls queued 1, 2 and 3 s after the example's end, inside
/// the 5 s lateness: they wait for the watermark, so the ordered figures
/// do not have them yet and the provisional ones do. The tile shows the
/// provisional count, marked; a figure no buffered event changes is not.
#[test]
fn the_wallboard_shows_provisional_figures_and_marks_those_that_differ() {
    let _ = chromium();
    let server = Server::start();
    let page = server.url("/");
    let snap = server.snapshot();
    let (queue, ch_name, channel) = first_queue(&snap);
    let waiting_before = snap["queues"][0]["now"]["waiting"]
        .as_u64()
        .expect("waiting");
    let mut engine = example_engine();
    // The example is folded to its end: its watermark is past every event.
    let end = engine.watermark();
    let mut out = Vec::new();
    for i in 0..3 {
        let id = format!("wallboard-buffered-{i}");
        let _ = engine.apply(
            Event {
                event_id: id.clone(),
                occurred_at: end + 1000 * (i as i64 + 1),
                tenant: Some(EXAMPLE_TENANT.into()),
                kind: EventKind::Interaction {
                    interaction_id: id,
                    event: InteractionEvent::Queued {
                        queue: queue.clone(),
                        channel,
                        priority: 0,
                        customer_ref: None,
                    },
                },
            },
            &mut out,
        );
    }
    let key = PartitionKey::new("interactions", 0);
    publish(&server.state, &key, engine);
    std::thread::sleep(Duration::from_millis(1500));
    let dom = dump_dom(&page);
    let k = kpis(&dom);
    let snap = server.snapshot();
    assert!(snap["provisional"].is_object(), "3 events buffered: {snap}");
    assert_eq!(
        snap["queues"][0]["now"]["waiting"], waiting_before,
        "the ordered figures wait"
    );
    let tile = format!("waiting:{queue}:{ch_name}");
    assert_eq!(
        shown(&k, &tile),
        Some((waiting_before + 3) as f64),
        "{tile}"
    );
    assert!(
        marked_provisional(&dom, &tile),
        "{tile} differs from the ordered figure: marked"
    );
    assert_tiles_match(&k, &snap);
    // No agent changed state: the agent counts are the ordered ones, unmarked.
    let available = format!("available:{queue}:{ch_name}");
    assert_eq!(
        shown(&k, &available),
        snap["queues"][0]["now"]["agents"]["available"].as_f64()
    );
    assert!(
        !marked_provisional(&dom, &available),
        "{available} equals the ordered figure"
    );
    server.stop();
}

#[test]
fn the_wallboard_shows_the_snapshot_and_follows_the_stream() {
    let _ = chromium();
    let server = Server::start();
    let page = server.url("/");

    let dom = dump_dom(&page);
    let k = kpis(&dom);
    let snap = server.snapshot();
    let tiles = assert_tiles_match(&k, &snap);
    assert!(tiles >= 2, "the example has several queues: {snap}");
    assert_eq!(
        k.get("connection").map(String::as_str),
        Some("live"),
        "{dom}"
    );
    assert_eq!(snap["freshness"]["stale"], false, "{}", snap["freshness"]);
    assert!(!banner_shown(&dom), "fresh figures raise no banner");
    let as_of = snap["as_of"].as_str().expect("as_of");
    let as_of = as_of.replace('T', " ");
    let as_of = match as_of.split_once('.') {
        Some((secs, _)) => format!("{secs}Z"),
        None => as_of,
    };
    assert_eq!(k.get("as_of"), Some(&as_of), "as of");
    for a in snap["agents"].as_array().expect("agents") {
        if a["windows"]["1h"].is_object() {
            let id = a["agent"].as_str().expect("agent");
            assert_eq!(
                shown(&k, &format!("closures:{id}")),
                a["windows"]["1h"]["counts"]["closures"].as_f64()
            );
        }
    }

    // A second, different view: the stream carries it to a new page load.
    let (queue, ch_name, channel) = first_queue(&snap);
    let tile = format!("waiting:{queue}:{ch_name}");
    let before = shown(&k, &tile);
    let key = PartitionKey::new("interactions", 0);
    publish(&server.state, &key, busier_engine(&queue, channel, 3));
    std::thread::sleep(Duration::from_millis(1500));
    let dom2 = dump_dom(&page);
    let k2 = kpis(&dom2);
    let snap2 = server.snapshot();
    assert_tiles_match(&k2, &snap2);
    let after = shown(&k2, &tile);
    assert_eq!(
        after,
        Some(before.unwrap_or(0.0) + 3.0),
        "{tile} did not follow the new view"
    );

    screenshot(&page, "wallboard.png");
    server.stop();
}

/// A broker outage: the session times out and the partition is revoked.
/// The page keeps the last figures and raises the banner with their time
/// (browser-local, UTC here) and age, worked by hand: published at
/// 09:30:00, revoked 5 s later, looked at 47 s after the publish.
#[test]
fn the_wallboard_shows_a_stale_banner_while_the_figures_are_stale() {
    let _ = chromium();
    let server = Server::start();
    let page = server.url("/");
    let before = server.snapshot();

    server.clock.advance(Duration::from_secs(5));
    server
        .state
        .remove_partition(&PartitionKey::new("interactions", 0));
    server.clock.advance(Duration::from_secs(42));

    let snap = server.snapshot();
    assert_eq!(snap["queues"], before["queues"], "the last figures stay");
    assert_eq!(snap["freshness"]["stale"], true);
    assert_eq!(snap["freshness"]["age_seconds"], 47.0);

    let dom = dump_dom(&page);
    assert!(banner_shown(&dom), "{dom}");
    let k = kpis(&dom);
    assert_eq!(
        k.get("stale").map(String::as_str),
        Some("Figures as of 09:30:00, 47 s old — not updating"),
        "{dom}"
    );
    assert_eq!(
        k.get("stale_reason").map(String::as_str),
        Some(
            "no partitions assigned; interactions/0 revoked 42s ago, \
             its last figures kept for 4m 18s more"
        ),
        "{dom}"
    );
    // The figures under the banner are the last known ones.
    assert!(assert_tiles_match(&k, &snap) >= 2);
    screenshot(&page, "wallboard-stale.png");

    // Assigned and published again: the banner goes.
    let key = PartitionKey::new("interactions", 0);
    server.state.set_status(&key, PartitionStatus::Live);
    publish(&server.state, &key, example_engine());
    let dom = dump_dom(&page);
    assert!(!banner_shown(&dom), "{dom}");
    server.stop();
}

/// With `http.api_token` set, the page opened as `/?access_token=<token>`
/// passes the token to its EventSource (which cannot send headers) and goes
/// live; opened without it, or with a wrong one, it shows no figures and
/// says "unauthorised" instead of reconnecting forever.
#[test]
fn a_token_protected_wallboard_goes_live_with_the_token_in_its_url() {
    let token = "wallboard-secret";
    let server = Server::start_with_token(Some(token));
    let dom = dump_dom(&server.url(&format!("/?access_token={token}")));
    let k = kpis(&dom);
    assert_eq!(
        k.get("connection").map(String::as_str),
        Some("live"),
        "{dom}"
    );
    assert!(assert_tiles_match(&k, &server.snapshot()) >= 2);

    for url in [server.url("/"), server.url("/?access_token=wrong")] {
        let mut without = String::new();
        for _ in 0..10 {
            // Virtual time, not `--timeout`: this Chromium (156) dumps at a
            // `--timeout` before the page's fallback request after the
            // refused stream has run; a virtual-time budget lets it finish.
            without = run_chromium(&["--virtual-time-budget=5000", "--dump-dom"], &url);
            if without.contains("class=\"conn unauthorised\"") {
                break;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        assert!(
            !without.contains("data-updates="),
            "figures shown without the token:\n{without}"
        );
        let k = kpis(&without);
        assert_eq!(
            k.get("connection").map(String::as_str),
            Some("unauthorised"),
            "{url}: {without}"
        );
        assert!(banner_shown(&without), "{without}");
        assert!(
            k.get("stale")
                .is_some_and(|t| t.starts_with("Unauthorised")),
            "{without}"
        );
        assert!(
            k.get("stale_reason")
                .is_some_and(|t| t.contains("access_token")),
            "{without}"
        );
        assert!(
            !without.contains(token),
            "the page never holds the token it lacks"
        );
    }
    server.stop();
}

/// The page is served with a Content-Security-Policy that forbids inline
/// script and style, and works under it: the wait bars get their widths
/// through the DOM.
#[test]
fn the_page_carries_its_security_headers_and_works_under_them() {
    let _ = chromium();
    let server = Server::start();
    // Waits in the hour the wait bars show.
    let key = PartitionKey::new("interactions", 0);
    publish(&server.state, &key, answered_engine("billing", 3));
    let mut s = std::net::TcpStream::connect(server.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let head = out
        .split_once("\r\n\r\n")
        .expect("head")
        .0
        .to_ascii_lowercase();
    assert!(
        head.contains(
            "content-security-policy: default-src 'none'; script-src 'self'; style-src 'self'"
        ),
        "{head}"
    );
    for h in [
        "x-content-type-options: nosniff",
        "referrer-policy: no-referrer",
        "x-frame-options: deny",
        "cache-control: no-store",
    ] {
        assert!(head.contains(h), "{h}: {head}");
    }
    assert!(!out.contains("style=\""), "no inline style in the page");
    let dom = dump_dom(&server.url("/"));
    assert!(
        dom.contains("data-width=") && dom.contains("style=\"width:"),
        "the wait bars have no width under the CSP:\n{dom}"
    );
    server.stop();
}

#[test]
fn the_stream_sends_the_snapshot_as_events_and_ends_on_shutdown() {
    let server = Server::start();
    let mut s = std::net::TcpStream::connect(server.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET /api/v1/stream HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n"
    )
    .expect("write");
    let mut r = BufReader::new(s);
    let mut head = String::new();
    let mut datas = Vec::new();
    let started = Instant::now();
    while datas.len() < 2 {
        let mut line = String::new();
        if r.read_line(&mut line).expect("read stream") == 0 {
            panic!("stream ended early: {head}");
        }
        if let Some(d) = line.strip_prefix("data: ") {
            datas.push(d.trim_end().to_string());
        } else if datas.is_empty() {
            head.push_str(&line);
        }
    }
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("text/event-stream"),
        "{head}"
    );
    assert!(head.contains("event: snapshot"), "{head}");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "a tick between events"
    );
    let first: Value = serde_json::from_str(&datas[0]).expect("event data is JSON");
    assert_eq!(
        first,
        server.snapshot(),
        "the stream carries /api/v1/snapshot"
    );
    server.stop();
}
