//! The one risk gate in front of every executor, for every strategy: emergency stop (pulled by the
//! operator, or tripped by a loss or a drawdown), a circuit breaker on consecutive failed
//! simulations or submissions, the token allowlist, the position cap, the daily gas budget and the
//! number of bundles (or on-chain transactions) in flight. Every refusal is counted by reason.

pub mod signoff;

use crate::config::SafetySpec;
use crate::core::SimTime;

const DAY: SimTime = 86_400 * crate::core::NANOS_PER_SEC;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RiskReject {
    EmergencyStop,
    PositionLimit,
    GasBudget,
    InFlightLimit,
    /// The circuit breaker is open after consecutive failed simulations or submissions.
    CircuitOpen,
    /// The action moves a token outside `safety.allowed_tokens`.
    TokenNotAllowed,
}

impl RiskReject {
    pub const ALL: [RiskReject; 6] = [
        RiskReject::EmergencyStop,
        RiskReject::PositionLimit,
        RiskReject::GasBudget,
        RiskReject::InFlightLimit,
        RiskReject::CircuitOpen,
        RiskReject::TokenNotAllowed,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            RiskReject::EmergencyStop => "emergency_stop",
            RiskReject::PositionLimit => "position_limit",
            RiskReject::GasBudget => "daily_gas_budget",
            RiskReject::InFlightLimit => "in_flight_limit",
            RiskReject::CircuitOpen => "circuit_open",
            RiskReject::TokenNotAllowed => "token_not_allowed",
        }
    }
}

/// Why the emergency stop was pulled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StopCause {
    /// Mark-to-market P&L fell below −`emergency_stop_loss`.
    Loss,
    /// Equity fell more than `max_drawdown` below its running peak.
    Drawdown,
    /// The operator pulled it (`safety.emergency_stop_at`).
    Operator,
}

impl StopCause {
    pub fn as_str(self) -> &'static str {
        match self {
            StopCause::Loss => "loss",
            StopCause::Drawdown => "drawdown",
            StopCause::Operator => "operator",
        }
    }
}

/// What an action asks of the gate (the world fills it in).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ask {
    pub new_base: u128,
    pub open_base: u128,
    pub in_flight: u32,
    pub gas_wei: u128,
    /// The action moves a token the allowlist does not name.
    pub foreign_token: bool,
}

pub struct RiskGate {
    spec: SafetySpec,
    day: u64,
    gas_spent_today: u128,
    peak_equity: i128,
    pub stopped_at: Option<SimTime>,
    pub stop_cause: Option<StopCause>,
    /// Consecutive failed simulations or submissions; the breaker opens at `breaker_failures`.
    failures: u32,
    open_until: Option<SimTime>,
    /// After a cool-down one action is let through: its success closes the breaker, its failure
    /// opens it again.
    half_open: bool,
    pub breaker_trips: u64,
    pub rejects: [u64; RiskReject::ALL.len()],
}

impl RiskGate {
    pub fn new(spec: SafetySpec) -> Self {
        RiskGate {
            spec,
            day: 0,
            gas_spent_today: 0,
            peak_equity: 0,
            stopped_at: None,
            stop_cause: None,
            failures: 0,
            open_until: None,
            half_open: false,
            breaker_trips: 0,
            rejects: [0; RiskReject::ALL.len()],
        }
    }

    /// `new_base`: base exposure the trade would open (0 for an atomic, flat trade); `open_base`:
    /// unhedged exposure already open; `in_flight_txs`: our pending on-chain txs; `gas_wei`: what the
    /// trade's on-chain part would cost (0 when it has none).
    pub fn check(
        &mut self,
        new_base: u128,
        now: SimTime,
        open_base: u128,
        in_flight_txs: u32,
        gas_wei: u128,
    ) -> Result<(), RiskReject> {
        self.check_ask(now, Ask { new_base, open_base, in_flight: in_flight_txs, gas_wei, foreign_token: false })
    }

    pub fn check_ask(&mut self, now: SimTime, a: Ask) -> Result<(), RiskReject> {
        self.roll_day(now);
        self.operator_stop(now);
        let r = if self.stopped_at.is_some() {
            Err(RiskReject::EmergencyStop)
        } else if self.breaker_open(now) {
            Err(RiskReject::CircuitOpen)
        } else if a.foreign_token {
            Err(RiskReject::TokenNotAllowed)
        } else if a.new_base > 0 && a.new_base.saturating_add(a.open_base) > self.spec.max_position_base {
            Err(RiskReject::PositionLimit)
        } else if a.gas_wei > 0 && self.gas_spent_today.saturating_add(a.gas_wei) > self.spec.max_daily_gas_wei {
            Err(RiskReject::GasBudget)
        } else if a.gas_wei > 0 && a.in_flight >= self.spec.max_concurrent_bundles {
            Err(RiskReject::InFlightLimit)
        } else {
            Ok(())
        };
        if let Err(e) = r {
            self.rejects[e as usize] += 1;
        }
        r
    }

    /// Is the breaker open at `now` (read only: the cool-down's end is the next check's to act on)?
    pub fn breaker_is_open(&self, now: SimTime) -> bool {
        self.open_until.is_some_and(|t| now < t)
    }

    /// Is the breaker refusing now? Past its cool-down it lets one action through (half-open).
    fn breaker_open(&mut self, now: SimTime) -> bool {
        match self.open_until {
            Some(t) if now < t => true,
            Some(_) => {
                self.open_until = None;
                self.half_open = true;
                false
            }
            None => false,
        }
    }

    /// An executed action's simulation or submission failed (`ok == false`) or went through.
    pub fn record_outcome(&mut self, now: SimTime, ok: bool) {
        if ok {
            self.failures = 0;
            self.half_open = false;
            return;
        }
        self.failures += 1;
        let n = self.spec.breaker_failures;
        if n > 0 && (self.half_open || self.failures >= n) {
            self.open_until = Some(now + self.spec.breaker_cooldown);
            self.half_open = false;
            self.failures = 0;
            self.breaker_trips += 1;
            tracing::warn!(target: "xcrack::risk", at_ns = now, "circuit breaker open: consecutive failed simulations or submissions");
        }
    }

    pub fn record_gas(&mut self, now: SimTime, wei: u128) {
        self.roll_day(now);
        self.gas_spent_today = self.gas_spent_today.saturating_add(wei);
    }

    /// Trips the emergency stop when mark-to-market P&L falls below −stop_loss, or equity falls
    /// more than the allowed drawdown below its peak.
    pub fn observe_equity(&mut self, now: SimTime, equity_quote: i128) {
        self.peak_equity = self.peak_equity.max(equity_quote);
        if !self.spec.enable_emergency_stop || self.stopped_at.is_some() {
            return;
        }
        let cause = if equity_quote < -(self.spec.emergency_stop_loss_quote as i128) {
            Some(StopCause::Loss)
        } else if self.spec.max_drawdown_quote.is_some_and(|d| self.peak_equity - equity_quote > d as i128) {
            Some(StopCause::Drawdown)
        } else {
            None
        };
        if let Some(c) = cause {
            self.stop(now, c);
            tracing::warn!(target: "xcrack::risk", at_ns = now, equity_quote, cause = c.as_str(), "emergency stop: no new trades");
        }
    }

    fn stop(&mut self, now: SimTime, cause: StopCause) {
        self.stopped_at = Some(now);
        self.stop_cause = Some(cause);
    }

    fn operator_stop(&mut self, now: SimTime) {
        if self.stopped_at.is_none()
            && let Some(at) = self.spec.emergency_stop_at
            && now >= at
        {
            self.stop(at, StopCause::Operator);
        }
    }

    fn roll_day(&mut self, now: SimTime) {
        let d = now / DAY;
        if d != self.day {
            self.day = d;
            self.gas_spent_today = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SafetySpec {
        SafetySpec {
            max_concurrent_bundles: 2,
            max_daily_gas_wei: 1_000,
            emergency_stop_loss_quote: 100,
            max_position_base: 10,
            enable_emergency_stop: true,
            max_drawdown_quote: Some(50),
            emergency_stop_at: None,
            breaker_failures: 3,
            breaker_cooldown: 100,
            allowed_tokens: Vec::new(),
        }
    }

    #[test]
    fn breaker_opens_after_n_failures_cools_down_and_half_opens() {
        let mut g = RiskGate::new(spec());
        for t in 0..3 {
            assert!(g.check(0, t, 0, 0, 1).is_ok());
            g.record_outcome(t, false);
        }
        assert_eq!(g.check(0, 50, 0, 0, 1), Err(RiskReject::CircuitOpen));
        // Past the cool-down one attempt goes through; it fails: open again at once.
        assert!(g.check(0, 103, 0, 0, 1).is_ok());
        g.record_outcome(103, false);
        assert_eq!(g.check(0, 150, 0, 0, 1), Err(RiskReject::CircuitOpen));
        // The next probe succeeds: closed, and failures count from zero.
        assert!(g.check(0, 204, 0, 0, 1).is_ok());
        g.record_outcome(204, true);
        g.record_outcome(205, false);
        assert!(g.check(0, 206, 0, 0, 1).is_ok());
        assert_eq!(g.breaker_trips, 2);
        assert_eq!(g.rejects[RiskReject::CircuitOpen as usize], 2);
    }

    #[test]
    fn drawdown_and_loss_stops_and_the_operator_stop() {
        let mut g = RiskGate::new(spec());
        g.observe_equity(0, 80);
        g.observe_equity(1, 40);
        assert!(g.stopped_at.is_none(), "a 40 drawdown is inside 50");
        g.observe_equity(2, 29);
        assert_eq!((g.stopped_at, g.stop_cause), (Some(2), Some(StopCause::Drawdown)));
        assert_eq!(g.check(0, 3, 0, 0, 0), Err(RiskReject::EmergencyStop));

        let mut g = RiskGate::new(SafetySpec { max_drawdown_quote: None, ..spec() });
        g.observe_equity(0, -101);
        assert_eq!(g.stop_cause, Some(StopCause::Loss));

        let mut g = RiskGate::new(SafetySpec { emergency_stop_at: Some(10), ..spec() });
        assert!(g.check(0, 9, 0, 0, 0).is_ok());
        assert_eq!(g.check(0, 10, 0, 0, 0), Err(RiskReject::EmergencyStop));
        assert_eq!(g.stop_cause, Some(StopCause::Operator));
    }

    #[test]
    fn each_limit_refuses_with_its_reason() {
        let mut g = RiskGate::new(spec());
        let ask = |new_base, in_flight, gas_wei, foreign_token| Ask {
            new_base,
            open_base: 5,
            in_flight,
            gas_wei,
            foreign_token,
        };
        assert_eq!(g.check_ask(0, ask(6, 0, 0, false)), Err(RiskReject::PositionLimit));
        assert_eq!(g.check_ask(0, ask(0, 0, 1_001, false)), Err(RiskReject::GasBudget));
        assert_eq!(g.check_ask(0, ask(0, 2, 1, false)), Err(RiskReject::InFlightLimit));
        assert_eq!(g.check_ask(0, ask(0, 0, 1, true)), Err(RiskReject::TokenNotAllowed));
        assert!(g.check_ask(0, ask(5, 1, 1_000, false)).is_ok());
        g.record_gas(0, 1_000);
        assert_eq!(g.check_ask(1, ask(0, 0, 1, false)), Err(RiskReject::GasBudget));
        assert!(g.check_ask(DAY, ask(0, 0, 1, false)).is_ok(), "the budget is per day");
        assert_eq!(g.rejects.iter().sum::<u64>(), 5);
    }
}
