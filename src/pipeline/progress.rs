//! How far the poll thread has got on one partition, shared with the
//! partition's task: what lets a task tell "caught up" from "quiet".

use std::sync::atomic::{AtomicI64, Ordering};

/// How far the poll thread has got on one partition, shared with its task
/// so the task can tell "caught up" from "quiet".
#[derive(Debug)]
pub(super) struct Progress {
    /// Offset after the last record the poll thread took for the task.
    delivered: AtomicI64,
    /// librdkafka's consumer position, which also moves past transaction
    /// markers; refreshed by the poll thread.
    position: AtomicI64,
}

impl Progress {
    pub(super) fn new() -> Self {
        Progress {
            delivered: AtomicI64::new(-1),
            position: AtomicI64::new(-1),
        }
    }

    pub(super) fn delivered(&self, next: i64) {
        self.delivered.store(next, Ordering::Release);
    }

    pub(super) fn position(&self, pos: i64) {
        self.position.fetch_max(pos, Ordering::Release);
    }

    /// The partition's effective position for a task that has folded up
    /// to `folded` (the next offset it expects): librdkafka's position once
    /// every record handed over is folded (it includes skipped transaction
    /// markers), else `folded`; never below the log start `lo`.
    pub(super) fn next(&self, folded: i64, lo: i64) -> i64 {
        let base = folded.max(lo);
        if folded < self.delivered.load(Ordering::Acquire) {
            return base;
        }
        self.position.load(Ordering::Acquire).max(base)
    }

    /// Whether the task holds everything up to the partition's end `hi`
    /// (`lo`, `hi`: from librdkafka's last fetch response, read before
    /// this, so a fetch that lands meanwhile makes the answer "no").
    pub(super) fn caught_up(&self, folded: i64, (lo, hi): (i64, i64)) -> bool {
        self.next(folded, lo) >= hi
    }
}

#[cfg(test)]
mod tests {
    use super::Progress;

    #[test]
    fn a_partition_is_caught_up_only_when_everything_up_to_the_end_is_folded() {
        // Ten records (offsets 0..=9), end 10.
        let p = Progress::new();
        assert!(!p.caught_up(-1, (0, 10)), "nothing fetched yet");
        p.delivered(6);
        p.position(6);
        assert!(!p.caught_up(6, (0, 10)), "records 6..=9 not fetched yet");
        p.delivered(10);
        assert!(
            !p.caught_up(6, (0, 10)),
            "records 6..=9 handed over, not folded"
        );
        p.position(10);
        assert!(p.caught_up(10, (0, 10)));
    }

    #[test]
    fn transaction_markers_and_empty_logs_do_not_hold_a_partition_back() {
        // Records 0..=4, then a commit marker at 5: the end is 6, and the
        // last record the task can fold is 4.
        let p = Progress::new();
        p.delivered(5);
        p.position(6);
        assert!(p.caught_up(5, (0, 6)));
        // Restored up to the end of a log whose start was deleted, or an
        // empty log: nothing is delivered and the position is unknown.
        let q = Progress::new();
        assert!(q.caught_up(40, (30, 40)));
        assert!(q.caught_up(-1, (0, 0)));
        assert!(!q.caught_up(-1, (30, 40)), "records 30..=39 to come");
    }
}
