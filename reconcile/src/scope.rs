//! Which trail records the member forward rule would have sent
//! (member-account.yaml's `ForwardRule`): management events, the read-only
//! ones only when `IncludeReadOnlyEvents` is on, data events only when the
//! trail's data events reach EventBridge too, only from enrolled regions,
//! and only those of the window.

use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use trailrelay_shared::lenient::Text;

/// What a record is checked against.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Records from this time on (by `eventTime`); none: from the start.
    pub from: Option<OffsetDateTime>,
    /// Records before this time; none: to the end.
    pub to: Option<OffsetDateTime>,
    /// The enrolled regions; none: every region.
    pub regions: Option<Vec<String>>,
    /// The forward rule's state is `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`.
    pub include_read_only: bool,
    /// The trail's data events are expected on EventBridge too.
    pub include_data: bool,
}

/// The few fields of a record that decide it, read leniently.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Facts<'a> {
    #[serde(borrow, rename = "eventID")]
    pub event_id: Text<'a>,
    #[serde(borrow)]
    pub event_time: Text<'a>,
    #[serde(borrow)]
    pub event_category: Text<'a>,
    #[serde(borrow)]
    pub event_type: Text<'a>,
    #[serde(borrow)]
    pub event_source: Text<'a>,
    #[serde(borrow)]
    pub read_only: Text<'a>,
    #[serde(borrow)]
    pub management_event: Text<'a>,
    #[serde(borrow)]
    pub aws_region: Text<'a>,
    #[serde(borrow)]
    pub recipient_account_id: Text<'a>,
}

/// Why a record is not expected on the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    OutsideTheWindow,
    NotEnrolledRegion,
    ReadOnly,
    DataEvent,
    /// Insight and network-activity records: not sent by the forward rule.
    OtherCategory,
}

impl Facts<'_> {
    /// `Management` when the record says nothing: records older than
    /// `eventCategory` are management events.
    pub fn category(&self) -> &str {
        match self.event_category.non_empty() {
            Some(c) => c,
            None if self.management_event.get() == Some("false") => "Data",
            None => "Management",
        }
    }

    pub fn time(&self) -> Option<OffsetDateTime> {
        self.event_time
            .non_empty()
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
    }
}

impl Scope {
    /// `Ok(())` when the forward rule would have sent the record in this
    /// window. A record without a readable `eventTime` is in every window:
    /// better reported than silently left out.
    pub fn expects(&self, facts: &Facts<'_>) -> Result<(), Skipped> {
        match facts.category() {
            "Management" => {
                if facts.read_only.get() == Some("true") && !self.include_read_only {
                    return Err(Skipped::ReadOnly);
                }
            }
            "Data" => {
                if !self.include_data {
                    return Err(Skipped::DataEvent);
                }
            }
            _ => return Err(Skipped::OtherCategory),
        }
        if let Some(regions) = &self.regions {
            let region = facts.aws_region.non_empty().unwrap_or_default();
            if !regions.iter().any(|r| r == region) {
                return Err(Skipped::NotEnrolledRegion);
            }
        }
        if let Some(at) = facts.time() {
            if self.from.is_some_and(|from| at < from) || self.to.is_some_and(|to| at >= to) {
                return Err(Skipped::OutsideTheWindow);
            }
        }
        Ok(())
    }

    /// Can a log file delivered at `delivered` hold a record of the window?
    /// A file holds records from before its delivery only, delivered at most
    /// `lag` after them.
    pub fn may_hold(&self, delivered: OffsetDateTime, lag: time::Duration) -> bool {
        self.from.is_none_or(|from| delivered >= from)
            && self.to.is_none_or(|to| delivered < to + lag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn facts(json: &str) -> Facts<'_> {
        serde_json::from_str(json).unwrap()
    }

    fn hour() -> Scope {
        Scope {
            from: Some(datetime!(2026-11-20 23:00 UTC)),
            to: Some(datetime!(2026-11-21 00:00 UTC)),
            regions: Some(vec!["eu-west-1".into()]),
            include_read_only: false,
            include_data: false,
        }
    }

    #[test]
    fn a_write_management_event_of_the_window_is_expected() {
        let f = facts(
            r#"{"eventID":"a","eventTime":"2026-11-20T23:59:59Z","awsRegion":"eu-west-1","readOnly":false,"eventCategory":"Management"}"#,
        );
        assert_eq!(hour().expects(&f), Ok(()));
    }

    #[test]
    fn read_only_events_follow_the_rule_state() {
        let f = facts(
            r#"{"eventTime":"2026-11-20T23:10:00Z","awsRegion":"eu-west-1","readOnly":true}"#,
        );
        assert_eq!(hour().expects(&f), Err(Skipped::ReadOnly));
        let with = Scope {
            include_read_only: true,
            ..hour()
        };
        assert_eq!(with.expects(&f), Ok(()));
    }

    #[test]
    fn the_window_is_half_open_and_by_event_time() {
        let at = |t: &str| format!(r#"{{"eventTime":"{t}","awsRegion":"eu-west-1"}}"#);
        let scope = hour();
        for (time, expected) in [
            ("2026-11-20T22:59:59Z", false),
            ("2026-11-20T23:00:00Z", true),
            ("2026-11-21T00:00:00Z", false),
            ("2026-11-21T01:00:00+02:00", true), // 23:00 UTC
        ] {
            let text = at(time);
            assert_eq!(scope.expects(&facts(&text)).is_ok(), expected, "{time}");
        }
    }

    #[test]
    fn other_regions_data_and_insight_records_are_not_expected() {
        let scope = hour();
        let f = facts(r#"{"eventTime":"2026-11-20T23:10:00Z","awsRegion":"us-east-1"}"#);
        assert_eq!(scope.expects(&f), Err(Skipped::NotEnrolledRegion));
        let f = facts(
            r#"{"eventTime":"2026-11-20T23:10:00Z","awsRegion":"eu-west-1","eventCategory":"Data"}"#,
        );
        assert_eq!(scope.expects(&f), Err(Skipped::DataEvent));
        let f = facts(r#"{"awsRegion":"eu-west-1","managementEvent":false}"#);
        assert_eq!(scope.expects(&f), Err(Skipped::DataEvent));
        let f = facts(r#"{"awsRegion":"eu-west-1","eventCategory":"Insight"}"#);
        assert_eq!(scope.expects(&f), Err(Skipped::OtherCategory));
    }

    #[test]
    fn a_record_without_a_readable_time_is_always_in_the_window() {
        let f = facts(r#"{"eventTime":"yesterday","awsRegion":"eu-west-1"}"#);
        assert_eq!(hour().expects(&f), Ok(()));
    }

    #[test]
    fn files_are_read_from_the_window_start_to_its_end_plus_the_lag_across_midnight() {
        let scope = hour();
        let lag = time::Duration::hours(1);
        assert!(!scope.may_hold(datetime!(2026-11-20 22:55 UTC), lag));
        assert!(scope.may_hold(datetime!(2026-11-20 23:05 UTC), lag));
        // The next day's folder: delivered after midnight, within the lag.
        assert!(scope.may_hold(datetime!(2026-11-21 00:45 UTC), lag));
        assert!(!scope.may_hold(datetime!(2026-11-21 01:00 UTC), lag));
        assert!(Scope::default().may_hold(datetime!(2000-01-01 00:00 UTC), lag));
    }
}
