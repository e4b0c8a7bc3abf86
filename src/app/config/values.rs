//! How one value is read: whole numbers in a range, addresses, lists.
//! Every refusal names the variable, the value's problem and the accepted
//! range; no function here knows which setting it serves.

use super::ConfigError;
use std::net::SocketAddr;

pub fn invalid(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { variable, problem: problem.into() }
}

pub fn split_list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|v| !v.is_empty())
}

pub fn parse_addr(variable: &'static str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.trim().parse().map_err(|_| invalid(variable, format!("{value:?} is not an address such as 127.0.0.1:8080")))
}

/// `value` as a whole number in `min..=max`, or `default` when unset.
pub fn parse_int(
    variable: &'static str,
    value: Option<&str>,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, ConfigError> {
    let Some(value) = value else { return Ok(default) };
    let parsed: i64 = value
        .trim()
        .parse()
        .map_err(|_| invalid(variable, format!("{value:?} is not a whole number; accepted range {min}..={max}")))?;
    if !(min..=max).contains(&parsed) {
        return Err(invalid(variable, format!("{parsed} is out of range; accepted range {min}..={max}")));
    }
    Ok(parsed)
}

/// A count or a duration in `1..=max`.
pub fn parse_u32(variable: &'static str, value: Option<&str>, default: u32, max: u32) -> Result<u32, ConfigError> {
    parse_int(variable, value, i64::from(default), 1, i64::from(max)).map(|v| u32::try_from(v).unwrap_or(default))
}

/// A whole number in `min..=max` that fits the target type; the range
/// guarantees it does.
pub fn parse_sized<T: TryFrom<i64>>(
    variable: &'static str,
    value: Option<&str>,
    default: T,
    min: i64,
    max: i64,
) -> Result<T, ConfigError> {
    if value.is_none() {
        Ok(default)
    } else {
        let parsed = parse_int(variable, value, min, min, max)?;
        T::try_from(parsed).map_err(|_| invalid(variable, format!("accepted range {min}..={max}")))
    }
}

pub fn non_empty(variable: &'static str, value: Option<String>, default: &str) -> Result<String, ConfigError> {
    match value {
        None => Ok(default.to_owned()),
        Some(v) if v.trim().is_empty() => Err(invalid(variable, "must not be empty")),
        Some(v) => Ok(v.trim().to_owned()),
    }
}
