//! Parsing the durations and fault specs the CLI takes (`30s`, `1500ms`, `7@15s`).

use std::time::Duration;

/// Parses `1500ms`, `30s`, `2m` or `1.5s`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num.parse().map_err(|_| {
        format!("invalid duration '{s}': expected a number with a unit, like 1500ms, 30s or 2m")
    })?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "us" => value / 1e6,
        _ => {
            return Err(format!(
                "invalid duration '{s}': unit must be us, ms, s or m"
            ))
        }
    };
    if !secs.is_finite() || !(0.0..=1e7).contains(&secs) {
        return Err(format!(
            "invalid duration '{s}': must be between 0 and 10^7 seconds"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses `NODE@TIME`, like `7@15s`.
pub fn parse_at(s: &str) -> Result<(usize, Duration), String> {
    let (node, at) = s
        .split_once('@')
        .ok_or_else(|| format!("invalid fault '{s}': expected NODE@TIME, like 7@15s"))?;
    let node = node
        .parse()
        .map_err(|_| format!("invalid fault '{s}': '{node}' is not a node index"))?;
    Ok((node, parse_duration(at)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_faults() {
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("30").unwrap_err().contains("unit must be"));
        assert!(parse_duration("s")
            .unwrap_err()
            .contains("expected a number"));
        assert_eq!(parse_at("7@15s"), Ok((7, Duration::from_secs(15))));
        assert!(parse_at("7").unwrap_err().contains("NODE@TIME"));
        assert!(parse_at("x@1s").unwrap_err().contains("not a node index"));
    }
}
