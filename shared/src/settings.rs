//! Deployment settings, read from environment variables (the SAM template
//! sets them for the Lambda; the CLI reads the same ones).

use crate::category::Category;
use crate::error::Error;
use crate::retry::RetryPolicy;
use crate::tamper::RelayNames;
use std::time::Duration;

pub const DEFAULT_SOURCE: &str = "trailrelay";
pub const DEFAULT_CONTROL_SOURCE: &str = "trailrelay.control";

/// PutEvents accepts entries of up to 1 MiB (since January 2026). EventBridge
/// wraps the detail in an envelope on delivery (id, account, region, time,
/// source, detail-type and resources again), and targets such as SQS and
/// Lambda must still take the delivered event, so we leave room for that.
pub const PUT_EVENTS_LIMIT: usize = 1024 * 1024;
pub const DELIVERY_MARGIN: usize = 16 * 1024;
pub const DEFAULT_MAX_ENTRY_BYTES: usize = PUT_EVENTS_LIMIT - DELIVERY_MARGIN;
/// Below this the enrichment itself (with account tags) may not fit.
pub const MIN_MAX_ENTRY_BYTES: usize = 64 * 1024;
pub const MAX_ENTRIES_PER_CALL: usize = 10;

pub const ENV_SOURCE: &str = "TRAILRELAY_SOURCE";
pub const ENV_CONTROL_SOURCE: &str = "TRAILRELAY_CONTROL_SOURCE";
pub const ENV_MAX_ENTRY_BYTES: &str = "TRAILRELAY_MAX_ENTRY_BYTES";
pub const ENV_MAX_REQUEST_BYTES: &str = "TRAILRELAY_MAX_REQUEST_BYTES";
pub const ENV_CONCURRENCY: &str = "TRAILRELAY_PUBLISH_CONCURRENCY";
pub const ENV_DEADLINE_MARGIN_MS: &str = "TRAILRELAY_DEADLINE_MARGIN_MS";
pub const ENV_MAX_ATTEMPTS: &str = "TRAILRELAY_MAX_ATTEMPTS";
pub const ENV_FALLBACK_BUDGET_MS: &str = "TRAILRELAY_FALLBACK_BUDGET_MS";
pub const ENV_RULES_FILE: &str = "TRAILRELAY_RULES_FILE";
pub const ENV_DIRECTORY_BUCKET: &str = "TRAILRELAY_DIRECTORY_BUCKET";
pub const ENV_DIRECTORY_KEY: &str = "TRAILRELAY_DIRECTORY_KEY";
pub const ENV_DIRECTORY_REFRESH_SECS: &str = "TRAILRELAY_DIRECTORY_REFRESH_SECS";
pub const ENV_DIRECTORY_MAX_AGE_SECS: &str = "TRAILRELAY_DIRECTORY_MAX_AGE_SECS";
pub const ENV_DIRECTORY_FIRST_FETCH_MS: &str = "TRAILRELAY_DIRECTORY_FIRST_FETCH_MS";
pub const ENV_ACCOUNTS_FILE: &str = "TRAILRELAY_ACCOUNTS_FILE";
/// The templates' `NamePrefix`, from which the relay's resource names follow.
pub const ENV_NAME_PREFIX: &str = "TRAILRELAY_NAME_PREFIX";
/// The relay key's ARN: changes to it carry `relay_tampering`.
pub const ENV_RELAY_KEY_ARN: &str = "TRAILRELAY_RELAY_KEY_ARN";
/// The DynamoDB table of path last-seen times; unset, heartbeats are not recorded.
pub const ENV_PATHS_TABLE: &str = "TRAILRELAY_PATHS_TABLE";
/// The regions every member account is enrolled in, comma-separated.
pub const ENV_ENROLLED_REGIONS: &str = "TRAILRELAY_ENROLLED_REGIONS";
/// The template's OrganizationPaths (comma-separated), when it narrows the ingest bus.
pub const ENV_ORGANIZATION_PATHS: &str = "TRAILRELAY_ORGANIZATION_PATHS";
/// The organization's management account, admitted even outside OrganizationPaths.
pub const ENV_MANAGEMENT_ACCOUNT_ID: &str = "TRAILRELAY_MANAGEMENT_ACCOUNT_ID";
pub const ENV_SILENCE_THRESHOLD_SECS: &str = "TRAILRELAY_SILENCE_THRESHOLD_SECS";
pub const DEFAULT_SILENCE_THRESHOLD: Duration = Duration::from_secs(15 * 60);
/// How often one container writes one path's last-seen time at most.
pub const ENV_HEARTBEAT_WRITE_INTERVAL_SECS: &str = "TRAILRELAY_HEARTBEAT_WRITE_INTERVAL_SECS";

/// The environment variable naming the bus of a category, e.g.
/// `TRAILRELAY_BUS_IDENTITY`.
pub fn bus_variable(category: Category) -> String {
    format!("TRAILRELAY_BUS_{}", category.as_str().to_ascii_uppercase())
}

#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Entry size as EventBridge counts it (see `size::entry_size`).
    pub max_entry_bytes: usize,
    /// The sum of the entry sizes of one PutEvents call.
    pub max_request_bytes: usize,
    pub max_entries_per_call: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entry_bytes: DEFAULT_MAX_ENTRY_BYTES,
            max_request_bytes: PUT_EVENTS_LIMIT,
            max_entries_per_call: MAX_ENTRIES_PER_CALL,
        }
    }
}

/// Where the live account directory is read from (S3), and how often.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveDirectorySettings {
    pub bucket: String,
    pub key: String,
    /// How often the copy is checked again (a conditional GET).
    pub refresh_every: Duration,
    /// Past this age without a good read, events carry `directory_stale`.
    pub max_age: Duration,
    /// How long the first event of a container waits for the first copy.
    pub first_fetch_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The `Source` of every event we emit.
    pub source: String,
    /// The source of test events and heartbeats.
    pub control_source: String,
    /// Bus name (or ARN) per category, in `Category::ALL` order.
    pub buses: [String; Category::COUNT],
    pub limits: Limits,
    /// PutEvents calls in flight at once for one invocation.
    pub concurrency: usize,
    pub retry: RetryPolicy,
    pub rules_file: Option<String>,
    pub accounts_file: Option<String>,
    /// The live directory in S3; `None` uses the static file or the sample.
    pub live_directory: Option<LiveDirectorySettings>,
    /// The relay's own resource names, for the `relay_tampering` signal.
    pub names: RelayNames,
    pub paths: PathSettings,
}

/// Path health: where last-seen times live and what counts as silent.
#[derive(Debug, Clone, PartialEq)]
pub struct PathSettings {
    pub table: Option<String>,
    pub enrolled_regions: Vec<String>,
    /// A path not heard from for longer than this is silent.
    pub silence_threshold: Duration,
    /// A path's last-seen time is written at most this often.
    pub write_interval: Duration,
    /// Which accounts the ingest bus admits, so which are expected to send.
    pub scope: crate::paths::OrganizationScope,
}

impl Default for PathSettings {
    fn default() -> Self {
        PathSettings {
            table: None,
            enrolled_regions: Vec::new(),
            silence_threshold: DEFAULT_SILENCE_THRESHOLD,
            write_interval: crate::paths::MIN_WRITE_INTERVAL,
            scope: crate::paths::OrganizationScope::default(),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            source: DEFAULT_SOURCE.to_owned(),
            control_source: DEFAULT_CONTROL_SOURCE.to_owned(),
            buses: Category::ALL.map(|c| format!("trailrelay-{c}")),
            limits: Limits::default(),
            concurrency: 4,
            retry: RetryPolicy::default(),
            rules_file: None,
            accounts_file: None,
            live_directory: None,
            names: RelayNames::default(),
            paths: PathSettings::default(),
        }
    }
}

impl Settings {
    /// Reads the settings through `lookup` (the process environment, or a
    /// map in tests); unset or empty variables keep their defaults.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, Error> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut s = Settings::default();
        if let Some(v) = get(ENV_SOURCE) {
            s.source = v;
        }
        if let Some(v) = get(ENV_CONTROL_SOURCE) {
            s.control_source = v;
        }
        for category in Category::ALL {
            if let Some(v) = get(&bus_variable(category)) {
                s.buses[category.index()] = v;
            }
        }
        if let Some(v) = get(ENV_MAX_ENTRY_BYTES) {
            s.limits.max_entry_bytes = number(ENV_MAX_ENTRY_BYTES, &v)?;
        }
        if let Some(v) = get(ENV_MAX_REQUEST_BYTES) {
            s.limits.max_request_bytes = number(ENV_MAX_REQUEST_BYTES, &v)?;
        }
        if let Some(v) = get(ENV_CONCURRENCY) {
            s.concurrency = number(ENV_CONCURRENCY, &v)?;
        }
        if let Some(v) = get(ENV_DEADLINE_MARGIN_MS) {
            s.retry.deadline_margin = Duration::from_millis(number(ENV_DEADLINE_MARGIN_MS, &v)?);
        }
        if let Some(v) = get(ENV_FALLBACK_BUDGET_MS) {
            s.retry.fallback_budget = Duration::from_millis(number(ENV_FALLBACK_BUDGET_MS, &v)?);
        }
        if let Some(v) = get(ENV_MAX_ATTEMPTS) {
            s.retry.max_attempts = number(ENV_MAX_ATTEMPTS, &v)?;
        }
        if let Some(prefix) = get(ENV_NAME_PREFIX) {
            s.names = RelayNames::with_prefix(prefix.trim());
        }
        if let Some(key) = get(ENV_RELAY_KEY_ARN) {
            s.names = s.names.with_key(key.trim());
        }
        s.paths.table = get(ENV_PATHS_TABLE);
        if let Some(list) = get(ENV_ENROLLED_REGIONS) {
            s.paths.enrolled_regions = list
                .split(',')
                .map(|r| r.trim().to_owned())
                .filter(|r| !r.is_empty())
                .collect();
        }
        if let Some(list) = get(ENV_ORGANIZATION_PATHS) {
            s.paths.scope.organization_paths = list
                .split(',')
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect();
        }
        s.paths.scope.management_account = get(ENV_MANAGEMENT_ACCOUNT_ID)
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty());
        if let Some(v) = get(ENV_SILENCE_THRESHOLD_SECS) {
            s.paths.silence_threshold =
                Duration::from_secs(number(ENV_SILENCE_THRESHOLD_SECS, &v)?);
        }
        if let Some(v) = get(ENV_HEARTBEAT_WRITE_INTERVAL_SECS) {
            s.paths.write_interval =
                Duration::from_secs(number(ENV_HEARTBEAT_WRITE_INTERVAL_SECS, &v)?);
        }
        s.rules_file = get(ENV_RULES_FILE);
        s.accounts_file = get(ENV_ACCOUNTS_FILE);
        if let Some(bucket) = get(ENV_DIRECTORY_BUCKET) {
            let secs = |name: &'static str, default: u64| -> Result<Duration, Error> {
                get(name).map_or(Ok(Duration::from_secs(default)), |v| {
                    Ok(Duration::from_secs(number(name, &v)?))
                })
            };
            s.live_directory = Some(LiveDirectorySettings {
                bucket,
                key: get(ENV_DIRECTORY_KEY).unwrap_or_else(|| "latest.json".to_owned()),
                refresh_every: secs(ENV_DIRECTORY_REFRESH_SECS, 300)?,
                max_age: secs(ENV_DIRECTORY_MAX_AGE_SECS, 3600)?,
                first_fetch_timeout: match get(ENV_DIRECTORY_FIRST_FETCH_MS) {
                    Some(v) => Duration::from_millis(number(ENV_DIRECTORY_FIRST_FETCH_MS, &v)?),
                    None => Duration::from_millis(400),
                },
            });
        }
        s.validate()?;
        Ok(s)
    }

    pub fn from_env() -> Result<Settings, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn bus(&self, category: Category) -> &str {
        &self.buses[category.index()]
    }

    pub fn validate(&self) -> Result<(), Error> {
        check_source(ENV_SOURCE, &self.source)?;
        check_source(ENV_CONTROL_SOURCE, &self.control_source)?;
        if self.source == self.control_source {
            return Err(Error::Setting {
                name: ENV_CONTROL_SOURCE,
                reason: format!(
                    "must differ from {ENV_SOURCE} ({:?}): the relay refuses its own output source",
                    self.source
                ),
            });
        }
        let entry = self.limits.max_entry_bytes;
        if !(MIN_MAX_ENTRY_BYTES..=PUT_EVENTS_LIMIT).contains(&entry) {
            return Err(Error::Setting {
                name: ENV_MAX_ENTRY_BYTES,
                reason: format!(
                    "{entry} is outside {MIN_MAX_ENTRY_BYTES}..={PUT_EVENTS_LIMIT} (use 262144 for the former 256 KiB limit)"
                ),
            });
        }
        let request = self.limits.max_request_bytes;
        if request < entry || request > PUT_EVENTS_LIMIT {
            return Err(Error::Setting {
                name: ENV_MAX_REQUEST_BYTES,
                reason: format!("{request} must be at least the entry limit ({entry}) and at most {PUT_EVENTS_LIMIT}"),
            });
        }
        if self.concurrency == 0 {
            return Err(Error::Setting {
                name: ENV_CONCURRENCY,
                reason: "must be at least 1".into(),
            });
        }
        if self.retry.max_attempts == 0 {
            return Err(Error::Setting {
                name: ENV_MAX_ATTEMPTS,
                reason: "must be at least 1".into(),
            });
        }
        for category in Category::ALL {
            if self.bus(category).trim().is_empty() {
                return Err(Error::Setting {
                    name: "TRAILRELAY_BUS_*",
                    reason: format!("the {category} bus has no name"),
                });
            }
        }
        Ok(())
    }
}

fn check_source(name: &'static str, source: &str) -> Result<(), Error> {
    let reason = if source.len() > 256 {
        Some("is longer than the 256 characters EventBridge allows".to_owned())
    } else if source
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("aws."))
    {
        Some(format!(
            "{source:?} starts with \"aws.\", which EventBridge reserves for AWS services and refuses on PutEvents"
        ))
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::Setting { name, reason }),
        None => Ok(()),
    }
}

fn number<T: std::str::FromStr>(name: &'static str, value: &str) -> Result<T, Error>
where
    T::Err: std::fmt::Display,
{
    value.trim().parse().map_err(|e| Error::Setting {
        name,
        reason: format!("{value:?} is not a valid number: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, Error> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_name_one_bus_per_category() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.bus(Category::Identity), "trailrelay-identity");
        assert_eq!(s.bus(Category::Other), "trailrelay-other");
        assert_eq!(s.source, "trailrelay");
        assert_eq!(s.limits.max_entry_bytes, 1024 * 1024 - 16 * 1024);
    }

    #[test]
    fn variables_override_defaults() {
        let s = settings(&[
            (
                "TRAILRELAY_BUS_DATA",
                "arn:aws:events:us-east-1:111111111111:event-bus/d",
            ),
            ("TRAILRELAY_SOURCE", "acme.relay"),
            ("TRAILRELAY_MAX_ENTRY_BYTES", "262144"),
            ("TRAILRELAY_MAX_REQUEST_BYTES", "262144"),
            ("TRAILRELAY_NAME_PREFIX", "sec"),
            ("TRAILRELAY_ENROLLED_REGIONS", " eu-west-1, us-east-1,"),
            ("TRAILRELAY_SILENCE_THRESHOLD_SECS", "60"),
            (
                "TRAILRELAY_ORGANIZATION_PATHS",
                "o-a/r-b/ou-c/*, o-a/r-b/ou-d/*",
            ),
            ("TRAILRELAY_MANAGEMENT_ACCOUNT_ID", "111111111111"),
        ])
        .unwrap();
        assert_eq!(s.paths.enrolled_regions, ["eu-west-1", "us-east-1"]);
        assert_eq!(
            s.paths.scope.organization_paths,
            ["o-a/r-b/ou-c/*", "o-a/r-b/ou-d/*"]
        );
        assert_eq!(
            s.paths.scope.management_account.as_deref(),
            Some("111111111111")
        );
        assert_eq!(s.paths.silence_threshold, Duration::from_secs(60));
        assert_eq!(s.names, RelayNames::with_prefix("sec"));
        assert_eq!(
            s.bus(Category::Data),
            "arn:aws:events:us-east-1:111111111111:event-bus/d"
        );
        assert_eq!(s.source, "acme.relay");
        assert_eq!(s.limits.max_entry_bytes, 262144);
    }

    #[test]
    fn a_live_directory_is_configured_by_its_bucket() {
        assert_eq!(settings(&[]).unwrap().live_directory, None);
        let s = settings(&[
            ("TRAILRELAY_DIRECTORY_BUCKET", "dir-bucket"),
            ("TRAILRELAY_DIRECTORY_REFRESH_SECS", "60"),
        ])
        .unwrap();
        let live = s.live_directory.unwrap();
        assert_eq!(
            (live.bucket.as_str(), live.key.as_str()),
            ("dir-bucket", "latest.json")
        );
        assert_eq!(live.refresh_every, Duration::from_secs(60));
        assert_eq!(live.max_age, Duration::from_secs(3600));
        assert_eq!(live.first_fetch_timeout, Duration::from_millis(400));
        assert!(settings(&[
            ("TRAILRELAY_DIRECTORY_BUCKET", "b"),
            ("TRAILRELAY_DIRECTORY_MAX_AGE_SECS", "x")
        ])
        .is_err());
    }

    #[test]
    fn an_aws_source_is_refused_at_start_up() {
        let err = settings(&[("TRAILRELAY_SOURCE", "aws.cloudtrail")]).unwrap_err();
        assert!(err.to_string().contains("TRAILRELAY_SOURCE"), "{err}");
        assert!(err.to_string().contains("aws."), "{err}");
        assert!(settings(&[("TRAILRELAY_SOURCE", "AWS.x")]).is_err());
    }

    #[test]
    fn bad_numbers_and_limits_are_refused() {
        assert!(settings(&[("TRAILRELAY_MAX_ENTRY_BYTES", "lots")]).is_err());
        assert!(settings(&[("TRAILRELAY_MAX_ENTRY_BYTES", "1000")]).is_err());
        assert!(settings(&[("TRAILRELAY_MAX_ENTRY_BYTES", "2000000")]).is_err());
        assert!(settings(&[("TRAILRELAY_PUBLISH_CONCURRENCY", "0")]).is_err());
        assert!(settings(&[("TRAILRELAY_CONTROL_SOURCE", "trailrelay")]).is_err());
    }
}
