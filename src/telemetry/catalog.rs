//! The metric catalogue: the only place metric names, labels and help texts
//! are defined. Help texts carry each KPI's definition.
//!
//! Naming: `ccpulse_` prefix, `_total` for counters, base units (`_seconds`).
//! Labels are bounded: `tenant`, `queue` and `agent` are capped by config
//! (`limits.max_tenants`, `max_queues`, `max_agents`; overflow is `other`;
//! every queue, agent and SLA series names its tenant, process-level series
//! have no tenant label; `agent` holds an id or a pseudonym, or is not exported at all,
//! as `export.agent_metrics` says), `channel`, `window`, `state`, `target`,
//! `action`, `reason`, `outcome`, `stat` are closed sets, `topic` and `partition` follow the
//! deployment. Never an interaction or customer id.
//!
//! Mergeability: every KPI series is a counter, a gauge of a count, or a
//! histogram, so `sum without (instance)` across instances is exact; ratios
//! and quantiles are recording rules in `deploy/prometheus/`. Gauges of the
//! agent directory (replicated on every instance) are exported only by the
//! instance that owns input partition 0, so they are exported once.

/// Kind of a series, for registration and docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One metric family.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

const QC: &[&str] = &["tenant", "queue", "channel"];
const QCW: &[&str] = &["tenant", "queue", "channel", "window"];

macro_rules! family {
    ($id:ident, $name:literal, $kind:ident, $labels:expr, $help:literal) => {
        pub const $id: Family = Family {
            name: $name,
            kind: Kind::$kind,
            labels: $labels,
            help: $help,
        };
    };
}

// ----- KPI counters per queue × channel (cumulative, mergeable) -----------
family!(
    OFFERED,
    "ccpulse_offered_total",
    Counter,
    QC,
    "Interactions that entered the queue (first queueing and transfers in)."
);
family!(
    ANSWERED,
    "ccpulse_answered_total",
    Counter,
    QC,
    "Interactions answered by an agent after waiting in the queue."
);
family!(
    ANSWERED_WITHIN_SL,
    "ccpulse_answered_within_sl_total",
    Counter,
    QC,
    "Answered with a queue wait <= the queue's service-level threshold T."
);
family!(
    ABANDONED,
    "ccpulse_abandoned_total",
    Counter,
    QC,
    "Customer left while waiting in the queue."
);
family!(
    ABANDONED_WITHIN_SL,
    "ccpulse_abandoned_within_sl_total",
    Counter,
    QC,
    "Abandoned with a wait <= T (counts toward SL2 and removed-from-queue SL)."
);
family!(
    SHORT_ABANDONED,
    "ccpulse_short_abandoned_total",
    Counter,
    QC,
    "Abandoned after waiting less than the short-abandon threshold (default 5 s)."
);
family!(
    DEQUEUED_BY_TRANSFER,
    "ccpulse_dequeued_by_transfer_total",
    Counter,
    QC,
    "Left the queue by a transfer before being answered."
);
family!(
    DEQUEUED_BY_TRANSFER_WITHIN_SL,
    "ccpulse_dequeued_by_transfer_within_sl_total",
    Counter,
    QC,
    "Transferred out of the queue with a wait <= T."
);
family!(
    FIRST_RESPONSES,
    "ccpulse_first_responses_total",
    Counter,
    QC,
    "First agent replies (tickets, chats)."
);
family!(
    HANDLED,
    "ccpulse_handled_total",
    Counter,
    QC,
    "Completed handling segments: answer to wrap-up done (or resolution, or transfer away)."
);
family!(
    HANDLE_SECONDS,
    "ccpulse_handle_seconds_total",
    Counter,
    QC,
    "Handle time (talk + hold + wrap-up) of handled segments; AHT = handle_seconds / handled."
);
family!(
    TALK_SECONDS,
    "ccpulse_talk_seconds_total",
    Counter,
    QC,
    "Talk time of handled segments."
);
family!(
    HOLD_SECONDS,
    "ccpulse_hold_seconds_total",
    Counter,
    QC,
    "Hold time of handled segments."
);
family!(
    WRAP_UP_SECONDS,
    "ccpulse_wrap_up_seconds_total",
    Counter,
    QC,
    "After-contact work time of handled segments."
);
family!(
    RESOLVED,
    "ccpulse_resolved_total",
    Counter,
    QC,
    "Interactions resolved/closed."
);
family!(
    FCR_CANDIDATES,
    "ccpulse_fcr_candidates_total",
    Counter,
    QC,
    "Resolutions that were first-contact when resolved (no reopen, no repeat contact)."
);
family!(FCR_RETRACTED, "ccpulse_fcr_retracted_total", Counter, QC, "First-contact resolutions later voided by a reopen or a repeat contact within the repeat window. FCR = (candidates - retracted) / resolved.");
family!(
    REOPENED,
    "ccpulse_reopened_total",
    Counter,
    QC,
    "Resolved interactions reopened. Reopen rate = reopened / resolved."
);
family!(
    TRANSFERS,
    "ccpulse_transfers_total",
    Counter,
    QC,
    "Transfers (an interaction may be transferred several times)."
);
family!(
    TRANSFERRED_INTERACTIONS,
    "ccpulse_transferred_interactions_total",
    Counter,
    QC,
    "Interactions transferred at least once. Transfer rate = transferred_interactions / handled."
);
family!(EXCHANGES, "ccpulse_exchanges_total", Counter, QC, "Customer-to-agent message exchanges of resolved interactions; per resolution = exchanges / resolved.");
family!(REPEAT_CONTACTS, "ccpulse_repeat_contacts_total", Counter, QC, "Contacts from a customer who contacted within the repeat window (default 7 d). Repeat rate = repeat_contacts / offered.");
family!(
    CSAT_RESPONSES,
    "ccpulse_csat_responses_total",
    Counter,
    QC,
    "CSAT answers (1-5)."
);
family!(
    CSAT_SATISFIED,
    "ccpulse_csat_satisfied_total",
    Counter,
    QC,
    "CSAT answers of 4 or 5. CSAT = satisfied / responses."
);
family!(
    CSAT_SCORE,
    "ccpulse_csat_score_total",
    Counter,
    QC,
    "Sum of CSAT scores; mean CSAT = score / responses."
);
family!(
    NPS_RESPONSES,
    "ccpulse_nps_responses_total",
    Counter,
    QC,
    "NPS answers (0-10)."
);
family!(
    NPS_PROMOTERS,
    "ccpulse_nps_promoters_total",
    Counter,
    QC,
    "NPS answers of 9-10. NPS = 100 * (promoters - detractors) / responses."
);
family!(
    NPS_DETRACTORS,
    "ccpulse_nps_detractors_total",
    Counter,
    QC,
    "NPS answers of 0-6."
);
family!(
    CES_RESPONSES,
    "ccpulse_ces_responses_total",
    Counter,
    QC,
    "CES answers (1-7, lower effort is better)."
);
family!(
    CES_SCORE,
    "ccpulse_ces_score_total",
    Counter,
    QC,
    "Sum of CES scores; mean CES = score / responses."
);
family!(
    SLA_MET,
    "ccpulse_sla_met_total",
    Counter,
    &["tenant", "queue", "channel"],
    "SLA targets met before their deadline."
);
family!(
    SLA_BREACHES,
    "ccpulse_sla_breaches_total",
    Counter,
    &["tenant", "queue", "channel"],
    "SLA targets missed (once per target and interaction), counted at the deadline."
);
family!(SLA_REASSIGNMENTS, "ccpulse_sla_reassignments_total", Counter, &["queue", "channel", "action"], "Reassignments requested after a breach; action = agent (a free operator was named), requeue (nobody free), escalate (max attempts reached).");
family!(
    VOLUME_BY_HOUR,
    "ccpulse_offered_by_local_hour_total",
    Counter,
    &["tenant", "queue", "hour"],
    "Offered, by hour of day (00-23) of the event in the configured time zone."
);
family!(
    VOLUME_BY_WEEKDAY,
    "ccpulse_offered_by_weekday_total",
    Counter,
    &["tenant", "queue", "weekday"],
    "Offered, by local weekday (mon..sun)."
);
family!(
    VOLUME_BY_MONTH,
    "ccpulse_offered_by_month_total",
    Counter,
    &["tenant", "queue", "month"],
    "Offered, by local month (01-12)."
);

// ----- KPI histograms per queue × channel ---------------------------------
family!(
    QUEUE_WAIT,
    "ccpulse_queue_wait_seconds",
    Histogram,
    QC,
    "Queue entry to answer, of answered interactions; ASA = sum / count."
);
family!(
    FIRST_RESPONSE_TIME,
    "ccpulse_first_response_seconds",
    Histogram,
    QC,
    "Creation to first agent reply (FRT)."
);
family!(
    ABANDON_TIME,
    "ccpulse_abandon_wait_seconds",
    Histogram,
    QC,
    "Queue entry to abandon: customer patience."
);
family!(
    HANDLE_TIME,
    "ccpulse_handle_time_seconds",
    Histogram,
    QC,
    "Talk + hold + wrap-up per handled segment (AHT distribution)."
);
family!(
    RESOLUTION_TIME,
    "ccpulse_resolution_time_seconds",
    Histogram,
    QC,
    "Creation to resolution (ART distribution)."
);

// ----- Live gauges per queue × channel (counts: sum across instances) -----
family!(
    WAITING,
    "ccpulse_waiting",
    Gauge,
    QC,
    "Interactions waiting in the queue now."
);
family!(
    OLDEST_WAITING_AGE,
    "ccpulse_oldest_waiting_age_seconds",
    Gauge,
    QC,
    "Age of the longest-waiting interaction now (0 if none); aggregate with max."
);
family!(
    CONCURRENT,
    "ccpulse_concurrent",
    Gauge,
    QC,
    "Interactions in queue or in progress now."
);
family!(
    SLA_RUNNING,
    "ccpulse_sla_running",
    Gauge,
    QC,
    "Open interactions with a running SLA clock."
);
family!(
    SLA_AT_RISK,
    "ccpulse_sla_at_risk",
    Gauge,
    QC,
    "Open interactions past the at-risk lead of an SLA target."
);

// ----- Windowed gauges per queue × channel × window (counts and sums) ------
family!(
    WINDOW_OFFERED,
    "ccpulse_window_offered",
    Gauge,
    QCW,
    "Offered within the sliding window."
);
family!(
    WINDOW_ANSWERED,
    "ccpulse_window_answered",
    Gauge,
    QCW,
    "Answered within the sliding window."
);
family!(
    WINDOW_ANSWERED_WITHIN_SL,
    "ccpulse_window_answered_within_sl",
    Gauge,
    QCW,
    "Answered within T, within the sliding window."
);
family!(
    WINDOW_ABANDONED,
    "ccpulse_window_abandoned",
    Gauge,
    QCW,
    "Abandoned within the sliding window."
);
family!(
    WINDOW_ABANDONED_WITHIN_SL,
    "ccpulse_window_abandoned_within_sl",
    Gauge,
    QCW,
    "Abandoned within T, within the sliding window."
);
family!(
    WINDOW_SHORT_ABANDONED,
    "ccpulse_window_short_abandoned",
    Gauge,
    QCW,
    "Short abandons within the sliding window."
);
family!(
    WINDOW_HANDLED,
    "ccpulse_window_handled",
    Gauge,
    QCW,
    "Handled segments within the sliding window."
);
family!(
    WINDOW_HANDLE_SECONDS,
    "ccpulse_window_handle_seconds",
    Gauge,
    QCW,
    "Handle time of segments within the sliding window."
);
family!(
    WINDOW_QUEUE_WAIT_SECONDS,
    "ccpulse_window_queue_wait_seconds",
    Gauge,
    QCW,
    "Sum of queue waits of answers within the sliding window (ASA = this / answered)."
);
family!(
    WINDOW_RESOLVED,
    "ccpulse_window_resolved",
    Gauge,
    QCW,
    "Resolutions within the sliding window."
);
family!(
    WINDOW_SLA_BREACHES,
    "ccpulse_window_sla_breaches",
    Gauge,
    QCW,
    "SLA breaches within the sliding window."
);
family!(
    WINDOW_PEAK_CONCURRENT,
    "ccpulse_window_peak_concurrent",
    Gauge,
    QCW,
    "Peak concurrency within the window, per instance (not summable: a single-instance view)."
);
family!(WINDOW_REQUIRED_AGENTS, "ccpulse_window_required_agents", Gauge, QCW, "Erlang C agents needed for the SL target at the window's arrival rate and AHT; per-instance view.");

// ----- Agents (closures, handling, CSAT: partitioned, summable) ------------
family!(
    AGENT_CLOSURES,
    "ccpulse_agent_closures_total",
    Counter,
    &["tenant", "agent"],
    "Interactions resolved/closed by the agent; read beside CSAT and AHT, never alone."
);
family!(
    AGENT_HANDLED,
    "ccpulse_agent_handled_total",
    Counter,
    &["tenant", "agent"],
    "Handled segments of the agent."
);
family!(
    AGENT_HANDLE_SECONDS,
    "ccpulse_agent_handle_seconds_total",
    Counter,
    &["tenant", "agent"],
    "Handle time of the agent's segments; agent AHT = this / handled."
);
family!(
    AGENT_CSAT_RESPONSES,
    "ccpulse_agent_csat_responses_total",
    Counter,
    &["tenant", "agent"],
    "CSAT answers about the agent's interactions."
);
family!(
    AGENT_CSAT_SATISFIED,
    "ccpulse_agent_csat_satisfied_total",
    Counter,
    &["tenant", "agent"],
    "CSAT answers of 4-5 about the agent's interactions."
);
family!(
    AGENT_HANDLE_TIME,
    "ccpulse_agent_handle_time_seconds",
    Histogram,
    &["tenant", "agent"],
    "Handle time per segment, per agent."
);
// Agent directory (replicated: exported once, by the owner of partition 0).
family!(
    AGENT_STATE_SECONDS,
    "ccpulse_agent_state_seconds_total",
    Counter,
    &["tenant", "agent", "state"],
    "Time agents spent in each state. Occupancy = (busy + wrap_up) / (busy + wrap_up + available)."
);
family!(
    AGENTS,
    "ccpulse_agents",
    Gauge,
    &["tenant", "queue", "state"],
    "Agents serving the queue, by state, now."
);

// ----- Operators without operator labels (export.agent_metrics = aggregate) -
// Per queue, over the operators serving it (the agent directory's queues),
// from each operator's figures since the start as far as this instance's
// view goes; `stat` is min, median, p90 (nearest rank), max or mean.
// Exported instead of the per-agent series above; not summable across
// instances (each sees its own partitions' figures).
const QS: &[&str] = &["tenant", "queue", "stat"];
family!(
    QUEUE_OPERATORS,
    "ccpulse_queue_operators",
    Gauge,
    &["tenant", "queue"],
    "Operators serving the queue (agent_metrics = aggregate): the population of the ccpulse_queue_operator_* distributions; per-instance view."
);
family!(
    QUEUE_OPERATOR_CLOSURES,
    "ccpulse_queue_operator_closures",
    Gauge,
    QS,
    "Distribution across the queue's operators of the interactions each closed since the start (agent_metrics = aggregate; no operator label); per-instance view."
);
family!(
    QUEUE_OPERATOR_AHT,
    "ccpulse_queue_operator_aht_seconds",
    Gauge,
    QS,
    "Distribution across the queue's operators of each one's average handle time, over operators who handled any (agent_metrics = aggregate); per-instance view."
);
family!(
    QUEUE_OPERATOR_OCCUPANCY,
    "ccpulse_queue_operator_occupancy_ratio",
    Gauge,
    QS,
    "Distribution across the queue's operators of each one's occupancy, (busy + wrap_up) / (busy + wrap_up + available) time (agent_metrics = aggregate); per-instance view."
);
family!(
    QUEUE_OPERATOR_CSAT,
    "ccpulse_queue_operator_csat_ratio",
    Gauge,
    QS,
    "Distribution across the queue's operators of each one's CSAT (answers of 4-5 / answers), over operators with answers (agent_metrics = aggregate); per-instance view."
);

// ----- The processor itself ------------------------------------------------
family!(
    EVENTS_CONSUMED,
    "ccpulse_events_consumed_total",
    Counter,
    &["topic"],
    "Records read from Kafka."
);
family!(
    EVENTS_APPLIED,
    "ccpulse_events_applied_total",
    Counter,
    &["topic"],
    "Events folded into the engine."
);
family!(
    EVENTS_DUPLICATE,
    "ccpulse_events_duplicate_total",
    Counter,
    &["topic"],
    "Events ignored as duplicates (same event_id within the dedup horizon)."
);
family!(EVENTS_LATE, "ccpulse_events_late_total", Counter, &["topic"], "Events older than the watermark on arrival (applied out of order; windows already closed for them do not count them).");
family!(
    EVENTS_ORPHANED,
    "ccpulse_events_orphaned_total",
    Counter,
    &["topic"],
    "Events for an interaction the engine does not know that were not applied for good: parked longer than engine.parking_ttl, or over limits.max_parked_events (those waiting are not counted)."
);
family!(
    EVENTS_LATE_BEYOND_WINDOW,
    "ccpulse_events_late_beyond_window_total",
    Counter,
    &["topic"],
    "Late events (older than the watermark on arrival) too old for some window: that window does not count them, cumulative counters do. Late events only, once each."
);
family!(
    FCR_RETRACTIONS_BEYOND_WINDOW,
    "ccpulse_fcr_retractions_beyond_window_total",
    Counter,
    &["topic"],
    "FCR retractions (a reopen or repeat contact voiding a first-contact resolution) dated at a resolution some window no longer holds: that window keeps the candidate, cumulative counters include the retraction. Not late events."
);
family!(
    EVENTS_PARKED_EXPIRED,
    "ccpulse_events_parked_expired_total",
    Counter,
    &["topic"],
    "Events that waited for an interaction not known yet longer than engine.parking_ttl of event time: orphaned for good (part of ccpulse_events_orphaned_total)."
);
family!(
    EVENTS_PARKED_OVERFLOW,
    "ccpulse_events_parked_overflow_total",
    Counter,
    &["topic"],
    "Events for an interaction not known yet that found the parking area full (limits.max_parked_events): orphaned at once (part of ccpulse_events_orphaned_total)."
);
family!(DEAD_LETTERS, "ccpulse_dead_letters_total", Counter, &["topic", "reason"], "Records sent to the dead-letter topic; reason = malformed_json | malformed_protobuf | invalid_field | too_large (over input.max_record_bytes) | future_event (over input.max_future_skew ahead of the clock) | parked_expired (its interaction did not appear within engine.parking_ttl) | parked_overflow (the parking area was full).");
family!(
    EFFECTS_EMITTED,
    "ccpulse_effects_emitted_total",
    Counter,
    &["kind"],
    "Effects produced to Kafka; kind = sla_breached | reassignment_requested."
);
family!(
    TRANSACTIONS,
    "ccpulse_transactions_total",
    Counter,
    &["outcome"],
    "Kafka transactions; outcome = commit | abort."
);
family!(
    COMMIT_DURATION,
    "ccpulse_commit_seconds",
    Histogram,
    &[],
    "Time one commit took: exactly_once, the transaction (its offsets, every record in it acknowledged, the commit); at_least_once, waiting for the records' acknowledgements and the offset commit. The output produces nothing meanwhile, so partition tasks wait once its queue is full."
);
family!(
    COMMITS,
    "ccpulse_offset_commits_total",
    Counter,
    &["outcome"],
    "Offset commits (at-least-once mode); outcome = ok | error."
);
family!(
    CONSUMER_LAG,
    "ccpulse_consumer_lag",
    Gauge,
    &["topic", "partition"],
    "Records between the high watermark and the next offset to process."
);
family!(
    RESTORE_PROGRESS,
    "ccpulse_restore_progress_ratio",
    Gauge,
    &["topic", "partition"],
    "Restore progress of an assigned partition, 0..1 (1 = live)."
);
family!(
    PARTITIONS_ASSIGNED,
    "ccpulse_partitions_assigned",
    Gauge,
    &[],
    "Input partitions assigned to this instance."
);
family!(
    WATERMARK_LAG,
    "ccpulse_watermark_lag_seconds",
    Gauge,
    &["topic", "partition"],
    "Wall clock minus the partition's event-time watermark."
);
family!(
    LAST_EVENT_TIME,
    "ccpulse_last_event_timestamp_seconds",
    Gauge,
    &["topic", "partition"],
    "Event time of the newest event applied (Unix seconds); for staleness alerts."
);
family!(
    FIGURES_AGE,
    "ccpulse_figures_age_seconds",
    Gauge,
    &[],
    "Wall-clock seconds since this instance last published figures (a partition's view, about every export.tick_interval while live). Grows through a broker outage, when every partition is revoked and the last figures are served stale; absent before the first publish."
);
family!(
    FIGURES_STALE,
    "ccpulse_figures_stale",
    Gauge,
    &[],
    "1 when the figures this instance serves (snapshot, wallboard) are not all updating: a revoked partition's kept figures are among them, or no live partition contributes; else 0."
);
family!(
    PARTITIONS_KEPT,
    "ccpulse_partitions_kept",
    Gauge,
    &[],
    "Revoked input partitions whose last figures this instance still serves, marked stale, until the partition publishes here again or export.revoked_grace ends."
);
family!(
    CHECKPOINTS_WRITTEN,
    "ccpulse_checkpoints_written_total",
    Counter,
    &["topic"],
    "Engine checkpoints written to the checkpoints topic (one per input partition every kafka.checkpoint_interval while it changes)."
);
family!(
    CHECKPOINT_BYTES,
    "ccpulse_checkpoint_bytes",
    Gauge,
    &["topic", "partition"],
    "Size of the partition's last checkpoint, in bytes (split into chunks below the producer's message.max.bytes)."
);
family!(
    CHECKPOINT_LAST_WRITTEN,
    "ccpulse_checkpoint_last_written_timestamp_seconds",
    Gauge,
    &["topic", "partition"],
    "When the partition's last checkpoint was written (Unix time); its age is time() minus this. A restore replays only the input after it."
);
family!(
    CHECKPOINT_WRITE,
    "ccpulse_checkpoint_write_seconds",
    Histogram,
    &[],
    "Time to encode one partition's checkpoint (the partition task pauses folding meanwhile)."
);
family!(
    PIPELINE_RESTARTS,
    "ccpulse_pipeline_restarts_total",
    Counter,
    &[],
    "In-process restarts of the Kafka pipeline after an aborted transaction it can recover from (e.g. the group's generation changed under a broker restart); its partitions restore from the last commit."
);
family!(
    EXPORT_TICK,
    "ccpulse_export_tick_seconds",
    Histogram,
    &[],
    "Time to publish one export tick."
);
family!(
    BUILD_INFO,
    "ccpulse_build_info",
    Gauge,
    &["version"],
    "Always 1; the running version."
);

/// Every family, for docs, registration and tests.
pub const ALL: &[Family] = &[
    OFFERED,
    ANSWERED,
    ANSWERED_WITHIN_SL,
    ABANDONED,
    ABANDONED_WITHIN_SL,
    SHORT_ABANDONED,
    DEQUEUED_BY_TRANSFER,
    DEQUEUED_BY_TRANSFER_WITHIN_SL,
    FIRST_RESPONSES,
    HANDLED,
    HANDLE_SECONDS,
    TALK_SECONDS,
    HOLD_SECONDS,
    WRAP_UP_SECONDS,
    RESOLVED,
    FCR_CANDIDATES,
    FCR_RETRACTED,
    REOPENED,
    TRANSFERS,
    TRANSFERRED_INTERACTIONS,
    EXCHANGES,
    REPEAT_CONTACTS,
    CSAT_RESPONSES,
    CSAT_SATISFIED,
    CSAT_SCORE,
    NPS_RESPONSES,
    NPS_PROMOTERS,
    NPS_DETRACTORS,
    CES_RESPONSES,
    CES_SCORE,
    SLA_MET,
    SLA_BREACHES,
    SLA_REASSIGNMENTS,
    VOLUME_BY_HOUR,
    VOLUME_BY_WEEKDAY,
    VOLUME_BY_MONTH,
    QUEUE_WAIT,
    FIRST_RESPONSE_TIME,
    ABANDON_TIME,
    HANDLE_TIME,
    RESOLUTION_TIME,
    WAITING,
    OLDEST_WAITING_AGE,
    CONCURRENT,
    SLA_RUNNING,
    SLA_AT_RISK,
    WINDOW_OFFERED,
    WINDOW_ANSWERED,
    WINDOW_ANSWERED_WITHIN_SL,
    WINDOW_ABANDONED,
    WINDOW_ABANDONED_WITHIN_SL,
    WINDOW_SHORT_ABANDONED,
    WINDOW_HANDLED,
    WINDOW_HANDLE_SECONDS,
    WINDOW_QUEUE_WAIT_SECONDS,
    WINDOW_RESOLVED,
    WINDOW_SLA_BREACHES,
    WINDOW_PEAK_CONCURRENT,
    WINDOW_REQUIRED_AGENTS,
    AGENT_CLOSURES,
    AGENT_HANDLED,
    AGENT_HANDLE_SECONDS,
    AGENT_CSAT_RESPONSES,
    AGENT_CSAT_SATISFIED,
    AGENT_HANDLE_TIME,
    AGENT_STATE_SECONDS,
    AGENTS,
    QUEUE_OPERATORS,
    QUEUE_OPERATOR_CLOSURES,
    QUEUE_OPERATOR_AHT,
    QUEUE_OPERATOR_OCCUPANCY,
    QUEUE_OPERATOR_CSAT,
    EVENTS_CONSUMED,
    EVENTS_APPLIED,
    EVENTS_DUPLICATE,
    EVENTS_LATE,
    EVENTS_ORPHANED,
    EVENTS_LATE_BEYOND_WINDOW,
    FCR_RETRACTIONS_BEYOND_WINDOW,
    EVENTS_PARKED_EXPIRED,
    EVENTS_PARKED_OVERFLOW,
    DEAD_LETTERS,
    EFFECTS_EMITTED,
    TRANSACTIONS,
    COMMIT_DURATION,
    COMMITS,
    PIPELINE_RESTARTS,
    CONSUMER_LAG,
    RESTORE_PROGRESS,
    PARTITIONS_ASSIGNED,
    WATERMARK_LAG,
    LAST_EVENT_TIME,
    FIGURES_AGE,
    FIGURES_STALE,
    PARTITIONS_KEPT,
    EXPORT_TICK,
    CHECKPOINTS_WRITTEN,
    CHECKPOINT_BYTES,
    CHECKPOINT_LAST_WRITTEN,
    CHECKPOINT_WRITE,
    BUILD_INFO,
];

/// Histogram bucket bounds in seconds, shared with the engine's windows.
pub fn duration_buckets_seconds() -> Vec<f64> {
    ccpulse_core::engine::BOUNDS_MS
        .iter()
        .map(|&ms| ms as f64 / 1000.0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions_and_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for f in ALL {
            assert!(f.name.starts_with("ccpulse_"), "{}", f.name);
            assert!(seen.insert(f.name), "duplicate {}", f.name);
            assert_eq!(
                f.kind == Kind::Counter,
                f.name.ends_with("_total"),
                "{}",
                f.name
            );
            assert!(!f.help.is_empty());
            for l in f.labels {
                assert!(
                    !["interaction", "interaction_id", "customer", "customer_ref"].contains(l),
                    "{}",
                    f.name
                );
            }
        }
    }
}
