//! What the benchmark reads about processes: CPU time from `/proc`, the
//! CPU time of reaped children, signals, and the machine's load.

use std::process::Command;

extern "C" {
    fn sysconf(name: i32) -> i64;
    fn getrusage(who: i32, usage: *mut RUsage) -> i32;
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// `_SC_CLK_TCK` on Linux.
const SC_CLK_TCK: i32 = 2;
/// `RUSAGE_CHILDREN`: every child that was waited for.
const RUSAGE_CHILDREN: i32 = -1;
pub const SIGTERM: i32 = 15;

/// `struct rusage` on 64-bit Linux: two `timeval`s, then 14 longs.
#[repr(C)]
#[derive(Default)]
struct RUsage {
    utime: [i64; 2],
    stime: [i64; 2],
    rest: [i64; 14],
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let t = unsafe { sysconf(SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// CPU seconds (user + system, all threads) a live process has used so
/// far, from `/proc/<pid>/stat`; 10 ms resolution.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    stat_cpu(&format!("/proc/{pid}/stat"))
}

/// [`cpu_seconds`] of this process.
pub fn own_cpu_seconds() -> Option<f64> {
    stat_cpu("/proc/self/stat")
}

fn stat_cpu(path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) may hold spaces; the fields after its
    // closing parenthesis are fixed: utime and stime are fields 14 and 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / ticks_per_second())
}

/// CPU seconds of every child this process has waited for. The difference
/// around one child's `wait` is that child's CPU time (the bench runs its
/// children one at a time).
pub fn reaped_children_cpu_seconds() -> f64 {
    let mut u = RUsage::default();
    // SAFETY: getrusage fills the struct it is given; RUsage has the
    // layout of `struct rusage` on 64-bit Linux (144 bytes).
    if unsafe { getrusage(RUSAGE_CHILDREN, &mut u) } != 0 {
        return f64::NAN;
    }
    let tv = |t: [i64; 2]| t[0] as f64 + t[1] as f64 / 1e6;
    tv(u.utime) + tv(u.stime)
}

/// Sends `sig` to a child the caller has not waited for yet.
pub fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) on our own child's pid, not yet reaped, so still ours.
    unsafe {
        libc_kill(pid as i32, sig);
    }
}

/// `uptime`'s line (load averages over 1, 5 and 15 minutes).
pub fn uptime() -> String {
    Command::new("uptime")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .or_else(|| {
            std::fs::read_to_string("/proc/loadavg")
                .ok()
                .map(|l| format!("load average (1, 5, 15 min, /proc/loadavg): {}", l.trim()))
        })
        .unwrap_or_else(|| "load average unknown".into())
}

/// CPU model and count, for the report.
pub fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cpus} cores ({model})")
}
