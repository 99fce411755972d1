//! `ccpulse run` against a real Apache Kafka broker (4.1, KRaft, one node,
//! started per test by `support/broker.rs`; needs `scripts/install-kafka`).
//! Kafka has transactions, `read_committed`, a real group coordinator and
//! TLS/SASL listeners, so what the mock cluster cannot show is shown here:
//! exactly-once through `kill -9`, upstream transactions, rebalances with
//! static members, a broker restart, and security.
//!
//! The oracle is always the pure engine folding the same events
//! (`support::converge`): expectations are computed, never asked of the
//! service. Where a test must not depend on the wall clock (the service
//! moves an idle partition's watermark with it), its traffic ends with one
//! *clock event* per partition an hour of event time after the rest, so
//! every SLA deadline is passed by event time alone, and its partitions
//! never idle (`idle_timeout = "10m"`).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ccpulse_core::event::codec::decode_effect_json;
use ccpulse_core::event::{Channel, Effect, Event, EventKind, InteractionEvent};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use support::broker::KafkaBroker;
use support::converge::*;
use support::kafka::*;
use support::Scenario;

const LATENESS_MS: i64 = 1_000;

/// How a test runs the service: the config it writes.
#[derive(Clone)]
struct Service {
    brokers: String,
    http: u16,
    group: String,
    instance: Option<String>,
    guarantee: &'static str,
    idle: &'static str,
    commit: &'static str,
    retry_budget: &'static str,
    first_response: &'static str,
    max_reassignments: u32,
    /// More `[kafka]` lines (e.g. `create_topics = true`, `topics = {…}`).
    kafka: Vec<String>,
    /// `[kafka.properties]`, passed to librdkafka.
    properties: BTreeMap<String, String>,
}

impl Service {
    fn new(brokers: &str, group: &str) -> Service {
        let properties = [
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "500"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Service {
            brokers: brokers.to_string(),
            http: free_port(),
            group: group.to_string(),
            instance: None,
            guarantee: "auto",
            idle: "1s",
            commit: "200ms",
            retry_budget: "30s",
            first_response: "30s",
            max_reassignments: 2,
            kafka: Vec::new(),
            properties,
        }
    }

    fn instance(mut self, id: &str) -> Service {
        self.instance = Some(id.to_string());
        self
    }

    fn guarantee(mut self, g: &'static str) -> Service {
        self.guarantee = g;
        self
    }

    fn idle(mut self, d: &'static str) -> Service {
        self.idle = d;
        self
    }

    fn commit(mut self, d: &'static str) -> Service {
        self.commit = d;
        self
    }

    fn retry_budget(mut self, d: &'static str) -> Service {
        self.retry_budget = d;
        self
    }

    fn sla(mut self, first_response: &'static str, max_reassignments: u32) -> Service {
        self.first_response = first_response;
        self.max_reassignments = max_reassignments;
        self
    }

    fn kafka(mut self, line: &str) -> Service {
        self.kafka.push(line.to_string());
        self
    }

    fn property(mut self, k: &str, v: &str) -> Service {
        self.properties.insert(k.to_string(), v.to_string());
        self
    }

    fn toml(&self) -> String {
        let instance = self
            .instance
            .as_ref()
            .map(|i| format!("group_instance_id = \"{i}\"\n"))
            .unwrap_or_default();
        let extra: String = self.kafka.iter().map(|l| format!("{l}\n")).collect();
        let props: String = self
            .properties
            .iter()
            .map(|(k, v)| format!("{k:?} = {v:?}\n"))
            .collect();
        format!(
            r#"
[engine]
allowed_lateness = "{LATENESS_MS}ms"

[http]
listen = "127.0.0.1:{http}"

[kafka]
brokers = "{brokers}"
group_id = "{group}"
{instance}processing_guarantee = "{guarantee}"
commit_interval = "{commit}"
idle_timeout = "{idle}"
shutdown_timeout = "20s"
retry_budget = "{retry_budget}"
{extra}
[kafka.properties]
{props}
[[sla.policies]]
name = "answer"
first_response = "{first_response}"
max_reassignments = {max_reassignments}
"#,
            http = self.http,
            brokers = self.brokers,
            group = self.group,
            guarantee = self.guarantee,
            commit = self.commit,
            idle = self.idle,
            retry_budget = self.retry_budget,
            first_response = self.first_response,
            max_reassignments = self.max_reassignments,
        )
    }

    fn start(&self, dir: &std::path::Path, name: &str) -> Ccpulse {
        Ccpulse::start(dir, name, &self.toml(), &["run"])
    }
}

/// The default topics, `partitions` wide for the input and the outputs
/// aligned with it, each with the settings the service checks.
fn create_topics(kafka: &KafkaBroker, partitions: i32) {
    for (t, n) in default_topics(partitions) {
        kafka.create_topic(t, n, topic_settings(t));
    }
}

/// A start that must fail: exit 1 within a minute, never live; its log.
fn failed_start(dir: &std::path::Path, name: &str, svc: &Service) -> String {
    let mut c = svc.start(dir, name);
    let code = c.exit_within(Duration::from_secs(60));
    let log = c.log_text();
    assert_eq!(
        code,
        Some(1),
        "{name}: expected a failed start (exit 1):\n{log}"
    );
    assert!(
        !log.contains("partition live"),
        "{name}: it went live:\n{log}"
    );
    log
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Simulated traffic (calls, chats, emails on five queues, six agents
/// always available) sorted by event time, without surveys: about a third
/// of the contacts wait past the 30 s first-response target, so SLA
/// breaches and reassignments are decided all along the stream.
fn steady_traffic(interactions: usize, seed: u64) -> Vec<Event> {
    ccpulse::sim::generate(&ccpulse::sim::Traffic {
        seed,
        interactions,
        agents: 6,
        arrivals_per_second: 2.0,
        survey_rate: 0.0,
        ..Default::default()
    })
}

/// One event per input partition, an hour of event time after `evs`: an
/// `ended` for an interaction nobody queued (counted as orphaned, changes
/// no figure) that moves each partition's watermark past every deadline
/// of `evs`, so the effects do not depend on the wall clock.
fn clock_events(evs: &[Event], partitions: i32) -> Vec<(i32, Event)> {
    let last = evs.iter().map(|e| e.occurred_at).max().unwrap_or(0);
    (0..partitions)
        .map(|p| {
            (
                p,
                Event {
                    event_id: format!("clock-{p}"),
                    occurred_at: last + 3_600_000,
                    tenant: None,
                    kind: EventKind::Interaction {
                        interaction_id: format!("clock-{p}"),
                        event: InteractionEvent::Ended,
                    },
                },
            )
        })
        .collect()
}

fn produce_clocks(brokers: &str, clocks: &[(i32, Event)]) {
    for (p, e) in clocks {
        produce_to_partition(brokers, INTERACTIONS, *p, std::slice::from_ref(e));
    }
}

/// The effects the oracle decides for `evs` once the clock events have
/// passed (the service's watermark then is an hour past every deadline).
fn expected_effects(cfg: &str, evs: &[Event]) -> Vec<Effect> {
    let as_of = evs.iter().map(|e| e.occurred_at).max().unwrap_or(0) - LATENESS_MS;
    let out = replayed_effects(cfg, evs, as_of);
    let ids: BTreeSet<&str> = out.iter().map(Effect::effect_id).collect();
    assert_eq!(ids.len(), out.len(), "the oracle decided an id twice");
    assert!(
        out.iter().all(|e| deadline(e) < as_of),
        "a deadline is not passed by event time alone"
    );
    out
}

fn deadline(e: &Effect) -> i64 {
    match e {
        Effect::SlaBreached(b) => b.deadline,
        Effect::ReassignmentRequested(r) => r.deadline,
    }
}

/// Effect records by id: every copy's bytes, in log order.
fn effects_by_id(records: &[Read]) -> BTreeMap<String, Vec<Vec<u8>>> {
    let mut by_id: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for r in records {
        let e = decode_effect_json(&r.value).expect("effects are valid JSON effects");
        by_id
            .entry(e.effect_id().to_string())
            .or_default()
            .push(r.value.clone());
    }
    by_id
}

/// What the output holds against what the oracle decided.
#[derive(Debug, PartialEq, Eq)]
struct Tally {
    records: usize,
    expected: usize,
    duplicated_ids: usize,
    missing: Vec<String>,
    extra: Vec<String>,
}

fn tally(records: &[Read], expected: &[Effect]) -> (Tally, BTreeMap<String, Vec<Vec<u8>>>) {
    let by_id = effects_by_id(records);
    let want: BTreeSet<&str> = expected.iter().map(Effect::effect_id).collect();
    let got: BTreeSet<&str> = by_id.keys().map(String::as_str).collect();
    let t = Tally {
        records: records.len(),
        expected: want.len(),
        duplicated_ids: by_id.values().filter(|v| v.len() > 1).count(),
        missing: want.difference(&got).map(|s| s.to_string()).collect(),
        extra: got.difference(&want).map(|s| s.to_string()).collect(),
    };
    (t, by_id)
}

/// The kill schedule's seed: `CCPULSE_KILL_SEED` to repeat a run, else
/// fresh each run (printed either way).
fn kill_seed() -> u64 {
    std::env::var("CCPULSE_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| now_ms() as u64 ^ u64::from(std::process::id()))
}

/// How long each run lives before its `kill -9`: 0.5 to 6 s, so some die
/// starting up or restoring (a start takes about 2.5 s) and most while
/// live, inside or between transactions.
fn kill_schedule(seed: u64, kills: usize) -> Vec<Duration> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..kills)
        .map(|_| Duration::from_millis(rng.random_range(500..6_000)))
        .collect()
}

/// What a killed run left behind.
struct Kill {
    lived: Duration,
    live: bool,
    transactions: usize,
    /// Effect records of its transaction that was open at the kill (in
    /// the log, never committed): the kill landed inside a transaction.
    open: usize,
}

/// Runs the service under `svc`, killing it with SIGKILL after each
/// scheduled life and starting it again at once, while `evs` arrive over
/// the schedule's length; then the clock events. Returns the last run
/// (live) and what each kill left.
fn run_with_kills(
    dir: &std::path::Path,
    svc: &Service,
    evs: &[Event],
    clocks: &[(i32, Event)],
    schedule: &[Duration],
) -> (Ccpulse, Vec<Kill>) {
    let brokers = svc.brokers.clone();
    // Each kill also costs two reads and a process start (about 1.5 s on
    // 2 busy cores): the input keeps coming until the last kill.
    let total: Duration =
        schedule.iter().sum::<Duration>() + schedule.len() as u32 * Duration::from_millis(1_500);
    let producer = produce_over(&brokers, evs.to_vec(), total);
    let mut run = svc.start(dir, "run-00");
    let mut kills = Vec::new();
    let mut residue = 0;
    for (k, life) in schedule.iter().enumerate() {
        std::thread::sleep(*life);
        let log = run.log_text();
        run.crash();
        // Before the next run fences it, the killed run's open transaction
        // is still in the log, uncommitted.
        let left = read_all_uncommitted(&brokers, EFFECTS)
            .len()
            .saturating_sub(read_all(&brokers, EFFECTS).len());
        kills.push(Kill {
            lived: *life,
            live: log.contains("partition live"),
            transactions: log.matches("transaction committed").count(),
            open: left.saturating_sub(residue),
        });
        residue = left;
        run = svc.start(dir, &format!("run-{:02}", k + 1));
    }
    producer.join().expect("producer thread");
    produce_clocks(&brokers, clocks);
    (run, kills)
}

/// One line per kill; the transaction figures only mean something for
/// exactly-once (`transactions`).
fn report_kills(kills: &[Kill], transactions: bool) -> String {
    kills
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let txn = if transactions {
                format!(
                    ", {} transactions committed, {} effects in the open transaction",
                    k.transactions, k.open
                )
            } else {
                String::new()
            };
            format!(
                "kill {:2} after {:>5} ms: {}{txn}",
                i + 1,
                k.lived.as_millis(),
                if k.live { "live" } else { "starting" },
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Exactly-once through 20 `kill -9`s at random moments while input keeps
/// arriving: a `read_committed` reader of the effects topic sees every
/// effect id of the replay exactly once (none repeated, none missing, none
/// extra), and the figures equal the replay.
#[test]
fn exactly_once_every_effect_is_committed_once_through_twenty_kill_9s() {
    let seed = kill_seed();
    eprintln!("exactly-once kill schedule seed: {seed} (CCPULSE_KILL_SEED={seed} repeats it)");
    let kafka = KafkaBroker::start();
    let brokers = kafka.plaintext();
    create_topics(&kafka, 4);
    let evs = steady_traffic(500, 61);
    let clocks = clock_events(&evs, 4);
    // A static member: the restarted process takes its place at once, and
    // its transactional id (from the instance id) fences the killed one's
    // open transaction.
    let svc = Service::new(&brokers, "eos")
        .instance("eos-1")
        .guarantee("exactly_once")
        .commit("500ms")
        .idle("10m");
    let cfg = svc.toml();
    let all: Vec<Event> = evs
        .iter()
        .cloned()
        .chain(clocks.iter().map(|(_, e)| e.clone()))
        .collect();
    let expected = expected_effects(&cfg, &all);
    let dir = temp_dir("kafka-eos-kills");
    let schedule = kill_schedule(seed, 20);
    let started = Instant::now();
    let (run, kills) = run_with_kills(&dir, &svc, &evs, &clocks, &schedule);
    eprintln!("{}", report_kills(&kills, true));

    let complete = wait_until(Duration::from_secs(120), || {
        read_all(&brokers, EFFECTS).len() >= expected.len()
    });
    assert!(
        complete,
        "effects incomplete (seed {seed}):\n{}",
        run.log_text()
    );
    assert_converges(svc.http, &cfg, &all, || run.log_text());
    let log = run.log_text();
    assert_eq!(
        run.stop(Duration::from_secs(30)),
        Some(0),
        "graceful stop failed:\n{log}"
    );

    let committed = read_all(&brokers, EFFECTS);
    let aborted = read_all_uncommitted(&brokers, EFFECTS).len() - committed.len();
    let (t, _) = tally(&committed, &expected);
    eprintln!(
        "exactly-once (seed {seed}): {} kills ({} while live, {} inside an open transaction with effects), \
         {} effect records committed for {} expected ids: {} duplicated, {} missing, {} extra; \
         {aborted} effect records in aborted transactions; {:?}",
        kills.len(),
        kills.iter().filter(|k| k.live).count(),
        kills.iter().filter(|k| k.open > 0).count(),
        t.records,
        t.expected,
        t.duplicated_ids,
        t.missing.len(),
        t.extra.len(),
        started.elapsed()
    );
    assert_eq!(
        (t.duplicated_ids, t.missing.len(), t.extra.len(), t.records),
        (0, 0, 0, expected.len()),
        "not exactly once (seed {seed}): missing {:?}, extra {:?}",
        t.missing.iter().take(5).collect::<Vec<_>>(),
        t.extra.iter().take(5).collect::<Vec<_>>()
    );
    assert!(
        kills.iter().any(|k| k.open > 0),
        "no kill landed inside an open transaction with effects (seed {seed}); the test proved less than it claims"
    );
}

/// At-least-once through `kill -9`s: effects a killed run produced past
/// its last offset commit are produced again, but only as byte-identical
/// copies (same id, same bytes, so downstream de-duplication by id is
/// exact), and none is missing or extra.
#[test]
fn at_least_once_kill_9s_repeat_only_byte_identical_effects_and_lose_none() {
    let seed = kill_seed();
    eprintln!("at-least-once kill schedule seed: {seed} (CCPULSE_KILL_SEED={seed} repeats it)");
    let kafka = KafkaBroker::start();
    let brokers = kafka.plaintext();
    create_topics(&kafka, 4);
    let evs = steady_traffic(300, 62);
    let clocks = clock_events(&evs, 4);
    // Offsets commit every second: a kill loses up to a second of commits.
    let svc = Service::new(&brokers, "alo")
        .instance("alo-1")
        .guarantee("at_least_once")
        .commit("1s")
        .idle("10m");
    let cfg = svc.toml();
    let all: Vec<Event> = evs
        .iter()
        .cloned()
        .chain(clocks.iter().map(|(_, e)| e.clone()))
        .collect();
    let expected = expected_effects(&cfg, &all);
    let dir = temp_dir("kafka-alo-kills");
    let (run, kills) = run_with_kills(&dir, &svc, &evs, &clocks, &kill_schedule(seed, 5));
    eprintln!("{}", report_kills(&kills, false));

    let complete = wait_until(Duration::from_secs(120), || {
        effects_by_id(&read_all(&brokers, EFFECTS)).len() >= expected.len()
    });
    assert!(
        complete,
        "effects incomplete (seed {seed}):\n{}",
        run.log_text()
    );
    assert_converges(svc.http, &cfg, &all, || run.log_text());
    let log = run.log_text();
    assert_eq!(
        run.stop(Duration::from_secs(30)),
        Some(0),
        "graceful stop failed:\n{log}"
    );

    let (t, by_id) = tally(&read_all(&brokers, EFFECTS), &expected);
    let differing: Vec<&String> = by_id
        .iter()
        .filter(|(_, copies)| copies.iter().any(|c| c != &copies[0]))
        .map(|(id, _)| id)
        .collect();
    eprintln!(
        "at-least-once (seed {seed}): {} kills ({} while live); {} effect records for {} expected ids: \
         {} ids repeated ({} extra copies, {} differing), {} missing, {} extra",
        kills.len(),
        kills.iter().filter(|k| k.live).count(),
        t.records,
        t.expected,
        t.duplicated_ids,
        t.records - by_id.len(),
        differing.len(),
        t.missing.len(),
        t.extra.len()
    );
    assert!(
        differing.is_empty(),
        "a repeated effect differs from its first copy (seed {seed}): {:?}",
        differing.iter().take(5).collect::<Vec<_>>()
    );
    assert!(
        t.missing.is_empty() && t.extra.is_empty(),
        "seed {seed}: missing {:?}, extra {:?}",
        t.missing.iter().take(5).collect::<Vec<_>>(),
        t.extra.iter().take(5).collect::<Vec<_>>()
    );
}

/// An upstream system that writes input in Kafka transactions.
struct Upstream {
    producer: rdkafka::producer::BaseProducer,
}

impl Upstream {
    fn new(brokers: &str, id: &str) -> Upstream {
        use rdkafka::producer::Producer;
        let producer: rdkafka::producer::BaseProducer = rdkafka::config::ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("transactional.id", id)
            .create()
            .expect("transactional producer");
        producer
            .init_transactions(Duration::from_secs(30))
            .expect("init transactions");
        Upstream { producer }
    }

    /// Begin a transaction and write `evs` into it (in the log, not yet
    /// committed, when this returns).
    fn write(&self, topic: &str, evs: &[Event]) {
        use rdkafka::producer::{BaseRecord, Producer};
        self.producer
            .begin_transaction()
            .expect("begin transaction");
        for e in evs {
            let value = ccpulse_core::event::codec::encode_json(e);
            self.producer
                .send(
                    BaseRecord::to(topic)
                        .partition(0)
                        .key(e.key())
                        .payload(&value),
                )
                .unwrap_or_else(|(err, _)| panic!("produce in a transaction: {err}"));
        }
        self.producer.flush(Duration::from_secs(30)).expect("flush");
    }

    fn commit(&self) {
        use rdkafka::producer::Producer;
        self.producer
            .commit_transaction(Duration::from_secs(30))
            .expect("commit");
    }

    fn abort(&self) {
        use rdkafka::producer::Producer;
        self.producer
            .abort_transaction(Duration::from_secs(30))
            .expect("abort");
    }
}

/// A scenario's events moved so that its second 0 is `base_ms`, with ids
/// prefixed (unique across the parts of a test).
fn at(s: &Scenario, base_ms: i64, prefix: &str) -> Vec<Event> {
    s.events
        .iter()
        .cloned()
        .map(|mut e| {
            e.occurred_at += base_ms - support::T0;
            e.event_id = format!("{prefix}{}", e.event_id);
            e
        })
        .collect()
}

/// Under `read_committed`: records of an aborted upstream transaction are
/// never folded; a transaction left open holds its partition back, so the
/// idle watermark does not follow the wall clock past records that may
/// still come (and later records behind it are not folded as late); once
/// it commits, the figures and effects equal the replay with its records.
/// Event times are near the wall clock here, as in a live center: the
/// partition has followed the wall clock before the transactions start.
#[test]
fn upstream_transactions_aborted_are_never_folded_and_open_ones_hold_the_watermark() {
    let kafka = KafkaBroker::start();
    let brokers = kafka.plaintext();
    create_topics(&kafka, 1);
    // One input topic: the served watermark (`as_of`) is its partition's.
    let svc = Service::new(&brokers, "upstream")
        .sla("5s", 1)
        .kafka(r#"topics = { events = ["ccpulse.interactions"] }"#);
    let cfg = svc.toml();
    let dir = temp_dir("kafka-upstream");

    // A: committed input from five minutes ago; a-2 is never answered.
    let mut s = Scenario::new();
    s.queued(0.0, "a-1", "billing", Channel::Voice)
        .queued(1.0, "a-2", "billing", Channel::Voice)
        .answered(2.0, "a-1", "agent-1")
        .ended(60.0, "a-1");
    let a = at(&s, now_ms() - 300_000, "a-");
    produce(&brokers, INTERACTIONS, &a);
    let run = svc.start(&dir, "a");
    assert_converges(svc.http, &cfg, &a, || run.log_text());
    // Caught up and idle: the watermark follows the wall clock.
    let following = wait_until(Duration::from_secs(30), || {
        served(svc.http)
            .and_then(|s| s["as_of_ms"].as_i64())
            .unwrap_or(0)
            > now_ms() - 5_000
    });
    assert!(
        following,
        "the idle watermark does not follow the clock:\n{}",
        run.log_text()
    );

    // B: written in a transaction that aborts.
    let upstream = Upstream::new(&brokers, "upstream-1");
    let mut s = Scenario::new();
    s.queued(0.0, "b-1", "billing", Channel::Voice)
        .queued(0.5, "b-2", "billing", Channel::Voice);
    let b = at(&s, now_ms(), "b-");
    upstream.write(INTERACTIONS, &b);
    upstream.abort();

    // C: a transaction left open; D: plain records behind it. Their event
    // times start 3 s ahead of the clock (more than a fetch takes to report
    // the new end of the log), so a held watermark stays below them.
    let base = now_ms() + 3_000;
    let mut s = Scenario::new();
    s.queued(0.0, "c-1", "billing", Channel::Voice)
        .queued(0.2, "c-2", "billing", Channel::Voice);
    let c = at(&s, base, "c-");
    let mut s = Scenario::new();
    s.queued(1.0, "d-1", "billing", Channel::Voice)
        .answered(2.0, "c-1", "agent-1")
        .answered(3.0, "d-1", "agent-2");
    let d = at(&s, base, "d-");
    upstream.write(INTERACTIONS, &c);
    produce(&brokers, INTERACTIONS, &d);
    // Held for 8 s, far past idle_timeout (1 s): had the watermark followed
    // the clock it would now be past every event of C and D.
    let held = Instant::now();
    let mut highest = i64::MIN;
    while held.elapsed() < Duration::from_secs(8) {
        let snap = served(svc.http).expect("snapshot");
        let as_of = snap["as_of_ms"].as_i64().unwrap_or(i64::MAX);
        highest = highest.max(as_of);
        assert!(
            as_of < base,
            "the watermark moved past the open transaction's records ({} ms past):\n{}",
            as_of - base,
            run.log_text()
        );
        assert_eq!(
            snap["processing"]["events_received"].as_u64(),
            Some(a.len() as u64),
            "only A may be folded while the transaction is open"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!(
        "held for {:?}: the watermark stayed {} ms below the open transaction's first record",
        held.elapsed(),
        base - highest
    );
    upstream.commit();

    let all: Vec<Event> = a.iter().chain(&c).chain(&d).cloned().collect();
    assert_converges(svc.http, &cfg, &all, || run.log_text());
    // Every deadline of C (c-2 escalates at +10.2 s) behind the watermark.
    let mut snap = serde_json::Value::Null;
    let passed = wait_until(Duration::from_secs(60), || {
        snap = served(svc.http).unwrap_or_default();
        snap["as_of_ms"].as_i64().unwrap_or(0) > base + 15_000
    });
    assert!(passed, "the watermark did not move on:\n{}", run.log_text());
    assert_eq!(
        snap["processing"]["late"].as_u64(),
        Some(0),
        "{}",
        snap["processing"]
    );
    assert_eq!(
        snap["processing"]["events_received"].as_u64(),
        Some(all.len() as u64),
        "the aborted records were folded: {}",
        snap["processing"]
    );
    let as_of = snap["as_of_ms"].as_i64().expect("as_of");
    let expected: BTreeSet<String> = replayed_effects(&cfg, &all, as_of)
        .iter()
        .map(|e| e.effect_id().to_string())
        .collect();
    let mut got = BTreeSet::new();
    let complete = wait_until(Duration::from_secs(30), || {
        got = effects(&brokers)
            .iter()
            .map(|e| e.effect_id().to_string())
            .collect();
        got.len() >= expected.len()
    });
    assert!(complete, "effects incomplete:\n{}", run.log_text());
    assert_eq!(got, expected, "effects differ from the replay's");
    assert!(
        effects(&brokers).iter().all(|e| !e.key().starts_with("b-")),
        "an effect for an aborted record"
    );
    assert_eq!(run.stop(Duration::from_secs(30)), Some(0));
}

/// The consumer group's log lines (export logs "partition revoked: its
/// last figures stay served…" too, for its own reasons).
const ASSIGNED: &str = "ccpulse::pipeline::poll: partition assigned";
const REVOKED: &str = "ccpulse::pipeline::poll: partition revoked";

/// Assigned minus revoked partitions, from an instance's log.
fn owned(log: &str) -> usize {
    log.matches(ASSIGNED).count() - log.matches(REVOKED).count()
}

/// Two instances (dynamic members, cooperative-sticky by default) split the
/// partitions; one stops and leaves the group; the other takes its
/// partitions over, restores them from the log up to the committed
/// offsets, and its figures equal the replay of everything.
#[test]
fn a_stopped_instance_hands_its_partitions_to_the_other_which_equals_the_replay() {
    let kafka = KafkaBroker::start();
    let brokers = kafka.plaintext();
    create_topics(&kafka, 4);
    let evs = scenario(300, 41);
    produce_all(&brokers, &evs);
    let dir = temp_dir("kafka-handover");
    let sa = Service::new(&brokers, "handover");
    let sb = Service::new(&brokers, "handover");
    let a = sa.start(&dir, "a");
    let b = sb.start(&dir, "b");
    let split = wait_until(Duration::from_secs(60), || {
        let (la, lb) = (a.log_text(), b.log_text());
        owned(&la) > 0 && owned(&lb) > 0 && owned(&la) + owned(&lb) == PARTITIONS_AT_4
    });
    assert!(
        split,
        "the partitions were not split:\nA:\n{}\nB:\n{}",
        a.log_text(),
        b.log_text()
    );
    let b_owned = owned(&b.log_text());
    let live = wait_until(Duration::from_secs(60), || {
        b.log_text().matches("partition live").count() >= b_owned
    });
    assert!(live, "B did not go live:\n{}", b.log_text());
    // B folds and commits what it owns, then stops and leaves.
    std::thread::sleep(Duration::from_secs(2));
    let live_before = a.log_text().matches("partition live").count();
    assert_eq!(
        b.stop(Duration::from_secs(30)),
        Some(0),
        "B did not stop cleanly"
    );
    let took_over = wait_until(Duration::from_secs(60), || {
        let la = a.log_text();
        owned(&la) == PARTITIONS_AT_4
            && la.matches("partition live").count() >= live_before + b_owned
    });
    assert!(
        took_over,
        "A did not take over and restore B's {b_owned} partitions:\n{}",
        a.log_text()
    );
    assert_converges(sa.http, &sa.toml(), &evs, || a.log_text());
    assert_eq!(
        a.stop(Duration::from_secs(30)),
        Some(0),
        "A did not stop cleanly"
    );
}

/// A static member (`group_instance_id`) restarted within
/// `session.timeout.ms`, after a crash or a graceful stop, takes its own
/// partitions back without a rebalance: the other instance revokes and
/// gains nothing.
#[test]
fn a_static_member_restarted_within_the_session_timeout_causes_no_rebalance() {
    let kafka = KafkaBroker::start();
    let brokers = kafka.plaintext();
    create_topics(&kafka, 4);
    let evs = scenario(200, 43);
    produce_all(&brokers, &evs);
    let dir = temp_dir("kafka-static");
    let static_member = |id: &str| {
        Service::new(&brokers, "static")
            .instance(id)
            .property("session.timeout.ms", "30000")
    };
    let (sa, sb) = (static_member("static-a"), static_member("static-b"));
    let a = sa.start(&dir, "a");
    let b = sb.start(&dir, "b");
    let settled = |a: &Ccpulse, b: &Ccpulse| {
        let (la, lb) = (a.log_text(), b.log_text());
        owned(&la) > 0
            && owned(&lb) > 0
            && owned(&la) + owned(&lb) == PARTITIONS_AT_4
            && la.matches("partition live").count() >= owned(&la)
            && lb.matches("partition live").count() >= owned(&lb)
    };
    assert!(
        wait_until(Duration::from_secs(60), || settled(&a, &b)),
        "the partitions were not split:\nA:\n{}\nB:\n{}",
        a.log_text(),
        b.log_text()
    );
    let a_owned = owned(&a.log_text());
    let b_log = b.log_text();
    let b_counts = |log: &str| (log.matches(ASSIGNED).count(), log.matches(REVOKED).count());
    // Whoever joined first had everything for a moment: count from here.
    let before = b_counts(&b_log);

    // Crash, then restart at once.
    a.crash();
    let a2 = sa.start(&dir, "a2");
    let back = wait_until(Duration::from_secs(60), || {
        let l = a2.log_text();
        owned(&l) == a_owned && l.matches("partition live").count() >= a_owned
    });
    assert!(
        back,
        "A did not get its partitions back after a crash:\n{}",
        a2.log_text()
    );
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        b_counts(&b.log_text()),
        before,
        "a static member's restart after a crash rebalanced the group; B's log:\n{}",
        b.log_text()
    );

    // Graceful stop (a rolling update), then restart.
    assert_eq!(
        a2.stop(Duration::from_secs(30)),
        Some(0),
        "A did not stop cleanly"
    );
    let a3 = sa.start(&dir, "a3");
    let back = wait_until(Duration::from_secs(60), || {
        let l = a3.log_text();
        owned(&l) == a_owned && l.matches("partition live").count() >= a_owned
    });
    assert!(
        back,
        "A did not get its partitions back after a stop:\n{}",
        a3.log_text()
    );
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        b_counts(&b.log_text()),
        before,
        "a static member's graceful restart rebalanced the group; B's log:\n{}",
        b.log_text()
    );
    assert_eq!(a3.stop(Duration::from_secs(30)), Some(0));
    assert_eq!(b.stop(Duration::from_secs(30)), Some(0));
}

/// The only broker stops (gracefully, as an operator would) for 30 s in
/// the middle of the stream and comes back on the same storage: the
/// service stays up through it, recovers without help, and ends with the
/// replay's figures and every effect exactly once.
#[test]
fn through_a_30_second_broker_restart_mid_stream_the_service_stays_up_and_equals_the_replay() {
    let mut kafka = KafkaBroker::start();
    let brokers = kafka.plaintext();
    create_topics(&kafka, 4);
    let evs = steady_traffic(200, 63);
    let clocks = clock_events(&evs, 4);
    let svc = Service::new(&brokers, "restart")
        .idle("10m")
        .retry_budget("2m");
    let cfg = svc.toml();
    let all: Vec<Event> = evs
        .iter()
        .cloned()
        .chain(clocks.iter().map(|(_, e)| e.clone()))
        .collect();
    let expected = expected_effects(&cfg, &all);
    let dir = temp_dir("kafka-broker-restart");
    let mut run = svc.start(&dir, "a");
    let live = wait_until(Duration::from_secs(60), || {
        run.log_text().matches("partition live").count() == PARTITIONS_AT_4
    });
    assert!(live, "not live:\n{}", run.log_text());
    let producer = produce_over(&brokers, evs.clone(), Duration::from_secs(16));
    std::thread::sleep(Duration::from_secs(6));
    let folding = effects(&brokers).len();
    kafka.stop();
    let down = Instant::now();
    while down.elapsed() < Duration::from_secs(30) {
        assert_eq!(
            run.exit_within(Duration::from_secs(1)),
            None,
            "the service exited {:?} into the broker outage:\n{}",
            down.elapsed(),
            run.log_text()
        );
    }
    kafka.restart();
    eprintln!(
        "broker back after {:?} ({} effects before the stop)",
        down.elapsed(),
        folding
    );
    // Reconnecting (librdkafka backs off up to 10 s) must not end it either.
    if let Some(code) = run.exit_within(Duration::from_secs(15)) {
        let log = run.log_text();
        panic!(
            "the service exited ({code}) {:?} after the broker stopped, instead of recovering:\n{}\n(log: {})",
            down.elapsed(),
            log.lines().filter(|l| l.contains("fatal error") || l.starts_with("error:")).collect::<Vec<_>>().join("\n"),
            run.log.display()
        );
    }
    producer.join().expect("producer thread");
    produce_clocks(&brokers, &clocks);
    assert_converges(svc.http, &cfg, &all, || run.log_text());
    let complete = wait_until(Duration::from_secs(60), || {
        read_all(&brokers, EFFECTS).len() >= expected.len()
    });
    assert!(complete, "effects incomplete:\n{}", run.log_text());
    assert_eq!(
        run.exit_within(Duration::ZERO),
        None,
        "exited:\n{}",
        run.log_text()
    );
    let log = run.log_text();
    assert_eq!(
        run.stop(Duration::from_secs(30)),
        Some(0),
        "graceful stop failed:\n{log}"
    );
    let (t, _) = tally(&read_all(&brokers, EFFECTS), &expected);
    assert_eq!(
        (t.duplicated_ids, t.missing.len(), t.extra.len()),
        (0, 0, 0),
        "not exactly once across the restart: {t:?}"
    );
}

/// Over TLS (`security.protocol = "SSL"`, the broker's CA in
/// `ssl.ca.location`) and over SASL_SSL with SCRAM-SHA-512 the service
/// consumes and produces as over plaintext, and equals the replay. A wrong
/// password, or a certificate it cannot verify (no CA given, or the wrong
/// one), fails the start at once (exit 1) naming the setting to fix.
#[test]
fn over_ssl_and_sasl_ssl_the_service_equals_the_replay_and_bad_credentials_fail_at_start_naming_the_setting(
) {
    let kafka = KafkaBroker::start();
    create_topics(&kafka, 2);
    let evs = scenario(150, 71);
    produce_all(&kafka.plaintext(), &evs);
    let dir = temp_dir("kafka-security");
    let ca = kafka.ca_pem().display().to_string();
    let (user, password) = kafka.scram_user();
    let ssl = |group: &str| {
        Service::new(&kafka.ssl(), group)
            .retry_budget("5s")
            .property("security.protocol", "SSL")
    };
    let sasl = |group: &str, password: &str| {
        Service::new(&kafka.sasl_ssl(), group)
            .retry_budget("5s")
            .property("security.protocol", "SASL_SSL")
            .property("sasl.mechanisms", "SCRAM-SHA-512")
            .property("sasl.username", user)
            .property("sasl.password", password)
            .property("ssl.ca.location", &ca)
    };

    for (name, svc) in [
        ("ssl", ssl("over-ssl").property("ssl.ca.location", &ca)),
        ("sasl-ssl", sasl("over-sasl-ssl", password)),
    ] {
        let run = svc.start(&dir, name);
        assert_converges(svc.http, &svc.toml(), &evs, || run.log_text());
        let log = run.log_text();
        assert!(
            log.contains("guarantee=ExactlyOnce"),
            "{name}: not exactly-once:\n{log}"
        );
        assert_eq!(
            run.stop(Duration::from_secs(30)),
            Some(0),
            "{name}: stop failed:\n{log}"
        );
        eprintln!("{name}: converged to the replay and stopped cleanly");
    }

    let other_ca = dir.join("other-ca.pem");
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args([
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=not the broker's CA",
            "-keyout",
        ])
        .arg(dir.join("other-ca.key"))
        .arg("-out")
        .arg(&other_ca)
        .output()
        .expect("run openssl");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    // Each refused start, and what its error must name.
    let refused = [
        (
            "wrong-password",
            sasl("wrong-password", "not-the-password"),
            "sasl.password",
        ),
        ("no-ca", ssl("no-ca"), "ssl.ca.location"),
        (
            "wrong-ca",
            ssl("wrong-ca").property("ssl.ca.location", &other_ca.display().to_string()),
            "ssl.ca.location",
        ),
    ];
    let mut unnamed = Vec::new();
    for (name, svc, setting) in &refused {
        let started = Instant::now();
        let log = failed_start(&dir, name, svc);
        let error = log
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or("(no error line)")
            .to_string();
        eprintln!(
            "{name}: exit 1 after {:.1} s (retry_budget 5 s): {error}",
            started.elapsed().as_secs_f64()
        );
        if !(error.contains(setting) && error.contains("[kafka.properties]")) {
            unnamed.push(format!(
                "{name}: the error does not name {setting}: {error}"
            ));
        }
    }
    assert!(unnamed.is_empty(), "{}", unnamed.join("\n"));
}

/// Start-up problems stop the service at once (exit 1) with the cause and
/// the fix: no broker at the address, topics missing, output topics
/// narrower than the input (effects and ticks go to the input's partition
/// number). With `create_topics = true` the missing topics are created
/// with `topic_partitions` partitions and the service runs.
#[test]
fn start_up_problems_fail_at_once_naming_the_fix_and_missing_topics_are_created_when_asked() {
    let dir = temp_dir("kafka-startup");
    let nobody = format!("127.0.0.1:{}", free_port());
    let log = failed_start(
        &dir,
        "unreachable",
        &Service::new(&nobody, "s").retry_budget("3s"),
    );
    assert!(
        log.contains(&format!("cannot reach the Kafka brokers \"{nobody}\""))
            && log.contains("fix: check kafka.brokers"),
        "unreachable broker:\n{log}"
    );

    let kafka = KafkaBroker::start();
    let brokers = kafka.plaintext();
    let log = failed_start(&dir, "missing", &Service::new(&brokers, "s"));
    assert!(
        log.contains("missing topics: ")
            && default_topics(1).iter().all(|(n, _)| log.contains(n))
            && log.contains("fix: create them, or set kafka.create_topics = true"),
        "missing topics:\n{log}"
    );

    // Another set of topics: effects has 2 partitions, the input 3.
    kafka.create_topic("narrow.ckpt", 3, topic_settings(CHECKPOINTS));
    for (t, n) in [
        ("narrow.in", 3),
        ("narrow.agents", 1),
        ("narrow.effects", 2),
        ("narrow.ticks", 3),
        ("narrow.dlq", 1),
        ("narrow.customers", 3),
    ] {
        kafka.create_topic(t, n, &[]);
    }
    let narrow = Service::new(&brokers, "s").kafka(
        r#"topics = { events = ["narrow.in"], agents = "narrow.agents", effects = "narrow.effects", ticks = "narrow.ticks", dead_letter = "narrow.dlq", checkpoints = "narrow.ckpt", customers = "narrow.customers" }"#,
    );
    let log = failed_start(&dir, "narrow", &narrow);
    assert!(
        log.contains("topic narrow.effects has 2 partitions but input topic narrow.in has 3")
            && log.contains("fix: give narrow.effects at least 3 partitions"),
        "too few partitions:\n{log}"
    );

    let svc = Service::new(&brokers, "created")
        .kafka("create_topics = true")
        .kafka("topic_partitions = 2");
    let run = svc.start(&dir, "create");
    // Two inputs and the customer stage's topic, 2 partitions each.
    let live = wait_until(Duration::from_secs(60), || {
        run.log_text().matches("partition live").count() == 6
    });
    let log = run.log_text();
    assert!(
        live,
        "not live on 2 partitions of each input and of the stage:\n{log}"
    );
    for (name, _) in default_topics(2) {
        assert!(
            log.contains(&format!("created topic topic={name} partitions=2")),
            "{name} was not created:\n{log}"
        );
    }
    // Produced after the partitions went idle: its event times are weeks
    // old, so its deadlines have passed on arrival and breach at once,
    // while a file replay sees the same data on time. SLA outcomes are
    // left out for that reason; every other figure must match.
    let evs = scenario(100, 51);
    produce_all(&brokers, &evs);
    assert_converges_except(svc.http, &svc.toml(), &evs, &SLA_OUTCOMES, || {
        run.log_text()
    });
    assert_eq!(run.stop(Duration::from_secs(30)), Some(0), "stop failed");
}

/// On Kafka the default guarantee (`auto`) chooses exactly-once; the
/// service folds to the figures `ccpulse replay` computes; and records that
/// cannot be read go to the dead-letter topic, once each, with their
/// original bytes and the reason in headers.
#[test]
fn the_service_equals_the_replay_and_dead_letters_bad_records_with_their_reason() {
    let kafka = KafkaBroker::start();
    let brokers = kafka.plaintext();
    create_topics(&kafka, 3);
    let good = scenario(400, 11);
    produce_all(&brokers, &good);
    let poison: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (b"k1".to_vec(), vec![0xff, 0x00, 0x13, 0x37]),
        (b"k2".to_vec(), b"{\"eventId\": \"x\", ".to_vec()),
        (
            b"k3".to_vec(),
            br#"{"eventId":"bad-csat","occurredAt":"2026-11-02T09:00:00Z","surveyAnswered":{"interactionId":"i","queue":"billing","channel":"CHANNEL_VOICE","csat":9}}"#.to_vec(),
        ),
    ];
    produce_raw(&brokers, INTERACTIONS, &poison);
    // An answer for an interaction that never appears: it parks, and once
    // the watermark (following the wall clock when idle) is more than
    // `engine.parking_ttl` past it, it is given up: a dead letter too.
    let ghost = Event {
        event_id: "ghost-answered".into(),
        occurred_at: good[good.len() / 2].occurred_at,
        tenant: None,
        kind: EventKind::Interaction {
            interaction_id: "ghost-1".into(),
            event: InteractionEvent::Answered {
                agent_id: "a1".into(),
            },
        },
    };
    produce(&brokers, INTERACTIONS, std::slice::from_ref(&ghost));
    let dir = temp_dir("kafka-replay");
    let svc = Service::new(&brokers, "replay");
    let run = svc.start(&dir, "a");
    assert_converges(svc.http, &svc.toml(), &good, || run.log_text());
    let log = run.log_text();
    assert!(
        log.contains("guarantee=ExactlyOnce"),
        "auto did not choose exactly-once on Kafka:\n{log}"
    );
    let arrived = wait_until(Duration::from_secs(60), || {
        read_all(&brokers, DEAD_LETTER).len() > poison.len()
    });
    assert!(arrived, "dead letters missing:\n{}", run.log_text());
    let all = read_all(&brokers, DEAD_LETTER);
    assert_eq!(all.len(), 4, "every poisoned record and the ghost, once");
    let (orphans, dead): (Vec<Read>, Vec<Read>) = all.into_iter().partition(|r| {
        r.headers
            .iter()
            .any(|(h, v)| h == "ccpulse-reason" && v.as_slice() == b"parked_expired")
    });
    assert_eq!(orphans.len(), 1, "the ghost, expired");
    assert_eq!(orphans[0].key.as_deref(), Some(&b"ghost-1"[..]));
    let back = ccpulse_core::event::codec::decode(
        &orphans[0].value,
        ccpulse_core::event::codec::Format::Json,
        &ccpulse_core::event::codec::Limits::default(),
        None,
    )
    .expect("the dead letter holds the event as JSON");
    assert_eq!(back, ghost);
    let header = |r: &Read, k: &str| {
        r.headers
            .iter()
            .find(|(h, _)| h == k)
            .map(|(_, v)| String::from_utf8_lossy(v).to_string())
    };
    let mut reasons: Vec<(String, Vec<u8>)> = dead
        .iter()
        .map(|r| {
            (
                header(r, "ccpulse-reason").unwrap_or_default(),
                r.value.clone(),
            )
        })
        .collect();
    reasons.sort();
    let mut want: Vec<(String, Vec<u8>)> = vec![
        ("malformed_protobuf".into(), poison[0].1.clone()),
        ("malformed_json".into(), poison[1].1.clone()),
        ("invalid_field".into(), poison[2].1.clone()),
    ];
    want.sort();
    assert_eq!(
        reasons, want,
        "reason and original bytes of each dead letter"
    );
    let csat = dead
        .iter()
        .find(|r| header(r, "ccpulse-reason").as_deref() == Some("invalid_field"))
        .expect("the CSAT record");
    assert_eq!(
        header(csat, "ccpulse-field").as_deref(),
        Some("survey_answered.csat")
    );
    assert_eq!(
        header(csat, "ccpulse-source-topic").as_deref(),
        Some(INTERACTIONS)
    );
    assert!(header(csat, "ccpulse-source-offset").is_some());
    assert_eq!(run.stop(Duration::from_secs(30)), Some(0));
}
