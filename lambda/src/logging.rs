//! JSON logs for the Lambda functions: one line per event of note, at the
//! level `RUST_LOG` names (default `info`).
//!
//! A level, not `tracing-subscriber`'s per-target directives: the directive
//! parser brings the `regex` engines into every function (about 300 KB of
//! each binary and part of its cold start) for a setting the template only
//! ever sets to a level.

use tracing_subscriber::filter::LevelFilter;

/// The default when `RUST_LOG` is unset or names no level.
pub const DEFAULT_LEVEL: LevelFilter = LevelFilter::INFO;

/// The level a `RUST_LOG` value names, and a warning when it names none.
///
/// `warn`, `DEBUG` and `off` are levels; of a directive list such as
/// `info,hyper=warn` the first plain level counts and targets are ignored
/// (said in the warning), as are unknown words.
pub fn level_from(value: Option<&str>) -> (LevelFilter, Option<String>) {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return (DEFAULT_LEVEL, None);
    };
    let mut parts = value.split(',').map(str::trim).filter(|p| !p.is_empty());
    let level = parts
        .clone()
        .find_map(|part| part.parse::<LevelFilter>().ok());
    let only_a_level = level.is_some() && parts.all(|part| part.parse::<LevelFilter>().is_ok());
    match level {
        Some(level) if only_a_level => (level, None),
        Some(level) => (
            level,
            Some(format!(
                "RUST_LOG={value:?}: per-target directives are not supported; logging at {level}"
            )),
        ),
        None => (
            DEFAULT_LEVEL,
            Some(format!(
                "RUST_LOG={value:?} names no level (error, warn, info, debug, trace, off); logging at {DEFAULT_LEVEL}"
            )),
        ),
    }
}

pub fn init_json() {
    let (level, warning) = level_from(std::env::var("RUST_LOG").ok().as_deref());
    tracing_subscriber::fmt()
        .json()
        .with_max_level(level)
        .with_current_span(false)
        .with_target(false)
        .init();
    if let Some(warning) = warning {
        tracing::warn!("{warning}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_or_empty_is_info_without_a_warning() {
        assert_eq!(level_from(None), (LevelFilter::INFO, None));
        assert_eq!(level_from(Some("  ")), (LevelFilter::INFO, None));
    }

    #[test]
    fn a_level_is_read_in_any_case() {
        assert_eq!(level_from(Some("error")), (LevelFilter::ERROR, None));
        assert_eq!(level_from(Some("DEBUG")), (LevelFilter::DEBUG, None));
        assert_eq!(level_from(Some("off")), (LevelFilter::OFF, None));
    }

    #[test]
    fn a_directive_list_keeps_its_first_level_and_warns_of_the_targets() {
        let (level, warning) = level_from(Some("warn,hyper=debug"));
        assert_eq!(level, LevelFilter::WARN);
        assert!(warning.unwrap().contains("per-target directives"));
    }

    #[test]
    fn a_word_that_is_no_level_falls_back_to_info_and_says_so() {
        let (level, warning) = level_from(Some("verbose"));
        assert_eq!(level, LevelFilter::INFO);
        assert!(warning.unwrap().contains("names no level"));
    }
}
