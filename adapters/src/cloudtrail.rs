//! CloudTrail: the trails an account and region can see, with what they record.

use crate::Error;
use aws_config::SdkConfig;

/// One basic event selector: whether it includes management events, and
/// its `ReadWriteType` (`All`, `ReadOnly`, `WriteOnly`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicSelector {
    pub include_management_events: bool,
    pub read_write_type: String,
}

/// One advanced event selector: its field selectors as (field, equals).
pub type AdvancedSelector = Vec<(String, Vec<String>)>;

/// A trail as `DescribeTrails` (shadow trails included), `GetTrailStatus`
/// and `GetEventSelectors` give it.
#[derive(Debug, Clone)]
pub struct Trail {
    pub name: String,
    pub home_region: String,
    pub multi_region: bool,
    /// IsLogging, when the status could be read.
    pub logging: Option<bool>,
    /// The basic and advanced selectors, when they could be read.
    pub selectors: Option<(Vec<BasicSelector>, Vec<AdvancedSelector>)>,
}

/// The trails visible in the configuration's account and region (the
/// organization trail shows in member accounts as a shadow trail).
pub async fn trails(config: &SdkConfig) -> Result<Vec<Trail>, Error> {
    let client = aws_sdk_cloudtrail::Client::new(config);
    let listed = client
        .describe_trails()
        .include_shadow_trails(true)
        .send()
        .await
        .map_err(|e| Error::of("DescribeTrails", e))?;
    let mut trails = Vec::new();
    for trail in listed.trail_list() {
        let Some(arn) = trail.trail_arn() else {
            continue;
        };
        let logging = client
            .get_trail_status()
            .name(arn)
            .send()
            .await
            .ok()
            .and_then(|s| s.is_logging());
        let selectors = client
            .get_event_selectors()
            .trail_name(arn)
            .send()
            .await
            .ok()
            .map(|s| {
                let basic = s
                    .event_selectors()
                    .iter()
                    .map(|e| BasicSelector {
                        include_management_events: e.include_management_events().unwrap_or(true),
                        read_write_type: e
                            .read_write_type()
                            .map_or("All".to_owned(), |t| t.as_str().to_owned()),
                    })
                    .collect();
                let advanced = s
                    .advanced_event_selectors()
                    .iter()
                    .map(|a| {
                        a.field_selectors()
                            .iter()
                            .map(|f| (f.field().to_owned(), f.equals().to_vec()))
                            .collect()
                    })
                    .collect();
                (basic, advanced)
            });
        trails.push(Trail {
            name: trail.name().unwrap_or(arn).to_owned(),
            home_region: trail.home_region().unwrap_or_default().to_owned(),
            multi_region: trail.is_multi_region_trail().unwrap_or(false),
            logging,
            selectors,
        });
    }
    Ok(trails)
}
