//! Exact parsing of human amounts ("5 ETH", "2000e18", "1.5e18", "20 gwei") and durations ("6h").
//! Amounts never pass through `f64`: a decimal mantissa and exponent are scaled as integers.

use alloy_primitives::U256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("empty amount")]
    Empty,
    #[error("negative amount `{0}` (amounts and sizes must be >= 0)")]
    Negative(String),
    #[error("`{0}` is not a number (expected e.g. \"5 ETH\", \"2000e18\", \"1.5e18\")")]
    NotANumber(String),
    #[error("`{0}` has a fraction smaller than one raw unit")]
    Fractional(String),
    #[error("`{0}` overflows 256 bits")]
    Overflow(String),
    #[error("unknown unit `{unit}` in `{text}` (known: {known})")]
    UnknownUnit { text: String, unit: String, known: String },
    #[error("`{0}` is not a duration (expected e.g. \"500ms\", \"12s\", \"30m\", \"6h\", \"1d\")")]
    BadDuration(String),
}

/// Parses `text` into raw integer units. `unit_decimals` maps a unit name (case-insensitive) to its
/// decimals; an amount without a unit is already raw (`"2000e18"`).
pub fn parse_amount(
    text: &str,
    unit_decimals: &dyn Fn(&str) -> Option<u32>,
    known_units: &str,
) -> Result<U256, AmountError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(AmountError::Empty);
    }
    if t.starts_with('-') {
        return Err(AmountError::Negative(text.to_string()));
    }
    let (num, unit) = match t.find(|c: char| c.is_whitespace()) {
        Some(i) => (&t[..i], t[i..].trim()),
        None => (t, ""),
    };
    let extra_decimals = if unit.is_empty() {
        0
    } else {
        unit_decimals(unit).ok_or_else(|| AmountError::UnknownUnit {
            text: text.to_string(),
            unit: unit.to_string(),
            known: known_units.to_string(),
        })?
    };
    parse_scaled(num, extra_decimals).map_err(|e| e.with_text(text))
}

/// A plain decimal number (`"46858.48"`, `"1e3"`) scaled to `decimals` raw digits, exactly.
pub fn parse_decimal(text: &str, decimals: u32) -> Result<U256, AmountError> {
    if text.trim().starts_with('-') {
        return Err(AmountError::Negative(text.to_string()));
    }
    parse_scaled(text.trim(), decimals).map_err(|e| e.with_text(text))
}

enum ScaleError {
    NotANumber,
    Fractional,
    Overflow,
}

impl ScaleError {
    fn with_text(self, text: &str) -> AmountError {
        match self {
            ScaleError::NotANumber => AmountError::NotANumber(text.to_string()),
            ScaleError::Fractional => AmountError::Fractional(text.to_string()),
            ScaleError::Overflow => AmountError::Overflow(text.to_string()),
        }
    }
}

/// `digits[.digits][e[+]N]` × 10^extra, exactly.
fn parse_scaled(num: &str, extra: u32) -> Result<U256, ScaleError> {
    let num = num.replace('_', "");
    let (mantissa, exp) = match num.find(['e', 'E']) {
        Some(i) => {
            let e: i64 = num[i + 1..].trim_start_matches('+').parse().map_err(|_| ScaleError::NotANumber)?;
            (&num[..i], e)
        }
        None => (num.as_str(), 0),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((a, b)) => (a, b),
        None => (mantissa, ""),
    };
    if (int_part.is_empty() && frac_part.is_empty())
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(ScaleError::NotANumber);
    }
    let digits = format!("{int_part}{frac_part}");
    let scale = exp + extra as i64 - frac_part.len() as i64;
    let mut value =
        U256::from_str_radix(if digits.is_empty() { "0" } else { &digits }, 10).map_err(|_| ScaleError::Overflow)?;
    if scale >= 0 {
        let factor = U256::from(10u8).checked_pow(U256::from(scale as u64)).ok_or(ScaleError::Overflow)?;
        value = value.checked_mul(factor).ok_or(ScaleError::Overflow)?;
    } else {
        let divisor = U256::from(10u8).checked_pow(U256::from((-scale) as u64)).ok_or(ScaleError::Fractional)?;
        if value % divisor != U256::ZERO {
            return Err(ScaleError::Fractional);
        }
        value /= divisor;
    }
    Ok(value)
}

/// Parses "500ms", "12s", "30m", "6h", "1d" into nanoseconds.
pub fn parse_duration(text: &str) -> Result<u64, AmountError> {
    let t = text.trim();
    let bad = || AmountError::BadDuration(text.to_string());
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
    let (num, unit) = (&t[..split], t[split..].trim());
    let nanos_per_unit: u32 = match unit {
        "ns" => 0,
        "us" => 3,
        "ms" => 6,
        "s" => 9,
        _ => 0,
    };
    let multiplier: u64 = match unit {
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => 1,
    };
    let decimals = match unit {
        "ns" | "us" | "ms" | "s" => nanos_per_unit,
        "m" | "min" | "h" | "d" => 9,
        _ => return Err(bad()),
    };
    let base = parse_scaled(num, decimals).map_err(|_| bad())?;
    let base: u64 = base.try_into().map_err(|_| bad())?;
    base.checked_mul(multiplier).ok_or_else(bad)
}

/// A raw amount as a float for estimates and reports, never panicking: exactly `as f64` below
/// 2^128 (so figures match the u128 path bit for bit), the nearest float above.
pub fn u256_to_f64(x: U256) -> f64 {
    match u128::try_from(x) {
        Ok(v) => v as f64,
        Err(_) => f64::from(x),
    }
}

/// Renders raw units as a decimal string with `decimals` places, trailing zeros trimmed.
pub fn format_units(raw: u128, decimals: u32) -> String {
    let s = raw.to_string();
    let d = decimals as usize;
    let (int, frac) = if s.len() > d {
        (s[..s.len() - d].to_string(), s[s.len() - d..].to_string())
    } else {
        ("0".to_string(), format!("{s:0>d$}"))
    };
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() { int } else { format!("{int}.{frac}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(u: &str) -> Option<u32> {
        match u.to_ascii_uppercase().as_str() {
            "ETH" => Some(18),
            "USDC" => Some(6),
            "GWEI" => Some(9),
            _ => None,
        }
    }

    fn p(s: &str) -> Result<U256, AmountError> {
        parse_amount(s, &units, "ETH, USDC, gwei")
    }

    #[test]
    fn parses_exact_amounts() {
        assert_eq!(p("2000e18").unwrap(), U256::from(2000u128 * 10u128.pow(18)));
        assert_eq!(p("1.5e18").unwrap(), U256::from(15u128 * 10u128.pow(17)));
        assert_eq!(p("5 ETH").unwrap(), U256::from(5u128 * 10u128.pow(18)));
        assert_eq!(p("0.000001 USDC").unwrap(), U256::from(1u8));
        assert_eq!(p("20 gwei").unwrap(), U256::from(20_000_000_000u64));
        assert_eq!(p("1_000").unwrap(), U256::from(1000u16));
    }

    #[test]
    fn rejects_bad_amounts() {
        assert!(matches!(p("-5 ETH"), Err(AmountError::Negative(_))));
        assert!(matches!(p("0.0000001 USDC"), Err(AmountError::Fractional(_))));
        assert!(matches!(p("5 DOGE"), Err(AmountError::UnknownUnit { .. })));
        assert!(matches!(p("abc"), Err(AmountError::NotANumber(_))));
        assert!(matches!(p("1e999"), Err(AmountError::Overflow(_))));
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("12s").unwrap(), 12 * 1_000_000_000);
        assert_eq!(parse_duration("500ms").unwrap(), 500_000_000);
        assert_eq!(parse_duration("6h").unwrap(), 6 * 3600 * 1_000_000_000);
        assert_eq!(parse_duration("1.5s").unwrap(), 1_500_000_000);
        assert!(parse_duration("6 parsecs").is_err());
        assert!(parse_duration("h").is_err());
    }

    #[test]
    fn formats_units() {
        assert_eq!(format_units(1_500_000, 6), "1.5");
        assert_eq!(format_units(5, 6), "0.000005");
        assert_eq!(format_units(10u128.pow(18), 18), "1");
    }
}
