//! The pipeline against librdkafka's mock cluster (in this process, on a
//! real TCP port), which implements transactions and broker faults; the
//! pipeline itself runs as a real `ccpulse run` process that we can crash.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ccpulse_core::event::{Channel, Effect, Event, Reassignment};
use rdkafka::mocking::{MockCluster, MockCoordinator};
use support::kafka::*;
use support::Scenario;

/// [`config`] with checkpoints off: a restore replays the log from the
/// start. (A restore from a checkpoint finds the ticks and effects written
/// after it by time, which librdkafka's mock cluster cannot look up: it
/// answers every ListOffsets-by-time with "none". tests/checkpoints.rs
/// covers checkpoints on Apache Kafka.)
fn replay_only(cfg: String) -> String {
    cfg.replace(
        "shutdown_timeout = \"20s\"\n",
        "shutdown_timeout = \"20s\"\ncheckpoint_interval = \"0s\"\n",
    )
}

fn config(brokers: &str, guarantee: &str, commit_interval: &str) -> String {
    let http = free_port();
    format!(
        r#"
[engine]
allowed_lateness = "1s"

[http]
listen = "127.0.0.1:{http}"

[kafka]
brokers = "{brokers}"
group_id = "itest"
group_instance_id = "itest-1"
processing_guarantee = "{guarantee}"
commit_interval = "{commit_interval}"
idle_timeout = "1s"
shutdown_timeout = "20s"

[kafka.properties]
"session.timeout.ms" = "10000"
"heartbeat.interval.ms" = "500"

[[sla.policies]]
name = "voice"
first_response = "1m"
max_reassignments = 2
"#
    )
}

/// Calls queued 10 s apart that nobody answers (and no agents exist).
fn calls(range: std::ops::Range<usize>) -> Vec<Event> {
    let mut s = Scenario::new();
    for i in range.clone() {
        s.queued(
            i as f64 * 10.0,
            &format!("call-{i:03}"),
            "billing",
            Channel::Voice,
        );
    }
    // Event ids must be unique across batches.
    for (e, i) in s.events.iter_mut().zip(range) {
        e.event_id = format!("ev-{i:03}");
    }
    s.events
}

/// Each unanswered call: one breach at +60 s; with nobody free, requeue
/// (attempt 1, +60 s), requeue (attempt 2, +120 s), then escalate
/// (attempt 3, +180 s): four effects.
fn check_exactly_once(effects: &[Effect], calls: usize) {
    let ids: BTreeSet<&str> = effects.iter().map(|e| e.effect_id()).collect();
    assert_eq!(ids.len(), effects.len(), "duplicate effects in the output");
    assert_eq!(effects.len(), calls * 4, "expected 4 effects per call");
    let mut per: BTreeMap<&str, Vec<(u32, Reassignment)>> = BTreeMap::new();
    let mut breaches = 0;
    for e in effects {
        match e {
            Effect::SlaBreached(_) => breaches += 1,
            Effect::ReassignmentRequested(r) => per
                .entry(&r.interaction_id)
                .or_default()
                .push((r.attempt, r.action.clone())),
        }
    }
    assert_eq!(breaches, calls);
    for (id, mut v) in per {
        v.sort_by_key(|(a, _)| *a);
        assert_eq!(
            v,
            vec![
                (1, Reassignment::Requeue { priority: 1 }),
                (2, Reassignment::Requeue { priority: 2 }),
                (
                    3,
                    Reassignment::Escalate {
                        to: "supervisors".into()
                    }
                ),
            ],
            "{id}"
        );
    }
}

/// A crash after a partial commit: the restart restores exactly the
/// committed records (checkpoints off: the replay path), redoes the rest, and every repeated effect is a
/// byte-identical copy (same id), so downstream de-duplication by id is
/// exact. (At-least-once: librdkafka's mock cluster stores plain offset
/// commits, but neither transactional offsets nor `read_committed`
/// isolation — its TxnOffsetCommit handler stores nothing and its Fetch
/// handler ignores the isolation level — so exactly-once crash semantics
/// cannot be observed on it; see the protocol test below.)
#[test]
fn a_crash_resumes_from_the_committed_offsets_and_repeats_only_identical_effects() {
    let cluster = mock_cluster(2);
    let brokers = cluster.bootstrap_servers();
    let dir = temp_dir("alo-crash");
    let committed = || committed_total(&brokers, "itest", INTERACTIONS, 2);
    produce(&brokers, INTERACTIONS, &calls(0..30));
    // A folds and commits the first batch, then stops.
    let a = Ccpulse::start(
        &dir,
        "a",
        &replay_only(config(&brokers, "at_least_once", "100ms")),
        &["run"],
    );
    assert!(
        wait_until(Duration::from_secs(60), || committed() == 30
            && read_all(&brokers, EFFECTS).len() >= 120),
        "the first batch was not committed:\n{}",
        a.log_text()
    );
    assert_eq!(a.stop(Duration::from_secs(30)), Some(0), "A did not stop");
    // A2 commits only every hour: it processes and produces the second
    // batch, but never commits it before it is killed (no timing race).
    produce(&brokers, INTERACTIONS, &calls(30..60));
    let a = Ccpulse::start(
        &dir,
        "a2",
        &replay_only(config(&brokers, "at_least_once", "1h")),
        &["run"],
    );
    let processed = wait_until(Duration::from_secs(60), || {
        read_all(&brokers, EFFECTS).len() >= 240
    });
    assert!(
        processed,
        "the second batch was not processed:\n{}",
        a.log_text()
    );
    assert_eq!(
        committed(),
        30,
        "the second batch must still be uncommitted when A2 dies"
    );
    a.crash();

    let b = Ccpulse::start(
        &dir,
        "b",
        &replay_only(config(&brokers, "at_least_once", "100ms")),
        &["run"],
    );
    let done = wait_until(Duration::from_secs(90), || committed() == 60);
    let log = b.log_text();
    assert!(done, "B did not commit the second batch:\n{log}");
    std::thread::sleep(Duration::from_secs(2));
    let records = read_all(&brokers, EFFECTS);
    assert_eq!(
        b.stop(Duration::from_secs(30)),
        Some(0),
        "graceful stop failed:\n{log}"
    );
    // B restored exactly the 30 committed records.
    let restored: u64 = log
        .lines()
        .filter(|l| l.contains("partition restored"))
        .filter_map(|l| {
            l.split("records=")
                .nth(1)?
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert_eq!(
        restored, 30,
        "restore must replay exactly the committed offsets:\n{log}"
    );
    // The uncommitted tail's 120 effects were redone, byte for byte.
    let mut by_id: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for r in &records {
        let e = ccpulse_core::event::codec::decode_effect_json(&r.value).expect("valid effect");
        by_id
            .entry(e.effect_id().to_string())
            .or_default()
            .push(r.value.clone());
    }
    let dup: Vec<&Vec<Vec<u8>>> = by_id.values().filter(|v| v.len() > 1).collect();
    assert_eq!(
        dup.len(),
        120,
        "only the uncommitted tail's effects may repeat"
    );
    assert!(
        dup.iter().all(|v| v.len() == 2 && v[0] == v[1]),
        "a redone effect differs from the first"
    );
    let unique: Vec<Effect> = by_id
        .values()
        .map(|v| ccpulse_core::event::codec::decode_effect_json(&v[0]).expect("valid effect"))
        .collect();
    check_exactly_once(&unique, 60);
}

/// Exactly-once mode runs the transactional protocol end to end (init,
/// begin, produce, send offsets, commit) and shuts down cleanly. The
/// default guarantee, "auto", chooses it on a broker with transactions.
#[test]
fn exactly_once_mode_runs_the_transactional_protocol() {
    for guarantee in ["exactly_once", "auto"] {
        exactly_once_run(guarantee);
    }
}

fn exactly_once_run(guarantee: &str) {
    let cluster = mock_cluster(2);
    let brokers = cluster.bootstrap_servers();
    let dir = temp_dir("eos");
    produce(&brokers, INTERACTIONS, &calls(0..20));
    let a = Ccpulse::start(&dir, "a", &config(&brokers, guarantee, "100ms"), &["run"]);
    let done = wait_until(Duration::from_secs(60), || effects(&brokers).len() >= 80);
    let log = a.log_text();
    assert!(done, "{guarantee}: effects incomplete:\n{log}");
    assert!(
        log.contains("guarantee=ExactlyOnce") && log.contains("transaction committed"),
        "{guarantee}: no transaction committed:\n{log}"
    );
    assert_eq!(
        a.stop(Duration::from_secs(30)),
        Some(0),
        "graceful stop failed:\n{log}"
    );
    check_exactly_once(&effects(&brokers), 20);
    // Offsets go only through the transaction: the mock cluster stores
    // plain offset commits but drops transactional ones, so any committed
    // offset here would be a commit outside the transaction (which would
    // break exactly-once on a real broker).
    assert_eq!(
        committed_total(&brokers, "itest", INTERACTIONS, 2),
        0,
        "{guarantee}: offsets were committed outside the transaction"
    );
}

/// The only broker drops out mid-stream for less than the session timeout
/// and comes back: the pipeline waits it out and finishes with nothing lost.
#[test]
fn a_broker_outage_loses_nothing() {
    let cluster = mock_cluster(2);
    let brokers = cluster.bootstrap_servers();
    let dir = temp_dir("outage");
    produce(&brokers, INTERACTIONS, &calls(0..30));
    let a = Ccpulse::start(
        &dir,
        "a",
        &config(&brokers, "at_least_once", "100ms"),
        &["run"],
    );
    // The mock cluster runs inside this test process and can stall for
    // tens of seconds on a loaded machine (seen once in CI: partitions
    // live, fewer than 120 effects after 60 s): allow for it, and say how
    // far it got.
    let started = wait_until(Duration::from_secs(120), || effects(&brokers).len() >= 120);
    assert!(
        started,
        "{} of 120 effects after 120 s:\n{}",
        effects(&brokers).len(),
        a.log_text()
    );
    produce(&brokers, INTERACTIONS, &calls(30..60));
    cluster.broker_down(1).expect("broker down");
    std::thread::sleep(Duration::from_secs(3));
    cluster.broker_up(1).expect("broker up");
    // At least once: a repeat is allowed, so count distinct effect ids (a
    // repeated effect must not stand in for a missing one).
    let done = wait_until(Duration::from_secs(90), || {
        committed_total(&brokers, "itest", INTERACTIONS, 2) == 60
            && distinct_ids(&effects(&brokers)) >= 240
    });
    let log = a.log_text();
    assert!(done, "did not recover:\n{log}");
    assert_eq!(
        a.stop(Duration::from_secs(30)),
        Some(0),
        "graceful stop failed:\n{log}"
    );
    let got = effects(&brokers);
    let mut unique: BTreeMap<&str, &Effect> = BTreeMap::new();
    for e in &got {
        let first = *unique.entry(e.effect_id()).or_insert(e);
        assert_eq!(first, e, "a repeated effect differs from the first");
    }
    check_exactly_once(&unique.into_values().cloned().collect::<Vec<_>>(), 60);
}

fn distinct_ids(effects: &[Effect]) -> usize {
    effects
        .iter()
        .map(Effect::effect_id)
        .collect::<BTreeSet<_>>()
        .len()
}

/// A dynamic group member on its own HTTP port (the shared config is a
/// static member, which would not leave the group on stop).
fn member(brokers: &str, http: u16) -> String {
    let cfg = config(brokers, "at_least_once", "200ms")
        .lines()
        .filter(|l| !l.starts_with("group_instance_id"))
        .collect::<Vec<_>>()
        .join("\n");
    with_http(&cfg, http)
}

/// `cfg` serving HTTP on a known `port` (to read its snapshot).
fn with_http(cfg: &str, port: u16) -> String {
    cfg.lines()
        .map(|l| {
            if l.starts_with("listen = ") {
                format!("listen = \"127.0.0.1:{port}\"")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Two instances split the partitions; one stops and leaves the group; the
/// other takes its partitions over, restores them from the log up to the
/// committed offsets, and its figures equal the replay of everything.
/// (On the mock cluster: librdkafka's own group coordinator;
/// tests/pipeline_kafka.rs does the same on Apache Kafka.)
#[test]
fn a_stopped_instance_hands_its_partitions_to_the_other() {
    let cluster = mock_cluster(4);
    let brokers = cluster.bootstrap_servers();
    let dir = temp_dir("mock-leave");
    let evs = support::converge::scenario(300, 41);
    support::converge::produce_all(&brokers, &evs);
    let (pa, pb) = (free_port(), free_port());
    let (ca, cb) = (member(&brokers, pa), member(&brokers, pb));
    let a = Ccpulse::start(&dir, "a", &ca, &["run"]);
    let b = Ccpulse::start(&dir, "b", &cb, &["run"]);
    let owned = |log: &str| {
        log.matches("partition assigned").count() - log.matches("partition revoked").count()
    };
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
    // B folds and commits what it owns, then stops and leaves.
    std::thread::sleep(Duration::from_secs(3));
    let b_owned = owned(&b.log_text());
    assert_eq!(
        b.stop(Duration::from_secs(30)),
        Some(0),
        "B did not stop cleanly"
    );
    let took_over = wait_until(Duration::from_secs(60), || {
        owned(&a.log_text()) == PARTITIONS_AT_4
    });
    assert!(
        took_over,
        "A never took B's {b_owned} partitions:\n{}",
        a.log_text()
    );
    let restored = wait_until(Duration::from_secs(60), || {
        a.log_text().matches("partition restored").count() >= 2
    });
    assert!(
        restored,
        "A did not restore B's partitions:\n{}",
        a.log_text()
    );
    support::converge::assert_converges(pa, &ca, &evs, || a.log_text());
    assert_eq!(
        a.stop(Duration::from_secs(30)),
        Some(0),
        "A did not stop cleanly"
    );
}

/// Idle partitions advance their watermark every second, but a tick is
/// written to the ticks topic only when it emitted effects, before more
/// records are folded, or when the task ends: an idle service writes
/// nothing.
#[test]
fn idle_ticks_are_recorded_only_when_they_matter() {
    let cluster = mock_cluster(2);
    let brokers = cluster.bootstrap_servers();
    let dir = temp_dir("idle-ticks");
    let ticks = || read_all(&brokers, TICKS).len();
    produce(&brokers, INTERACTIONS, &calls(0..5));
    let a = Ccpulse::start(
        &dir,
        "a",
        &config(&brokers, "at_least_once", "100ms"),
        &["run"],
    );
    // The calls are weeks old: the first idle tick passes every deadline.
    let fired = wait_until(Duration::from_secs(60), || effects(&brokers).len() >= 20);
    assert!(fired, "effects incomplete:\n{}", a.log_text());
    // Only idle ticks fire timers here (the records themselves hold the
    // watermark below every deadline), and the first one fires them all:
    // one recorded tick per partition that has effects.
    let partitions: BTreeSet<i32> = read_all(&brokers, EFFECTS)
        .iter()
        .map(|r| r.partition)
        .collect();
    let recorded = wait_until(Duration::from_secs(30), || ticks() >= partitions.len());
    let emitting = ticks();
    assert!(
        recorded && emitting == partitions.len(),
        "expected one recorded tick per partition with effects ({}), got {emitting}",
        partitions.len()
    );
    // Idle for several seconds (idle_timeout = 1 s): the watermark keeps
    // following the clock, and nothing is written.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(ticks(), emitting, "idle ticks were written while idle");
    // More traffic: the held-back tick goes first, then the records.
    produce(&brokers, INTERACTIONS, &calls(5..6));
    let more = wait_until(Duration::from_secs(30), || ticks() > emitting);
    assert!(
        more,
        "no tick written before the new records:\n{}",
        a.log_text()
    );
    assert_eq!(
        a.stop(Duration::from_secs(30)),
        Some(0),
        "graceful stop failed"
    );
    check_exactly_once(&effects(&brokers), 6);
}

/// An instance that restores a partition and then only ticks (no new
/// records) records its ticks after the restored history, not before it: a
/// third instance restoring the same log must not see the history as late.
#[test]
fn a_tick_recorded_right_after_restore_lands_after_the_restored_history() {
    let cluster = mock_cluster(2);
    let brokers = cluster.bootstrap_servers();
    let dir = temp_dir("restore-tick");
    let evs = calls(0..6);
    produce(&brokers, INTERACTIONS, &evs);
    let committed = || committed_total(&brokers, "itest", INTERACTIONS, 2);
    let cfg = config(&brokers, "at_least_once", "100ms");
    // A folds the calls; its first idle tick fires every deadline.
    let a = Ccpulse::start(&dir, "a", &cfg, &["run"]);
    let fired = wait_until(Duration::from_secs(60), || {
        committed() == 6 && effects(&brokers).len() >= 24
    });
    assert!(fired, "A did not fold the calls:\n{}", a.log_text());
    assert_eq!(a.stop(Duration::from_secs(30)), Some(0), "A did not stop");
    // B restores, sees no new record, idles past idle_timeout (its tick
    // moves the watermark but fires nothing, so it is written at the end).
    let ticks_before = read_all(&brokers, TICKS).len();
    let b = Ccpulse::start(&dir, "b", &cfg, &["run"]);
    let restored = wait_until(Duration::from_secs(60), || {
        b.log_text().matches("partition live").count() >= 2
    });
    assert!(restored, "B did not go live:\n{}", b.log_text());
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(b.stop(Duration::from_secs(30)), Some(0), "B did not stop");
    assert!(
        read_all(&brokers, TICKS).len() > ticks_before,
        "B recorded no tick"
    );
    // C restores A's records and ticks and B's ticks: the calls must be
    // folded as they were (offered, not late), as in a file replay.
    let port = free_port();
    let cfg_c = with_http(&cfg, port);
    let c = Ccpulse::start(&dir, "c", &cfg_c, &["run"]);
    support::converge::assert_converges(port, &cfg_c, &evs, || c.log_text());
    assert_eq!(c.stop(Duration::from_secs(30)), Some(0), "C did not stop");
}

/// A partition whose records are still on their way is not idle, however
/// long they take: its watermark must not follow the wall clock past a
/// backlog (the backlog would then be folded as late). Here the broker
/// leading the input partition answers every request after 1.5 s and hands
/// out one record per fetch, so records arrive further apart than
/// `idle_timeout` (1 s) while the partition is still behind.
#[test]
fn a_partition_behind_its_log_does_not_idle_past_its_backlog() {
    let cluster = MockCluster::new(2).expect("mock cluster");
    for (t, n) in default_topics(1) {
        cluster.create_topic(t, n, 1).expect("create topic");
        let leader = if t == INTERACTIONS { 2 } else { 1 };
        cluster
            .partition_leader(t, 0, Some(leader))
            .expect("partition leader");
    }
    cluster
        .coordinator(MockCoordinator::Group("itest".into()), 1)
        .expect("coordinator");
    let brokers = cluster.bootstrap_servers();
    let dir = temp_dir("slow-partition");
    let evs = calls(0..4);
    // One record per batch: the mock broker returns one batch per fetch.
    for e in &evs {
        produce(&brokers, INTERACTIONS, std::slice::from_ref(e));
    }
    cluster
        .broker_round_trip_time(2, Duration::from_millis(1500))
        .expect("round-trip time");
    let port = free_port();
    let cfg = with_http(&config(&brokers, "at_least_once", "100ms"), port);
    let a = Ccpulse::start(&dir, "a", &cfg, &["run"]);
    support::converge::assert_converges(port, &cfg, &evs, || a.log_text());
    let snap = support::converge::served(port).expect("snapshot");
    assert_eq!(
        snap["processing"]["late"].as_u64(),
        Some(0),
        "records were folded as late: {}",
        snap["processing"]
    );
    assert_eq!(a.stop(Duration::from_secs(30)), Some(0), "A did not stop");
}
