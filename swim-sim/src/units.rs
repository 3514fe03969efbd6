//! Parsing the fault specs the CLI takes (`7@15s`); durations parse as in
//! every swim config ([`swim_core::parse_duration`]).

use std::time::Duration;
pub use swim_core::parse_duration;

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
    fn faults() {
        assert_eq!(parse_at("7@15s"), Ok((7, Duration::from_secs(15))));
        assert!(parse_at("7").unwrap_err().contains("NODE@TIME"));
        assert!(parse_at("x@1s").unwrap_err().contains("not a node index"));
        assert!(parse_at("1@1x").unwrap_err().contains("unit must be"));
    }
}
