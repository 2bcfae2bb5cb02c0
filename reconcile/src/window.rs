//! Which window a pass reads, and where its files are: the trail's log
//! files per path and day folder (never the whole bucket), the enriched
//! copy's hour partitions.

use serde::Serialize;
use time::macros::format_description;
use time::{Date, Duration, OffsetDateTime};

/// Each window is read twice: an hour after it ends (most of the trail's
/// files have been delivered; what is missing is put back soon), and a day
/// after, when every file CloudTrail will deliver has arrived (the alarm
/// uses this pass).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pass {
    First,
    Second,
}

impl Pass {
    /// How long after the window's end the pass reads it.
    pub fn delay(self) -> Duration {
        match self {
            Pass::First => Duration::hours(1),
            Pass::Second => Duration::hours(24),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Pass::First => "first",
            Pass::Second => "second",
        }
    }
}

/// A half-open span of `eventTime`: `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
}

impl Window {
    /// The window a pass run at `now` reads: the last one of `length`
    /// (aligned to the Unix epoch, so whole hours for an hour) that ended at
    /// least the pass's delay ago.
    pub fn for_pass(pass: Pass, now: OffsetDateTime, length: Duration) -> Window {
        let step = length.whole_seconds().max(60);
        let latest_end = (now - pass.delay()).unix_timestamp();
        let end = latest_end - latest_end.rem_euclid(step);
        let at = |seconds: i64| {
            OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH)
        };
        Window {
            from: at(end - step),
            to: at(end),
        }
    }

    /// When the first pass read this window: a delivery after it is late.
    pub fn first_pass_at(&self) -> OffsetDateTime {
        self.to + Pass::First.delay()
    }

    /// The day folders the trail's files for this window may sit in: from
    /// the window's start to the latest delivery the pass reads.
    pub fn days(&self, until: OffsetDateTime) -> Vec<Date> {
        let mut days = Vec::new();
        let mut day = self.from.date();
        while day <= until.date() {
            days.push(day);
            match day.next_day() {
                Some(next) => day = next,
                None => break,
            }
        }
        days
    }
}

/// One listing of the trail bucket: a path's day folder, from a name on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub prefix: String,
    /// S3's `StartAfter`: file names sort by delivery time within a folder,
    /// so those delivered before the window are never listed.
    pub start_after: Option<String>,
}

/// Where the organization trail writes one path's log files.
#[derive(Debug, Clone)]
pub struct TrailLayout {
    /// The trail's S3 key prefix (may be empty).
    pub key_prefix: String,
    pub organization_id: String,
}

impl TrailLayout {
    /// The listings that hold the path's files delivered from the window's
    /// start until `until`: one per day folder.
    pub fn listings(
        &self,
        account: &str,
        region: &str,
        window: &Window,
        until: OffsetDateTime,
    ) -> Vec<Listing> {
        let base = match self.key_prefix.trim_matches('/') {
            "" => String::from("AWSLogs/"),
            prefix => format!("{prefix}/AWSLogs/"),
        };
        let day_format = format_description!("[year]/[month]/[day]");
        let stamp_format = format_description!("[year][month][day]T[hour][minute]Z");
        window
            .days(until)
            .into_iter()
            .map(|day| {
                let day_text = day.format(day_format).unwrap_or_default();
                let prefix = format!(
                    "{base}{}/{account}/CloudTrail/{region}/{day_text}/",
                    self.organization_id
                );
                let start_after = (day == window.from.date()).then(|| {
                    let stamp = window.from.format(stamp_format).unwrap_or_default();
                    // Sorts just before the first file delivered at `from`.
                    format!("{prefix}{account}_CloudTrail_{region}_{stamp}")
                });
                Listing {
                    prefix,
                    start_after,
                }
            })
            .collect()
    }
}

/// The enriched copy's partitions (template.yaml's Firehose prefix
/// `enriched/category=<category>/hour=YYYY-MM-DD-HH/`, by delivery hour)
/// that can hold what was delivered of the window by `until`.
pub fn copy_prefixes(
    base: &str,
    categories: &[&str],
    window: &Window,
    until: OffsetDateTime,
) -> Vec<String> {
    let hour_format = format_description!("[year]-[month]-[day]-[hour]");
    let mut hours = Vec::new();
    let mut hour = time::Time::from_hms(window.from.hour(), 0, 0)
        .map_or(window.from, |start| window.from.replace_time(start));
    while hour <= until {
        hours.push(hour.format(hour_format).unwrap_or_default());
        hour += Duration::hours(1);
    }
    categories
        .iter()
        .flat_map(|category| {
            hours
                .iter()
                .map(move |h| format!("{base}category={category}/hour={h}/"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn each_pass_reads_the_last_whole_window_past_its_delay() {
        let now = datetime!(2026-11-21 14:05 UTC);
        let hour = Duration::hours(1);
        let first = Window::for_pass(Pass::First, now, hour);
        assert_eq!(
            (first.from, first.to),
            (
                datetime!(2026-11-21 12:00 UTC),
                datetime!(2026-11-21 13:00 UTC)
            )
        );
        let second = Window::for_pass(Pass::Second, now, hour);
        assert_eq!(second.from, datetime!(2026-11-20 13:00 UTC));
        assert_eq!(first.first_pass_at(), datetime!(2026-11-21 14:00 UTC));
        // Exactly on the hour: the window that just became an hour old.
        let on_the_hour = Window::for_pass(Pass::First, datetime!(2026-11-21 14:00 UTC), hour);
        assert_eq!(on_the_hour.to, datetime!(2026-11-21 13:00 UTC));
    }

    #[test]
    fn a_path_is_listed_per_day_folder_from_the_window_start() {
        let layout = TrailLayout {
            key_prefix: "org-trail/".into(),
            organization_id: "o-abc123".into(),
        };
        let window = Window {
            from: datetime!(2026-11-20 23:00 UTC),
            to: datetime!(2026-11-21 00:00 UTC),
        };
        let listings = layout.listings(
            "111122223333",
            "eu-west-1",
            &window,
            datetime!(2026-11-21 01:00 UTC),
        );
        let folder = "org-trail/AWSLogs/o-abc123/111122223333/CloudTrail/eu-west-1";
        assert_eq!(
            listings,
            vec![
                Listing {
                    prefix: format!("{folder}/2026/11/20/"),
                    start_after: Some(format!(
                        "{folder}/2026/11/20/111122223333_CloudTrail_eu-west-1_20261120T2300Z"
                    )),
                },
                Listing {
                    prefix: format!("{folder}/2026/11/21/"),
                    start_after: None,
                },
            ]
        );
        // The first file delivered at the window's start sorts after it.
        let first_file = format!(
            "{folder}/2026/11/20/111122223333_CloudTrail_eu-west-1_20261120T2300Z_AbC.json.gz"
        );
        assert!(first_file.as_str() > listings[0].start_after.as_deref().unwrap());
        let bare = TrailLayout {
            key_prefix: String::new(),
            ..layout
        };
        let one = bare.listings("1", "r", &window, datetime!(2026-11-20 23:30 UTC));
        assert_eq!(one.len(), 1);
        assert!(one[0]
            .prefix
            .starts_with("AWSLogs/o-abc123/1/CloudTrail/r/"));
    }

    #[test]
    fn the_copy_is_read_by_hour_from_the_window_start_to_the_pass() {
        let window = Window {
            from: datetime!(2026-11-20 23:00 UTC),
            to: datetime!(2026-11-21 00:00 UTC),
        };
        let prefixes = copy_prefixes(
            "enriched/",
            &["identity", "other"],
            &window,
            datetime!(2026-11-21 01:00 UTC),
        );
        assert_eq!(
            prefixes,
            vec![
                "enriched/category=identity/hour=2026-11-20-23/",
                "enriched/category=identity/hour=2026-11-21-00/",
                "enriched/category=identity/hour=2026-11-21-01/",
                "enriched/category=other/hour=2026-11-20-23/",
                "enriched/category=other/hour=2026-11-21-00/",
                "enriched/category=other/hour=2026-11-21-01/",
            ]
        );
    }
}
