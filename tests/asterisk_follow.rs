//! `ccpulse follow-queue-log` as a real process against librdkafka's mock
//! cluster: lines written to a queue_log, the file rotated (renamed, a new
//! one created) mid-call, then truncated, the follower stopped with
//! SIGTERM, the file rotated again while it is down, and the follower
//! restarted from its state file. Every event of every line reaches the
//! input topics, none is lost and none is produced under a second id
//! (a batch produced again repeats its ids, which the engine drops).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ccpulse::sources::follow::FollowState;
use ccpulse_core::adapters::asterisk::{Outcome, QueueLogMapper};
use ccpulse_core::event::codec::{decode_json, Limits};
use ccpulse_core::event::Event;
use support::kafka::{mock_cluster, read_all, temp_dir, wait_until, AGENTS, INTERACTIONS};

fn fixture_lines() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/asterisk/rotation");
    let mut lines = Vec::new();
    for f in ["queue_log.1", "queue_log"] {
        let text = std::fs::read_to_string(dir.join(f)).expect("read fixture");
        lines.extend(text.lines().map(str::to_string));
    }
    lines
}

fn append(path: &Path, lines: &[String]) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open queue_log");
    for l in lines {
        writeln!(f, "{l}").expect("write");
    }
    f.flush().expect("flush");
}

fn start(brokers: &str, file: &Path, state: &Path, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ccpulse"))
        .args(["follow-queue-log", "--brokers", brokers, "--from-start"])
        .arg("--file")
        .arg(file)
        .arg("--state")
        .arg(state)
        .env("CCPULSE_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("start the follower")
}

fn stop(mut child: Child) -> bool {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    for _ in 0..200 {
        if let Ok(Some(status)) = child.try_wait() {
            return status.success();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    false
}

/// The follower has read `file` to its end (its saved position says so).
fn caught_up(state: &Path, file: &Path) -> bool {
    let Ok(Some(s)) = FollowState::load(state) else {
        return false;
    };
    let Ok(meta) = std::fs::metadata(file) else {
        return false;
    };
    use std::os::unix::fs::MetadataExt;
    (s.dev, s.ino, s.offset) == (meta.dev(), meta.ino(), meta.len())
}

fn produced(brokers: &str) -> Vec<Event> {
    let mut out = Vec::new();
    for topic in [INTERACTIONS, AGENTS] {
        for r in read_all(brokers, topic) {
            let e = decode_json(&r.value, &Limits::default(), None).expect("decode");
            assert_eq!(
                r.key.as_deref(),
                Some(e.key().as_bytes()),
                "keyed by Event::key"
            );
            out.push(e);
        }
    }
    out
}

#[test]
fn the_follower_survives_rotation_truncation_and_restart() {
    let cluster = mock_cluster(3);
    let brokers = cluster.bootstrap_servers();
    let dir = temp_dir("asterisk-follow");
    let file = dir.join("queue_log");
    let rotated = PathBuf::from(format!("{}.1", file.display()));
    let state = dir.join("follow.state");
    let lines = fixture_lines();
    assert!(lines.len() > 440);
    let (a, b, c, d, e, f) = (
        &lines[..150],
        &lines[150..215],
        &lines[215..300],
        &lines[300..380],
        &lines[380..420],
        &lines[420..],
    );
    let wait = |what: &str, on: &Path| {
        assert!(
            wait_until(Duration::from_secs(30), || caught_up(&state, on)),
            "the follower did not catch up after {what}: {}",
            std::fs::read_to_string(dir.join("follow1.log")).unwrap_or_default()
        );
    };

    append(&file, a);
    let child = start(&brokers, &file, &state, &dir.join("follow1.log"));
    wait("the first lines", &file);
    // Rotation mid-call: the last lines go to the old file, which is
    // renamed; the new file continues the calls in progress.
    append(&file, b);
    std::fs::rename(&file, &rotated).expect("rotate");
    append(&file, c);
    wait("the rotation", &file);
    // Truncation (copytruncate): the file is cut, the follower notices the
    // shorter file, then new lines arrive.
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&file)
        .expect("truncate");
    std::thread::sleep(Duration::from_millis(1500));
    append(&file, d);
    wait("the truncation", &file);
    assert!(stop(child), "SIGTERM ends the follower cleanly");

    // While it is down: more lines, and another rotation.
    append(&file, e);
    std::fs::rename(&file, &rotated).expect("rotate again");
    append(&file, f);
    let child = start(&brokers, &file, &state, &dir.join("follow2.log"));
    wait("the restart", &file);
    assert!(stop(child), "SIGTERM ends the follower cleanly");

    // What every line maps to, in the order written.
    let mut mapper = QueueLogMapper::new(Limits::default());
    let mut want: BTreeMap<String, Event> = BTreeMap::new();
    for (i, l) in lines.iter().enumerate() {
        if let Ok(Outcome::Events(evs)) = mapper.map_line(i as u64 + 1, l.as_bytes(), None) {
            for ev in evs {
                want.insert(ev.event_id.clone(), ev);
            }
        }
    }
    let got = produced(&brokers);
    let got_ids: BTreeSet<&str> = got.iter().map(|e| e.event_id.as_str()).collect();
    let want_ids: BTreeSet<&str> = want.keys().map(String::as_str).collect();
    let missing: Vec<_> = want_ids.difference(&got_ids).collect();
    let extra: Vec<_> = got_ids.difference(&want_ids).collect();
    assert!(missing.is_empty(), "lost events: {missing:?}");
    assert!(
        extra.is_empty(),
        "events under ids no line gives: {extra:?}"
    );
    for e in &got {
        assert_eq!(
            Some(e),
            want.get(&e.event_id),
            "a repeated id is the same event"
        );
    }
    // Every call queued once.
    let queued: Vec<&str> = got
        .iter()
        .filter(|e| e.kind_name() == "queued")
        .map(|e| e.event_id.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let enters = lines.iter().filter(|l| l.contains("|ENTERQUEUE|")).count();
    let transfers_in = got
        .iter()
        .filter(|e| e.kind_name() == "transferred")
        .map(|e| e.event_id.as_str())
        .collect::<BTreeSet<_>>()
        .len();
    assert_eq!(queued.len() + transfers_in, enters);
    let _ = std::fs::remove_dir_all(&dir);
}
