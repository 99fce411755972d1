//! The sample tap: duration samples a fold collects between publications
//! for live histograms, grouped by series as they are folded.
//!
//! Grouping here, where a series is three small numbers, keeps a
//! publication to one labelled series per queue × channel × kind or agent
//! with its values (8 bytes each) instead of one labelled record per sample
//! (72 bytes each), and the shell to one histogram lookup per series. While
//! a backlog is folded a publication holds hundreds of thousands of
//! samples; their buffers go round ([`super::Engine::recycle_samples`]),
//! so a publication allocates nothing once the buffers have grown.

use compact_str::CompactString;
use rustc_hash::FxHashMap;

use super::types::{LabelledSeries, SampleKind};
use crate::event::{Channel, Millis};

/// Samples since the last take, by series.
#[derive(Debug, Clone, Default)]
pub(super) struct SampleTap {
    /// Series → its place in `series`.
    index: FxHashMap<(SampleKind, u32, Channel), usize>,
    /// In order of first sample, the order they are handed out in (the
    /// index's hash order never reaches an output).
    series: Vec<TapSeries>,
}

#[derive(Debug, Clone)]
struct TapSeries {
    kind: SampleKind,
    /// Queue or agent index, by kind.
    key: u32,
    channel: Channel,
    ms: Vec<Millis>,
}

impl SampleTap {
    pub(super) fn push(&mut self, kind: SampleKind, key: u32, channel: Channel, ms: Millis) {
        let next = self.series.len();
        let i = *self.index.entry((kind, key, channel)).or_insert(next);
        if i == next {
            self.series.push(TapSeries {
                kind,
                key,
                channel,
                ms: Vec::new(),
            });
        }
        self.series[i].ms.push(ms);
    }

    /// Move every series with samples to `out`, labelled with `tenant` and
    /// `label(kind, key)`. Each series keeps collecting into an emptied
    /// buffer from `spare` (or a new one).
    pub(super) fn take_into<'a>(
        &mut self,
        tenant: &CompactString,
        label: impl Fn(SampleKind, u32) -> &'a str,
        spare: &mut Vec<Vec<Millis>>,
        out: &mut Vec<LabelledSeries>,
    ) {
        for s in self.series.iter_mut().filter(|s| !s.ms.is_empty()) {
            let room = spare.pop().unwrap_or_default();
            out.push(LabelledSeries {
                tenant: tenant.clone(),
                kind: s.kind,
                label: CompactString::from(label(s.kind, s.key)),
                channel: s.channel,
                ms: std::mem::replace(&mut s.ms, room),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::HistKind;

    const WAIT: SampleKind = SampleKind::Queue(HistKind::QueueWait);

    fn take(tap: &mut SampleTap, spare: &mut Vec<Vec<Millis>>) -> Vec<LabelledSeries> {
        let mut out = Vec::new();
        let names = ["billing", "sales"];
        tap.take_into(
            &CompactString::from("t"),
            |_, k| names[k as usize],
            spare,
            &mut out,
        );
        out
    }

    #[test]
    fn samples_are_grouped_by_series_in_order_of_first_sample() {
        let mut tap = SampleTap::default();
        tap.push(WAIT, 1, Channel::Chat, 5);
        tap.push(WAIT, 0, Channel::Voice, 7);
        tap.push(WAIT, 1, Channel::Chat, 9);
        tap.push(WAIT, 1, Channel::Voice, 11);
        let got: Vec<(String, Channel, Vec<Millis>)> = take(&mut tap, &mut Vec::new())
            .into_iter()
            .map(|s| (s.label.into_string(), s.channel, s.ms))
            .collect();
        assert_eq!(
            got,
            vec![
                ("sales".into(), Channel::Chat, vec![5, 9]),
                ("billing".into(), Channel::Voice, vec![7]),
                ("sales".into(), Channel::Voice, vec![11]),
            ]
        );
    }

    #[test]
    fn a_take_hands_out_only_series_with_new_samples_and_reuses_spare_room() {
        let mut tap = SampleTap::default();
        tap.push(WAIT, 0, Channel::Voice, 1);
        tap.push(WAIT, 1, Channel::Voice, 2);
        let _ = take(&mut tap, &mut Vec::new());
        tap.push(WAIT, 1, Channel::Voice, 3);
        let mut spare = vec![Vec::with_capacity(64)];
        let got = take(&mut tap, &mut spare);
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].label.as_str(), got[0].ms.as_slice()),
            ("sales", &[3][..])
        );
        // The series now collects into the spare buffer's room.
        assert!(spare.is_empty());
        tap.push(WAIT, 1, Channel::Voice, 4);
        assert!(tap.series[1].ms.capacity() >= 64);
    }
}
