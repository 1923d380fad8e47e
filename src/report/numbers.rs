//! How numbers are shown to people: 4 significant digits in tables and sentences, and axis
//! ticks placed as matplotlib's defaults place them (round 1-2-5 steps on linear axes, whole
//! numbers on integer axes, decades on log axes), with one label format per axis.
//!
//! Machine-readable outputs (csv, json, input.json, the data file) never go through here: they
//! keep every digit.

use serde_json::Value;

/// Significant digits of a number shown to people.
pub const SIGNIFICANT: usize = 4;

/// `x` to 4 significant digits, trailing zeros dropped: `3.372`, `0.0001293`, `2115`, `1.5e-7`.
/// Whole numbers up to 6 digits are written out (`21148`, not `2.115e4`); larger and tinier
/// ones in scientific notation.
pub fn sig(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    if x == 0.0 {
        return "0".into();
    }
    // The exponent after rounding: 9.99996 rounds to 10.00, one decade up.
    let scientific = format!("{:.*e}", SIGNIFICANT - 1, x);
    let exponent: i32 = scientific
        .split_once('e')
        .and_then(|(_, e)| e.parse().ok())
        .unwrap_or(0);
    if !(-4..6).contains(&exponent) {
        let (mantissa, _) = scientific.split_once('e').unwrap_or((&scientific, ""));
        return format!("{}e{exponent}", trim_zeros(mantissa));
    }
    let decimals = (SIGNIFICANT as i32 - 1 - exponent).max(0) as usize;
    let text = format!("{x:.decimals$}");
    if text == "-0" {
        "0".into()
    } else {
        trim_zeros(&text)
    }
}

/// `x` to 2 significant digits, for an approximate figure written with `~`: `0.094`, `0.15`.
pub fn approx(x: f64) -> String {
    if !x.is_finite() || x == 0.0 {
        return sig(x);
    }
    let exponent = x.abs().log10().floor() as i32;
    let scale = 10f64.powi(1 - exponent);
    sig((x * scale).round() / scale)
}

/// An optional number for a table cell: empty when absent.
pub fn sig_or_empty(x: Option<f64>) -> String {
    x.map(sig).unwrap_or_default()
}

/// A JSON value for people: floats to 4 significant digits, integers and strings as they are.
pub fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Number(n) if n.is_f64() => n.as_f64().map(sig).unwrap_or_else(|| n.to_string()),
        other => other.to_string(),
    }
}

fn trim_zeros(text: &str) -> String {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text.to_string()
    }
}

/// The 1-2-5 step that cuts `span` into at most `max_ticks` intervals (at least 1 tick).
fn nice_step(span: f64, max_ticks: usize) -> f64 {
    let raw = span / max_ticks.max(1) as f64;
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude)
}

/// The multiples of `step` inside `[lo, hi]`, cleaned of floating-point dust.
fn multiples(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    if last < first || last - first > 1000 {
        return Vec::new();
    }
    let decimals = decimals_of(step);
    (first..=last)
        .map(|k| {
            let v = k as f64 * step;
            let scale = 10f64.powi(decimals.min(15) as i32);
            let v = (v * scale).round() / scale;
            if v == 0.0 {
                0.0
            } else {
                v
            }
        })
        .collect()
}

/// Decimals needed to write multiples of `step` exactly (0 for steps of 1 and more).
fn decimals_of(step: f64) -> usize {
    if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()).max(0.0) as usize
    }
}

/// Round ticks inside `[lo, hi]` of a linear axis: multiples of 1, 2 or 5 × 10^k, about
/// `max_ticks` of them, and their labels with one number of decimals for the whole axis
/// (`3.30, 3.35, 3.40`; `0, 5, 10`), in scientific notation when the numbers are very large or
/// very small.
pub fn linear(lo: f64, hi: f64, max_ticks: usize) -> (Vec<f64>, Vec<String>) {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        let v = if lo.is_finite() { lo } else { 0.0 };
        return (vec![v], vec![sig(v)]);
    }
    let step = nice_step(hi - lo, max_ticks);
    let ticks = multiples(lo, hi, step);
    let labels = linear_labels(&ticks, step);
    (ticks, labels)
}

fn linear_labels(ticks: &[f64], step: f64) -> Vec<String> {
    let largest = ticks.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if largest >= 1e6 || (largest > 0.0 && largest < 1e-3) {
        // Scientific: the mantissa has the digits that tell one step from the next.
        let digits = (largest.log10().floor() - step.log10().floor()).max(0.0) as usize;
        return ticks
            .iter()
            .map(|v| {
                if *v == 0.0 {
                    "0".into()
                } else {
                    let text = format!("{v:.digits$e}");
                    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
                    format!("{mantissa}e{exponent}")
                }
            })
            .collect();
    }
    let decimals = decimals_of(step);
    ticks
        .iter()
        .map(|v| {
            let text = format!("{v:.decimals$}");
            if text
                .trim_start_matches('-')
                .chars()
                .all(|c| c == '0' || c == '.')
            {
                // No "-0.00".
                format!("{:.decimals$}", 0.0)
            } else {
                text
            }
        })
        .collect()
}

/// Whole-number ticks inside `[lo, hi]` (steps of 1, 2, 5, 10, ...): counts and ids.
pub fn integer(lo: f64, hi: f64, max_ticks: usize) -> (Vec<f64>, Vec<String>) {
    let step = nice_step((hi - lo).max(1.0), max_ticks).max(1.0);
    let ticks = multiples(lo, hi, step);
    let labels = ticks.iter().map(|v| format!("{}", *v as i64)).collect();
    (ticks, labels)
}

/// Ticks of a log axis whose coordinate is log10(value), inside `[lo, hi]` (in log10 units):
/// the decades (every second or third one when there are many), or 1-2-5 × 10^k when the axis
/// spans fewer than three decades. Labels show the values, all in one format: decimals
/// (`0.0001`, `0.01`, `1`, `100`) when every tick lies between 1e-4 and 1e5, else scientific
/// (`1e-6`, `1e-3`, `1e0`).
pub fn log10(lo: f64, hi: f64, max_ticks: usize) -> (Vec<f64>, Vec<String>) {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        let v = if lo.is_finite() { lo } else { 0.0 };
        return (vec![v], vec![sig(10f64.powf(v))]);
    }
    let first = (lo - 1e-9).ceil() as i64;
    let last = (hi + 1e-9).floor() as i64;
    let decades = (last - first + 1).max(0) as usize;
    let within = |mantissas: &[f64]| -> Vec<f64> {
        let mut v = Vec::new();
        for k in (lo.floor() as i64)..=(hi.ceil() as i64) {
            for m in mantissas {
                let x = m * 10f64.powi(k as i32);
                let t = x.log10();
                if t >= lo - 1e-9 && t <= hi + 1e-9 {
                    v.push(x);
                }
            }
        }
        v
    };
    let one_two_five = || {
        let coarse = within(&[1.0, 2.0, 5.0]);
        if coarse.len() >= 3 {
            coarse
        } else {
            within(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
        }
    };
    let values: Vec<f64> = if decades >= 3 {
        let every = decades.div_ceil(max_ticks.max(1)).max(1) as i64;
        (first..=last)
            .filter(|k| k.rem_euclid(every) == 0)
            .map(|k| 10f64.powi(k as i32))
            .collect()
    } else {
        let finer = one_two_five();
        if finer.len() <= max_ticks.max(2) || decades < 2 {
            finer
        } else {
            (first..=last).map(|k| 10f64.powi(k as i32)).collect()
        }
    };
    let plain = values.iter().all(|v| (1e-4..1e5).contains(v));
    let labels = values
        .iter()
        .map(|v| {
            if plain {
                plain_decimal(*v)
            } else {
                let exponent = v.log10().floor() as i32;
                let mantissa = v / 10f64.powi(exponent);
                let m = (mantissa * 10.0).round() / 10.0;
                if (m - 1.0).abs() < 1e-9 {
                    format!("1e{exponent}")
                } else {
                    format!("{}e{exponent}", trim_zeros(&format!("{m:.1}")))
                }
            }
        })
        .collect();
    (values.iter().map(|v| v.log10()).collect(), labels)
}

/// A value of one significant digit (a decade or 2, 5 × 10^k) written out in decimals.
fn plain_decimal(v: f64) -> String {
    let exponent = v.log10().floor() as i32;
    let decimals = (-exponent).max(0) as usize;
    trim_zeros(&format!("{v:.decimals$}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_significant_digits() {
        assert_eq!(sig(3.3720285608491976), "3.372");
        assert_eq!(sig(0.000129259744592), "0.0001293");
        assert_eq!(sig(2114.757431497), "2115");
        assert_eq!(sig(21147.57), "21148");
        assert_eq!(sig(1.0), "1");
        assert_eq!(sig(1.02), "1.02");
        assert_eq!(sig(-0.1), "-0.1");
        assert_eq!(sig(9.99996), "10");
        assert_eq!(sig(3e-20), "3e-20");
        assert_eq!(sig(1.23456e9), "1.235e9");
        assert_eq!(sig(0.0), "0");
        assert_eq!(approx(0.09417), "0.094");
        assert_eq!(approx(0.1489), "0.15");
        assert_eq!(approx(0.2509), "0.25");
        assert_eq!(value_text(&Value::from(7)), "7");
        assert_eq!(value_text(&Value::from(0.06253718665786759)), "0.06254");
        assert_eq!(value_text(&Value::from("rbf")), "rbf");
    }

    #[test]
    fn linear_ticks_are_round_and_share_their_decimals() {
        assert_eq!(linear(3.28, 4.1, 7).1, ["3.4", "3.6", "3.8", "4.0"]);
        assert_eq!(
            linear(3.28, 4.1, 10).1,
            ["3.3", "3.4", "3.5", "3.6", "3.7", "3.8", "3.9", "4.0", "4.1"]
        );
        assert_eq!(linear(3.28, 3.62, 6).1, ["3.3", "3.4", "3.5", "3.6"]);
        assert_eq!(linear(3.28, 3.47, 6).1, ["3.30", "3.35", "3.40", "3.45"]);
        assert_eq!(
            linear(-0.5, 35.5, 8).1,
            ["0", "5", "10", "15", "20", "25", "30", "35"]
        );
        assert_eq!(
            linear(0.0, 1.0, 5).1,
            ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]
        );
        assert_eq!(linear(-0.12, 0.1, 4).1, ["-0.1", "0.0", "0.1"]);
        assert_eq!(linear(0.0, 3.0e-5, 3).1, ["0", "1e-5", "2e-5", "3e-5"]);
    }

    #[test]
    fn integer_ticks_are_whole_numbers() {
        assert_eq!(
            integer(-0.5, 8.5, 10).1,
            ["0", "1", "2", "3", "4", "5", "6", "7", "8"]
        );
        assert_eq!(
            integer(-0.5, 35.5, 8).1,
            ["0", "5", "10", "15", "20", "25", "30", "35"]
        );
        assert_eq!(integer(0.0, 3.45, 8).1, ["0", "1", "2", "3"]);
    }

    #[test]
    fn log_ticks_are_decades_in_one_format() {
        let (at, labels) = log10(-4.2, 1.2, 8);
        assert_eq!(labels, ["0.0001", "0.001", "0.01", "0.1", "1", "10"]);
        assert_eq!(at, [-4.0, -3.0, -2.0, -1.0, 0.0, 1.0]);
        assert_eq!(
            log10(-7.1, -2.9, 8).1,
            ["1e-7", "1e-6", "1e-5", "1e-4", "1e-3"]
        );
        assert_eq!(
            log10(-12.0, 0.0, 6).1,
            ["1e-12", "1e-9", "1e-6", "1e-3", "1e0"]
        );
        // Less than two decades: 1, 2, 5 within them.
        assert_eq!(log10(-2.1, -0.9, 8).1, ["0.01", "0.02", "0.05", "0.1"]);
    }
}
