//! CloudTrail log files as CloudTrail writes them to S3: one
//! `{"Records": [...]}` object per file, gzip-compressed (`*.json.gz`) or
//! not (`*.json`), under
//! `<prefix>/AWSLogs/[<org id>/]<account>/CloudTrail/<region>/YYYY/MM/DD/`,
//! named `<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<unique>.json.gz`
//! by their delivery time. Records are streamed one at a time, so memory is
//! bounded by the largest record, not by the file.

use flate2::read::MultiGzDecoder;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserializer as _;
use serde_json::value::RawValue;
use std::fmt;
use std::io::{BufReader, Read};
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// Is this the name of a log file (not a digest, not something else)?
pub fn is_log_file(name: &str) -> bool {
    (name.ends_with(".json.gz") || name.ends_with(".json"))
        && !name.contains("CloudTrail-Digest")
        && !name.contains("CloudTrail-Insight")
}

/// The delivery time a log file's name carries, if it has one.
pub fn delivered_at(name: &str) -> Option<OffsetDateTime> {
    let file = name.rsplit('/').next()?;
    let stamp = file
        .split('_')
        .find(|part| part.len() == 14 && part.as_bytes()[8] == b'T' && part.ends_with('Z'))?;
    let format = format_description!("[year][month][day]T[hour][minute]Z");
    PrimitiveDateTime::parse(stamp, format)
        .ok()
        .map(|t| t.assume_utc())
}

/// The bytes of a file, decompressed when it is gzip (a `.gz` name).
pub fn decompressed<'a>(input: impl Read + 'a, gzip: bool) -> Box<dyn Read + 'a> {
    if gzip {
        Box::new(MultiGzDecoder::new(input))
    } else {
        Box::new(input)
    }
}

/// The bytes of a file, decompressed when they start as gzip does (for
/// objects whose name does not say, such as some of Firehose's).
pub fn sniffed<'a>(input: impl Read + 'a) -> Box<dyn Read + 'a> {
    use std::io::BufRead;
    let mut buffered = BufReader::new(input);
    let gzip = matches!(buffered.fill_buf(), Ok(head) if head.starts_with(&[0x1f, 0x8b]));
    decompressed(buffered, gzip)
}

/// Reads the records of one log file, handing each to `each` as its raw
/// JSON text. `gzip` says whether the bytes are compressed. On an error
/// the records already handed over stay handed over; the error says how
/// far the file got.
pub fn read_records<R: Read>(
    input: R,
    gzip: bool,
    each: &mut dyn FnMut(&RawValue) -> std::io::Result<()>,
) -> Result<usize, String> {
    let mut de = serde_json::Deserializer::from_reader(BufReader::new(decompressed(input, gzip)));
    let mut count = 0;
    let result = de
        .deserialize_map(LogFile {
            each,
            count: &mut count,
        })
        .and_then(|found| {
            de.end()?;
            Ok(found)
        });
    match result {
        Ok(true) => Ok(count),
        Ok(false) => Err("not a CloudTrail log file (no Records)".into()),
        Err(e) => Err(format!("{e}, after {count} record(s)")),
    }
}

struct LogFile<'a> {
    each: &'a mut dyn FnMut(&RawValue) -> std::io::Result<()>,
    count: &'a mut usize,
}

impl<'de> Visitor<'de> for LogFile<'_> {
    /// Whether the object had `Records`.
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(r#"a {"Records": [...]} object"#)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "Records" && !found {
                found = true;
                map.next_value_seed(Records {
                    each: &mut *self.each,
                    count: &mut *self.count,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

struct Records<'a> {
    each: &'a mut dyn FnMut(&RawValue) -> std::io::Result<()>,
    count: &'a mut usize,
}

impl<'de> DeserializeSeed<'de> for Records<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Records<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(record) = seq.next_element::<Box<RawValue>>()? {
            (self.each)(&record).map_err(de::Error::custom)?;
            *self.count += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;
    use time::macros::datetime;

    fn gzip(text: &str) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    }

    fn ids(bytes: &[u8], gz: bool) -> (Vec<String>, Result<usize, String>) {
        let mut seen = Vec::new();
        let result = read_records(bytes, gz, &mut |r| {
            let v: serde_json::Value = serde_json::from_str(r.get()).unwrap();
            seen.push(v["eventID"].as_str().unwrap_or("?").to_owned());
            Ok(())
        });
        (seen, result)
    }

    const FILE: &str = r#"{"Records":[{"eventID":"a","eventName":"X"},{"eventID":"b","requestParameters":{"Records":[1]}}],"other":1}"#;

    #[test]
    fn records_stream_out_of_plain_and_gzip_files() {
        assert_eq!(
            ids(FILE.as_bytes(), false),
            (vec!["a".into(), "b".into()], Ok(2))
        );
        assert_eq!(
            ids(&gzip(FILE), true),
            (vec!["a".into(), "b".into()], Ok(2))
        );
    }

    #[test]
    fn a_truncated_gzip_file_is_an_error_saying_how_far_it_got() {
        let whole = gzip(FILE);
        let (seen, result) = ids(&whole[..whole.len() - 12], true);
        let err = result.unwrap_err();
        assert!(seen.len() <= 2);
        assert!(
            err.contains(&format!("after {} record(s)", seen.len())),
            "{err}"
        );
    }

    #[test]
    fn gzip_is_recognised_by_its_first_bytes() {
        let mut text = String::new();
        sniffed(&gzip("{\"a\":1}\n")[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "{\"a\":1}\n");
        text.clear();
        sniffed(&b"plain"[..]).read_to_string(&mut text).unwrap();
        assert_eq!(text, "plain");
    }

    #[test]
    fn a_corrupt_file_and_a_file_without_records_are_errors() {
        let (_, result) = ids(b"\x1f\x8b\x08\x00garbage", true);
        assert!(result.is_err());
        let (_, result) = ids(br#"{"awsAccountId":"1","logFiles":[]}"#, false);
        assert_eq!(
            result.unwrap_err(),
            "not a CloudTrail log file (no Records)"
        );
        let (_, result) = ids(br#"{"Records":[{"eventID":"a"}]} trailing"#, false);
        assert!(result.is_err());
    }

    #[test]
    fn names_carry_the_delivery_time_and_digests_are_not_log_files() {
        let name = "logs/AWSLogs/o-abc/111122223333/CloudTrail/eu-west-1/2026/11/21/111122223333_CloudTrail_eu-west-1_20261121T0005Z_AbCdEf.json.gz";
        assert!(is_log_file(name));
        assert_eq!(delivered_at(name), Some(datetime!(2026-11-21 00:05 UTC)));
        assert_eq!(delivered_at("records.json"), None);
        assert!(!is_log_file(
            "AWSLogs/1/CloudTrail-Digest/eu-west-1/2026/11/21/x.json.gz"
        ));
        assert!(!is_log_file("AWSLogs/1/CloudTrail/eu-west-1/notes.txt"));
    }
}
