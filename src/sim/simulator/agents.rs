//! The staff side of the simulator: hiring (skills, shift template, days
//! off), shifts and breaks, agent states, and routing (who may take what,
//! and who takes next).

use super::*;

impl Simulator {
    /// Skills, shift template and days off for every agent.
    pub(super) fn hire_agents(&mut self) {
        let n = self.cfg.agents;
        let nq = self.queue_names.len();
        // Days off lean to the quiet days: staffing on day d is roughly
        // proportional to its volume when each agent works five days.
        let total: f64 = self.cfg.weekday.iter().map(|&v| rate_of(v)).sum();
        let k = if total > 0.0 { 5.0 / total } else { 0.0 };
        let off_weights: Vec<f64> = self
            .cfg
            .weekday
            .iter()
            .map(|&v| (1.0 - k * rate_of(v)).max(0.0) + 1e-3)
            .collect();
        let shift_cdf = cdf(self.cfg.shifts.iter().map(|s| s.share));
        for i in 0..n {
            // Primary skills are spread in proportion to the queue shares.
            let primary = pick(&self.queue_cdf, (i as f64 + 0.5) / n as f64);
            let mut queues = vec![primary as u16];
            for _ in 0..2 {
                if nq > queues.len() && self.chance(self.cfg.extra_skill_share) {
                    let others: Vec<u16> = (0..nq as u16).filter(|q| !queues.contains(q)).collect();
                    let j = self.rng.random_range(0..others.len());
                    queues.push(others[j]);
                }
            }
            queues.sort_unstable();
            let u = self.rng.random::<f64>();
            let shift = pick(&shift_cdf, u);
            let mut days_off = [false; 7];
            let mut w = off_weights.clone();
            for _ in 0..2 {
                let u = self.rng.random::<f64>();
                let d = pick(&cdf(w.iter().copied()), u);
                days_off[d] = true;
                w[d] = 0.0;
            }
            let a = self.agents.len() as u32;
            for &q in &queues {
                self.queue_agents[q as usize].push(a);
            }
            let live = queues.iter().any(|&q| {
                self.cfg.queues[q as usize]
                    .channels
                    .iter()
                    .any(|&(ch, _)| line_of(ch) != TICKET)
            });
            self.agents.push(Agent {
                id: format!("agent-{:03}", i + 1),
                live,
                queue_names: queues
                    .iter()
                    .map(|&q| self.queue_names[q as usize].clone())
                    .collect(),
                queues,
                shift,
                days_off,
                holds: Vec::new(),
                on_shift: false,
                away: false,
                break_pending: None,
                state: AgentState::Offline,
                idle_since: self.cfg.start,
            });
        }
    }

    /// Planned start of `agent`'s shift on local day `day`, and its length.
    fn shift_on(&self, a: u32, day: i64) -> (Millis, Millis) {
        let spec = self.cfg.shifts[self.agents[a as usize].shift];
        let off = self.cfg.utc_offset_minutes as Millis * MINUTE;
        let start = day * DAY + spec.start_minute as Millis * MINUTE - off;
        (start, spec.length_minutes as Millis * MINUTE)
    }

    fn works_on(&mut self, a: u32, day: i64) -> bool {
        let weekday = (day + 3).rem_euclid(7) as usize;
        !self.agents[a as usize].days_off[weekday] && !self.chance(self.cfg.absence_share)
    }

    fn local_day(&self, t: Millis) -> i64 {
        (t + self.cfg.utc_offset_minutes as Millis * MINUTE).div_euclid(DAY)
    }

    /// At the start: agents whose shift is under way log in at once, the
    /// others are announced offline and wait for their next shift.
    pub(super) fn first_shift(&mut self, a: u32) {
        let now = self.cfg.start;
        let today = self.local_day(now);
        for day in [today - 1, today] {
            let (start, len) = self.shift_on(a, day);
            if start <= now && now < start + len && self.works_on(a, day) {
                self.at(
                    now,
                    Action::ShiftStart {
                        agent: a,
                        planned_start: start,
                        end: start + len,
                    },
                );
                return;
            }
        }
        self.at(now, Action::Announce(a));
        self.next_shift(a, now);
    }

    /// Schedule the agent's first working shift starting at or after `after`.
    fn next_shift(&mut self, a: u32, after: Millis) {
        let first = self.local_day(after) - 1;
        for day in first..first + 21 {
            let (start, len) = self.shift_on(a, day);
            if start < after || !self.works_on(a, day) {
                continue;
            }
            // People log in a few minutes early or late.
            let jitter = secs(self.uniform(-300.0, 300.0));
            self.at(
                (start + jitter).max(after),
                Action::ShiftStart {
                    agent: a,
                    planned_start: start,
                    end: start + len,
                },
            );
            return;
        }
    }

    pub(super) fn shift_start(&mut self, a: u32, planned_start: Millis, end: Millis) {
        {
            let ag = &mut self.agents[a as usize];
            ag.on_shift = true;
            ag.away = false;
            ag.break_pending = None;
            ag.idle_since = self.time;
        }
        self.refresh(a);
        self.at(end, Action::ShiftEnd(a));
        // Two short breaks and lunch on a full shift, one break on a half.
        let len = end - planned_start;
        let breaks: &[(f64, Millis)] = if len >= 6 * HOUR {
            &[(0.25, 15 * MINUTE), (0.5, 30 * MINUTE), (0.78, 15 * MINUTE)]
        } else if len >= 4 * HOUR {
            &[(0.5, 15 * MINUTE)]
        } else {
            &[]
        };
        for &(frac, length) in breaks {
            let jitter = secs(self.uniform(-1800.0, 1800.0));
            let at = planned_start + (len as f64 * frac) as Millis + jitter;
            if at > self.time && at + length < end {
                self.at(at, Action::BreakDue { agent: a, length });
            }
        }
        self.pull(a);
    }

    pub(super) fn shift_end(&mut self, a: u32) {
        {
            let ag = &mut self.agents[a as usize];
            ag.on_shift = false;
            ag.break_pending = None;
        }
        // Busy agents finish what they hold, then log off (`released`).
        self.refresh(a);
        let now = self.time;
        self.next_shift(a, now);
    }

    pub(super) fn break_due(&mut self, a: u32, length: Millis) {
        let ag = &mut self.agents[a as usize];
        if !ag.on_shift || ag.away || ag.break_pending.is_some() {
            return;
        }
        ag.break_pending = Some(length);
        if ag.holds.is_empty() {
            self.start_break(a);
        }
    }

    fn start_break(&mut self, a: u32) {
        let ag = &mut self.agents[a as usize];
        if let Some(length) = ag.break_pending.take() {
            ag.away = true;
            self.after(length, Action::BreakEnd(a));
            self.refresh(a);
        }
    }

    pub(super) fn break_end(&mut self, a: u32) {
        let ag = &mut self.agents[a as usize];
        ag.away = false;
        ag.idle_since = self.time;
        self.refresh(a);
        self.pull(a);
    }

    fn derived_state(ag: &Agent) -> AgentState {
        if ag.holds.iter().any(|h| !h.wrapping) {
            AgentState::Busy
        } else if !ag.holds.is_empty() {
            AgentState::WrapUp
        } else if ag.away {
            AgentState::Away
        } else if ag.on_shift {
            AgentState::Available
        } else {
            AgentState::Offline
        }
    }

    /// Emit the agent's state if it changed.
    pub(super) fn refresh(&mut self, a: u32) {
        let ag = &self.agents[a as usize];
        if Self::derived_state(ag) != ag.state {
            self.announce(a);
        }
    }

    /// Emit the agent's current state, with the full set of queues served.
    pub(super) fn announce(&mut self, a: u32) {
        let ag = &mut self.agents[a as usize];
        ag.state = Self::derived_state(ag);
        let ev = AgentStateChanged {
            agent_id: ag.id.clone(),
            state: ag.state,
            queues: ag.queue_names.clone(),
        };
        self.emit(EventKind::Agent(ev));
    }

    /// Whether `a` may take a contact on `ch` now.
    fn can_take(&self, a: u32, ch: Channel) -> bool {
        let ag = &self.agents[a as usize];
        if !ag.on_shift || ag.away || ag.break_pending.is_some() {
            return false;
        }
        match ch {
            Channel::Chat => {
                ag.holds.iter().all(|h| h.chat) && ag.holds.len() < self.cfg.chat_concurrency
            }
            _ => ag.holds.is_empty(),
        }
    }

    pub(super) fn drop_hold(&mut self, a: u32, tag: u64) {
        if let Some(ag) = self.agents.get_mut(a as usize) {
            ag.holds.retain(|h| h.tag != tag);
        }
    }

    pub(super) fn hold_mut(&mut self, a: u32, tag: u64) -> Option<&mut Hold> {
        self.agents
            .get_mut(a as usize)?
            .holds
            .iter_mut()
            .find(|h| h.tag == tag)
    }

    /// After a hold was dropped: a free agent logs off, takes a due break, or
    /// looks for work.
    pub(super) fn released(&mut self, a: u32) {
        let now = self.time;
        let ag = &mut self.agents[a as usize];
        if ag.holds.is_empty() && ag.on_shift && !ag.away {
            if ag.break_pending.is_some() {
                self.start_break(a);
                return;
            }
            ag.idle_since = now;
        }
        self.refresh(a);
        self.pull(a);
    }

    /// The agent takes waiting work while it can: live contacts first (the
    /// longest waiting of the highest priority over its queues), tickets
    /// only with empty hands.
    fn pull(&mut self, a: u32) {
        loop {
            let ag = &self.agents[a as usize];
            let lines: &[usize] = if ag.holds.is_empty() {
                &[VOICE, CHAT]
            } else {
                &[CHAT]
            };
            let mut best: Option<(WaitKey, u32, Channel)> = None;
            for &q in &ag.queues {
                for &line in lines {
                    if let Some((k, &slot)) = self.waiting[q as usize][line].first_key_value() {
                        if best.as_ref().is_none_or(|b| *k < b.0) {
                            best = Some((*k, slot, self.contacts[slot as usize].channel));
                        }
                    }
                }
            }
            if best.is_none() && ag.holds.is_empty() && (!ag.live || self.reserve_allows_ticket()) {
                for &q in &ag.queues {
                    if let Some((k, &slot)) = self.waiting[q as usize][TICKET].first_key_value() {
                        if best.as_ref().is_none_or(|b| *k < b.0) {
                            best = Some((*k, slot, self.contacts[slot as usize].channel));
                        }
                    }
                }
            }
            match best {
                Some((_, slot, ch)) if self.can_take(a, ch) => self.dispatch(slot, a),
                _ => return,
            }
        }
    }

    /// The best agent for a contact of `queue` on `ch`: fewest contacts in
    /// hand, then longest idle.
    pub(super) fn free_agent(&self, queue: u16, ch: Channel, exclude: u32) -> Option<u32> {
        let reserve_ok = line_of(ch) != TICKET || self.reserve_allows_ticket();
        self.queue_agents[queue as usize]
            .iter()
            .copied()
            .filter(|&a| a != exclude && self.can_take(a, ch))
            .filter(|&a| reserve_ok || !self.agents[a as usize].live)
            .min_by_key(|&a| {
                let ag = &self.agents[a as usize];
                (ag.holds.len(), ag.idle_since, a)
            })
    }

    /// Whether one more idle agent may start on a ticket and still leave
    /// the blending reserve idle for live contacts.
    fn reserve_allows_ticket(&self) -> bool {
        let (mut on, mut idle) = (0usize, 0usize);
        for ag in &self.agents {
            if ag.on_shift && !ag.away && ag.break_pending.is_none() {
                on += 1;
                idle += usize::from(ag.holds.is_empty());
            }
        }
        let reserve = (self.cfg.ticket_reserve_share * on as f64).floor() as usize;
        idle > reserve
    }
}
