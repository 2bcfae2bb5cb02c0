//! The input model: an EventBridge envelope around a CloudTrail record.
//!
//! Only the fields that classification and enrichment need are read; the
//! record itself stays as its raw JSON text so that it can be passed on
//! unchanged (and without building a tree of it).

use crate::lenient::{Object, Text, TextList};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;

/// The EventBridge envelope, as CloudTrail (or our control source) delivers it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Envelope<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(borrow)]
    pub source: Text<'a>,
    #[serde(borrow, rename = "detail-type")]
    pub detail_type: Text<'a>,
    #[serde(borrow)]
    pub account: Text<'a>,
    #[serde(borrow)]
    pub time: Text<'a>,
    #[serde(borrow)]
    pub region: Text<'a>,
    pub resources: TextList,
    #[serde(borrow)]
    pub detail: Option<&'a RawValue>,
}

/// The fields of a CloudTrail record that the relay reads.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Record<'a> {
    #[serde(borrow)]
    pub event_version: Text<'a>,
    #[serde(borrow)]
    pub event_source: Text<'a>,
    #[serde(borrow)]
    pub event_name: Text<'a>,
    #[serde(borrow)]
    pub event_time: Text<'a>,
    #[serde(borrow)]
    pub event_type: Text<'a>,
    #[serde(borrow, rename = "eventID")]
    pub event_id: Text<'a>,
    #[serde(borrow)]
    pub aws_region: Text<'a>,
    #[serde(borrow, rename = "sourceIPAddress")]
    pub source_ip_address: Text<'a>,
    #[serde(borrow)]
    pub error_code: Text<'a>,
    #[serde(borrow)]
    pub recipient_account_id: Text<'a>,
    #[serde(borrow)]
    pub user_identity: Object<UserIdentity<'a>>,
    #[serde(borrow)]
    pub response_elements: Object<ResponseElements<'a>>,
    #[serde(borrow)]
    pub additional_event_data: Object<AdditionalEventData<'a>>,
    #[serde(borrow)]
    pub insight_details: Object<InsightDetails<'a>>,
    /// Present when the record already carries a top-level `enrichment` key,
    /// which our own would collide with.
    pub enrichment: Option<IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct UserIdentity<'a> {
    #[serde(borrow, rename = "type")]
    pub kind: Text<'a>,
    #[serde(borrow)]
    pub principal_id: Text<'a>,
    #[serde(borrow)]
    pub arn: Text<'a>,
    #[serde(borrow)]
    pub account_id: Text<'a>,
    #[serde(borrow)]
    pub user_name: Text<'a>,
    #[serde(borrow)]
    pub invoked_by: Text<'a>,
    #[serde(borrow)]
    pub session_context: Object<SessionContext<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SessionContext<'a> {
    #[serde(borrow)]
    pub session_issuer: Object<SessionIssuer<'a>>,
    #[serde(borrow)]
    pub attributes: Object<SessionAttributes<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SessionIssuer<'a> {
    #[serde(borrow, rename = "type")]
    pub kind: Text<'a>,
    #[serde(borrow)]
    pub user_name: Text<'a>,
    #[serde(borrow)]
    pub arn: Text<'a>,
    #[serde(borrow)]
    pub account_id: Text<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SessionAttributes<'a> {
    #[serde(borrow)]
    pub mfa_authenticated: Text<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ResponseElements<'a> {
    #[serde(borrow, rename = "ConsoleLogin")]
    pub console_login: Text<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AdditionalEventData<'a> {
    #[serde(borrow, rename = "MFAUsed")]
    pub mfa_used: Text<'a>,
}

/// CloudTrail Insights records name the service and API inside
/// `insightDetails` rather than at the top level.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct InsightDetails<'a> {
    #[serde(borrow)]
    pub event_source: Text<'a>,
    #[serde(borrow)]
    pub event_name: Text<'a>,
}

impl<'a> Record<'a> {
    /// The service, `eventSource` without `.amazonaws.com` (falling back to
    /// the Insights details, which is where Insights records name it).
    pub fn service(&self) -> Option<&str> {
        let source = self.event_source.non_empty().or_else(|| {
            self.insight_details
                .get()
                .and_then(|d| d.event_source.non_empty())
        })?;
        Some(service_name(source))
    }

    pub fn event_name(&self) -> Option<&str> {
        self.event_name.non_empty().or_else(|| {
            self.insight_details
                .get()
                .and_then(|d| d.event_name.non_empty())
        })
    }

    pub fn identity(&self) -> Option<&UserIdentity<'a>> {
        self.user_identity.get()
    }

    /// Does this look like a bare CloudTrail record (as CloudTrail writes to
    /// S3) rather than an arbitrary object?
    pub fn looks_like_cloudtrail(&self) -> bool {
        self.event_source.non_empty().is_some()
            && self.event_name.non_empty().is_some()
            && (self.event_version.non_empty().is_some() || self.event_id.non_empty().is_some())
    }
}

impl<'a> UserIdentity<'a> {
    pub fn session_issuer(&self) -> Option<&SessionIssuer<'a>> {
        self.session_context
            .get()
            .and_then(|c| c.session_issuer.get())
    }

    pub fn mfa_authenticated(&self) -> Option<&str> {
        self.session_context
            .get()
            .and_then(|c| c.attributes.get())
            .and_then(|a| a.mfa_authenticated.non_empty())
    }
}

/// `iam.amazonaws.com` -> `iam`; a name without the suffix stays as it is.
pub fn service_name(event_source: &str) -> &str {
    event_source
        .strip_suffix(".amazonaws.com")
        .unwrap_or(event_source)
}

/// The EventBridge detail-type CloudTrail uses for a record's `eventType`.
pub fn detail_type_for(event_type: Option<&str>) -> &'static str {
    match event_type {
        Some("AwsConsoleSignIn") => "AWS Console Sign In via CloudTrail",
        Some("AwsServiceEvent") => "AWS Service Event via CloudTrail",
        Some("AwsConsoleAction") => "AWS Console Action via CloudTrail",
        Some("AwsCloudTrailInsight") => "AWS Insight via CloudTrail",
        _ => "AWS API Call via CloudTrail",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_strips_the_amazonaws_suffix() {
        assert_eq!(service_name("iam.amazonaws.com"), "iam");
        assert_eq!(service_name("custom"), "custom");
    }

    #[test]
    fn insight_records_name_their_service_in_insight_details() {
        let record: Record = serde_json::from_str(
            r#"{"eventType":"AwsCloudTrailInsight","insightDetails":{"eventSource":"ec2.amazonaws.com","eventName":"RunInstances"}}"#,
        )
        .unwrap();
        assert_eq!(record.service(), Some("ec2"));
        assert_eq!(record.event_name(), Some("RunInstances"));
    }

    #[test]
    fn detail_types_follow_event_types() {
        assert_eq!(
            detail_type_for(Some("AwsConsoleSignIn")),
            "AWS Console Sign In via CloudTrail"
        );
        assert_eq!(detail_type_for(None), "AWS API Call via CloudTrail");
    }

    #[test]
    fn envelope_keeps_the_detail_raw() {
        let text = r#"{"id":"1","detail-type":"X","source":"aws.iam","detail":{"b": 1, "a":[2]}}"#;
        let env: Envelope = serde_json::from_str(text).unwrap();
        assert_eq!(env.detail.map(|d| d.get()), Some(r#"{"b": 1, "a":[2]}"#));
    }
}
