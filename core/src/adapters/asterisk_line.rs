//! Parsing one Asterisk `queue_log` line into a typed [`QueueLogLine`].
//!
//! The file format (`main/logger.c`, `ast_queue_log`) is one line per
//! event: `time|callid|queue|agent|event|data...`, `time` in whole seconds
//! since the Unix epoch, the data fields as `apps/app_queue.c` (and
//! `chan_agent`, `app_agent_pool`, the `QueueLog` application) print them.
//! The layouts accepted, per event, with the versions that write them:
//!
//! | event | data |
//! |---|---|
//! | ENTERQUEUE | `url\|callerid` (1.2–1.6), `\|position` (1.8+), `\|cidname` (22+, `log_caller_id_name`) |
//! | CONNECT | `holdtime\|bridged uniqueid` (1.4), `\|ringtime` (1.6+) |
//! | COMPLETECALLER, COMPLETEAGENT | `holdtime\|calltime` (1.2), `\|origposition` (1.4+) |
//! | ABANDON, EXITEMPTY, EXITWITHTIMEOUT | `position\|origposition\|waittime`; EXITWITHTIMEOUT also `position` alone (the `n` option, 1.8–11) |
//! | EXITWITHKEY | `key\|position` (1.2), `\|origposition\|waittime` (1.6+) |
//! | WITHDRAW | `position\|origposition\|waittime\|info` (20+) |
//! | RINGNOANSWER, RINGCANCELED | `ringtime` (ms) |
//! | TRANSFER | `extension\|context\|holdtime\|calltime` (1.2), `\|origposition` (1.4–11) |
//! | BLINDTRANSFER | `extension\|context\|holdtime\|calltime\|origposition` (12+) |
//! | ATTENDEDTRANSFER | `BRIDGE\|bridge\|…`, `APP\|app\|…`, `LINK\|chan1\|chan2\|…`, `THREEWAY\|chan\|…`, each ending `holdtime\|calltime\|origposition` (12+) |
//! | AGENTLOGIN, AGENTCALLBACKLOGIN | `channel` / `exten@context` |
//! | AGENTLOGOFF, AGENTCALLBACKLOGOFF | `channel\|logintime`, `exten@context\|logintime\|reason` |
//! | ADDMEMBER | empty or `PAUSED` (11+) |
//! | REMOVEMEMBER | empty |
//! | PAUSE, UNPAUSE, PAUSEALL, UNPAUSEALL | reason (may be empty or absent) |
//!
//! Known events that carry no figure (QUEUESTART, CONFIGRELOAD, DID, INFO,
//! AGENTDUMP, SYSCOMPAT is *not* one of them: app_queue counts it as
//! abandoned) parse as [`Kind::Known`]. Everything else is an error.

use super::asterisk_error::LineProblem;

/// One parsed line. Borrowed from the line's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueLogLine<'a> {
    /// Whole seconds since the Unix epoch.
    pub time: i64,
    pub callid: &'a str,
    pub queue: &'a str,
    pub agent: &'a str,
    pub kind: Kind<'a>,
}

/// How a call left the queue without an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// ABANDON: the caller hung up.
    Abandon,
    /// EXITWITHTIMEOUT: the queue's or the `Queue()` timeout.
    Timeout,
    /// EXITEMPTY: no (available) members, `leavewhenempty`.
    Empty,
    /// EXITWITHKEY: the caller pressed a key of the exit context.
    Key,
    /// WITHDRAW: withdrawn through AMI (`QueueWithdrawCaller`).
    Withdraw,
    /// SYSCOMPAT: the channels could not be made compatible.
    SysCompat,
}

/// The kind of transfer that ended a queue call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    /// TRANSFER (1.2–11).
    Legacy,
    /// BLINDTRANSFER (12+).
    Blind,
    /// ATTENDEDTRANSFER (12+).
    Attended,
}

/// What the line says, with the fields ccpulse uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind<'a> {
    EnterQueue {
        callerid: &'a str,
    },
    /// An agent's phone rang and it did not answer (`ringtime` in ms).
    RingNoAnswer {
        ring_ms: i64,
    },
    Connect {
        holdtime: i64,
    },
    /// COMPLETECALLER (`by_caller`) or COMPLETEAGENT.
    Complete {
        by_caller: bool,
        holdtime: i64,
        calltime: i64,
    },
    Transfer {
        kind: Transfer,
        /// Extension (blind, legacy) or the attended form's first field
        /// after its kind (bridge id, application, channel).
        target: &'a str,
        holdtime: i64,
        calltime: i64,
    },
    Exit {
        exit: Exit,
    },
    AgentLogin,
    AgentLogoff,
    AddMember {
        paused: bool,
    },
    RemoveMember,
    /// PAUSE / UNPAUSE (one queue) and PAUSEALL / UNPAUSEALL (`all`).
    Pause {
        paused: bool,
        all: bool,
    },
    /// A known event that carries no figure.
    Known(&'static str),
}

impl Kind<'_> {
    /// Short, bounded name.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::EnterQueue { .. } => "ENTERQUEUE",
            Kind::RingNoAnswer { .. } => "RINGNOANSWER",
            Kind::Connect { .. } => "CONNECT",
            Kind::Complete {
                by_caller: true, ..
            } => "COMPLETECALLER",
            Kind::Complete { .. } => "COMPLETEAGENT",
            Kind::Transfer {
                kind: Transfer::Legacy,
                ..
            } => "TRANSFER",
            Kind::Transfer {
                kind: Transfer::Blind,
                ..
            } => "BLINDTRANSFER",
            Kind::Transfer { .. } => "ATTENDEDTRANSFER",
            Kind::Exit { exit } => match exit {
                Exit::Abandon => "ABANDON",
                Exit::Timeout => "EXITWITHTIMEOUT",
                Exit::Empty => "EXITEMPTY",
                Exit::Key => "EXITWITHKEY",
                Exit::Withdraw => "WITHDRAW",
                Exit::SysCompat => "SYSCOMPAT",
            },
            Kind::AgentLogin => "AGENTLOGIN",
            Kind::AgentLogoff => "AGENTLOGOFF",
            Kind::AddMember { .. } => "ADDMEMBER",
            Kind::RemoveMember => "REMOVEMEMBER",
            Kind::Pause {
                paused: true,
                all: false,
            } => "PAUSE",
            Kind::Pause {
                paused: false,
                all: false,
            } => "UNPAUSE",
            Kind::Pause { paused: true, .. } => "PAUSEALL",
            Kind::Pause { .. } => "UNPAUSEALL",
            Kind::Known(name) => name,
        }
    }
}

/// Known events that carry no figure: logger start and reload, FreePBX's
/// `DID`/`INFO` (written with the `QueueLog` application), an agent hanging
/// up during the announcement (the caller keeps waiting), a ring cancelled
/// because another member answered or the caller left (the line that
/// follows says which), member settings, and outbound calls logged through
/// AMI.
const KNOWN: &[&str] = &[
    "QUEUESTART",
    "CONFIGRELOAD",
    "DID",
    "INFO",
    "AGENTDUMP",
    "RINGCANCELED",
    "PENALTY",
    "RINGINUSE",
    "OUTCALL",
    "MEMBERSTATUS",
];

/// Parse one line (without its line ending).
pub fn parse(text: &str) -> Result<QueueLogLine<'_>, LineProblem> {
    let fields: Vec<&str> = text.split('|').collect();
    if fields.len() < 5 {
        return Err(LineProblem::Fields {
            event: fields.get(4).copied().unwrap_or("line").to_string(),
            expected: "at least 5 (time|callid|queue|agent|event)",
            found: fields.len(),
        });
    }
    let time = parse_time(fields[0])?;
    let (callid, queue, agent, event) = (fields[1], fields[2], fields[3], fields[4]);
    let data = &fields[5..];
    let kind = kind(event, data)?;
    Ok(QueueLogLine {
        time,
        callid,
        queue,
        agent,
        kind,
    })
}

fn parse_time(s: &str) -> Result<i64, LineProblem> {
    if s.is_empty() || s.len() > 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(LineProblem::Time(s.chars().take(40).collect()));
    }
    s.parse::<i64>()
        .map_err(|_| LineProblem::Time(s.chars().take(40).collect()))
}

/// The data fields of `event`, checked against the layouts of every
/// version. Absent trailing fields read as empty (`"".split('|')` gives one
/// empty field: an event written with `"%s", ""` has one empty data field).
fn kind<'a>(event: &str, data: &[&'a str]) -> Result<Kind<'a>, LineProblem> {
    let n = data.len();
    let count = |expected: &'static str, ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(LineProblem::Fields {
                event: event.to_string(),
                expected,
                found: 5 + n,
            })
        }
    };
    let int = |field: &'static str, i: usize| -> Result<i64, LineProblem> {
        let v = data.get(i).copied().unwrap_or("");
        let t = v.trim();
        let digits = t.strip_prefix('-').unwrap_or(t);
        if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(LineProblem::Field {
                event: event.to_string(),
                field,
                value: v.chars().take(40).collect(),
            });
        }
        t.parse::<i64>().map_err(|_| LineProblem::Field {
            event: event.to_string(),
            field,
            value: v.chars().take(40).collect(),
        })
    };
    let exit = |exit: Exit| Kind::Exit { exit };
    Ok(match event {
        "ENTERQUEUE" => {
            count(
                "7 to 9 (…|url|callerid[|position[|cidname]])",
                (2..=4).contains(&n),
            )?;
            if n >= 3 {
                int("position", 2)?;
            }
            Kind::EnterQueue { callerid: data[1] }
        }
        "CONNECT" => {
            count(
                "6 to 8 (…|holdtime[|bridged uniqueid[|ringtime]])",
                (1..=3).contains(&n),
            )?;
            if n == 3 && !data[2].is_empty() {
                int("ringtime", 2)?;
            }
            Kind::Connect {
                holdtime: int("holdtime", 0)?,
            }
        }
        "COMPLETECALLER" | "COMPLETEAGENT" => {
            count(
                "7 or 8 (…|holdtime|calltime[|origposition])",
                (2..=3).contains(&n),
            )?;
            Kind::Complete {
                by_caller: event == "COMPLETECALLER",
                holdtime: int("holdtime", 0)?,
                calltime: int("calltime", 1)?,
            }
        }
        "ABANDON" | "EXITEMPTY" => {
            count("8 (…|position|origposition|waittime)", n == 3)?;
            int("position", 0)?;
            int("waittime", 2)?;
            exit(if event == "ABANDON" {
                Exit::Abandon
            } else {
                Exit::Empty
            })
        }
        "EXITWITHTIMEOUT" => {
            count(
                "6 or 8 (…|position[|origposition|waittime])",
                n == 1 || n == 3,
            )?;
            int("position", 0)?;
            exit(Exit::Timeout)
        }
        "EXITWITHKEY" => {
            count(
                "7 to 9 (…|key|position[|origposition|waittime])",
                (2..=4).contains(&n),
            )?;
            int("position", 1)?;
            exit(Exit::Key)
        }
        "WITHDRAW" => {
            count(
                "8 or 9 (…|position|origposition|waittime[|info])",
                (3..=4).contains(&n),
            )?;
            int("waittime", 2)?;
            exit(Exit::Withdraw)
        }
        "SYSCOMPAT" => exit(Exit::SysCompat),
        "RINGNOANSWER" => {
            count("6 (…|ringtime)", n == 1)?;
            Kind::RingNoAnswer {
                ring_ms: int("ringtime", 0)?,
            }
        }
        "TRANSFER" | "BLINDTRANSFER" => {
            let ok = if event == "TRANSFER" {
                (4..=5).contains(&n)
            } else {
                n == 5
            };
            count(
                "9 or 10 (…|extension|context|holdtime|calltime[|origposition])",
                ok,
            )?;
            Kind::Transfer {
                kind: if event == "TRANSFER" {
                    Transfer::Legacy
                } else {
                    Transfer::Blind
                },
                target: data[0],
                holdtime: int("holdtime", 2)?,
                calltime: int("calltime", 3)?,
            }
        }
        "ATTENDEDTRANSFER" => {
            let want = match data.first().copied() {
                Some("BRIDGE" | "APP" | "THREEWAY") => 5,
                Some("LINK") => 6,
                _ => 0,
            };
            count(
                "10 or 11 (…|BRIDGE|bridge, APP|app, LINK|chan1|chan2 or THREEWAY|chan, then |holdtime|calltime|origposition)",
                want != 0 && n == want,
            )?;
            Kind::Transfer {
                kind: Transfer::Attended,
                target: data[1],
                holdtime: int("holdtime", n - 3)?,
                calltime: int("calltime", n - 2)?,
            }
        }
        "AGENTLOGIN" | "AGENTCALLBACKLOGIN" => Kind::AgentLogin,
        "AGENTLOGOFF" | "AGENTCALLBACKLOGOFF" => Kind::AgentLogoff,
        "ADDMEMBER" => Kind::AddMember {
            paused: data
                .first()
                .is_some_and(|d| d.eq_ignore_ascii_case("PAUSED")),
        },
        "REMOVEMEMBER" => Kind::RemoveMember,
        "PAUSE" => Kind::Pause {
            paused: true,
            all: false,
        },
        "UNPAUSE" => Kind::Pause {
            paused: false,
            all: false,
        },
        "PAUSEALL" => Kind::Pause {
            paused: true,
            all: true,
        },
        "UNPAUSEALL" => Kind::Pause {
            paused: false,
            all: true,
        },
        other => match KNOWN.iter().find(|k| **k == other) {
            Some(k) => Kind::Known(k),
            None => return Err(LineProblem::UnknownEvent(other.chars().take(40).collect())),
        },
    })
}
