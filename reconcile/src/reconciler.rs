//! The tally: each record the forward rule would have sent is expected on
//! its path (account x region); it is seen when its event id is among what
//! the relay delivered, missing otherwise. Each missing record is written
//! out at once, wrapped as EventBridge wraps a CloudTrail record, ready for
//! `trailrelay route` or the buffer queue.

use crate::logfile;
use crate::scope::{Facts, Scope};
use crate::seen::{Ids, Seen};
use serde::Serialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use trailrelay_shared::event::{detail_type_for, service_name};
use trailrelay_shared::paths::PathKey;

/// How long after a record CloudTrail may deliver the file that holds it
/// (CloudTrail: "typically ... within an average of about 5 minutes", not
/// guaranteed); with a window, files delivered later than its end plus
/// this are not read.
pub const DELIVERY_LAG: time::Duration = time::Duration::hours(1);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub expected: u64,
    pub seen: u64,
    pub missing: u64,
    /// Of those seen: delivered on their own, but only after the first pass
    /// had looked (counted when the pass knows when that was).
    pub late: u64,
    /// Of those seen: seen only because reconciliation put them back.
    pub backfilled: u64,
}

impl Tally {
    pub fn add(&mut self, other: &Tally) {
        self.expected += other.expected;
        self.seen += other.seen;
        self.missing += other.missing;
        self.late += other.late;
        self.backfilled += other.backfilled;
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathTally {
    pub account: String,
    pub region: String,
    #[serde(flatten)]
    pub tally: Tally,
}

/// A log file that could not be read to its end: the records before the
/// fault were reconciled, the rest of the file was not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Damaged {
    pub file: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub paths: Vec<PathTally>,
    pub totals: Tally,
    pub files_read: u64,
    /// Files whose delivery time puts them outside the window.
    pub files_outside_the_window: u64,
    pub damaged_files: Vec<Damaged>,
    /// Records the trail holds twice (counted once).
    pub duplicates: u64,
    /// Records the forward rule would have sent that carry no event id,
    /// so that nothing can say whether they were seen.
    pub without_event_id: u64,
}

pub struct Reconciler<'s, W: Write> {
    scope: Scope,
    seen: &'s Seen,
    missing_out: W,
    expected_ids: Ids,
    paths: BTreeMap<PathKey, Tally>,
    report: Report,
    pub delivery_lag: time::Duration,
    /// When the first pass looked: what was delivered on its own at or
    /// after this is late. None: nothing is counted late.
    pub late_after: Option<time::OffsetDateTime>,
}

impl<'s, W: Write> Reconciler<'s, W> {
    pub fn new(scope: Scope, seen: &'s Seen, missing_out: W) -> Self {
        Reconciler {
            scope,
            seen,
            missing_out,
            expected_ids: Ids::default(),
            paths: BTreeMap::new(),
            report: Report::default(),
            delivery_lag: DELIVERY_LAG,
            late_after: None,
        }
    }

    /// Can a file of this name hold a record of the window?
    fn wants(&self, name: &str) -> bool {
        logfile::is_log_file(name)
            && logfile::delivered_at(name)
                .is_none_or(|at| self.scope.may_hold(at, self.delivery_lag))
    }

    /// Reads one log file (`name` says whether it is gzip and when it was
    /// delivered), calling `open` only when the name can hold the window,
    /// so that an S3 object outside it is never fetched. A file that cannot
    /// be opened or read to its end is reported, never the end of the run;
    /// an error writing a missing record is.
    pub fn log_file<R: Read>(
        &mut self,
        name: &str,
        open: impl FnOnce() -> Result<R, String>,
    ) -> std::io::Result<()> {
        if !self.wants(name) {
            self.report.files_outside_the_window += 1;
            return Ok(());
        }
        let input = match open() {
            Ok(input) => input,
            Err(reason) => {
                self.damaged(name, reason);
                return Ok(());
            }
        };
        self.report.files_read += 1;
        let mut write_error = None;
        let result = logfile::read_records(input, name.ends_with(".gz"), &mut |raw| {
            self.record(raw).map_err(|e| {
                let kept = std::io::Error::new(e.kind(), e.to_string());
                write_error = Some(e);
                kept
            })
        });
        if let Some(e) = write_error {
            return Err(e);
        }
        if let Err(reason) = result {
            self.damaged(name, reason);
        }
        Ok(())
    }

    fn damaged(&mut self, name: &str, reason: String) {
        self.report.damaged_files.push(Damaged {
            file: name.to_owned(),
            reason,
        });
    }

    fn record(&mut self, raw: &RawValue) -> std::io::Result<()> {
        let Ok(facts) = serde_json::from_str::<Facts<'_>>(raw.get()) else {
            return Ok(());
        };
        if self.scope.expects(&facts).is_err() {
            return Ok(());
        }
        let Some(id) = facts.event_id.non_empty() else {
            self.report.without_event_id += 1;
            return Ok(());
        };
        if !self.expected_ids.insert(id) {
            self.report.duplicates += 1;
            return Ok(());
        }
        let path = PathKey::new(
            facts.recipient_account_id.non_empty().unwrap_or("unknown"),
            facts.aws_region.non_empty().unwrap_or("unknown"),
        );
        let tally = self.paths.entry(path).or_default();
        tally.expected += 1;
        match self.seen.get(id) {
            Some(sighting) => {
                tally.seen += 1;
                if sighting.only_backfilled() {
                    tally.backfilled += 1;
                } else if self
                    .late_after
                    .is_some_and(|at| sighting.delivered_after(at))
                {
                    tally.late += 1;
                }
            }
            None => {
                tally.missing += 1;
                writeln!(self.missing_out, "{}", wrapped(raw, &facts))?;
            }
        }
        Ok(())
    }

    pub fn finish(mut self) -> std::io::Result<Report> {
        self.missing_out.flush()?;
        let mut report = self.report;
        for (key, tally) in self.paths {
            report.totals.add(&tally);
            report.paths.push(PathTally {
                account: key.account,
                region: key.region,
                tally,
            });
        }
        Ok(report)
    }
}

/// The record as EventBridge would have delivered it: the envelope the
/// relay gives a bare record, with the record's own id, account, region and
/// time, and the record itself, byte for byte, as the detail.
pub fn wrapped(raw: &RawValue, facts: &Facts<'_>) -> String {
    let text = |t: Option<&str>| serde_json::to_string(&t).unwrap_or_else(|_| "null".into());
    let source = facts
        .event_source
        .non_empty()
        .map(|s| format!("aws.{}", service_name(s)));
    format!(
        r#"{{"version":"0","id":{},"detail-type":{},"source":{},"account":{},"time":{},"region":{},"resources":[],"detail":{}}}"#,
        text(facts.event_id.non_empty()),
        text(Some(detail_type_for(facts.event_type.get()))),
        text(source.as_deref()),
        text(facts.recipient_account_id.non_empty()),
        text(facts.event_time.non_empty()),
        text(facts.aws_region.non_empty()),
        raw.get()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn record(id: &str, account: &str, region: &str) -> Value {
        json!({"eventVersion": "1.09", "eventID": id, "eventTime": "2026-11-20T23:10:00Z",
               "eventSource": "iam.amazonaws.com", "eventName": "CreateUser",
               "eventType": "AwsApiCall", "readOnly": false, "eventCategory": "Management",
               "awsRegion": region, "recipientAccountId": account})
    }

    fn file(records: &[Value]) -> String {
        json!({ "Records": records }).to_string()
    }

    #[test]
    fn missing_records_come_out_wrapped_and_every_path_is_tallied() {
        let mut seen = Seen::default();
        seen.add_line(r#"{"detail":{"eventID":"a"}}"#);
        let mut out = Vec::new();
        let mut r = Reconciler::new(Scope::default(), &seen, &mut out);
        let records = [
            record("a", "111111111111", "eu-west-1"),
            record("b", "111111111111", "eu-west-1"),
            record("c", "222222222222", "us-east-1"),
            record("c", "222222222222", "us-east-1"),
        ];
        r.log_file("x.json", || Ok(std::io::Cursor::new(file(&records))))
            .unwrap();
        let report = r.finish().unwrap();
        assert_eq!(
            report.totals,
            Tally {
                expected: 3,
                seen: 1,
                missing: 2,
                ..Tally::default()
            }
        );
        assert_eq!(report.duplicates, 1);
        assert_eq!(report.paths.len(), 2);
        assert_eq!(
            report.paths[0].tally,
            Tally {
                expected: 2,
                seen: 1,
                missing: 1,
                ..Tally::default()
            }
        );
        let lines: Vec<Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["detail"], records[1]);
        assert_eq!(lines[0]["source"], "aws.iam");
        assert_eq!(lines[0]["detail-type"], "AWS API Call via CloudTrail");
        assert_eq!(lines[0]["account"], "111111111111");
        assert_eq!(lines[1]["id"], "c");
    }

    #[test]
    fn late_and_backfilled_are_told_apart_from_on_time() {
        let seen_line = |id: &str, at: &str, backfilled: bool| {
            let mut p = json!({"receivedAt": at});
            if backfilled {
                p["backfilled"] = json!(true);
            }
            json!({"detail": {"eventID": id, "enrichment": {"provenance": p}}}).to_string()
        };
        let mut seen = Seen::default();
        seen.add_line(&seen_line("on-time", "2026-11-20T23:15:00Z", false));
        seen.add_line(&seen_line("late", "2026-11-21T03:00:00Z", false));
        seen.add_line(&seen_line("put-back", "2026-11-21T01:05:00Z", true));
        let records = [
            record("on-time", "1", "r"),
            record("late", "1", "r"),
            record("put-back", "1", "r"),
            record("lost", "1", "r"),
        ];
        let mut r = Reconciler::new(Scope::default(), &seen, std::io::sink());
        r.late_after = Some(time::macros::datetime!(2026-11-21 01:00 UTC));
        r.log_file("x.json", || Ok(std::io::Cursor::new(file(&records))))
            .unwrap();
        let report = r.finish().unwrap();
        assert_eq!(
            report.totals,
            Tally {
                expected: 4,
                seen: 3,
                missing: 1,
                late: 1,
                backfilled: 1
            }
        );
    }

    #[test]
    fn a_damaged_file_is_reported_and_the_run_goes_on() {
        let seen = Seen::default();
        let mut r = Reconciler::new(Scope::default(), &seen, std::io::sink());
        r.log_file("bad.json.gz", || Ok(&b"not gzip at all"[..]))
            .unwrap();
        let good = file(&[record("a", "1", "r")]);
        r.log_file("good.json", || Ok(good.as_bytes())).unwrap();
        let report = r.finish().unwrap();
        assert_eq!(report.damaged_files.len(), 1);
        assert_eq!(report.damaged_files[0].file, "bad.json.gz");
        assert_eq!(report.totals.missing, 1);
        assert_eq!(report.files_read, 2);
    }

    #[test]
    fn a_file_that_cannot_be_opened_is_reported_and_one_outside_the_window_is_never_opened() {
        let seen = Seen::default();
        let scope = Scope {
            to: Some(time::macros::datetime!(2026-11-20 00:00 UTC)),
            ..Scope::default()
        };
        let mut r = Reconciler::new(scope, &seen, std::io::sink());
        r.log_file("gone.json", || Err::<&[u8], _>("no such file".to_owned()))
            .unwrap();
        let late = "111122223333_CloudTrail_eu-west-1_20261121T0005Z_x.json.gz";
        r.log_file(late, || -> Result<&[u8], String> {
            panic!("opened a file outside the window")
        })
        .unwrap();
        let report = r.finish().unwrap();
        assert_eq!(
            report.damaged_files,
            vec![Damaged {
                file: "gone.json".into(),
                reason: "no such file".into()
            }]
        );
        assert_eq!((report.files_read, report.files_outside_the_window), (0, 1));
    }

    proptest::proptest! {
        #[test]
        fn missing_is_expected_minus_seen(
            records in proptest::collection::vec((0u32..40, 0usize..3, proptest::bool::ANY, proptest::bool::ANY), 0..60),
        ) {
            // (id, account, seen?, read-only?): ids repeat, some records are
            // read-only (not expected), any subset is seen.
            let accounts = ["111111111111", "222222222222", "333333333333"];
            let mut seen = Seen::default();
            let mut trail = Vec::new();
            for (id, account, is_seen, read_only) in &records {
                let mut r = record(&format!("e{id}"), accounts[*account], "eu-west-1");
                r["readOnly"] = json!(read_only);
                if *is_seen {
                    seen.add_line(&json!({"detail": {"eventID": format!("e{id}")}}).to_string());
                }
                trail.push(r);
            }
            let mut expected = std::collections::BTreeSet::new();
            for r in trail.iter().filter(|r| r["readOnly"] == false) {
                expected.insert(r["eventID"].as_str().unwrap().to_owned());
            }
            let mut out = Vec::new();
            let mut rec = Reconciler::new(Scope::default(), &seen, &mut out);
            // Split across two files, as a trail would.
            let (first, second) = trail.split_at(trail.len() / 2);
            rec.log_file("1.json", || Ok(std::io::Cursor::new(file(first)))).unwrap();
            rec.log_file("2.json", || Ok(std::io::Cursor::new(file(second)))).unwrap();
            let report = rec.finish().unwrap();
            let missing: std::collections::BTreeSet<String> = String::from_utf8(out).unwrap().lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].as_str().unwrap().to_owned())
                .collect();
            let want: std::collections::BTreeSet<String> =
                expected.iter().filter(|id| !seen.contains(id)).cloned().collect();
            proptest::prop_assert_eq!(&missing, &want);
            proptest::prop_assert_eq!(report.totals.expected as usize, expected.len());
            proptest::prop_assert_eq!(report.totals.missing as usize, want.len());
            proptest::prop_assert_eq!(report.totals.seen + report.totals.missing, report.totals.expected);
        }
    }
}
