//! The volume table priced and scaled to a month.

use crate::tally::{Call, Tally, Totals};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Prices as settings, with the date they were read (config/prices.toml).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    pub as_of: String,
    pub currency: String,
    pub eventbridge_per_million_chunks: f64,
    pub times_paid: u32,
}

/// The prices this build carries.
pub const DEFAULT_PRICES: &str = include_str!("../../config/prices.toml");

impl Prices {
    pub fn parse(text: &str) -> Result<Prices, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    pub fn embedded() -> Prices {
        Prices::parse(DEFAULT_PRICES).expect("config/prices.toml is built in and a test parses it")
    }

    /// What `chunks` cost, forwarding and re-emission together.
    pub fn cost(&self, chunks: f64) -> f64 {
        chunks * f64::from(self.times_paid) * self.eventbridge_per_million_chunks / 1e6
    }
}

pub const SECONDS_PER_MONTH: f64 = 30.0 * 24.0 * 3600.0;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    #[serde(flatten)]
    pub call: Option<Call>,
    pub count: u64,
    pub share: f64,
    pub bytes: u64,
    pub chunks: u64,
    pub cost_per_month: f64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub window_start: Option<String>,
    pub window_end: Option<String>,
    /// The window read, in seconds (at least one: a single instant is
    /// priced as one second).
    pub window_seconds: f64,
    pub month_factor: f64,
    pub prices: Prices,
    pub rows: Vec<Row>,
    /// The rows after the top ones, summed (no call: "the rest").
    pub rest: Row,
    pub total: Row,
    pub unreadable: u64,
}

fn seconds_between(start: &str, end: &str) -> Option<f64> {
    let start = OffsetDateTime::parse(start, &Rfc3339).ok()?;
    let end = OffsetDateTime::parse(end, &Rfc3339).ok()?;
    Some((end - start).as_seconds_f64())
}

/// The seconds of the window read: between the first and last event time,
/// at least one (a single instant is priced as one second). Without event
/// times it is taken as one hour (a CloudTrail log file holds about five
/// minutes; a trail hour is the usual sample).
pub fn window_seconds(tally: &Tally) -> f64 {
    tally
        .window()
        .and_then(|(s, e)| seconds_between(s, e))
        .map(|s| s.max(1.0))
        .unwrap_or(3600.0)
}

impl Report {
    /// The table's `top` rows priced: cost per month scales the window read
    /// ([`window_seconds`]) to 30 days; without event times `window_start`
    /// is null.
    pub fn new(tally: &Tally, top: usize, prices: Prices) -> Report {
        let window = tally.window();
        let window_seconds = window_seconds(tally);
        let month_factor = SECONDS_PER_MONTH / window_seconds;
        let total = tally.total();
        let row = |call: Option<&Call>, t: &Totals| Row {
            call: call.cloned(),
            count: t.count,
            share: if total.count == 0 {
                0.0
            } else {
                t.count as f64 / total.count as f64
            },
            bytes: t.bytes,
            chunks: t.chunks,
            cost_per_month: prices.cost(t.chunks as f64 * month_factor),
        };
        let (rows, rest) = tally.top(top);
        Report {
            window_start: window.map(|(s, _)| s.to_owned()),
            window_end: window.map(|(_, e)| e.to_owned()),
            window_seconds,
            month_factor,
            rows: rows.into_iter().map(|(c, t)| row(Some(c), t)).collect(),
            rest: row(None, &rest),
            total: row(None, &total),
            unreadable: tally.unreadable,
            prices,
        }
    }

    /// The table as text.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "{:<28} {:<36} {:<5} {:<7} {:<12} {:<14} {:>9} {:>6} {:>12} {:>9} {:>12}\n",
            "eventSource",
            "eventName",
            "ro",
            "service",
            "account",
            "region",
            "count",
            "share",
            "bytes",
            "chunks",
            "$/month"
        ));
        let line = |out: &mut String, row: &Row, label: &str| {
            let (source, name, ro, service, account, region) = match &row.call {
                Some(c) => (
                    c.event_source.as_str(),
                    c.event_name.as_str(),
                    match c.read_only {
                        Some(true) => "true",
                        Some(false) => "false",
                        None => "-",
                    },
                    if c.invoked_by_service { "yes" } else { "no" },
                    c.account.as_str(),
                    c.region.as_str(),
                ),
                None => (label, "", "", "", "", ""),
            };
            out.push_str(&format!(
                "{:<28} {:<36} {:<5} {:<7} {:<12} {:<14} {:>9} {:>5.1}% {:>12} {:>9} {:>12.2}\n",
                source,
                name,
                ro,
                service,
                account,
                region,
                row.count,
                row.share * 100.0,
                row.bytes,
                row.chunks,
                row.cost_per_month
            ));
        };
        for row in &self.rows {
            line(&mut out, row, "");
        }
        if self.rest.count > 0 {
            line(&mut out, &self.rest, "(the rest)");
        }
        line(&mut out, &self.total, "(total)");
        let window = match (&self.window_start, &self.window_end) {
            (Some(s), Some(e)) => format!("{s} to {e}"),
            _ => "no event times: taken as one hour".into(),
        };
        out.push_str(&format!(
            "window {window} ({:.0} s), x{:.1} to a 30-day month; EventBridge ${:.2} per million 64 KB chunks, paid {} times (prices of {}){}\n",
            self.window_seconds,
            self.month_factor,
            self.prices.eventbridge_per_million_chunks,
            self.prices.times_paid,
            self.prices.as_of,
            if self.unreadable > 0 { format!("; {} unreadable inputs skipped", self.unreadable) } else { String::new() }
        ));
        out
    }
}
