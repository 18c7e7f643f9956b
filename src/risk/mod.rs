//! Safety limits checked before anything is executed: position cap, daily gas budget, in-flight
//! on-chain transactions, and the emergency stop on mark-to-market loss.

use crate::config::SafetySpec;
use crate::core::SimTime;

const DAY: SimTime = 86_400 * crate::core::NANOS_PER_SEC;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RiskReject {
    EmergencyStop,
    PositionLimit,
    GasBudget,
    InFlightLimit,
}

impl RiskReject {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskReject::EmergencyStop => "emergency_stop",
            RiskReject::PositionLimit => "position_limit",
            RiskReject::GasBudget => "daily_gas_budget",
            RiskReject::InFlightLimit => "in_flight_limit",
        }
    }
}

pub struct RiskGate {
    spec: SafetySpec,
    day: u64,
    gas_spent_today: u128,
    pub stopped_at: Option<SimTime>,
    pub rejects: [u64; 4],
}

impl RiskGate {
    pub fn new(spec: SafetySpec) -> Self {
        RiskGate { spec, day: 0, gas_spent_today: 0, stopped_at: None, rejects: [0; 4] }
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
        self.roll_day(now);
        let r = if self.stopped_at.is_some() {
            Err(RiskReject::EmergencyStop)
        } else if new_base > 0 && new_base.saturating_add(open_base) > self.spec.max_position_base {
            Err(RiskReject::PositionLimit)
        } else if gas_wei > 0 && self.gas_spent_today.saturating_add(gas_wei) > self.spec.max_daily_gas_wei {
            Err(RiskReject::GasBudget)
        } else if gas_wei > 0 && in_flight_txs >= self.spec.max_concurrent_bundles {
            Err(RiskReject::InFlightLimit)
        } else {
            Ok(())
        };
        if let Err(e) = r {
            self.rejects[e as usize] += 1;
        }
        r
    }

    pub fn record_gas(&mut self, now: SimTime, wei: u128) {
        self.roll_day(now);
        self.gas_spent_today = self.gas_spent_today.saturating_add(wei);
    }

    /// Trips the emergency stop when mark-to-market P&L falls below −stop_loss.
    pub fn observe_equity(&mut self, now: SimTime, equity_quote: i128) {
        if self.spec.enable_emergency_stop
            && self.stopped_at.is_none()
            && equity_quote < -(self.spec.emergency_stop_loss_quote as i128)
        {
            self.stopped_at = Some(now);
            tracing::warn!(target: "xcrack::risk", at_ns = now, equity_quote, "emergency stop: loss limit reached, no new trades");
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
