//! The shipped examples, run as a user runs them: the binary on the files
//! in `examples/`, unchanged.

mod support;

use ccpulse_core::event::Reassignment;
use support::*;

/// The committed example: `ccpulse replay --config examples/sla.toml
/// --effects out.jsonl examples/sla-scenario.jsonl`.
#[test]
fn the_example_sla_scenario_replays_to_the_documented_effects() {
    let dir = support::kafka::temp_dir("sla-example");
    let out = dir.join("effects.jsonl");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_ccpulse"))
        .arg("replay")
        .arg("--config")
        .arg(root.join("examples/sla.toml"))
        .arg("--effects")
        .arg(&out)
        .arg(root.join("examples/sla-scenario.jsonl"))
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run ccpulse replay");
    assert!(status.success());
    let text = std::fs::read_to_string(&out).unwrap();
    let effects: Vec<ccpulse_core::event::Effect> = text
        .lines()
        .map(|l| ccpulse_core::event::codec::decode_effect_json(l.as_bytes()).expect("an effect"))
        .collect();
    // chat-1 queued 09:01:00, first response due 09:03:00 (2 min), then a
    // fresh 2 min per attempt: 09:05:00, 09:07:00 (max 2 reassignments).
    let nine = |m: i64| 1_793_610_000_000 + m * 60_000;
    let b = breaches(&effects);
    assert_eq!(b.len(), 1);
    assert_eq!(
        (
            b[0].interaction_id.as_str(),
            b[0].deadline,
            b[0].assigned_agent.as_deref()
        ),
        ("chat-1", nine(3), Some("agent-ann"))
    );
    let r: Vec<(u32, i64, Option<&str>, Reassignment)> = reassignments(&effects)
        .iter()
        .map(|r| {
            (
                r.attempt,
                r.deadline,
                r.from_agent.as_deref(),
                r.action.clone(),
            )
        })
        .collect();
    assert_eq!(
        r,
        vec![
            // ann missed it; bob is the only other free billing agent.
            (
                1,
                nine(3),
                Some("agent-ann"),
                Reassignment::ToAgent {
                    agent_id: "agent-bob".into()
                }
            ),
            // bob (busy since 09:04) missed it; ann is free again.
            (
                2,
                nine(5),
                Some("agent-bob"),
                Reassignment::ToAgent {
                    agent_id: "agent-ann".into()
                }
            ),
            (
                3,
                nine(7),
                Some("agent-ann"),
                Reassignment::Escalate {
                    to: "supervisors".into()
                }
            ),
        ]
    );
}
